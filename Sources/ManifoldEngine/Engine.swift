public import Foundation
public import JSONValue
public import ManifoldIngress
public import ManifoldPlan
public import ManifoldStore
public import ManifoldDelivery
import Synchronization
public import Logging
public import Tracing

/// The engine without its HTTP server: the running plan, the webhook endpoints, the store.
///
/// `receive` is the front door: admit (verify and parse), then append to the store, and only once the append
/// is durable answer 2xx. A store that cannot commit gets 503, so the vendor retries: nothing is acknowledged
/// that is not on disk.
public final class Engine: Sendable {
    /// What one plan puts in place: its version and an endpoint per webhook path. Swapped whole.
    struct Routing: Sendable {
        var plan: Plan
        var endpoints: [String: WebhookEndpoint]
        var router: Router
    }

    private let routing: Mutex<Routing>
    public let store: any EventStore
    /// Delivers the jobs routing makes; without it, events are stored and routed but nothing is sent.
    public let runtime: DeliveryRuntime?
    private let now: @Sendable () -> Date
    let logger: Logger
    /// The last append that failed, and when: `/readyz` reports it for `failureMemory` after it (a store that
    /// is damaged or full fails every webhook while a quick write to another page still succeeds).
    private let lastStoreFailure = Mutex<(at: Date, error: String)?>(nil)
    static let failureMemory: TimeInterval = 30

    /// The rollouts of candidate versions running beside the current ones.
    public let rollouts: RolloutCenter
    /// The resolver of the running plan (a rollout's candidate resolves its secrets with it).
    private let resolver: Mutex<ConfigResolver>

    /// Sets the plan up: every secret and public URL must resolve, or this throws naming the connector and what is missing.
    public init(plan: Plan, store: any EventStore, resolver: ConfigResolver, logger: Logger,
                runtime: DeliveryRuntime? = nil, admin: AdminAPI? = nil, metrics: EngineMetrics = EngineMetrics(),
                tracer: (any Tracer)? = nil, now: @escaping @Sendable () -> Date = { Date() }) throws(SetupError)
    {
        self.admin = admin
        self.tracer = tracer
        self.resolver = Mutex(resolver)
        rollouts = RolloutCenter(metrics: metrics)
        runtime?.attach(metrics)
        runtime?.attach(rollouts)
        let (routing, delivery) = try Self.prepare(plan, resolver: resolver, runtime: runtime)
        if let delivery { runtime?.install(delivery) }
        self.routing = Mutex(routing)
        self.store = store
        self.runtime = runtime
        self.logger = logger
        self.metrics = metrics
        self.now = now
    }

    /// Swaps `plan` in: every endpoint, the router and the delivery plan are built first, and only if all of them
    /// can be (every secret resolves) do they replace the running ones, together. Requests already admitted and
    /// calls in flight finish on the plan they started with. Returns the plan it replaced.
    @discardableResult
    public func apply(_ plan: Plan, resolver: ConfigResolver) throws(SetupError) -> Plan {
        let (next, delivery) = try Self.prepare(plan, resolver: resolver, runtime: runtime)
        self.resolver.withLock { $0 = resolver }
        // Lanes first: a job routed by the new plan finds its lane.
        if let delivery { runtime?.install(delivery) }
        let previous = routing.withLock { routing in
            let previous = routing.plan
            routing = next
            return previous
        }
        for hook in appliedHooks.withLock({ $0 }) { hook() }
        return previous
    }

    private let appliedHooks = Mutex<[@Sendable () -> Void]>([])

    /// Calls `hook` after every plan swapped in (the pulls start, stop or restart their loops).
    public func whenPlanApplied(_ hook: @escaping @Sendable () -> Void) {
        appliedHooks.withLock { $0.append(hook) }
    }

    private static func prepare(_ plan: Plan, resolver: ConfigResolver, runtime: DeliveryRuntime?) throws(SetupError)
        -> (Routing, DeliveryPlan?)
    {
        do {
            var endpoints: [String: WebhookEndpoint] = [:]
            for connector in plan.connectors {
                guard let source = connector.source else { continue }
                endpoints[source.path] = try WebhookEndpoint(connector: connector, resolver: resolver)
            }
            let delivery = try runtime.map { try DeliveryPlan(plan: plan, resolver: resolver, tokens: $0.tokens) }
            return (Routing(plan: plan, endpoints: endpoints, router: try Router(plan: plan)), delivery)
        } catch {
            throw SetupError(description: "\(error)")
        }
    }

    /// Why a plan cannot run: a secret or URL that does not resolve, named with its connector.
    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The running plan.
    public var plan: Plan { routing.withLock { $0.plan } }

    /// The running plan's router.
    public var router: Router { routing.withLock { $0.router } }

    /// The admin API, when a token is configured.
    public let admin: AdminAPI?

    /// The engine's metrics, served at `/metrics`.
    public let metrics: EngineMetrics

    /// Starts a span per webhook request, in the trace its `traceparent` names (or a new one per event).
    let tracer: (any Tracer)?

    /// The webhook served at a path, with the version of the plan it belongs to: looked up once per request, so
    /// that its size limit, its admission and the version stored with the event all come from one plan.
    public struct Route: Sendable {
        public let endpoint: WebhookEndpoint
        public let planVersion: String
        let router: Router
    }

    /// The webhook served at `path`, if any.
    public func route(for path: String) -> Route? {
        routing.withLock { routing in
            routing.endpoints[path].map { Route(endpoint: $0, planVersion: routing.plan.version, router: routing.router) }
        }
    }

    /// The answer to a webhook request.
    public struct Reply: Sendable, Equatable {
        public var status: Int
        public var body: JSON
        /// A handshake's answer, sent as it is (its own content type, headers and body) instead of `body`.
        public var handshake: HandshakeAnswer?

        public init(status: Int, body: JSON, handshake: HandshakeAnswer? = nil) {
            self.status = status
            self.body = body
            self.handshake = handshake
        }

        public init(_ refusal: WebhookEndpoint.Refusal) {
            self.init(status: refusal.status, body: refusal.json)
        }

        static func error(_ status: Int, _ code: String, _ message: String) -> Reply {
            Reply(WebhookEndpoint.Refusal(status: status, code: code, message: message))
        }
    }

    /// Handles a request to a webhook: refuse it, or store it and acknowledge. The event's trace is the one its
    /// `traceparent` names, or a new one; its jobs (and every call they make) belong to it.
    public func receive(_ request: WebhookRequest, on route: Route) async -> Reply {
        let endpoint = route.endpoint
        let received = now()
        let incoming = TraceParent(headers: request.headers.fields)
        let traceID = incoming?.traceID ?? TraceContext.newTraceID()
        let span = startSpan(connector: endpoint.connector, traceID: traceID, incoming: incoming)
        let reply = await admit(request, on: route, receivedAt: received, traceID: traceID)
        if let span {
            span.updateAttributes { attributes in
                attributes["http.response.status_code"] = reply.status
                if let id = reply.body["id"]?.stringValue { attributes["manifold.event_id"] = id }
                if let status = reply.body["status"]?.stringValue ?? reply.body["error"]?.stringValue {
                    attributes["manifold.outcome"] = status
                }
            }
            if reply.status >= 400 { span.setStatus(SpanStatus(code: .error, message: reply.body["message"]?.stringValue)) }
            span.end()
        }
        return reply
    }

    /// The request's server span: a child of the caller's span when it sent one, else of the event's own span.
    private func startSpan(connector: String, traceID: String, incoming: TraceParent?) -> (any Span)? {
        guard let tracer else { return nil }
        let parent = incoming ?? TraceContext.eventContext(traceID: traceID)
        let span = parent.startSpan("webhook \(connector)", ofKind: .server, with: tracer)
        span.updateAttributes { $0["manifold.connector"] = connector }
        return span
    }

    /// What the expressions of a connector make of one request: refused, or admitted with its jobs (or a reason
    /// to quarantine it).
    private enum Evaluated: Sendable {
        case handshake(HandshakeAnswer)
        case refused(Reply)
        case admitted(AdmittedEvent, RoutedOutcome)
        /// A batch's events, each routed (or with its reason to quarantine it).
        case batch([Routed])
    }

    private struct Routed: Sendable {
        var event: AdmittedEvent
        var outcome: RoutedOutcome
        var jobs: [NewJob]? { outcome.jobs }
        var quarantine: String? { outcome.quarantine }
    }

    /// Verifies, parses and routes `request`: the connector's expressions run here (event id, conditions, a
    /// regular expression that backtracks up to its time limit), so this runs off the threads that serve HTTP.
    private func evaluate(_ request: WebhookRequest, on route: Route, receivedAt received: Date, traceID: String) -> Evaluated {
        let endpoint = route.endpoint
        if let answer = endpoint.handshake(request, now: Int64(received.timeIntervalSince1970)) { return .handshake(answer) }
        let admitted: AdmittedEvent
        let isBatch = endpoint.source.split != nil
        switch endpoint.admitAll(request, now: Int64(received.timeIntervalSince1970)) {
        case .failure(let refusal):
            metrics.received(endpoint.connector, .rejected(reason: refusal.code), at: received)
            logger.notice("webhook refused", metadata: [
                "connector": "\(endpoint.connector)", "status": "\(refusal.status)", "code": "\(refusal.code)",
                "reason": "\(refusal.message)", "remote": "\(request.remoteAddress ?? "-")", "trace_id": "\(traceID)",
            ])
            return .refused(Reply(refusal))
        case .success(let events):
            guard !isBatch, let event = events.first else {
                return .batch(events.map { event in Routed(event: event, outcome: routed(event, on: route, traceID: traceID)) })
            }
            admitted = event
        }
        return .admitted(admitted, routed(admitted, on: route, traceID: traceID))
    }

    /// What routing an event came to: its jobs (or the reason to quarantine it), the plan version that routed it when a
    /// rollout's candidate did, and the calls to record for a shadow rollout.
    struct RoutedOutcome: Sendable {
        var jobs: [NewJob]?
        var quarantine: String?
        var planVersion: String?
        var shadow: [ShadowCall] = []
    }

    /// An event's jobs, made by its routes, or the reason to quarantine it.
    private func routed(_ admitted: AdmittedEvent, on route: Route, traceID: String) -> RoutedOutcome {
        // Routing: the jobs are stored with the event, in one transaction; a route that cannot be evaluated
        // quarantines the event (bad data).
        if let quarantine = admitted.quarantine { return RoutedOutcome(jobs: nil, quarantine: quarantine) }
        guard let payload = admitted.payload else { return RoutedOutcome(jobs: nil, quarantine: nil) }
        return routeEvent(connector: admitted.connector, payload: payload, headers: admitted.headers.fields,
                          eventID: admitted.eventID, traceID: traceID, router: route.router)
    }

    /// Routes one event by the version its rollout (if any) picks: the current version's routes, a canary's candidate
    /// routes (its jobs pinned to the candidate's plan), or the current's with a shadow candidate's calls mapped beside.
    func routeEvent(connector: String, payload: JSON, headers: [(name: String, value: String)], eventID: String, traceID: String,
                    router: Router) -> RoutedOutcome
    {
        let choice = rollouts.choose(connector, payload: payload, eventID: eventID)
        let active: RolloutCenter.Active? = switch choice {
        case .current: nil
        case .candidate(let rollout): rollout
        case .shadow: nil
        }
        do {
            let jobs = try (active?.router ?? router).route(connector: connector, payload: payload, headers: headers, traceID: traceID,
                                                            directory: runtime?.endpoints, pinsPlan: active != nil)
            var outcome = RoutedOutcome(jobs: jobs, quarantine: nil, planVersion: active?.plan.version)
            if case .shadow(let rollout) = choice {
                outcome.shadow = shadowCalls(rollout, connector: connector, current: jobs, payload: payload, headers: headers,
                                             eventID: eventID, traceID: traceID)
            }
            return outcome
        } catch {
            if let active { rollouts.candidateQuarantined(connector, reason: "routing failed: \(error)") }
            return RoutedOutcome(jobs: nil, quarantine: "routing failed: \(error)", planVersion: active?.plan.version)
        }
    }

    /// What the current version and a shadow candidate send (or would send) for one event, mapped now, never sent.
    private func shadowCalls(_ rollout: RolloutCenter.Active, connector: String, current: [NewJob], payload: JSON,
                             headers: [(name: String, value: String)], eventID: String, traceID: String) -> [ShadowCall]
    {
        func record(_ calls: [PreviewedCall], arm: String) -> [ShadowCall] {
            calls.map { ShadowCall(rollout: rollout.record.id, event: eventID, arm: arm, route: $0.route, call: $0.call, request: $0.request) }
        }
        var shadow = record(runtime?.plan?.preview(current, connector: connector, vendorEventID: eventID, payload: payload, headers: headers) ?? [],
                            arm: "current")
        do {
            let candidate = try rollout.router.route(connector: connector, payload: payload, headers: headers, traceID: traceID)
            shadow += record(rollout.delivery.preview(candidate, connector: connector, vendorEventID: eventID, payload: payload,
                                                      headers: headers), arm: "candidate")
        } catch {
            shadow.append(ShadowCall(rollout: rollout.record.id, event: eventID, arm: "candidate", route: "*", call: "*",
                                     request: ["quarantined": .string("routing failed: \(error)")]))
        }
        return shadow
    }

    /// Records a shadow rollout's calls, when there are any (a shadow's record is not the event: a failure is logged).
    func keepShadow(_ calls: [ShadowCall]) async {
        guard !calls.isEmpty, let store = store as? any RolloutStore else { return }
        do {
            try await store.recordShadow(calls)
        } catch {
            logger.error("recording a shadow rollout's calls failed", metadata: ["error": "\(error)"])
        }
    }

    /// One look at the rollouts: the store's (a share set, a rollout started or ended elsewhere) run from now on, and a
    /// canary its guard condemns is rolled back in the store (logged as `auto-rollback`). Returns the rollbacks made.
    public func checkRollouts(now: Date = Date()) async -> [(connector: String, reason: String)] {
        await refreshRollouts()
        guard let store = store as? any RolloutStore else { return [] }
        var done: [(String, String)] = []
        for (rollout, reason) in rollouts.judge(at: now) {
            do {
                let id = rollout.record.id
                _ = try await store.changeRollout(rollout.record.connector, action: "rollback", by: "auto-rollback",
                                                  detail: ["reason": .string(reason)]) { record in
                    guard record.id == id else { return }
                    record.status = .rolledBack
                    record.endedReason = reason
                }
                done.append((rollout.record.connector, reason))
                logger.error("rollout rolled back", metadata: ["connector": "\(rollout.record.connector)", "rollout": "\(id)",
                                                               "reason": "\(reason)"])
                metrics.rolledBack(rollout.record.connector)
            } catch {
                logger.error("rolling a rollout back failed", metadata: ["connector": "\(rollout.record.connector)", "error": "\(error)"])
            }
        }
        if !done.isEmpty { await refreshRollouts() }
        return done
    }

    /// Reads the rollouts from the store and runs the active ones against the running plan.
    public func refreshRollouts() async {
        guard let store = store as? any RolloutStore else { return }
        do {
            let records = try await store.activeRollouts()
            rollouts.install(records, plan: plan, resolver: resolver.withLock { $0 }, runtime: runtime)
        } catch {
            logger.error("reading the rollouts failed", metadata: ["error": "\(error)"])
        }
    }

    /// Bodies up to this size are admitted on the receiving thread when their connector's expressions allow it.
    public static let admittedHereUpTo = 64 * 1024

    /// Whether `request` is verified, parsed and routed on the thread that received it rather than handed to the
    /// evaluation threads (a hop that was a fifth of a webhook's time): only when its body is small and every
    /// expression that runs on it takes time bounded by its size (no function of the author's, no regular
    /// expression or payload contract, no rollout's candidate).
    static func admitsHere(_ request: WebhookRequest, on route: Route, rolloutRunning: Bool) -> Bool {
        request.body.count <= admittedHereUpTo && !rolloutRunning && route.endpoint.admitsInBoundedTime
            && route.router.routesInBoundedTime(route.endpoint.connector)
    }

    private func admit(_ request: WebhookRequest, on route: Route, receivedAt received: Date, traceID: String) async -> Reply {
        let endpoint = route.endpoint
        let evaluated: Evaluated
        if Self.admitsHere(request, on: route, rolloutRunning: rollouts.isRunning(endpoint.connector)) {
            evaluated = evaluate(request, on: route, receivedAt: received, traceID: traceID)
        } else {
            evaluated = await ExpressionThreads.run { self.evaluate(request, on: route, receivedAt: received, traceID: traceID) }
        }
        let admitted: AdmittedEvent, outcome: RoutedOutcome
        switch evaluated {
        case .handshake(let answer): return await answered(answer, request: request, on: route, receivedAt: received, traceID: traceID)
        case .refused(let reply): return reply
        case .admitted(let event, let routed): (admitted, outcome) = (event, routed)
        case .batch(let events): return await stored(events, request: request, on: route, receivedAt: received, traceID: traceID)
        }
        let (jobs, quarantine) = (outcome.jobs, outcome.quarantine)
        let event = NewEvent(
            connector: admitted.connector, eventID: admitted.eventID, eventType: admitted.eventType,
            planVersion: outcome.planVersion ?? route.planVersion, receivedAt: received, contentType: admitted.contentType.rawValue,
            headers: admitted.headers.fields, body: admitted.body, remoteAddress: request.remoteAddress,
            status: quarantine == nil ? .received : .quarantined,
            detail: quarantine.map { .object(JSONObject([("reason", .string($0))])) },
            // Leased to this engine and held in memory while their lanes have room; otherwise stored unleased, for
            // the sweep to claim as the lanes drain (memory stays bounded whatever the backlog).
            jobs: jobs, lease: jobs.flatMap { $0.isEmpty ? nil : runtime?.leaseForNewJobs(lanes: $0.map(\.lane)) })
        let stored: AppendOutcome
        do {
            stored = try await store.append(event)
            lastStoreFailure.withLock { $0 = nil }
        } catch {
            lastStoreFailure.withLock { $0 = (now(), "\(error)") }
            logger.error("event store append failed", metadata: [
                "connector": "\(endpoint.connector)", "error": "\(error)", "trace_id": "\(traceID)",
            ])
            return .error(503, "unavailable", "the event could not be stored; retry later")
        }
        // Built only when a record is written at its level: an engine logging at `error` builds none for each event.
        func metadata(_ more: Logger.Metadata = [:]) -> Logger.Metadata {
            var metadata: Logger.Metadata = [
                "connector": "\(admitted.connector)", "event": "\(stored.id)", "event_id": "\(admitted.eventID)",
                "trace_id": "\(traceID)",
            ]
            if let type = admitted.eventType { metadata["event_type"] = "\(type)" }
            return metadata.merging(more) { $1 }
        }
        switch stored {
        case .stored(let id):
            await keepShadow(outcome.shadow)
            metrics.received(admitted.connector, .accepted(quarantined: quarantine != nil), at: received)
            if let jobs, !jobs.isEmpty, event.lease != nil, let runtime, let payload = admitted.payload {
                runtime.enqueue(jobs, eventStoreID: id, connector: admitted.connector, vendorEventID: admitted.eventID,
                                payload: payload, headers: admitted.headers.fields, receivedAt: received)
            } else if let jobs, !jobs.isEmpty {
                runtime?.jobsStored(lanes: jobs.map(\.lane))
            }
            if let reason = quarantine {
                logger.warning("event quarantined", metadata: metadata(["reason": "\(reason)"]))
                return Reply(status: 202, body: ["status": "quarantined", "id": .string(id)])
            }
            logger.info("event stored", metadata: metadata(["routes": "\(jobs?.map(\.route).joined(separator: ",") ?? "")"]))
            return Reply(status: 200, body: ["status": "accepted", "id": .string(id)])
        case .duplicate(let id):
            metrics.received(admitted.connector, .duplicate, at: received)
            logger.info("duplicate delivery", metadata: metadata())
            return Reply(status: 200, body: ["status": "duplicate", "id": .string(id)])
        }
    }

    /// A batch's events stored in one transaction under one acknowledgement: each stored (and enqueued), quarantined,
    /// or recorded as a duplicate of one stored before, without dropping its siblings.
    private func stored(_ batch: [Routed], request: WebhookRequest, on route: Route, receivedAt received: Date,
                        traceID: String) async -> Reply
    {
        let connector = route.endpoint.connector
        let events = batch.map { item in
            NewEvent(
                connector: item.event.connector, eventID: item.event.eventID, eventType: item.event.eventType,
                planVersion: item.outcome.planVersion ?? route.planVersion, receivedAt: received, contentType: item.event.contentType.rawValue,
                headers: item.event.headers.fields, body: item.event.body, remoteAddress: request.remoteAddress,
                status: item.quarantine == nil ? .received : .quarantined,
                detail: item.quarantine.map { .object(JSONObject([("reason", .string($0))])) },
                jobs: item.jobs, lease: item.jobs.flatMap { $0.isEmpty ? nil : runtime?.leaseForNewJobs(lanes: $0.map(\.lane)) })
        }
        let outcomes: [AppendOutcome]
        do {
            outcomes = try await store.append(all: events)
            lastStoreFailure.withLock { $0 = nil }
        } catch {
            lastStoreFailure.withLock { $0 = (now(), "\(error)") }
            logger.error("event store append failed", metadata: [
                "connector": "\(connector)", "error": "\(error)", "trace_id": "\(traceID)", "batch": "\(events.count)",
            ])
            return .error(503, "unavailable", "the events could not be stored; retry later")
        }
        var counts = (stored: 0, quarantined: 0, duplicates: 0)
        for (index, outcome) in outcomes.enumerated() {
            let item = batch[index], event = events[index]
            switch outcome {
            case .stored(let id):
                await keepShadow(item.outcome.shadow)
                metrics.received(connector, .accepted(quarantined: item.quarantine != nil), at: received)
                if item.quarantine != nil { counts.quarantined += 1 } else { counts.stored += 1 }
                if let jobs = item.jobs, !jobs.isEmpty, event.lease != nil, let runtime, let payload = item.event.payload {
                    runtime.enqueue(jobs, eventStoreID: id, connector: connector, vendorEventID: item.event.eventID,
                                    payload: payload, headers: item.event.headers.fields, receivedAt: received)
                } else if let jobs = item.jobs, !jobs.isEmpty {
                    runtime?.jobsStored(lanes: jobs.map(\.lane))
                }
            case .duplicate:
                metrics.received(connector, .duplicate, at: received)
                counts.duplicates += 1
            }
        }
        let metadata: Logger.Metadata = [
            "connector": "\(connector)", "trace_id": "\(traceID)", "events": "\(events.count)", "stored": "\(counts.stored)",
            "quarantined": "\(counts.quarantined)", "duplicates": "\(counts.duplicates)",
        ]
        if counts.quarantined > 0 {
            let reasons = Set(batch.compactMap(\.quarantine)).prefix(3).joined(separator: "; ")
            logger.warning("batch stored with quarantined events", metadata: metadata.merging(["reason": "\(reasons)"]) { $1 })
        } else {
            logger.info("batch stored", metadata: metadata)
        }
        return Reply(status: 200, body: [
            "status": "accepted", "events": .number(Double(events.count)), "stored": .number(Double(counts.stored)),
            "quarantined": .number(Double(counts.quarantined)), "duplicates": .number(Double(counts.duplicates)),
            "ids": .array(outcomes.map { .string($0.id) }),
        ])
    }

    /// A handshake answered: recorded in the store as a handshake (never routed, never delivered), counted and
    /// logged; the answer goes out whether or not the record could be written (the vendor's deadline is seconds).
    private func answered(_ answer: HandshakeAnswer, request: WebhookRequest, on route: Route, receivedAt received: Date,
                          traceID: String) async -> Reply
    {
        let connector = route.endpoint.connector
        let record = NewEvent(
            connector: connector, eventID: "handshake:\(Int64(received.timeIntervalSince1970 * 1000)):\(TraceContext.newSpanID())",
            eventType: "handshake:" + answer.kind, planVersion: route.planVersion, receivedAt: received,
            contentType: "handshake", headers: route.endpoint.redacted(request.headers).fields, body: request.body,
            remoteAddress: request.remoteAddress, status: .handshake,
            detail: .object(JSONObject([("kind", .string(answer.kind)), ("answered", .number(Double(answer.status)))])))
        do {
            _ = try await store.append(record)
        } catch {
            logger.error("recording a handshake failed", metadata: ["connector": "\(connector)", "error": "\(error)"])
        }
        metrics.handshake(connector)
        logger.info("handshake answered", metadata: ["connector": "\(connector)", "kind": "\(answer.kind)",
                                                     "status": "\(answer.status)", "trace_id": "\(traceID)"])
        return Reply(status: answer.status, body: .null, handshake: answer)
    }

    /// The store's jobs, when it keeps them (the SQLite store does).
    var jobs: (any JobStore)? { store as? any JobStore }

    /// `/metrics`: the gauges read now (lanes, dead letters and quarantine sizes), then the exposition.
    public func scrape() async -> String {
        var counts: [JobCount] = []
        do {
            counts = try await jobs?.jobCounts(states: [.dead, .quarantined]) ?? []
        } catch {
            logger.error("counting dead letters for /metrics failed", metadata: ["error": "\(error)"])
        }
        metrics.refresh(lanes: runtime?.laneStatuses ?? [], counts: counts)
        return metrics.exposition
    }

    /// `/readyz`: the store commits a write and a plan is loaded.
    public func readiness() async -> Reply {
        let plan = self.plan
        do {
            try await store.checkWritable()
        } catch {
            return .error(503, "store_unavailable", "the event store cannot commit: \(error)")
        }
        if let failure = lastStoreFailure.withLock({ $0 }), now().timeIntervalSince(failure.at) < Self.failureMemory {
            return .error(503, "store_unavailable", "the event store failed to store an event: \(failure.error)")
        }
        guard !plan.connectors.isEmpty else {
            return .error(503, "no_plan", "no connector is loaded")
        }
        var body: JSONObject = ["status": "ready", "plan": .string(plan.version), "connectors": .number(Double(plan.connectors.count))]
        if let runtime {
            body["engine"] = .string(runtime.owner)
            // Engines sharing a store: the lanes this one runs (each runs on one engine at a time).
            if runtime.sharesStore { body["lanes"] = .array(runtime.heldLanes.map { .string($0.lane) }) }
        }
        return Reply(status: 200, body: .object(body))
    }
}
