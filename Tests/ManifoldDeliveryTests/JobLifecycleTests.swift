import Foundation
@testable import ManifoldDelivery
import ManifoldPlan
import ManifoldStore
import TestSupport
import Testing

/// What one call's outcome does to its job, decided without I/O on given instants.
@Suite struct JobLifecycleTests {
    static let policy = RetryPolicy(maxAttempts: 3, maxElapsed: .seconds(60), initialBackoff: .seconds(2), maxBackoff: .seconds(10),
                                    multiplier: 2, jitter: .none)
    static let wall = Date(timeIntervalSince1970: 1_000_000)

    static func decide(_ outcome: AttemptOutcome, attempts: Int, elapsed: Duration = .zero) -> JobLifecycle.Decision {
        var generator = SeededGenerator(seed: 1)
        return JobLifecycle.decide(outcome, policy: policy, attempts: attempts, elapsed: elapsed, wall: wall, now: .seconds(100),
                                   using: &generator)
    }

    @Test func aTransientFailureWaitsItsBackoffUntilTheAttemptsOrTheTimeRunOut() {
        let first = Self.decide(.transient(status: 503, retryAfter: nil, reason: "503"), attempts: 1)
        #expect(first.stored == .retry(at: Self.wall + 2) && first.lane == .retry(at: .seconds(102)) && first.health == .failure)
        // The vendor's Retry-After wins when it is longer.
        let asked = Self.decide(.transient(status: 503, retryAfter: .seconds(30), reason: "503"), attempts: 1)
        #expect(asked.stored == .retry(at: Self.wall + 30))
        let spent = Self.decide(.transient(status: 503, retryAfter: nil, reason: "the target answered 503"), attempts: 3)
        #expect(spent.stored == .dead(reason: "the target answered 503; gave up after 3 attempts") && spent.lane == .done)
        #expect(spent.failure?.status == 503)
        let late = Self.decide(.transient(status: nil, retryAfter: nil, reason: "timeout"), attempts: 1, elapsed: .seconds(59))
        #expect(late.stored == .dead(reason: "timeout; gave up after 1 attempts"), "the wait would pass max_elapsed")
    }

    @Test func a429PausesTheLaneAndAPermanentAnswerOrBadDataEndTheJob() {
        let limited = Self.decide(.rateLimited(retryAfter: .seconds(7)), attempts: 0)
        #expect(limited.stored == .retry(at: Self.wall + 7) && limited.lane == .rateLimited(until: .seconds(107)) && limited.health == .neutral)
        let refused = Self.decide(.permanent(status: 422, reason: "the target answered 422"), attempts: 1)
        #expect(refused.stored == .dead(reason: "the target answered 422") && refused.health == .neutral && refused.failure?.status == 422)
        let bad = Self.decide(.badData(reason: "the body fails its schema"), attempts: 0)
        #expect(bad.stored == .quarantined(reason: "the body fails its schema") && bad.lane == .done)
        #expect(Self.decide(.delivered(status: 201), attempts: 1) == JobLifecycle.Decision(stored: .delivered, lane: .done, health: .success))
    }
}
