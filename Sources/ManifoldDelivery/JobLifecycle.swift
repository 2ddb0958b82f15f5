public import Foundation
public import ManifoldPlan
public import ManifoldStore

/// What one call's outcome does to its job, as a pure decision: the state the store records (delivered, retry at a
/// time, dead-lettered, quarantined), what the lane does next (done, wait until, pause for a 429) and what the breaker
/// hears. The same for a route's one call and a flow's step (the flow then decides what a delivered or dead call does
/// to the flow: `FlowMachine`). No I/O; time comes in as values (the wall clock for the store, the runtime's clock for
/// the lane), randomness through the generator.
public enum JobLifecycle {
    public struct Decision: Equatable {
        public var stored: JobOutcome
        public var lane: LaneState<DeliveryJob>.Result
        public var health: LaneState<DeliveryJob>.Health
        /// For a call that failed for good: why, and the vendor's status (a flow tells its failure steps).
        public var failure: (reason: String, status: Int?)?

        public static func == (lhs: Decision, rhs: Decision) -> Bool {
            lhs.stored == rhs.stored && lhs.lane == rhs.lane && lhs.health == rhs.health
                && lhs.failure?.reason == rhs.failure?.reason && lhs.failure?.status == rhs.failure?.status
        }
    }

    /// The decision for `outcome` after `attempts` counted attempts, `elapsed` since the first, under `policy`.
    public static func decide(_ outcome: AttemptOutcome, policy: RetryPolicy, attempts: Int, elapsed: Duration, wall: Date,
                              now: Duration, using generator: inout some RandomNumberGenerator) -> Decision
    {
        switch outcome {
        case .delivered:
            return Decision(stored: .delivered, lane: .done, health: .success)
        case .transient(let status, let retryAfter, let reason):
            if let wait = RetrySchedule.wait(policy: policy, attempts: attempts, elapsed: elapsed, retryAfter: retryAfter, using: &generator) {
                return Decision(stored: .retry(at: wall + wait.timeInterval), lane: .retry(at: now + wait), health: .failure)
            }
            let why = "\(reason); gave up after \(attempts) attempts"
            return Decision(stored: .dead(reason: why), lane: .done, health: .failure, failure: (why, status))
        case .rateLimited(let retryAfter):
            if let wait = RetrySchedule.rateLimitedWait(policy: policy, attempts: attempts, elapsed: elapsed, retryAfter: retryAfter,
                                                        using: &generator)
            {
                return Decision(stored: .retry(at: wall + wait.timeInterval), lane: .rateLimited(until: now + wait), health: .neutral)
            }
            let why = "rate limited past max_elapsed"
            return Decision(stored: .dead(reason: why), lane: .done, health: .neutral, failure: (why, 429))
        case .permanent(let status, let reason):
            return Decision(stored: .dead(reason: reason), lane: .done, health: .neutral, failure: (reason, status))
        case .badData(let reason):
            return Decision(stored: .quarantined(reason: reason), lane: .done, health: .neutral, failure: (reason, nil))
        }
    }
}
