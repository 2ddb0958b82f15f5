public import Foundation
import JSONValue
import ManifoldDelivery
import ManifoldIngress
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
public struct AdminAPI: Sendable {
    let store: any EventStore & JobStore
    let token: AccessToken

    public init(store: any EventStore & JobStore, token: String) {
        self.store = store
        self.token = AccessToken(token)
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
            default:
                return .error(404, "not_found", "no such admin endpoint")
            }
        } catch let error as BadRequest {
            return .error(400, "bad_request", error.message)
        } catch let error as ReplaySelection.NotFound {
            return .error(404, "not_found", error.description)
        } catch {
            return .error(500, "internal", "\(error)")
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
        })
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
