public import Foundation
public import JSONValue
public import ManifoldIngress
public import ManifoldStore

/// Replays: dead letters re-run as new jobs, or events routed again. A replay is itself recorded: the new job
/// names the one it replays, the event's history says who replayed it and on which plan, the dead letter leaves
/// the queue (`replayed`). The running plan decides by default; `originalPlan` uses the version that first ran.
public struct Replayer: Sendable {
    let store: any EventStore & JobStore
    let router: Router
    let loadRouter: @Sendable (String) async throws -> Router?
    /// Customers' endpoints, for events routed again to endpoints targets (without it such routes make no job).
    let directory: (any EndpointDirectory)?

    public init(store: any EventStore & JobStore, router: Router,
                loadRouter: @escaping @Sendable (String) async throws -> Router?, directory: (any EndpointDirectory)? = nil)
    {
        self.store = store
        self.router = router
        self.loadRouter = loadRouter
        self.directory = directory
    }

    public struct Report: Sendable {
        /// Old id (job or event) and the new jobs made.
        public var replayed: [(from: String, jobs: [String])] = []
        /// Id and why it was not replayed.
        public var skipped: [(id: String, reason: String)] = []

        public var json: JSON {
            .object(JSONObject([
                ("replayed", .array(replayed.map { .object(JSONObject([("from", .string($0.from)),
                                                                       ("jobs", .array($0.jobs.map(JSON.string)))])) })),
                ("skipped", .array(skipped.map { .object(JSONObject([("id", .string($0.id)), ("reason", .string($0.reason))])) })),
            ]))
        }
    }

    private func router(for version: String, originalPlan: Bool) async throws -> Router? {
        guard originalPlan, version != router.planVersion else { return router }
        return try await loadRouter(version)
    }

    /// Re-runs dead letters (jobs `dead` or `quarantined`) as new jobs of the same route. A flow resumes at the call
    /// that failed, with the results of the steps that completed (each call keeps its idempotency key, so a call the
    /// vendor did take is not applied twice), or from its first step with `fromStart`.
    public func replay(jobs: [JobSummary], originalPlan: Bool, by actor: String, fromStart: Bool = false,
                       progress: (Int, Int) -> Void = { _, _ in }) async throws -> Report
    {
        var report = Report()
        for (index, job) in jobs.enumerated() {
            defer { progress(index + 1, jobs.count) }
            guard let chosen = try await router(for: job.planVersion, originalPlan: originalPlan) else {
                report.skipped.append((job.id, "plan \(job.planVersion) was not kept; replay it on the running plan"))
                continue
            }
            guard chosen.has(connector: job.connector, route: job.route) else {
                report.skipped.append((job.id, "plan \(chosen.planVersion) has no route '\(job.route)' in '\(job.connector)'"))
                continue
            }
            let flow: JSON? = job.flow.map { FlowMachine.resumed(FlowProgress(json: $0), fromStart: fromStart).json }
            let new = NewJob(route: job.route, target: job.target, lane: job.lane, orderingKey: job.orderingKey,
                             traceID: TraceContext.newTraceID(), replayOf: job.id, planVersion: chosen.planVersion,
                             pinsPlan: originalPlan, flow: flow)
            // The dead letter is marked replayed and its replacement made in one transaction: a crash leaves neither
            // a replayed job without its replacement nor two replacements.
            guard try await store.replay(job: job.id, with: new, status: .replayed, detail: [
                "by": .string(actor), "replay_of": .string(job.id), "plan": .string(chosen.planVersion),
            ]) else {
                report.skipped.append((job.id, "it is no longer a dead letter (already replayed or purged)"))
                continue
            }
            report.replayed.append((job.id, [new.id]))
        }
        return report
    }

    /// Routes events again and makes their jobs.
    public func replay(events: [EventSummary], originalPlan: Bool, by actor: String,
                       progress: (Int, Int) -> Void = { _, _ in }) async throws -> Report
    {
        var report = Report()
        for (index, summary) in events.enumerated() {
            defer { progress(index + 1, events.count) }
            guard let event = try await store.event(id: summary.id),
                  let payload = WebhookEndpoint.payload(of: event.body, contentType: event.contentType)
            else {
                report.skipped.append((summary.id, "its body does not parse"))
                continue
            }
            guard let chosen = try await router(for: summary.planVersion, originalPlan: originalPlan) else {
                report.skipped.append((summary.id, "plan \(summary.planVersion) was not kept; replay it on the running plan"))
                continue
            }
            guard chosen.has(connector: summary.connector) else {
                report.skipped.append((summary.id, "plan \(chosen.planVersion) has no connector '\(summary.connector)'"))
                continue
            }
            let jobs: [NewJob]
            do {
                jobs = try chosen.route(connector: summary.connector, payload: payload, headers: event.headers,
                                        directory: directory, pinsPlan: originalPlan)
            } catch {
                report.skipped.append((summary.id, error.description))
                continue
            }
            try await store.addJobs(jobs, toEvent: summary.id, status: .replayed, detail: [
                "by": .string(actor), "plan": .string(chosen.planVersion),
            ])
            report.replayed.append((summary.id, jobs.map(\.id)))
        }
        return report
    }
}

/// What a replay or a purge acts on, as the CLI and the admin API choose it.
public enum ReplaySelection {
    /// A named job or event that is not in the store.
    public struct NotFound: Error, CustomStringConvertible {
        public var description: String
    }

    /// The jobs named, or (with none named) every dead letter of the connector and target given, oldest first.
    public static func deadLetters(ids: [String], connector: String?, target: String?, endpoint: String? = nil,
                                   since: Date? = nil, until: Date? = nil, in store: any JobStore) async throws -> [JobSummary]
    {
        if !ids.isEmpty {
            var jobs: [JobSummary] = []
            for id in ids {
                guard let job = try await store.job(id: id) else { throw NotFound(description: "there is no job \(id)") }
                jobs.append(job.summary)
            }
            return jobs
        }
        return try await store.jobs(JobQuery(states: [.dead, .quarantined], connector: connector, target: target,
                                             since: since, until: until, limit: 1_000_000, endpoint: endpoint)).reversed()
    }

    /// The events named, or (with none named) those matching the filters, received before `until`, oldest first.
    public static func events(ids: [String], connector: String?, status: EventStatus?, since: Date?, until: Date?,
                              limit: Int, in store: any EventStore) async throws -> [EventSummary]
    {
        if !ids.isEmpty {
            var events: [EventSummary] = []
            for id in ids {
                guard let event = try await store.event(id: id) else { throw NotFound(description: "there is no event \(id)") }
                events.append(event.summary)
            }
            return events
        }
        // `until` is part of the query: filtered after the limit, it would cut the newest events and drop the rest.
        return try await store.events(EventQuery(connector: connector, status: status, since: since, until: until, limit: limit))
            .reversed()
    }
}
