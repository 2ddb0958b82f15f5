public import Foundation
public import ManifoldPlan

/// What the evaluator needs to know of the engine now, besides the rolling figures.
public struct MonitorSnapshot: Sendable {
    /// A lane as it is now.
    public struct Lane: Sendable {
        public var breaker: String
        public var queued: Int
        public var oldestQueued: Date?

        public init(breaker: String, queued: Int, oldestQueued: Date?) {
            self.breaker = breaker
            self.queued = queued
            self.oldestQueued = oldestQueued
        }
    }

    /// A pulled connector's last runs: how many failed in a row, and the last error.
    public struct Pull: Sendable {
        public var failing: Int
        public var lastError: String?

        public init(failing: Int, lastError: String?) {
            self.failing = failing
            self.lastError = lastError
        }
    }

    public var now: Date
    public var lanes: [LaneKey: Lane]
    /// The connectors of the running plan.
    public var connectors: [String]
    /// The pulled connectors, by name.
    public var pulls: [String: Pull]

    public init(now: Date, lanes: [LaneKey: Lane], connectors: [String], pulls: [String: Pull] = [:]) {
        self.now = now
        self.lanes = lanes
        self.connectors = connectors
        self.pulls = pulls
    }
}

/// A message to send: an alert starts firing (or fires again after `repeat_after`), or resolves.
public struct AlertNotification: Sendable, Equatable {
    public enum Status: String, Sendable { case firing, resolved }

    public var status: Status
    public var rule: String
    public var kind: AlertRule.Kind
    public var severity: AlertRule.Severity
    public var connector: String
    public var target: String?
    /// What was measured and the threshold, in words: "error rate 0.85 > 0.2 over 5m (17 of 20 attempts failed)".
    public var summary: String
    public var value: Double
    public var threshold: Double
    public var startedAt: Date
    public var at: Date
    /// The sinks to tell (nil: every sink).
    public var sinks: [String]?

    /// The same for every message of one alert (firing, repeats, resolved): receivers de-duplicate on it.
    public var fingerprint: String {
        "\(rule):\(connector)\(target.map { "/" + $0 } ?? ""):\(Int64(startedAt.timeIntervalSince1970))"
    }

    public var subject: String { target.map { "\(connector)/\($0)" } ?? connector }

    public init(status: Status, rule: String, kind: AlertRule.Kind, severity: AlertRule.Severity, connector: String,
                target: String?, summary: String, value: Double, threshold: Double, startedAt: Date, at: Date, sinks: [String]?)
    {
        self.status = status
        self.rule = rule
        self.kind = kind
        self.severity = severity
        self.connector = connector
        self.target = target
        self.summary = summary
        self.value = value
        self.threshold = threshold
        self.startedAt = startedAt
        self.at = at
        self.sinks = sinks
    }
}

/// Evaluates alert rules against the rolling figures and the lanes, and says what to send: each alert once when it
/// starts firing (after `for`), again only after `repeat_after`, and once when it resolves. Pure apart from its
/// memory of what is firing; time comes in with the snapshot.
public struct AlertEvaluator: Sendable {
    public let plan: AlertPlan

    struct Key: Hashable, Sendable, Comparable {
        var rule: String
        var connector: String
        var target: String?

        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.rule, lhs.connector, lhs.target ?? "") < (rhs.rule, rhs.connector, rhs.target ?? "")
        }
    }

    struct Firing: Sendable {
        var lastSent: Date
        var notification: AlertNotification
    }

    /// Conditions holding, not yet for long enough.
    private var pending: [Key: Date] = [:]
    private var firing: [Key: Firing] = [:]

    public init(plan: AlertPlan) {
        self.plan = plan
    }

    /// The alerts firing now, by subject.
    public var active: [AlertNotification] {
        firing.values.map(\.notification).sorted { ($0.rule, $0.subject) < ($1.rule, $1.subject) }
    }

    /// One evaluation: the notifications to send now.
    public mutating func evaluate(_ snapshot: MonitorSnapshot, stats: RollingStats) -> [AlertNotification] {
        var holding: [Key: (value: Double, summary: String)] = [:]
        for rule in plan.rules {
            for (key, finding) in Self.findings(rule, snapshot: snapshot, stats: stats) { holding[key] = finding }
        }
        var out: [AlertNotification] = []
        let now = snapshot.now
        for (key, finding) in holding.sorted(by: { $0.key < $1.key }) {
            guard let rule = plan.rules.first(where: { $0.name == key.rule }) else { continue }
            let since = pending[key] ?? now
            pending[key] = since
            if var current = firing[key] {
                current.notification.value = finding.value
                current.notification.summary = finding.summary
                if now.timeIntervalSince(current.lastSent) >= plan.repeatAfter.timeInterval {
                    current.lastSent = now
                    current.notification.at = now
                    out.append(current.notification)
                }
                firing[key] = current
                continue
            }
            guard now.timeIntervalSince(since) >= rule.holdFor.timeInterval else { continue }
            let notification = AlertNotification(
                status: .firing, rule: rule.name, kind: rule.kind, severity: rule.severity, connector: key.connector,
                target: key.target, summary: finding.summary, value: finding.value, threshold: rule.threshold,
                startedAt: since, at: now, sinks: rule.sinks)
            firing[key] = Firing(lastSent: now, notification: notification)
            out.append(notification)
        }
        for key in pending.keys where holding[key] == nil { pending[key] = nil }
        for (key, current) in firing.sorted(by: { $0.key < $1.key }) where holding[key] == nil {
            firing[key] = nil
            var resolved = current.notification
            resolved.status = .resolved
            resolved.at = now
            resolved.summary = "resolved: " + resolved.summary
            out.append(resolved)
        }
        return out
    }

    /// Where a rule's baseline ends: before the recent window's first bucket, so that the two never share one.
    static func baselineEnd(_ rule: AlertRule, now: Date) -> Date {
        now - rule.window.timeInterval - Double(RollingStats.bucketSeconds)
    }

    /// Where a rule's condition holds now, by subject, with the measured value and a sentence saying it.
    static func findings(_ rule: AlertRule, snapshot: MonitorSnapshot, stats: RollingStats)
        -> [(Key, (value: Double, summary: String))]
    {
        let now = snapshot.now
        let window = rule.window.manifoldText
        if rule.kind == .throughputDrop {
            return snapshot.connectors.filter { rule.connector == nil || rule.connector == $0 }.compactMap { connector in
                let baselineEnd = Self.baselineEnd(rule, now: now)
                let recent = stats.events(connector, window: rule.window, endingAt: now).values.reduce(0, +)
                let before = stats.events(connector, window: rule.baseline, endingAt: baselineEnd).values.reduce(0, +)
                guard before >= rule.minimum else { return nil }
                let recentRate = Double(recent) / rule.window.timeInterval
                let baselineRate = Double(before) / rule.baseline.timeInterval
                let ratio = recentRate / baselineRate
                guard ratio < rule.threshold else { return nil }
                return (Key(rule: rule.name, connector: connector, target: nil), (ratio, String(
                    format: "throughput %.2f/min over %@ is %.0f%% of its %@ baseline (%.2f/min); alert below %.0f%%",
                    recentRate * 60, window, ratio * 100, rule.baseline.manifoldText, baselineRate * 60, rule.threshold * 100)))
            }
        }
        if rule.kind == .pullFailing {
            return snapshot.pulls.keys.sorted().filter { rule.connector == nil || rule.connector == $0 }.compactMap { connector in
                guard let pull = snapshot.pulls[connector], Double(pull.failing) >= rule.threshold else { return nil }
                return (Key(rule: rule.name, connector: connector, target: nil), (Double(pull.failing),
                    "\(pull.failing) runs in a row failed (alert at \(Int(rule.threshold))): \(pull.lastError ?? "no error kept"); "
                    + "`manifold poll status` shows where it stands"))
            }
        }
        if rule.kind == .quarantinedEvents {
            return Set(snapshot.connectors).union(stats.connectors).sorted().filter { rule.connector == nil || rule.connector == $0 }
                .compactMap { connector in
                    let count = stats.events(connector, window: rule.window, endingAt: now)[.quarantined] ?? 0
                    guard Double(count) > rule.threshold else { return nil }
                    return (Key(rule: rule.name, connector: connector, target: nil), (Double(count),
                        "\(count) event\(count == 1 ? "" : "s") quarantined at ingress over \(window): a payload that breaks its contract, "
                        + "a body that does not parse or no event id; see `manifold events list --status quarantined`"
                        + (rule.threshold > 0 ? " (alert above \(Int(rule.threshold)))" : "")))
                }
        }
        let lanes = Set(snapshot.lanes.keys).union(stats.lanes)
            .filter { (rule.connector == nil || rule.connector == $0.connector) && (rule.target == nil || rule.target == $0.target) }
        return lanes.sorted().compactMap { lane -> (Key, (value: Double, summary: String))? in
            let key = Key(rule: rule.name, connector: lane.connector, target: lane.target)
            switch rule.kind {
            case .errorRate:
                let summary = stats.summary(lane, window: rule.window, endingAt: now)
                guard summary.attempts >= max(rule.minimum, 1), let rate = summary.errorRate, rate > rule.threshold else { return nil }
                return (key, (rate, String(format: "error rate %.2f > %.2f over %@ (%d of %d attempts failed)",
                                           rate, rule.threshold, window, summary.failed, summary.attempts)))
            case .latencyP99:
                let recent = stats.summary(lane, window: rule.window, endingAt: now)
                let before = stats.summary(lane, window: rule.baseline, endingAt: Self.baselineEnd(rule, now: now))
                guard recent.attempts >= rule.minimum, before.attempts >= rule.minimum, let p99 = recent.p99,
                      let base = before.p99, base > 0, p99 > base * rule.threshold else { return nil }
                return (key, (p99 / base, String(format: "p99 latency %.0f ms over %@ is %.1fx its %@ baseline (%.0f ms); alert above %.1fx",
                                                 p99, window, p99 / base, rule.baseline.manifoldText, base, rule.threshold)))
            case .breakerOpen:
                guard let state = snapshot.lanes[lane], state.breaker != "closed" else { return nil }
                return (key, (1, "circuit breaker \(state.breaker): calls to \(lane.target) are held (\(state.queued) queued)"))
            case .deadLetters:
                let summary = stats.summary(lane, window: rule.window, endingAt: now)
                let count = summary.deadLettered + summary.quarantined
                guard Double(count) > rule.threshold else { return nil }
                return (key, (Double(count), "\(summary.deadLettered) dead-lettered and \(summary.quarantined) quarantined over \(window)"
                              + (rule.threshold > 0 ? " (alert above \(Int(rule.threshold)))" : "")))
            case .queuedEvent:
                guard let oldest = snapshot.lanes[lane]?.oldestQueued else { return nil }
                let age = now.timeIntervalSince(oldest)
                guard age > rule.threshold else { return nil }
                return (key, (age, String(format: "the oldest queued event has waited %.0f s (alert after %.0f s); %d queued",
                                          age, rule.threshold, snapshot.lanes[lane]?.queued ?? 0)))
            case .throughputDrop, .quarantinedEvents, .endpointDisabled, .pullFailing, .rolloutRolledBack:
                return nil
            }
        }
    }
}
