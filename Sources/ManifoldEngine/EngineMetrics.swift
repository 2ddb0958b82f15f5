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

    /// Counters and histograms by metric and label values, each made in the registry once: the registry builds the
    /// name and compares labels under its lock on every make, which every attempt would otherwise pay.
    private let counters = Mutex<[SeriesKey: Counter]>([:])
    private let histograms = Mutex<[SeriesKey: DurationHistogram]>([:])
    /// Each lane's limiter waits at the last scrape: the counter grows by the difference.
    private let limiterWaits = Mutex<[LaneKey: Int]>([:])

    struct SeriesKey: Hashable {
        var metric: Metric
        var labels: [String]
    }

    private func counter(_ metric: Metric, _ labels: [(String, String)]) -> Counter {
        let key = SeriesKey(metric: metric, labels: labels.flatMap { [$0.0, $0.1] })
        if let counter = counters.withLock({ $0[key] }) { return counter }
        let counter = registry.makeCounter(descriptor: metric.descriptor, labels: labels)
        counters.withLock { $0[key] = counter }
        return counter
    }

    private func histogram(_ metric: Metric, _ labels: [(String, String)]) -> DurationHistogram {
        let key = SeriesKey(metric: metric, labels: labels.flatMap { [$0.0, $0.1] })
        if let histogram = histograms.withLock({ $0[key] }) { return histogram }
        let histogram = registry.makeDurationHistogram(descriptor: metric.descriptor, labels: labels, buckets: Self.latencyBuckets)
        histograms.withLock { $0[key] = histogram }
        return histogram
    }

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
            reloads[result] = registry.makeCounter(descriptor: Metric.configReloadsTotal.descriptor, labels: [("result", result.rawValue)])
        }
        self.reloads = reloads
        lastReloadSucceeded = registry.makeGauge(descriptor: Metric.configLastReloadSuccessful.descriptor)
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

    /// A vendor's handshake answered.
    public func endpointDisabled(tenant: String) {
        counter(.endpointsDisabledTotal, [("tenant", tenant)]).increment()
    }

    func handshake(_ connector: String) {
        counter(.handshakesTotal, [("connector", connector)]).increment()
    }

    func received(_ connector: String, _ ingress: Ingress, at date: Date) {
        let labels = [("connector", connector)]
        counter(.eventsReceivedTotal, labels).increment()
        switch ingress {
        case .rejected(let reason):
            counter(.eventsRejectedTotal, labels + [("reason", reason)]).increment()
            stats.recordEvent(connector: connector, kind: .rejected, at: date)
        case .accepted(let quarantined):
            counter(.eventsVerifiedTotal, labels).increment()
            if quarantined {
                counter(.eventsQuarantinedTotal, labels).increment()
            }
            stats.recordEvent(connector: connector, kind: quarantined ? .quarantined : .accepted, at: date)
        case .duplicate:
            counter(.eventsVerifiedTotal, labels).increment()
            counter(.eventsDuplicateTotal, labels).increment()
            stats.recordEvent(connector: connector, kind: .duplicate, at: date)
        }
    }

    /// Each pulled connector's runs failed in a row and its last error, for the alert rules and the dashboard.
    public var pullHealth: [String: MonitorSnapshot.Pull] { pulls.withLock { $0 } }
    private let pulls = Mutex<[String: MonitorSnapshot.Pull]>([:])

    /// A pull's standing, from its stored figures: `manifold_pull_failing_runs` and what `pull_failing` rules judge.
    func pullStanding(_ connector: String, failing: Int, lastError: String?) {
        pulls.withLock { $0[connector] = MonitorSnapshot.Pull(failing: failing, lastError: lastError) }
        registry.makeGauge(descriptor: Metric.pullFailingRuns.descriptor, labels: [("connector", connector)]).set(to: Double(failing))
    }

    /// The rollouts running now: each connector's share to its candidate (0 for one that stopped).
    func rolloutShares(_ shares: [String: (mode: String, percent: Double)]) {
        rolloutConnectors.withLock { known in
            for connector in known.subtracting(shares.keys) {
                for mode in ["canary", "shadow"] {
                    registry.makeGauge(descriptor: Metric.rolloutShare.descriptor, labels: [("connector", connector), ("mode", mode)]).set(to: 0)
                }
            }
            for (connector, share) in shares {
                for mode in ["canary", "shadow"] {
                    registry.makeGauge(descriptor: Metric.rolloutShare.descriptor, labels: [("connector", connector), ("mode", mode)])
                        .set(to: mode == share.mode ? share.percent : 0)
                }
            }
            known.formUnion(shares.keys)
        }
    }
    private let rolloutConnectors = Mutex<Set<String>>([])

    /// A canary rolled back by its guard.
    func rolledBack(_ connector: String) {
        counter(.rolloutRollbacksTotal, [("connector", connector)]).increment()
    }

    /// An event of a connector under rollout, by the version its key chose.
    func rolloutEvent(_ connector: String, version: String) {
        counter(.rolloutEventsTotal, [("connector", connector), ("version", version)]).increment()
    }

    /// An attempt of a connector under rollout, by version and class.
    func rolloutAttempt(_ connector: String, version: String, errorClass: String) {
        counter(.rolloutAttemptsTotal, [("connector", connector), ("version", version), ("class", errorClass)]).increment()
    }

    /// A pull's run: counted by outcome, with its pages and the 429s it waited out.
    func pulled(_ connector: String, _ report: Puller.Report) {
        let outcome: String
        switch report.outcome {
        case .finished: outcome = "finished"
        case .paused: outcome = "paused"
        case .failed: outcome = "failed"
        case .idle: outcome = "idle"
        }
        counter(.pullRunsTotal, [("connector", connector), ("outcome", outcome)]).increment()
        if report.pages > 0 { counter(.pullPagesTotal, [("connector", connector)]).increment(by: Int64(report.pages)) }
        if report.rateLimited > 0 { counter(.pullRateLimitedTotal, [("connector", connector)]).increment(by: Int64(report.rateLimited)) }
    }

    // MARK: Delivery

    public func attempted(_ report: AttemptReport) {
        let job = report.job
        let lane = [("connector", job.connector), ("target", job.target)]
        counter(.deliveryAttemptsTotal, lane + [("class", report.errorClass)]).increment()
        if report.errorClass != "rate_limited" {
            histogram(.deliveryDurationSeconds, lane)
                .record(report.duration)
        }
        var deadLettered = false, quarantined = false
        switch report.outcome {
        case .delivered:
            completed(lane, "delivered")
            if let endToEnd = report.endToEnd {
                histogram(.eventToDeliverySeconds, lane)
                    .record(endToEnd)
            }
        case .dead:
            deadLettered = true
            completed(lane, "dead_lettered")
        case .quarantined:
            quarantined = true
            completed(lane, "quarantined")
        case .advance:
            // A flow's step call succeeded on this lane; the flow goes on elsewhere.
            completed(lane, "delivered")
        case .retry:
            break
        }
        if let wait = report.rateLimitWait {
            counter(.rateLimitWaitsTotal, lane + [("source", "vendor")]).increment()
            counter(.rateLimitWaitSecondsTotal, lane).increment(by: wait.timeInterval)
        }
        if report.errorClass != "delivered" {
            let outcome = switch report.outcome {
            case .delivered: "delivered"
            case .retry: "retry"
            case .dead: "dead_lettered"
            case .quarantined: "quarantined"
            case .advance: "next_step"
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
        counter(.jobsCompletedTotal, lane + [("outcome", outcome)]).increment()
    }

    // MARK: Alerts

    func alerted(_ notification: AlertNotification) {
        counter(.alertNotificationsTotal, [("rule", notification.rule), ("status", notification.status.rawValue)]).increment()
    }

    func alertSinkFailed(_ sink: String) {
        counter(.alertSinkFailuresTotal, [("sink", sink)]).increment()
    }

    /// The number of alerts firing per rule.
    func alertsFiring(_ active: [AlertNotification]) {
        let firing = Dictionary(grouping: active, by: \.rule)
        alertRules.withLock { rules in
            rules.formUnion(firing.keys)
            for rule in rules {
                registry.makeGauge(descriptor: Metric.alertsFiring.descriptor, labels: [("rule", rule)]).set(to: Double(firing[rule]?.count ?? 0))
            }
        }
    }

    // MARK: Scrape

    /// Sets the gauges read at scrape time: each lane's queue, calls in flight, oldest queued event, breaker and
    /// limiter waits, and the dead letter and quarantine sizes from the store.
    func refresh(lanes: [LaneStatus], counts: [JobCount], now: Date = Date()) {
        var gauges: [String: [Gauge]] = [:]
        func gauge(_ metric: Metric, _ labels: [(String, String)], _ value: Double, key: String) {
            let gauge = registry.makeGauge(descriptor: metric.descriptor, labels: labels)
            gauge.set(to: value)
            gauges[key, default: []].append(gauge)
        }
        for status in lanes {
            let key = LaneKey(connector: status.connector, target: status.target)
            let labels = [("connector", key.connector), ("target", key.target)]
            gauge(.laneQueueDepth, labels, Double(status.queued), key: status.lane)
            gauge(.laneInFlight, labels, Double(status.inFlight), key: status.lane)
            gauge(.laneOldestJobAgeSeconds, labels, status.oldestQueued.map { max(0, now.timeIntervalSince($0)) } ?? 0, key: status.lane)
            gauge(.circuitBreakerState, labels, status.breaker == "open" ? 2 : status.breaker == "closed" ? 0 : 1, key: status.lane)
            // The lane counts its waits since it opened; a lane opened again (a reload changed it) starts at zero.
            let previous = limiterWaits.withLock { seen in
                defer { seen[key] = status.limiterWaits }
                return seen[key] ?? 0
            }
            let grown = status.limiterWaits >= previous ? status.limiterWaits - previous : status.limiterWaits
            counter(.rateLimitWaitsTotal, labels + [("source", "limiter")]).increment(by: Int64(grown))
        }
        let stored = counts.byLane
        for key in Set(stored.keys).union(lanes.map { LaneKey(connector: $0.connector, target: $0.target) }) {
            let labels = [("connector", key.connector), ("target", key.target)]
            gauge(.deadLetters, labels, Double(stored[key]?.dead ?? 0), key: "store \(key)")
            gauge(.quarantinedJobs, labels, Double(stored[key]?.quarantined ?? 0), key: "store \(key)")
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

extension [JobCount] {
    /// Dead letters and quarantined jobs per lane.
    var byLane: [LaneKey: (dead: Int, quarantined: Int)] {
        var lanes: [LaneKey: (dead: Int, quarantined: Int)] = [:]
        for count in self {
            let key = LaneKey(connector: count.connector, target: count.target)
            var entry = lanes[key] ?? (0, 0)
            switch count.state {
            case .dead: entry.dead += count.count
            case .quarantined: entry.quarantined += count.count
            default: continue
            }
            lanes[key] = entry
        }
        return lanes
    }
}

/// Every metric the engine serves: `manifold_` + name + unit, with its help.
enum Metric: Hashable, Sendable {
    case eventsReceivedTotal, eventsVerifiedTotal, eventsRejectedTotal, eventsDuplicateTotal, eventsQuarantinedTotal, handshakesTotal, deliveryAttemptsTotal, jobsCompletedTotal, deliveryDurationSeconds, eventToDeliverySeconds, rateLimitWaitsTotal, rateLimitWaitSecondsTotal, laneQueueDepth, laneInFlight, laneOldestJobAgeSeconds, circuitBreakerState, deadLetters, quarantinedJobs, alertNotificationsTotal, alertSinkFailuresTotal, alertsFiring, configReloadsTotal, configLastReloadSuccessful, endpointsDisabledTotal, pullRunsTotal, pullPagesTotal, pullRateLimitedTotal, pullFailingRuns, rolloutRollbacksTotal, rolloutAttemptsTotal, rolloutEventsTotal, rolloutShare

    var descriptor: MetricNameDescriptor {
        let (name, unit, help) = switch self {
        case .eventsReceivedTotal: ("events_received", "total", "Requests to a connector's webhook path, whatever became of them.")
        case .eventsVerifiedTotal: ("events_verified", "total", "Webhook requests that passed verification and were stored (duplicates included).")
        case .eventsRejectedTotal: ("events_rejected", "total", "Webhook requests refused, by reason (signature, too_large, forbidden, ...): nothing stored.")
        case .pullRunsTotal: ("pull_runs", "total", "Runs of pull sources (polls, schedules, files), by outcome: finished, paused (page limit), failed, idle.")
        case .pullPagesTotal: ("pull_pages", "total", "Pages a poll read.")
        case .pullRateLimitedTotal: ("pull_rate_limited", "total", "429 answers a poll waited out (the run paused, then went on).")
        case .pullFailingRuns: ("pull_failing", "runs", "Runs in a row a pulled connector failed (0 once a run finishes).")
        case .rolloutShare: ("rollout_share", "percent", "The share of a connector's events its running rollout sends to the candidate (0 when none runs), by mode.")
        case .rolloutRollbacksTotal: ("rollout_rollbacks", "total", "Canaries rolled back by their guard (failing more than the current version, or quarantining).")
        case .rolloutAttemptsTotal: ("rollout_attempts", "total", "Delivery attempts of a connector under rollout, by version (current, candidate) and class.")
        case .rolloutEventsTotal: ("rollout_events", "total", "Events of a connector under rollout, by the version its key chose (current, candidate).")
        case .eventsDuplicateTotal: ("events_duplicate", "total", "Verified events already stored (a vendor's redelivery): acknowledged, not stored again.")
        case .handshakesTotal: ("webhook_handshakes", "total", "Vendor handshakes (challenges) answered in the request: recorded, never delivered.")
        case .eventsQuarantinedTotal: ("events_quarantined", "total", "Events stored as quarantined at the door (unparseable body, routing failed).")
        case .deliveryAttemptsTotal: ("delivery_attempts", "total", "Delivery attempts by outcome class: delivered, transient, rate_limited, permanent, bad_data.")
        case .jobsCompletedTotal: ("jobs_completed", "total", "Jobs finished, by outcome: delivered, dead_lettered, quarantined.")
        case .deliveryDurationSeconds: ("delivery_duration", "seconds", "How long a delivery attempt took: mapping, auth and the vendor's answer.")
        case .eventToDeliverySeconds: ("event_to_delivery", "seconds", "From an event's arrival to its delivery being recorded (queueing and retries included).")
        case .rateLimitWaitsTotal: ("rate_limit_waits", "total", "Times a lane waited for its rate limit: vendor (a 429 paused it) or limiter (its own limit).")
        case .rateLimitWaitSecondsTotal: ("rate_limit_wait_seconds", "total", "Seconds lanes were paused by a vendor's 429 (Retry-After).")
        case .laneQueueDepth: ("lane_queue", "depth", "Jobs queued in a lane (ready, waiting to retry, behind an ordering key).")
        case .laneInFlight: ("lane", "in_flight", "Calls in flight in a lane.")
        case .laneOldestJobAgeSeconds: ("lane_oldest_job_age", "seconds", "Age of the oldest event still queued in a lane (0 when empty).")
        case .circuitBreakerState: ("circuit_breaker", "state", "A lane's circuit breaker: 0 closed, 1 half-open, 2 open.")
        case .deadLetters: ("dead", "letters", "Jobs dead-lettered and not yet replayed or purged.")
        case .quarantinedJobs: ("quarantined", "jobs", "Jobs quarantined for bad data, not yet replayed or purged.")
        case .alertNotificationsTotal: ("alert_notifications", "total", "Alert notifications by rule and status (firing, resolved).")
        case .alertSinkFailuresTotal: ("alert_sink_failures", "total", "Alert notifications a sink did not take after every attempt.")
        case .alertsFiring: ("alerts", "firing", "Alerts firing now, by rule.")
        case .configReloadsTotal: ("config_reloads", "total", "Connector reloads by result: applied (a new plan runs), unchanged, rejected (the plan stays).")
        case .endpointsDisabledTotal: ("endpoints_disabled", "total", "Customers' endpoints disabled after failing for their auto_disable_after.")
        case .configLastReloadSuccessful: ("config_last_reload", "successful", "1 when the last reload was applied or unchanged, 0 when it was rejected and the files on disk are not running.")
        }
        return MetricNameDescriptor(namespace: "manifold", metricName: name, unitName: unit, helpText: help)
    }
}
