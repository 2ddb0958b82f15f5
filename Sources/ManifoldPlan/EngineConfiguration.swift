/// The engine's global configuration (`manifold run --config FILE`): what applies to the whole engine rather
/// than to one connector. Compiled from `schemas/manifold.schema.json` documents.
public struct EngineConfiguration: Sendable, Equatable {
    /// The dashboard's public address, linked from alert messages.
    public var dashboardURL: String?
    public var alerts: AlertPlan?

    public init(dashboardURL: String? = nil, alerts: AlertPlan? = nil) {
        self.dashboardURL = dashboardURL
        self.alerts = alerts
    }
}

/// Alert rules, evaluated in the engine, and the sinks their notifications go to.
public struct AlertPlan: Sendable, Equatable {
    public var evaluateEvery: Duration = .seconds(15)
    /// A firing alert is sent again after this long.
    public var repeatAfter: Duration = .seconds(4 * 3600)
    public var sinks: [AlertSink] = []
    public var delivery = AlertDelivery()
    public var rules: [AlertRule] = []

    public init() {}
}

/// Where notifications go.
public struct AlertSink: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// A Slack incoming webhook: `{"text": ...}`.
        case slack
        /// Any URL that takes the alert as JSON.
        case webhook
    }

    public var name: String
    public var kind: Kind
    /// The URL as written: `${env:NAME}` and `${file:PATH}` resolve when the engine starts, as a target's do.
    public var url: ConfigString
    public var headers: [(name: String, value: ConfigString)]

    public init(name: String, kind: Kind, url: ConfigString, headers: [(name: String, value: ConfigString)] = []) {
        self.name = name
        self.kind = kind
        self.url = url
        self.headers = headers
    }

    public static func == (lhs: AlertSink, rhs: AlertSink) -> Bool {
        lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.url == rhs.url
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// How notifications are delivered: a lane per sink, retried as a target is (8 attempts, backoff from 1s doubling
/// up to 1m, no jitter: one engine's alerts do not stampede a sink).
public struct AlertDelivery: Sendable, Equatable {
    public var retry = RetryPolicy(maxAttempts: 8, maxElapsed: .seconds(86_400), initialBackoff: .seconds(1),
                                   maxBackoff: .seconds(60), multiplier: 2, jitter: .none)
    public var timeout: Duration = .seconds(10)

    public init() {}
}

/// One alert rule.
public struct AlertRule: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case errorRate = "error_rate"
        case latencyP99 = "latency_p99"
        case throughputDrop = "throughput_drop"
        case breakerOpen = "breaker_open"
        case deadLetters = "dead_letters"
        case queuedEvent = "queued_event"
        /// Events quarantined at ingress (a broken payload contract, a body that does not parse, no event id).
        case quarantinedEvents = "quarantined_events"
        /// A customer's endpoint disabled after failing for its `auto_disable_after` (announced, not evaluated).
        case endpointDisabled = "endpoint_disabled"
        /// A pulled connector whose last `runs` runs failed.
        case pullFailing = "pull_failing"
        /// A canary rolled back by its guard (announced, not evaluated).
        case rolloutRolledBack = "rollout_rolled_back"
    }

    public enum Severity: String, Sendable, Equatable {
        case critical, warning, info
    }

    public var name: String
    public var kind: Kind
    public var connector: String?
    public var target: String?
    public var sinks: [String]?
    public var severity: Severity = .warning
    /// How long the condition must hold before the alert fires.
    public var holdFor: Duration = .zero
    /// The recent window measured.
    public var window: Duration = .seconds(300)
    /// The period before the window that `latency_p99` and `throughput_drop` compare with.
    public var baseline: Duration = .seconds(3600)
    /// error_rate: the fraction; latency_p99: the factor; throughput_drop: the fraction of the baseline rate;
    /// dead_letters and quarantined_events: the count; queued_event: the age in seconds; pull_failing: the runs.
    public var threshold: Double
    /// The least number of attempts (or events) for the rule to judge.
    public var minimum: Int

    public init(name: String, kind: Kind, threshold: Double, minimum: Int = 0) {
        self.name = name
        self.kind = kind
        self.threshold = threshold
        self.minimum = minimum
    }

    /// Whether it watches a lane (`connector/target`) rather than a connector's events.
    public var watchesLanes: Bool {
        ![.throughputDrop, .quarantinedEvents, .endpointDisabled, .pullFailing, .rolloutRolledBack].contains(kind)
    }
}
