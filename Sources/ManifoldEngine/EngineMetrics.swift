public import Foundation
public import ManifoldDelivery
public import ManifoldMonitor
import ManifoldStore
public import Prometheus
import Synchronization

/// The engine's metrics: Prometheus counters, gauges and histograms served at `/metrics` (one registry per engine,
/// so tests see only their own), and the rolling figures the dashboard shows and alert rules judge. Labels are
/// connector, target, class or outcome, reason: a handful each, never an event or job id.
public final class EngineMetrics: Sendable, DeliveryMonitor {
    public let registry: PrometheusCollectorRegistry
    /// Recent figures per lane and connector (10-second buckets).
    public let stats: RollingStats
    private let reloads: [ReloadOutcome.Result: Counter]
    private let lastReloadSucceeded: Gauge
    private let alertRules = Mutex<Set<String>>([])
    /// The last failed attempts, newest last, for the dashboard.
    private let failures = Mutex<[Failure]>([])
    static let keptFailures = 50

    /// A failed attempt as the dashboard lists it: no payload, no request.
    public struct Failure: Sendable {
        public var at: Date
        public var connector: String
        public var target: String
        public var route: String
        public var job: String
        public var event: String
        public var attempt: Int
        public var errorClass: String
        public var status: Int?
        /// What became of the job: retry, dead_lettered or quarantined.
        public var outcome: String
        public var reason: String
        public var traceID: String
    }

    /// The last failed attempts, newest first.
    public var recentFailures: [Failure] { failures.withLock { $0.reversed() } }

    /// Lane gauges set at the last scrape, to drop those of lanes a reload removed.
    private let laneGauges = Mutex<[String: [Gauge]]>([:])

    /// Seconds: from 1 ms to a minute, the range of a vendor call and of an event's way to delivery.
    static let latencyBuckets: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        .map { Duration.microseconds(Int64($0 * 1_000_000)) }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), retention: Duration = .seconds(7200)) {
        self.registry = registry
        stats = RollingStats(retention: retention)
        var reloads: [ReloadOutcome.Result: Counter] = [:]
        for result in ReloadOutcome.Result.allCases {
            reloads[result] = registry.makeCounter(descriptor: Metric.configReloadsTotal, labels: [("result", result.rawValue)])
        }
        self.reloads = reloads
        lastReloadSucceeded = registry.makeGauge(descriptor: Metric.configLastReloadSuccessful)
        lastReloadSucceeded.set(to: 1.0)
    }

    func reloaded(_ result: ReloadOutcome.Result) {
        reloads[result]?.increment()
        lastReloadSucceeded.set(to: result == .rejected ? 0.0 : 1.0)
    }

    // MARK: Ingress

    /// What became of a request to a webhook path.
    enum Ingress {
        case rejected(reason: String)
        case accepted(quarantined: Bool)
        case duplicate
    }

    func received(_ connector: String, _ ingress: Ingress, at date: Date) {
        let labels = [("connector", connector)]
        registry.makeCounter(descriptor: Metric.eventsReceivedTotal, labels: labels).increment()
        switch ingress {
        case .rejected(let reason):
            registry.makeCounter(descriptor: Metric.eventsRejectedTotal, labels: labels + [("reason", reason)]).increment()
            stats.recordEvent(connector: connector, kind: .rejected, at: date)
        case .accepted(let quarantined):
            registry.makeCounter(descriptor: Metric.eventsVerifiedTotal, labels: labels).increment()
            if quarantined {
                registry.makeCounter(descriptor: Metric.eventsQuarantinedTotal, labels: labels).increment()
            }
            stats.recordEvent(connector: connector, kind: quarantined ? .quarantined : .accepted, at: date)
        case .duplicate:
            registry.makeCounter(descriptor: Metric.eventsVerifiedTotal, labels: labels).increment()
            registry.makeCounter(descriptor: Metric.eventsDuplicateTotal, labels: labels).increment()
            stats.recordEvent(connector: connector, kind: .duplicate, at: date)
        }
    }

    // MARK: Delivery

    public func attempted(_ report: AttemptReport) {
        let job = report.job
        let lane = [("connector", job.connector), ("target", job.target)]
        registry.makeCounter(descriptor: Metric.deliveryAttemptsTotal, labels: lane + [("class", report.errorClass)]).increment()
        if report.errorClass != "rate_limited" {
            registry.makeDurationHistogram(descriptor: Metric.deliveryDurationSeconds, labels: lane, buckets: Self.latencyBuckets)
                .record(report.duration)
        }
        var deadLettered = false, quarantined = false
        switch report.outcome {
        case .delivered:
            completed(lane, "delivered")
            if let endToEnd = report.endToEnd {
                registry.makeDurationHistogram(descriptor: Metric.eventToDeliverySeconds, labels: lane, buckets: Self.latencyBuckets)
                    .record(endToEnd)
            }
        case .dead:
            deadLettered = true
            completed(lane, "dead_lettered")
        case .quarantined:
            quarantined = true
            completed(lane, "quarantined")
        case .retry:
            break
        }
        if let wait = report.rateLimitWait {
            registry.makeCounter(descriptor: Metric.rateLimitWaitsTotal, labels: lane + [("source", "vendor")]).increment()
            registry.makeCounter(descriptor: Metric.rateLimitWaitSecondsTotal, labels: lane).increment(by: wait.timeInterval)
        }
        if report.errorClass != "delivered" {
            let outcome = switch report.outcome {
            case .delivered: "delivered"
            case .retry: "retry"
            case .dead: "dead_lettered"
            case .quarantined: "quarantined"
            }
            let failure = Failure(at: report.finishedAt, connector: job.connector, target: job.target, route: job.route,
                                  job: job.id, event: job.eventStoreID, attempt: job.attempts, errorClass: report.errorClass,
                                  status: report.status, outcome: outcome, reason: report.reason ?? "", traceID: job.traceID)
            failures.withLock { failures in
                failures.append(failure)
                if failures.count > Self.keptFailures { failures.removeFirst(failures.count - Self.keptFailures) }
            }
        }
        stats.recordAttempt(LaneKey(connector: job.connector, target: job.target), kind: AttemptKind(errorClass: report.errorClass),
                            milliseconds: report.duration.timeInterval * 1000,
                            endToEndMilliseconds: report.endToEnd.map { $0.timeInterval * 1000 },
                            deadLettered: deadLettered, quarantined: quarantined, at: report.finishedAt)
    }

    private func completed(_ lane: [(String, String)], _ outcome: String) {
        registry.makeCounter(descriptor: Metric.jobsCompletedTotal, labels: lane + [("outcome", outcome)]).increment()
    }

    // MARK: Alerts

    func alerted(_ notification: AlertNotification) {
        registry.makeCounter(descriptor: Metric.alertNotificationsTotal,
                             labels: [("rule", notification.rule), ("status", notification.status.rawValue)]).increment()
    }

    func alertSinkFailed(_ sink: String) {
        registry.makeCounter(descriptor: Metric.alertSinkFailuresTotal, labels: [("sink", sink)]).increment()
    }

    /// The number of alerts firing per rule.
    func alertsFiring(_ active: [AlertNotification]) {
        let firing = Dictionary(grouping: active, by: \.rule)
        alertRules.withLock { rules in
            rules.formUnion(firing.keys)
            for rule in rules {
                registry.makeGauge(descriptor: Metric.alertsFiring, labels: [("rule", rule)]).set(to: Double(firing[rule]?.count ?? 0))
            }
        }
    }

    // MARK: Scrape

    /// Sets the gauges read at scrape time: each lane's queue, calls in flight, oldest queued event, breaker and
    /// limiter waits, and the dead letter and quarantine sizes from the store.
    func refresh(lanes: [LaneStatus], counts: [JobCount], now: Date = Date()) {
        var gauges: [String: [Gauge]] = [:]
        func gauge(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)], _ value: Double, key: String) {
            let gauge = registry.makeGauge(descriptor: descriptor, labels: labels)
            gauge.set(to: value)
            gauges[key, default: []].append(gauge)
        }
        for status in lanes {
            guard let key = LaneKey(lane: status.lane) else { continue }
            let labels = [("connector", key.connector), ("target", key.target)]
            gauge(Metric.laneQueueDepth, labels, Double(status.queued), key: status.lane)
            gauge(Metric.laneInFlight, labels, Double(status.inFlight), key: status.lane)
            gauge(Metric.laneOldestJobAgeSeconds, labels, status.oldestQueued.map { max(0, now.timeIntervalSince($0)) } ?? 0, key: status.lane)
            gauge(Metric.circuitBreakerState, labels, status.breaker == "open" ? 2 : status.breaker == "closed" ? 0 : 1, key: status.lane)
            let waits = registry.makeCounter(descriptor: Metric.rateLimitWaitsTotal, labels: labels + [("source", "limiter")])
            waits.reset()
            waits.increment(by: Int64(status.limiterWaits))
        }
        let byLane = Dictionary(grouping: counts) { "\($0.connector)/\($0.target)" }
        for lane in Set(byLane.keys).union(lanes.map(\.lane)) {
            guard let key = LaneKey(lane: lane) else { continue }
            let labels = [("connector", key.connector), ("target", key.target)]
            let mine = byLane[lane] ?? []
            gauge(Metric.deadLetters, labels, Double(mine.filter { $0.state == .dead }.reduce(0) { $0 + $1.count }), key: "store " + lane)
            gauge(Metric.quarantinedJobs, labels, Double(mine.filter { $0.state == .quarantined }.reduce(0) { $0 + $1.count }), key: "store " + lane)
        }
        let stale = laneGauges.withLock { previous -> [Gauge] in
            let stale = previous.filter { gauges[$0.key] == nil }.flatMap(\.value)
            previous = gauges
            return stale
        }
        for gauge in stale { registry.unregisterGauge(gauge) }
    }

    /// The Prometheus text exposition.
    public var exposition: String { registry.emitToString() }
}

/// Every metric the engine serves: `manifold_` + name + unit, with its help.
enum Metric {
    static var eventsReceivedTotal: MetricNameDescriptor { named("events_received", "total", "Requests to a connector's webhook path, whatever became of them.") }
    static var eventsVerifiedTotal: MetricNameDescriptor { named("events_verified", "total", "Webhook requests that passed verification and were stored (duplicates included).") }
    static var eventsRejectedTotal: MetricNameDescriptor { named("events_rejected", "total", "Webhook requests refused, by reason (signature, too_large, forbidden, ...): nothing stored.") }
    static var eventsDuplicateTotal: MetricNameDescriptor { named("events_duplicate", "total", "Verified events already stored (a vendor's redelivery): acknowledged, not stored again.") }
    static var eventsQuarantinedTotal: MetricNameDescriptor { named("events_quarantined", "total", "Events stored as quarantined at the door (unparseable body, routing failed).") }
    static var deliveryAttemptsTotal: MetricNameDescriptor { named("delivery_attempts", "total", "Delivery attempts by outcome class: delivered, transient, rate_limited, permanent, bad_data.") }
    static var jobsCompletedTotal: MetricNameDescriptor { named("jobs_completed", "total", "Jobs finished, by outcome: delivered, dead_lettered, quarantined.") }
    static var deliveryDurationSeconds: MetricNameDescriptor { named("delivery_duration", "seconds", "How long a delivery attempt took: mapping, auth and the vendor's answer.") }
    static var eventToDeliverySeconds: MetricNameDescriptor { named("event_to_delivery", "seconds", "From an event's arrival to its delivery being recorded (queueing and retries included).") }
    static var rateLimitWaitsTotal: MetricNameDescriptor { named("rate_limit_waits", "total", "Times a lane waited for its rate limit: vendor (a 429 paused it) or limiter (its own limit).") }
    static var rateLimitWaitSecondsTotal: MetricNameDescriptor { named("rate_limit_wait_seconds", "total", "Seconds lanes were paused by a vendor's 429 (Retry-After).") }
    static var laneQueueDepth: MetricNameDescriptor { named("lane_queue", "depth", "Jobs queued in a lane (ready, waiting to retry, behind an ordering key).") }
    static var laneInFlight: MetricNameDescriptor { named("lane", "in_flight", "Calls in flight in a lane.") }
    static var laneOldestJobAgeSeconds: MetricNameDescriptor { named("lane_oldest_job_age", "seconds", "Age of the oldest event still queued in a lane (0 when empty).") }
    static var circuitBreakerState: MetricNameDescriptor { named("circuit_breaker", "state", "A lane's circuit breaker: 0 closed, 1 half-open, 2 open.") }
    static var deadLetters: MetricNameDescriptor { named("dead", "letters", "Jobs dead-lettered and not yet replayed or purged.") }
    static var quarantinedJobs: MetricNameDescriptor { named("quarantined", "jobs", "Jobs quarantined for bad data, not yet replayed or purged.") }
    static var alertNotificationsTotal: MetricNameDescriptor { named("alert_notifications", "total", "Alert notifications by rule and status (firing, resolved).") }
    static var alertSinkFailuresTotal: MetricNameDescriptor { named("alert_sink_failures", "total", "Alert notifications a sink did not take after every attempt.") }
    static var alertsFiring: MetricNameDescriptor { named("alerts", "firing", "Alerts firing now, by rule.") }
    static var configReloadsTotal: MetricNameDescriptor { named("config_reloads", "total", "Connector reloads by result: applied (a new plan runs), unchanged, rejected (the plan stays).") }
    static var configLastReloadSuccessful: MetricNameDescriptor { named("config_last_reload", "successful", "1 when the last reload was applied or unchanged, 0 when it was rejected and the files on disk are not running.") }

    private static func named(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "manifold", metricName: name, unitName: unit, helpText: help)
    }
}
