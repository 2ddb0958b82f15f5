public import ManifoldPlan

/// When to try a failed call again, or that it is time to give up.
public enum RetrySchedule {
    /// The wait before the next attempt after `attempts` attempts (counted ones), or `nil` when the policy is spent:
    /// `max_attempts` reached, or the wait would pass `max_elapsed` since the first attempt. The wait is the
    /// exponential backoff with the policy's jitter, and never shorter than the vendor's `Retry-After`.
    public static func wait(policy: RetryPolicy, attempts: Int, elapsed: Duration, retryAfter: Duration?,
                            using generator: inout some RandomNumberGenerator) -> Duration?
    {
        guard attempts < policy.maxAttempts else { return nil }
        let wait = max(backoff(policy: policy, attempt: attempts, using: &generator), retryAfter ?? .zero)
        return elapsed + wait > policy.maxElapsed ? nil : wait
    }

    /// The wait after a 429 (which does not use up an attempt): the vendor's reset time, else the backoff of the
    /// attempt count so far; `nil` when it would pass `max_elapsed`.
    public static func rateLimitedWait(policy: RetryPolicy, attempts: Int, elapsed: Duration, retryAfter: Duration?,
                                       using generator: inout some RandomNumberGenerator) -> Duration?
    {
        let wait = retryAfter ?? backoff(policy: policy, attempt: max(1, attempts), using: &generator)
        return elapsed + wait > policy.maxElapsed ? nil : wait
    }

    /// Exponential backoff for `attempt` (1-based), capped, with jitter: `full` draws from [0, d], `equal` from
    /// [d/2, d], `none` is d.
    public static func backoff(policy: RetryPolicy, attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = policy.maximumWait(after: max(1, attempt))
        if policy.schedule != nil { return ceiling }
        let milliseconds = ceiling.timeInterval * 1000
        let drawn: Double
        switch policy.jitter {
        case .none: drawn = milliseconds
        case .full: drawn = Double.random(in: 0...milliseconds, using: &generator)
        case .equal: drawn = milliseconds / 2 + Double.random(in: 0...(milliseconds / 2), using: &generator)
        }
        return .milliseconds(Int64(drawn.rounded()))
    }
}
