import Foundation
import JSONValue
import ManifoldDelivery
import ManifoldMonitor
import ManifoldStore

/// What the dashboard shows, as JSON: per lane (connector/target) its recent figures and state, per connector its
/// recent events, the last failures, the dead letters, the alerts firing; and one event's timeline. Read-only;
/// no payload, request body or credential is ever part of it.
struct DashboardData {
    let engine: Engine
    let alerts: AlertCenter?
    /// The window the figures cover.
    var window: Duration = .seconds(300)

    /// Everything the page shows; a store that cannot be read is an error, not an empty table.
    func overview(now: Date = Date()) async throws -> JSON {
        let plan = engine.plan
        let stats = engine.metrics.stats
        let statuses = Dictionary((engine.runtime?.laneStatuses ?? []).map { (LaneKey(connector: $0.connector, target: $0.target), $0) }) { first, _ in first }
        let counts = try await engine.jobs?.jobCounts(states: [.dead, .quarantined]).byLane ?? [:]
        var lanes: [JSON] = []
        var connectors: [JSON] = []
        for connector in plan.connectors {
            let events = stats.events(connector.name, window: window, endingAt: now)
            connectors.append([
                "name": .string(connector.name),
                "path": .string(connector.source?.path ?? connector.pull.map { "\($0.kind): \($0.timing.text)" } ?? ""),
                "verification": .string(connector.source?.verification.scheme.rawValue ?? "pulled"),
                "accepted": .number(Double(events[.accepted] ?? 0)), "rejected": .number(Double(events[.rejected] ?? 0)),
                "duplicates": .number(Double(events[.duplicate] ?? 0)),
                "quarantined": .number(Double(events[.quarantined] ?? 0)),
            ])
            for target in connector.targets {
                let key = LaneKey(connector: connector.name, target: target.name)
                let summary = stats.summary(key, window: window, endingAt: now)
                let status = statuses[key]
                var object: JSONObject = [
                    "lane": .string(key.description), "connector": .string(connector.name), "target": .string(target.name),
                    "attempts": .number(Double(summary.attempts)), "delivered": .number(Double(summary.delivered)),
                    "failed": .number(Double(summary.failed)), "rate_limited": .number(Double(summary.rateLimited)),
                    "breaker": .string(status?.breaker ?? "closed"), "queued": .number(Double(status?.queued ?? 0)),
                    "in_flight": .number(Double(status?.inFlight ?? 0)),
                    "dead_letters": .number(Double(counts[key]?.dead ?? 0)),
                    "quarantined": .number(Double(counts[key]?.quarantined ?? 0)),
                ]
                object["success_rate"] = summary.successRate.map(JSON.number) ?? .null
                object["error_rate"] = summary.errorRate.map(JSON.number) ?? .null
                object["p50_ms"] = summary.p50.map(JSON.number) ?? .null
                object["p99_ms"] = summary.p99.map(JSON.number) ?? .null
                object["oldest_queued_s"] = status?.oldestQueued.map { .number(max(0, now.timeIntervalSince($0)).rounded()) } ?? .null
                lanes.append(.object(object))
            }
        }
        let failures = engine.metrics.recentFailures.prefix(20).map { failure -> JSON in
            var object: JSONObject = [
                "at": .string(JobJSON.time(failure.at)), "lane": .string("\(failure.connector)/\(failure.target)"),
                "route": .string(failure.route), "job": .string(failure.job), "event": .string(failure.event),
                "attempt": .number(Double(failure.attempt)), "class": .string(failure.errorClass),
                "outcome": .string(failure.outcome), "reason": .string(failure.reason), "trace_id": .string(failure.traceID),
            ]
            if let status = failure.status { object["status"] = .number(Double(status)) }
            return .object(object)
        }
        let deadLetters = try await engine.jobs?.jobs(JobQuery(states: [.dead, .quarantined], limit: 20)).map(\.json) ?? []
        // Customers' endpoints: each with its lane's state and its latest deliveries (never a secret, URLs without query).
        var endpoints: [JSON] = []
        let endpointLanes = Dictionary((engine.runtime?.laneStatuses ?? []).compactMap { status in
            status.lane.lastIndex(of: "@").map { (String(status.lane[status.lane.index(after: $0)...]), status) }
        }, uniquingKeysWith: { first, _ in first })
        for endpoint in (engine.runtime?.endpoints?.all ?? []).prefix(100) {
            let recent = try await engine.jobs?.jobs(JobQuery(limit: 5, endpoint: endpoint.id)) ?? []
            let lane = endpointLanes[endpoint.id]
            var object: JSONObject = [
                "id": .string(endpoint.id), "tenant": .string(endpoint.stored.tenant), "state": .string(endpoint.stored.state.rawValue),
                "url": .string(EndpointRegistry.displayURL(endpoint.stored.url)),
                "queued": .number(Double(lane?.queued ?? 0)), "in_flight": .number(Double(lane?.inFlight ?? 0)),
                "breaker": .string(lane?.breaker ?? "closed"),
                "deliveries": .array(recent.map { job in
                    .object(JSONObject([("job", .string(job.id)), ("state", .string(job.state.rawValue)),
                                        ("attempts", .number(Double(job.attempts))),
                                        ("status", job.lastStatus.map { .number(Double($0)) } ?? .null),
                                        ("at", .string(JobJSON.time(job.updatedAt)))]))
                }),
            ]
            if let reason = endpoint.stored.stateReason { object["reason"] = .string(reason) }
            endpoints.append(.object(object))
        }
        // Pulled connectors: where each stands (its cursor, last run and error), from the state it commits.
        var pulls: [JSON] = []
        let states = try await (engine.store as? any PullStateStore)?.pullStates() ?? []
        for connector in plan.connectors {
            guard let pull = connector.pull else { continue }
            let state = states.first { $0.connector == connector.name }?.state ?? .null
            let stats = Stats(state["stats"] ?? .null)
            var object: JSONObject = [
                "connector": .string(connector.name), "kind": .string(pull.kind), "schedule": .string(pull.timing.text),
                "cursor": .string((state["cursors"]?.objectValue ?? JSONObject()).map { ($0.key.isEmpty ? "" : $0.key + ": ") + $0.value.serialized() }
                    .joined(separator: ", ")),
                "under_way": .bool(state["run"]?.objectValue?.isEmpty == false),
                "last_run": stats.lastRunAt.map { .string(JobJSON.time(Date(timeIntervalSince1970: Double($0) / 1000))) } ?? .null,
                "last_success": stats.lastSuccessAt.map { .string(JobJSON.time(Date(timeIntervalSince1970: Double($0) / 1000))) } ?? .null,
                "records": .number(Double(stats.records)), "pages": .number(Double(stats.pages)),
                "failing_runs": .number(Double(stats.failing)),
            ]
            if let error = stats.lastError { object["last_error"] = .string(error) }
            pulls.append(.object(object))
        }
        // Rollouts under way: each version side by side (events, success, latency, failures, dead letters).
        let rollouts = try await (engine.store as? any RolloutStore)?.activeRollouts() ?? []
        // Engines sharing the store: each with its plan version and lanes (a reload that has not reached one shows).
        var cluster: JSON?
        if let runtime = engine.runtime, runtime.sharesStore, let leases = engine.store as? any LaneLeaseStore {
            cluster = try await ClusterStatus.read(from: leases, now: now).json(this: runtime.owner)
        }
        return [
            "plan": .string(plan.version), "generated_at": .string(JobJSON.time(now)), "pulls": .array(pulls),
            "rollouts": .array(rollouts.map { AdminAPI.summary($0, engine: engine) }),
            "window": .string("\(window.components.seconds / 60)m"),
            "admin": .bool(engine.admin != nil),
            "connectors": .array(connectors), "lanes": .array(lanes), "failures": .array(Array(failures)),
            "dead_letters": .array(deadLetters), "endpoints": .array(endpoints),
            "alerts": .array((alerts?.active ?? []).map { $0.body(for: .webhook, dashboardURL: nil) }),
            "cluster": cluster ?? .null,
        ]
    }

    /// One event's timeline: received, routed, each attempt of each job with its class, status and reason, and
    /// how each job ended; in time order.
    func timeline(eventID: String) async throws -> Engine.Reply {
        guard let record = try await engine.store.event(id: eventID) else {
            return .error(404, "not_found", "there is no event \(eventID)")
        }
        var entries: [(at: Date, order: Int, json: JSON)] = []
        for (index, step) in record.history.enumerated() {
            var object: JSONObject = ["at": .string(JobJSON.time(step.at)), "kind": .string("event"),
                                      "status": .string(step.status.rawValue)]
            if let detail = step.detail { object["detail"] = detail }
            entries.append((step.at, index, .object(object)))
        }
        var jobsJSON: [JSON] = []
        if let store = engine.jobs {
            for summary in try await store.jobs(JobQuery(eventID: eventID, limit: 100)).reversed() {
                jobsJSON.append(summary.json)
                guard let job = try await store.job(id: summary.id) else { continue }
                for (number, attempt) in job.attempts.enumerated() {
                    var object: JSONObject = [
                        "at": .string(JobJSON.time(attempt.at)), "kind": .string("attempt"), "job": .string(summary.id),
                        "route": .string(summary.route), "target": .string(summary.target),
                        "attempt": .number(Double(number + 1)), "class": .string(attempt.errorClass),
                        "duration_ms": .number(Double(attempt.durationMilliseconds)),
                    ]
                    if let status = attempt.responseStatus { object["status"] = .number(Double(status)) }
                    if let error = attempt.error { object["error"] = .string(error) }
                    // A flow's call: which step (and element) made it.
                    if let step = attempt.request?["step"]?.stringValue {
                        object["step"] = .string(step)
                        if let element = attempt.request?["element"] { object["element"] = element }
                    }
                    entries.append((attempt.at, 1000 + number, .object(object)))
                }
            }
        }
        let summary = record.summary
        var event: JSONObject = [
            "id": .string(summary.id), "connector": .string(summary.connector), "event_id": .string(summary.eventID),
            "received_at": .string(JobJSON.time(summary.receivedAt)), "status": .string(summary.status.rawValue),
            "plan_version": .string(summary.planVersion), "duplicates": .number(Double(summary.duplicates)),
        ]
        if let type = summary.eventType { event["event_type"] = .string(type) }
        let ordered = entries.sorted { ($0.at, $0.order) < ($1.at, $1.order) }.map(\.json)
        return Engine.Reply(status: 200, body: ["event": .object(event), "jobs": .array(jobsJSON), "timeline": .array(ordered)])
    }
}
