public import Foundation
import JSONValue
public import ManifoldIngress
public import Logging
public import ManifoldDelivery
public import ManifoldMonitor
public import ManifoldPlan
import Synchronization
public import ServiceLifecycle

/// Evaluates the alert rules every `evaluate_every` against the engine's rolling figures and lanes, and delivers
/// each notification (firing once, repeated after `repeat_after`, resolved once) to its sinks: each sink is a lane
/// of its own, in order, with retries and exponential backoff that honour `Retry-After`, so that a sink that is
/// down delays nothing else. Every notification is also logged.
public final class AlertCenter: Service, Sendable {
    public let plan: AlertPlan
    let engine: Engine
    let transport: any HTTPTransport
    let logger: Logger
    private let dashboard: Mutex<String?>
    private let evaluator: Mutex<AlertEvaluator>
    private let lanes: [String: SinkLane]

    /// Resolves every sink's URL and headers now (`${env:}`, `${file:}`): a sink that cannot be reached for want of
    /// a secret stops the engine at start, named, rather than at the first alert.
    public init(plan: AlertPlan, engine: Engine, transport: any HTTPTransport, resolver: ConfigResolver, logger: Logger,
                dashboardURL: String?) throws(Engine.SetupError)
    {
        self.plan = plan
        self.engine = engine
        self.transport = transport
        self.logger = logger
        dashboard = Mutex(dashboardURL)
        evaluator = Mutex(AlertEvaluator(plan: plan))
        var lanes: [String: SinkLane] = [:]
        for sink in plan.sinks {
            do {
                lanes[sink.name] = SinkLane(sink: sink, url: try resolver.resolve(sink.url),
                                            headers: try sink.headers.map { ($0.name, try resolver.resolve($0.value)) })
            } catch {
                throw Engine.SetupError(description: "alert sink '\(sink.name)': \(error)")
            }
        }
        self.lanes = lanes
    }

    /// The dashboard's address, linked from messages (set once the server knows its port).
    public var dashboardURL: String? {
        get { dashboard.withLock { $0 } }
        set { dashboard.withLock { $0 = newValue } }
    }

    /// The alerts firing now.
    public var active: [AlertNotification] { evaluator.withLock { $0.active } }

    /// Evaluates the rules now and queues what is to be sent; returns it.
    @discardableResult
    public func evaluate(now: Date = Date()) -> [AlertNotification] {
        var lanes: [LaneKey: MonitorSnapshot.Lane] = [:]
        for status in engine.runtime?.laneStatuses ?? [] {
            lanes[LaneKey(connector: status.connector, target: status.target)] = MonitorSnapshot.Lane(breaker: status.breaker, queued: status.queued, oldestQueued: status.oldestQueued)
        }
        let snapshot = MonitorSnapshot(now: now, lanes: lanes, connectors: engine.plan.connectors.map(\.name),
                                       pulls: engine.metrics.pullHealth)
        let stats = engine.metrics.stats
        let notifications = evaluator.withLock { $0.evaluate(snapshot, stats: stats) }
        for notification in notifications {
            let metadata: Logger.Metadata = [
                "rule": "\(notification.rule)", "kind": "\(notification.kind.rawValue)", "subject": "\(notification.subject)",
                "severity": "\(notification.severity.rawValue)", "summary": "\(notification.summary)",
                "fingerprint": "\(notification.fingerprint)",
            ]
            if notification.status == .firing {
                logger.warning("alert firing", metadata: metadata)
            } else {
                logger.notice("alert resolved", metadata: metadata)
            }
            engine.metrics.alerted(notification)
            for (name, lane) in self.lanes where notification.sinks?.contains(name) ?? true {
                lane.enqueue(notification)
            }
        }
        engine.metrics.alertsFiring(evaluator.withLock { $0.active })
        return notifications
    }

    /// Sends `notification` to its sinks now: an event the rules do not evaluate (an endpoint disabled).
    public func announce(_ notification: AlertNotification) {
        logger.warning("alert", metadata: ["kind": "\(notification.kind.rawValue)", "subject": "\(notification.subject)",
                                           "summary": "\(notification.summary)"])
        engine.metrics.alerted(notification)
        for (name, lane) in lanes where notification.sinks?.contains(name) ?? true { lane.enqueue(notification) }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for lane in self.lanes.values {
                    group.addTask { await self.deliver(lane) }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.plan.evaluateEvery)
                        if Task.isCancelled { break }
                        self.evaluate()
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            for lane in self.lanes.values { lane.finish() }
        }
    }

    /// Sends a sink's notifications one after another, each until it is delivered, refused for good, or out of attempts.
    private func deliver(_ lane: SinkLane) async {
        for await notification in lane.stream {
            let sink = lane.sink
            let body = Array(notification.body(for: sink.kind, dashboardURL: dashboardURL).serialized().utf8)
            let request = OutboundRequest(method: "POST", url: lane.url, headers: [("Content-Type", "application/json")] + lane.headers,
                                          body: body)
            let metadata: Logger.Metadata = ["sink": "\(sink.name)", "rule": "\(notification.rule)",
                                             "subject": "\(notification.subject)", "status": "\(notification.status.rawValue)"]
            await send(request, to: sink, metadata: metadata)
        }
    }
}

extension AlertCenter {
    /// Sends one notification until the sink takes it, refuses it for good, or the delivery policy is spent; the
    /// waits are the runtime's (`RetrySchedule`: exponential backoff, never shorter than `Retry-After`).
    private func send(_ request: OutboundRequest, to sink: AlertSink, metadata: Logger.Metadata) async {
        var metadata = metadata
        var generator = SystemRandomNumberGenerator()
        let began = ContinuousClock.now
        var attempts = 0
        while !Task.isCancelled {
            attempts += 1
            metadata["attempt"] = "\(attempts)"
            let outcome: AttemptOutcome
            do {
                outcome = AttemptOutcome.classify(try await transport.execute(request, timeout: plan.delivery.timeout))
            } catch {
                outcome = .transient(status: nil, retryAfter: nil, reason: error.description)
            }
            let retryAfter: Duration?
            switch outcome {
            case .delivered:
                logger.info("alert notification delivered", metadata: metadata)
                return
            case .permanent(_, let reason), .badData(let reason):
                metadata["reason"] = "\(reason)"
                logger.error("alert sink refused the notification; not retried", metadata: metadata)
                engine.metrics.alertSinkFailed(sink.name)
                return
            case .transient(_, let after, let reason):
                (retryAfter, metadata["reason"]) = (after, "\(reason)")
            case .rateLimited(let after):
                (retryAfter, metadata["reason"]) = (after, "rate limited (429)")
            }
            guard let wait = RetrySchedule.wait(policy: plan.delivery.retry, attempts: attempts, elapsed: ContinuousClock.now - began,
                                                retryAfter: retryAfter, using: &generator)
            else {
                logger.error("alert notification not delivered: out of attempts", metadata: metadata)
                engine.metrics.alertSinkFailed(sink.name)
                return
            }
            logger.warning("alert notification failed; will retry", metadata: metadata.merging(["wait_ms": "\(wait.milliseconds)"]) { $1 })
            try? await Task.sleep(for: wait)
        }
    }
}

/// One sink's queue.
final class SinkLane: Sendable {
    let sink: AlertSink
    /// The URL and headers, resolved.
    let url: String
    let headers: [(name: String, value: String)]
    let stream: AsyncStream<AlertNotification>
    private let continuation: AsyncStream<AlertNotification>.Continuation

    init(sink: AlertSink, url: String, headers: [(name: String, value: String)]) {
        self.sink = sink
        self.url = url
        self.headers = headers
        (stream, continuation) = AsyncStream.makeStream(of: AlertNotification.self)
    }

    func enqueue(_ notification: AlertNotification) { continuation.yield(notification) }
    func finish() { continuation.finish() }
}
