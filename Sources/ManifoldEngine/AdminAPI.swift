public import Foundation
import JSONValue
public import ManifoldDelivery
import ManifoldIngress
import ManifoldCompiler
import ManifoldPlan
public import ManifoldStore

/// The admin HTTP API: dead letters and replays, as the CLI offers them, for an operator or a tool that cannot
/// reach the store file. Every request must carry `Authorization: Bearer <token>`; without a configured token the
/// API is off (404), never open.
///
///   GET  /admin/dlq[?connector=&target=&limit=]       dead letters, newest first
///   GET  /admin/jobs/{id}                             a job with its attempts
///   POST /admin/dlq/replay  {"jobs": [...]} | {"all": true, "connector": .., "target": ..}, "original_plan": bool
///   POST /admin/dlq/purge   {"jobs": [...]} | {"all": true, ...}
///   POST /admin/replay      {"events": [...]} | {"connector": .., "since": ISO, "until": ISO, "status": ..}
///   POST /admin/reload                                reloads the connectors: 200 applied or unchanged (with the
///                                                     diff), 422 rejected (with the diagnostics; the plan stays)
///   GET  /admin/reload                                the running plan, the last reload, held jobs
///   GET  /admin/endpoints[?tenant=]                   customers' endpoints (never a secret)
///   POST /admin/endpoints  {"tenant", "url", "event_types", "headers", "rate_limit", "description"}
///                                                     201 with the endpoint and its secret (shown once)
///   GET  /admin/endpoints/{id}                        the endpoint, its history and recent deliveries
///   PATCH /admin/endpoints/{id}  {"url", "event_types", "headers", "rate_limit"}
///   POST /admin/endpoints/{id}/disable {"reason"} | /enable {"replay": bool} | /rotate {"overlap": "24h"} | /ping
///   DELETE /admin/endpoints/{id}
///   GET  /admin/rollouts                              rollouts (active and ended), with each version's figures
///   POST /admin/rollouts/{connector}  {"candidate": YAML, "share": 10, "mode": "canary"|"shadow", "stick_by": expr}
///   POST /admin/rollouts/{connector}/share {"share": 25} | /rollback {"reason"} | /promote
/// Endpoint changes take effect in the engine at once (and in other engines within a sweep).
public struct AdminAPI: Sendable {
    let store: any EventStore & JobStore
    let token: AccessToken
    /// Customers' endpoints, when the store keeps them and the key is set.
    let endpoints: (store: any EndpointStore & EventStore & JobStore, box: SecretBox)?

    public init(store: any EventStore & JobStore, token: String,
                endpoints: (store: any EndpointStore & EventStore & JobStore, box: SecretBox)? = nil)
    {
        self.store = store
        self.token = AccessToken(token)
        self.endpoints = endpoints
    }

    /// Whether the request's bearer token (`Bearer`, any case) is the admin token.
    func authorized(_ header: String?) -> Bool {
        AccessToken.bearer(in: header).map(token.matches) ?? false
    }

    func handle(method: String, path: String, query: [String: String], body: [UInt8], engine: Engine,
                reloader: ConfigReloader? = nil) async -> Engine.Reply
    {
        do {
            switch (method, path) {
            case ("POST", "/admin/reload"):
                guard let reloader else { return .error(404, "not_found", "this engine does not reload its connectors") }
                let outcome = await reloader.reload(trigger: "admin")
                return Engine.Reply(status: outcome.result == .rejected ? 422 : 200, body: outcome.json)
            case ("GET", "/admin/reload"):
                var status: JSONObject = ["plan": .string(engine.plan.version)]
                if let last = reloader?.last { status["last_reload"] = last.json }
                status["held_jobs"] = ReloadOutcome.json(heldJobs: engine.runtime?.heldJobs ?? [:])
                return Engine.Reply(status: 200, body: .object(status))
            case ("GET", "/admin/dlq"):
                let jobs = try await store.jobs(JobQuery(states: [.dead, .quarantined], connector: query["connector"],
                                                         target: query["target"], limit: Int(query["limit"] ?? "") ?? 100))
                return Engine.Reply(status: 200, body: ["dead_letters": .array(jobs.map(\.json))])
            case ("GET", _) where path.hasPrefix("/admin/jobs/"):
                guard let record = try await store.job(id: String(path.dropFirst("/admin/jobs/".count))) else {
                    return .error(404, "not_found", "there is no such job")
                }
                return Engine.Reply(status: 200, body: record.json)
            case ("POST", "/admin/dlq/replay"), ("POST", "/admin/dlq/purge"):
                let request = try Self.object(body)
                let jobs = try await select(request)
                if path.hasSuffix("purge") {
                    let purged = try await store.moveJobs(jobs.map(\.id), from: [.dead, .quarantined], to: .purged)
                    return Engine.Reply(status: 200, body: ["purged": .array(purged.map(JSON.string))])
                }
                let report = try await replayer(engine).replay(jobs: jobs, originalPlan: request["original_plan"]?.boolValue == true,
                                                               by: "admin-api")
                return Engine.Reply(status: 200, body: report.json)
            case ("POST", "/admin/replay"):
                let request = try Self.object(body)
                let since = try request["since"]?.stringValue.map(Self.date)
                let until = try request["until"]?.stringValue.map(Self.date)
                let ids = request["events"]?.arrayValue?.compactMap(\.stringValue) ?? []
                guard !ids.isEmpty || request["connector"] != nil || request["status"] != nil || since != nil else {
                    return .error(400, "bad_request", "choose events: events, or connector/since/until, or status")
                }
                let events = try await ReplaySelection.events(
                    ids: ids, connector: request["connector"]?.stringValue,
                    status: request["status"]?.stringValue.map(EventStatus.init(rawValue:)), since: since, until: until,
                    limit: 100_000, in: store)
                let report = try await replayer(engine).replay(events: events, originalPlan: request["original_plan"]?.boolValue == true,
                                                               by: "admin-api")
                return Engine.Reply(status: 200, body: report.json)
            case (_, _) where path == "/admin/endpoints" || path.hasPrefix("/admin/endpoints/"):
                return try await endpoint(method: method, path: path, query: query, body: body, engine: engine)
            case (_, _) where path == "/admin/rollouts" || path.hasPrefix("/admin/rollouts/"):
                return try await rollout(method: method, path: path, body: body, engine: engine, reloader: reloader)
            default:
                return .error(404, "not_found", "no such admin endpoint")
            }
        } catch let error as EndpointError {
            return .error(error.description.hasPrefix("there is no endpoint") ? 404 : 422, "endpoint", error.description)
        } catch let error as BadRequest {
            return .error(400, "bad_request", error.message)
        } catch let error as ReplaySelection.NotFound {
            return .error(404, "not_found", error.description)
        } catch {
            return .error(500, "internal", "\(error)")
        }
    }

    /// `/admin/rollouts…`: rollouts as `manifold rollout` manages them, logged as done by the admin API; the engine runs
    /// the change at once.
    private func rollout(method: String, path: String, body: [UInt8], engine: Engine, reloader: ConfigReloader?) async throws
        -> Engine.Reply
    {
        guard let rollouts = store as? any RolloutStore else { return .error(404, "not_found", "this store keeps no rollouts") }
        let parts = path.split(separator: "/").map(String.init)   // ["admin", "rollouts", connector?, action?]
        let by = "admin-api"
        func changed(_ connector: String, _ action: String, _ detail: JSON?, _ change: @escaping @Sendable (inout RolloutRecord) -> Void)
            async throws -> Engine.Reply
        {
            guard let record = try await rollouts.changeRollout(connector, action: action, by: by, detail: detail, change) else {
                return .error(404, "not_found", "\(connector) has no active rollout")
            }
            await engine.refreshRollouts()
            return Engine.Reply(status: 200, body: Self.summary(record, engine: engine))
        }
        switch (method, parts.count > 2 ? parts[2] : nil, parts.count > 3 ? parts[3] : nil) {
        case ("GET", nil, nil):
            return Engine.Reply(status: 200, body: ["rollouts": .array(try await rollouts.rollouts().map { Self.summary($0, engine: engine) })])
        case ("POST", let connector?, nil):
            let request = try Self.object(body)
            guard let text = request["candidate"]?.stringValue else { throw BadRequest(message: "give candidate: the candidate connector's YAML") }
            let share = request["share"]?.numberValue ?? 10
            guard (0...100).contains(share) else { throw BadRequest(message: "share is a percentage from 0 to 100") }
            guard let running = engine.plan.connector(named: connector) else { return .error(404, "not_found", "there is no connector \(connector)") }
            let compiled = ConnectorCompiler().compile([SourceFile(path: "\(connector).candidate.yaml", text: text)])
            guard let plan = compiled.plan, let candidate = plan.connectors.first, candidate.name == connector else {
                let reasons = compiled.diagnostics.filter { $0.severity == .error }.map(\.description)
                return .error(422, "candidate", reasons.isEmpty ? "the candidate is not connector \(connector)" : reasons.joined(separator: "; "))
            }
            if let problem = RolloutRecord.sourceProblem(current: running.json["source"], candidate: candidate.json["source"]) {
                return .error(422, "candidate", problem)
            }
            let record = RolloutRecord(
                id: "ro_" + JobIdentifier.make().dropFirst(4), connector: connector,
                mode: request["mode"]?.stringValue == "shadow" ? .shadow : .canary, basisPoints: Int((share * 100).rounded()),
                stickBy: request["stick_by"]?.stringValue, candidateText: text, candidatePath: "\(connector).candidate.yaml",
                candidateVersion: plan.version, baseVersion: engine.plan.version, startedAt: Date(), startedBy: by)
            try await rollouts.startRollout(record, by: by)
            await engine.refreshRollouts()
            return Engine.Reply(status: 201, body: Self.summary(record, engine: engine))
        case ("POST", let connector?, "share"):
            let share = try Self.object(body)["share"]?.numberValue ?? -1
            guard (0...100).contains(share) else { throw BadRequest(message: "share is a percentage from 0 to 100") }
            return try await changed(connector, "set-share", ["share": .number(share)]) { $0.basisPoints = Int((share * 100).rounded()) }
        case ("POST", let connector?, "rollback"):
            let reason = (try? Self.object(body))?["reason"]?.stringValue ?? "rolled back by hand"
            return try await changed(connector, "rollback", ["reason": .string(reason)]) {
                $0.status = .rolledBack
                $0.endedReason = reason
            }
        case ("POST", let connector?, "promote"):
            guard let active = try await rollouts.rollouts().first(where: { $0.connector == connector && $0.status == .active }) else {
                return .error(404, "not_found", "\(connector) has no active rollout")
            }
            guard let file = engine.plan.connector(named: connector)?.sourceFile, let reloader else {
                return .error(409, "promote", "this engine cannot write \(connector)'s file; use `manifold rollout promote`")
            }
            try Data(active.candidateText.utf8).write(to: URL(fileURLWithPath: file))
            // The file first, then the reload: until the candidate runs as the current version, the rollout goes on.
            let outcome = await reloader.reload(trigger: "promote")
            guard outcome.result != .rejected else {
                return Engine.Reply(status: 422, body: outcome.json)
            }
            return try await changed(connector, "promote", ["file": .string(file)]) {
                $0.status = .promoted
                $0.endedReason = "promoted: \(file) is the candidate"
            }
        default:
            return .error(404, "not_found", "no such rollout action")
        }
    }

    /// A rollout as the API and the dashboard show it: never its candidate's text; with each version's figures.
    static func summary(_ record: RolloutRecord, engine: Engine) -> JSON {
        var object = record.json.objectValue ?? JSONObject()
        object["candidate_text"] = nil
        object["share"] = .string(record.shareText)
        if record.status == .active, let figures = engine.rollouts.armFigures[record.connector] {
            var arms = JSONObject()
            for (arm, figure) in figures.sorted(by: { $0.key.rawValue > $1.key.rawValue }) {
                var item: JSONObject = ["events": .number(Double(figure.events)), "attempts": .number(Double(figure.attempts)),
                                        "failed": .number(Double(figure.failed)), "dead_lettered": .number(Double(figure.deadLettered))]
                if figure.attempts > 0 { item["success_rate"] = .number(Double(figure.attempts - figure.failed) / Double(figure.attempts)) }
                if let p50 = figure.percentile(0.5) { item["p50_ms"] = .number(p50) }
                if let p99 = figure.percentile(0.99) { item["p99_ms"] = .number(p99) }
                arms[arm.rawValue] = .object(item)
            }
            object["versions"] = .object(arms)
        }
        if let problem = engine.rollouts.failures[record.id] { object["problem"] = .string(problem) }
        return .object(object)
    }

    /// `/admin/endpoints…`: the registry, as `manifold endpoints` manages it; the engine reloads it at once.
    private func endpoint(method: String, path: String, query: [String: String], body: [UInt8], engine: Engine) async throws
        -> Engine.Reply
    {
        guard let endpoints else {
            return .error(404, "not_found", "endpoints are off: set MANIFOLD_ENDPOINT_KEY (make one with `manifold endpoints key`)")
        }
        // Registrations follow the plan's endpoints targets: private networks and http only where one allows them.
        let settings = engine.plan.connectors.flatMap(\.targets).compactMap(\.endpoints)
        let admin = EndpointAdmin(store: endpoints.store, box: endpoints.box, policy: EndpointNetworkPolicy(
            allowPrivateNetworks: settings.contains { $0.allowPrivateNetworks }, allowInsecure: settings.contains { $0.allowInsecure }))
        let parts = path.split(separator: "/").map(String.init)   // ["admin", "endpoints", id?, action?]
        let id = parts.count > 2 ? parts[2] : nil
        let action = parts.count > 3 ? parts[3] : nil
        func changed(_ reply: Engine.Reply) async -> Engine.Reply {
            try? await engine.runtime?.endpoints?.refresh()
            return reply
        }
        func strings(_ json: JSON?) -> [String: String]? {
            json?.objectValue.map { Dictionary($0.map { ($0.key, $0.value.stringValue ?? "") }, uniquingKeysWith: { _, last in last }) }
        }
        switch (method, id, action) {
        case ("GET", nil, nil):
            let list = try await admin.list(tenant: query["tenant"])
            return Engine.Reply(status: 200, body: ["endpoints": .array(list.map(\.json))])
        case ("POST", nil, nil):
            let request = try Self.object(body)
            guard let tenant = request["tenant"]?.stringValue, let url = request["url"]?.stringValue else {
                throw BadRequest(message: "give tenant and url")
            }
            let (endpoint, secret) = try await admin.add(tenant: tenant, .init(
                url: url, eventTypes: request["event_types"]?.arrayValue?.compactMap(\.stringValue), headers: strings(request["headers"]) ?? [:],
                rateLimit: request["rate_limit"]?.intValue, description: request["description"]?.stringValue))
            return await changed(Engine.Reply(status: 201, body: ["endpoint": endpoint.json, "secret": .string(secret)]))
        case ("GET", let id?, nil):
            let endpoint = try await admin.endpoint(id)
            let deliveries = try await admin.deliveries(id, limit: Int(query["limit"] ?? "") ?? 50)
            return Engine.Reply(status: 200, body: [
                "endpoint": endpoint.json,
                "history": .array(try await admin.history(id).map { .object(JSONObject([("at", .string(ISO8601DateFormatter().string(from: $0.at))),
                                                                                         ("kind", .string($0.kind)), ("detail", .string($0.detail))])) }),
                "deliveries": .array(deliveries.map(\.json)),
            ])
        case ("PATCH", let id?, nil):
            let request = try Self.object(body)
            let types: [String]?? = request["event_types"].map { $0 == .null ? nil : $0.arrayValue?.compactMap(\.stringValue) }
            let limit: Int?? = request["rate_limit"].map { $0 == .null ? nil : $0.intValue }
            let endpoint = try await admin.update(id, url: request["url"]?.stringValue, eventTypes: types, headers: strings(request["headers"]),
                                                  rateLimit: limit)
            return await changed(Engine.Reply(status: 200, body: ["endpoint": endpoint.json]))
        case ("POST", let id?, "disable"):
            let request = (try? Self.object(body)) ?? [:]
            try await admin.disable(id, reason: request["reason"]?.stringValue ?? "disabled through the admin API")
            return await changed(Engine.Reply(status: 200, body: ["disabled": .string(id)]))
        case ("POST", let id?, "enable"):
            let request = (try? Self.object(body)) ?? [:]
            engine.runtime?.endpoints?.resetHealth(id)
            let replayed = try await admin.enable(id, replay: request["replay"]?.boolValue == true, router: engine.router,
                                                  since: try request["since"]?.stringValue.map(Self.date), by: "admin-api")
            return await changed(Engine.Reply(status: 200, body: ["enabled": .string(id), "replayed": .number(Double(replayed))]))
        case ("POST", let id?, "rotate"):
            let request = (try? Self.object(body)) ?? [:]
            let text = request["overlap"]?.stringValue ?? "24h"
            guard let overlap = Duration(manifoldText: text) else { throw BadRequest(message: "overlap must be a duration such as 24h") }
            let secret = try await admin.rotate(id, overlap: overlap)
            return await changed(Engine.Reply(status: 200, body: ["id": .string(id), "secret": .string(secret), "overlap": .string(overlap.manifoldText)]))
        case ("POST", let id?, "ping"):
            guard let transport = engine.runtime?.transport else { return .error(503, "unavailable", "this engine does not deliver") }
            let (status, detail) = try await admin.ping(id, transport: transport)
            return Engine.Reply(status: 200, body: ["status": status.map { JSON.number(Double($0)) } ?? .null, "detail": .string(detail)])
        case ("DELETE", let id?, nil):
            try await admin.remove(id, by: "admin-api")
            return await changed(Engine.Reply(status: 200, body: ["removed": .string(id)]))
        default:
            return .error(404, "not_found", "no such endpoints action")
        }
    }

    struct BadRequest: Error {
        var message: String
    }

    private func select(_ request: JSON) async throws -> [JobSummary] {
        let ids = request["jobs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard !ids.isEmpty || request["all"]?.boolValue == true else { throw BadRequest(message: "name jobs, or say all: true") }
        return try await ReplaySelection.deadLetters(ids: ids, connector: request["connector"]?.stringValue,
                                                     target: request["target"]?.stringValue, in: store)
    }

    private func replayer(_ engine: Engine) -> Replayer {
        let store = self.store
        return Replayer(store: store, router: engine.router, loadRouter: { version in
            try await KeptPlans.plan(version: version, in: store).map { try Router(plan: $0) }
        }, directory: engine.runtime?.endpoints)
    }

    private static func object(_ body: [UInt8]) throws -> JSON {
        guard let json = try? JSONParser.parse(bytes: body), json.objectValue != nil else {
            throw BadRequest(message: "the body must be a JSON object")
        }
        return json
    }

    private static func date(_ text: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) else { throw BadRequest(message: "not an ISO 8601 time: \(text)") }
        return date
    }
}
