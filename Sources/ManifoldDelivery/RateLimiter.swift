import Synchronization

/// Never more than `requests` calls in any window of length `window`: a sliding-window log of the last `requests`
/// call times. A call is allowed when the oldest of them is at least `window` ago, so no burst ever passes the
/// limit (unlike a token bucket, which lets a full bucket through at once after a quiet period).
///
/// Shared by reference: every lane of a named pool holds the same limiter.
public final class SlidingWindowLimiter: Sendable {
    public let requests: Int
    public let window: Duration

    private struct Log {
        var times: [Duration] = []
        var oldest = 0
    }

    private let log = Mutex(Log())

    public init(requests: Int, window: Duration) {
        precondition(requests > 0)
        self.requests = requests
        self.window = window
    }

    /// Takes a slot at `now` and returns `nil`, or returns the earliest time a slot frees (nothing is taken).
    public func acquire(at now: Duration) -> Duration? {
        log.withLock { log in
            if log.times.count < requests {
                log.times.append(now)
                return nil
            }
            let free = log.times[log.oldest] + window
            if free > now { return free }
            log.times[log.oldest] = now
            log.oldest = (log.oldest + 1) % requests
            return nil
        }
    }

    /// When a slot is free (`now` or later), without taking it.
    public func nextFree(after now: Duration) -> Duration {
        log.withLock { log in
            log.times.count < requests ? now : max(now, log.times[log.oldest] + window)
        }
    }
}
