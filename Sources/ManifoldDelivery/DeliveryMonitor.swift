public import Foundation
public import ManifoldStore

/// What one attempt came to, as the runtime reports it once it is recorded: for metrics, dashboards and alerts.
public struct AttemptReport: Sendable {
    public var job: DeliveryJob
    /// What was stored: delivered, to retry, dead-lettered or quarantined.
    public var outcome: JobOutcome
    /// delivered, transient, rate_limited, permanent or bad_data.
    public var errorClass: String
    public var status: Int?
    /// How long the call took (mapping, auth and the HTTP exchange).
    public var duration: Duration
    /// For a delivered job: from the event's arrival to its delivery being recorded.
    public var endToEnd: Duration?
    /// For a 429: how long the lane pauses.
    public var rateLimitWait: Duration?
    public var reason: String?
    public var finishedAt: Date
}

/// Told every attempt the runtime records; must return quickly (it runs on the delivering task).
public protocol DeliveryMonitor: Sendable {
    func attempted(_ report: AttemptReport)
}
