import ManifoldCompiler
import ManifoldDelivery
import ManifoldPlan
import Testing

struct Item: LaneItem, Equatable {
    var id: String
    var orderingKey: String?
    init(_ id: String, key: String? = nil) {
        self.id = id
        orderingKey = key
    }
}

@Suite struct RateLimiterTests {
    /// Under a burst far larger than the limit, no window of the limit's length ever holds more calls than allowed,
    /// at any point of a manual clock run, and the limiter keeps up the full rate.
    @Test func noWindowHoldsMoreThanTheLimit() {
        let limiter = SlidingWindowLimiter(requests: 100, window: .seconds(10))
        var calls: [Duration] = []
        var now: Duration = .zero
        var pending = 10_000
        while pending > 0, now < .seconds(2_000) {
            if let free = limiter.acquire(at: now) {
                #expect(free > now)
                now = free
            } else {
                calls.append(now)
                pending -= 1
            }
        }
        #expect(pending == 0)
        for index in 100..<calls.count {
            #expect(calls[index] - calls[index - 100] >= .seconds(10))
        }
        // 10,000 calls at 100 per 10 s take 99 windows after the first burst.
        #expect(calls.last! == .seconds(990))
    }

    /// A token bucket would let a full bucket through after a quiet period on top of a burst; the window does not.
    @Test func aQuietPeriodDoesNotBankCalls() {
        let limiter = SlidingWindowLimiter(requests: 3, window: .seconds(1))
        for _ in 0..<3 { #expect(limiter.acquire(at: .milliseconds(900)) == nil) }
        #expect(limiter.acquire(at: .milliseconds(1_500)) == .milliseconds(1_900))
        #expect(limiter.acquire(at: .milliseconds(1_900)) == nil)
    }
}

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresProbesThenCloses() {
        var breaker = CircuitBreaker(threshold: 3, openFor: .seconds(30))
        #expect(breaker.permit(at: .zero) == .call)
        breaker.recordFailure(at: .seconds(1))
        breaker.recordSuccess()
        breaker.recordFailure(at: .seconds(2))
        breaker.recordFailure(at: .seconds(3))
        #expect(breaker.state == .closed(failures: 2))
        breaker.recordFailure(at: .seconds(4))
        #expect(breaker.state == .open(until: .seconds(34)))
        #expect(breaker.permit(at: .seconds(33)) == .wait(until: .seconds(34)))
        #expect(breaker.permit(at: .seconds(34)) == .probe)
        breaker.probeStarted()
        #expect(breaker.permit(at: .seconds(35)) == .wait(until: nil))
        breaker.recordFailure(at: .seconds(36))
        #expect(breaker.state == .open(until: .seconds(66)))
        #expect(breaker.permit(at: .seconds(66)) == .probe)
        breaker.probeStarted()
        breaker.recordSuccess()
        #expect(breaker.state == .closed(failures: 0))
    }
}

@Suite struct LaneStateScheduleTests {
    func lane(concurrency: Int = 2, limiter: SlidingWindowLimiter? = nil, threshold: Int = 2) -> LaneState<Item> {
        LaneState(concurrency: concurrency, limiter: limiter, breaker: CircuitBreaker(threshold: threshold, openFor: .seconds(10)))
    }

    @Test func concurrencyLimitsCallsInFlight() {
        var state = lane(concurrency: 2)
        for id in ["a", "b", "c"] { state.enqueue(Item(id)) }
        let first = state.take(at: .zero)
        #expect(first.start.map(\.id) == ["a", "b"])
        #expect(first.wake == nil)
        #expect(state.take(at: .zero).start.isEmpty)
        state.finish(Item("a"), result: .done, health: .success, at: .seconds(1))
        #expect(state.take(at: .seconds(1)).start.map(\.id) == ["c"])
    }

    /// A call that is answered frees its place among the calls in flight at once, while its outcome is being written;
    /// its ordering key stays taken, its retry unscheduled and a 429's job off the queue until the outcome is settled,
    /// and a 429 pauses the lane from the answer.
    @Test func anAnsweredCallFreesItsPlaceAndItsKeyWaitsForTheRecord() {
        var state = lane(concurrency: 2)
        for (id, key) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c"), ("d1", "d")] { state.enqueue(Item(id, key: key)) }
        #expect(state.take(at: .zero).start.map(\.id) == ["a1", "b1"])
        // a1 answered: c1 starts (its place is free); a2 waits for a1's outcome.
        state.answered(Item("a1", key: "a"), health: .success, pausedUntil: nil, at: .seconds(1))
        #expect(state.inFlight == 1)
        #expect(state.take(at: .seconds(1)).start.map(\.id) == ["c1"])
        state.settle(Item("a1", key: "a"), result: .done)
        #expect(state.take(at: .seconds(1)).start.isEmpty, "two in flight: b1 and c1")
        // b1 is told to slow down: the lane pauses from the answer; b1 returns to the head only once settled.
        state.answered(Item("b1", key: "b"), health: .neutral, pausedUntil: .seconds(5), at: .seconds(2))
        let paused = state.take(at: .seconds(2))
        #expect(paused.start.isEmpty && paused.wake == .seconds(5))
        state.settle(Item("b1", key: "b"), result: .rateLimited(until: .seconds(5)))
        #expect(state.take(at: .seconds(5)).start.map(\.id) == ["b1"])
        // c1 fails and retries at 9 s: its place is free, it is not queued until settled, then waits for its time.
        state.answered(Item("c1", key: "c"), health: .failure, pausedUntil: nil, at: .seconds(6))
        #expect(state.queued == 2, "a2 and d1 queued; c1 neither queued nor in flight")
        state.settle(Item("c1", key: "c"), result: .retry(at: .seconds(9)))
        #expect(state.take(at: .seconds(6)).start.map(\.id) == ["d1"], "d1 was ready before a2 (ready once a1 settled)")
        #expect(state.breaker.state == .closed(failures: 1))
        state.answered(Item("b1", key: "b"), health: .success, pausedUntil: nil, at: .seconds(7))
        state.settle(Item("b1", key: "b"), result: .done)
        #expect(state.take(at: .seconds(7)).start.map(\.id) == ["a2"])
        #expect(state.take(at: .seconds(9)).start.isEmpty, "two in flight")
    }

    /// With engines sharing a store, a lane starts calls only while this engine holds it: not at all when another
    /// does, not before the quiet window after a takeover, not past the hold's margin until it is renewed.
    @Test func aLaneStartsCallsOnlyWhileItsEngineHoldsIt() {
        var state = lane(concurrency: 10)
        for id in ["a", "b", "c", "d"] { state.enqueue(Item(id)) }
        state.ownership = .notHeld
        let none = state.take(at: .zero)
        #expect(none.start.isEmpty && none.wake == nil)
        state.ownership = .held(startsUntil: .seconds(10), quietUntil: .seconds(4))
        let quiet = state.take(at: .seconds(1))
        #expect(quiet.start.isEmpty && quiet.wake == .seconds(4))
        state.concurrency = 2
        #expect(state.take(at: .seconds(4)).start.map(\.id) == ["a", "b"])
        state.finish(Item("a"), result: .done, health: .success, at: .seconds(11))
        let lapsed = state.take(at: .seconds(11))
        #expect(lapsed.start.isEmpty && lapsed.wake == nil)
        state.ownership = .held(startsUntil: .seconds(20), quietUntil: nil)
        #expect(state.take(at: .seconds(11)).start.map(\.id) == ["c"])
        state.ownership = .sole
        state.finish(Item("b"), result: .done, health: .success, at: .seconds(30))
        #expect(state.take(at: .seconds(30)).start.map(\.id) == ["d"])
    }

    @Test func theRateLimiterSaysWhenToLookAgain() {
        var state = lane(concurrency: 10, limiter: SlidingWindowLimiter(requests: 2, window: .seconds(5)))
        for id in ["a", "b", "c"] { state.enqueue(Item(id)) }
        let first = state.take(at: .zero)
        #expect(first.start.map(\.id) == ["a", "b"])
        #expect(first.wake == .seconds(5))
        #expect(state.take(at: .seconds(5)).start.map(\.id) == ["c"])
    }

    @Test func anOpenBreakerHoldsTheQueueThenLetsOneProbeThrough() {
        var state = lane(concurrency: 5, threshold: 2)
        for id in ["a", "b", "c", "d"] { state.enqueue(Item(id)) }
        let started = state.take(at: .zero).start
        #expect(started.count == 4)
        state.finish(started[0], result: .retry(at: .seconds(1)), health: .failure, at: .zero)
        state.finish(started[1], result: .retry(at: .seconds(1)), health: .failure, at: .zero)
        state.finish(started[2], result: .done, health: .success, at: .zero) // started before it opened
        state.finish(started[3], result: .done, health: .success, at: .zero)
        // Open until 10 s: the retries are due at 1 s but wait.
        let waiting = state.take(at: .seconds(2))
        #expect(waiting.start.isEmpty)
        #expect(waiting.wake == .seconds(10))
        let probe = state.take(at: .seconds(10))
        #expect(probe.start.map(\.id) == ["a"])
        #expect(state.take(at: .seconds(11)).start.isEmpty)
        state.finish(probe.start[0], result: .done, health: .success, at: .seconds(11))
        #expect(state.take(at: .seconds(11)).start.map(\.id) == ["b"])
    }

    @Test func aRateLimitedAnswerPausesTheLaneWithoutLosingThePlace() {
        var state = lane(concurrency: 1)
        for id in ["a", "b"] { state.enqueue(Item(id)) }
        let first = state.take(at: .zero).start
        state.finish(first[0], result: .rateLimited(until: .seconds(30)), health: .neutral, at: .seconds(1))
        let paused = state.take(at: .seconds(2))
        #expect(paused.start.isEmpty)
        #expect(paused.wake == .seconds(30))
        #expect(state.take(at: .seconds(30)).start.map(\.id) == ["a"])
    }

    @Test func jobsOfOneOrderingKeyGoOneAtATimeInOrderOthersInParallel() {
        var state = lane(concurrency: 10)
        state.enqueue(Item("k1", key: "order-1"))
        state.enqueue(Item("k2", key: "order-1"))
        state.enqueue(Item("x", key: nil))
        state.enqueue(Item("k3", key: "order-1"))
        state.enqueue(Item("o1", key: "order-2"))
        #expect(state.take(at: .zero).start.map(\.id) == ["k1", "x", "o1"])
        // k1 fails and waits to retry: k2 still waits behind it.
        state.finish(Item("k1", key: "order-1"), result: .retry(at: .seconds(5)), health: .failure, at: .zero)
        #expect(state.take(at: .seconds(1)).start.isEmpty)
        #expect(state.take(at: .seconds(5)).start.map(\.id) == ["k1"])
        state.finish(Item("k1", key: "order-1"), result: .done, health: .success, at: .seconds(5))
        #expect(state.take(at: .seconds(5)).start.map(\.id) == ["k2"])
        state.finish(Item("k2", key: "order-1"), result: .done, health: .success, at: .seconds(6))
        #expect(state.take(at: .seconds(6)).start.map(\.id) == ["k3"])
    }
}

@Suite struct RetryScheduleTests {
    let policy = RetryPolicy(maxAttempts: 4, maxElapsed: .seconds(60), initialBackoff: .seconds(1),
                             maxBackoff: .seconds(10), multiplier: 2, jitter: .none)

    @Test func backoffGrowsIsCappedAndStopsAtMaxAttempts() {
        var generator = SystemRandomNumberGenerator()
        #expect(RetrySchedule.wait(policy: policy, attempts: 1, elapsed: .zero, retryAfter: nil, using: &generator) == .seconds(1))
        #expect(RetrySchedule.wait(policy: policy, attempts: 3, elapsed: .zero, retryAfter: nil, using: &generator) == .seconds(4))
        #expect(RetrySchedule.wait(policy: policy, attempts: 4, elapsed: .zero, retryAfter: nil, using: &generator) == nil)
    }

    /// `retry.schedule`: the waits as listed, without jitter, then no more; a connector's endpoints target gets
    /// Svix's schedule by default, and a written schedule sets max_attempts.
    @Test func aScheduleIsFollowedAsWritten() throws {
        var scheduled = policy
        scheduled.schedule = [.seconds(5), .seconds(300), .seconds(1800)]
        scheduled.maxAttempts = 4
        scheduled.maxElapsed = .seconds(86_400)
        scheduled.jitter = .full
        var generator = SystemRandomNumberGenerator()
        #expect(RetrySchedule.wait(policy: scheduled, attempts: 1, elapsed: .zero, retryAfter: nil, using: &generator) == .seconds(5))
        #expect(RetrySchedule.wait(policy: scheduled, attempts: 2, elapsed: .zero, retryAfter: nil, using: &generator) == .seconds(300))
        #expect(RetrySchedule.wait(policy: scheduled, attempts: 3, elapsed: .zero, retryAfter: nil, using: &generator) == .seconds(1800))
        #expect(RetrySchedule.wait(policy: scheduled, attempts: 4, elapsed: .zero, retryAfter: nil, using: &generator) == nil)
        #expect(RetrySchedule.wait(policy: scheduled, attempts: 1, elapsed: .zero, retryAfter: .seconds(60), using: &generator) == .seconds(60))
        let source = """
            connector: c
            source: { webhook: { path: /in, verify: { scheme: github, secret: s }, event_id: id } }
            targets:
              customers: { endpoints: { tenant: customer } }
              written: { endpoints: { tenant: customer }, retry: { schedule: [1s, 2s] } }
            routes:
              - { name: a, call: customers.send }
              - { name: b, call: written.send }
            """
        let plan = try #require(ConnectorCompiler().compile([SourceFile(path: "c.yaml", text: source)]).plan)
        let customers = try #require(plan.connectors[0].targets.first { $0.name == "customers" })
        #expect(customers.retry.schedule == RetryPolicy.endpointsSchedule && customers.retry.maxAttempts == 8)
        #expect(customers.timeout == .seconds(15))
        let written = try #require(plan.connectors[0].targets.first { $0.name == "written" })
        #expect(written.retry.schedule == [.seconds(1), .seconds(2)] && written.retry.maxAttempts == 3)
    }

    @Test func retryAfterIsHonouredAndMaxElapsedBounds() {
        var generator = SystemRandomNumberGenerator()
        #expect(RetrySchedule.wait(policy: policy, attempts: 1, elapsed: .zero, retryAfter: .seconds(7), using: &generator) == .seconds(7))
        #expect(RetrySchedule.wait(policy: policy, attempts: 1, elapsed: .seconds(55), retryAfter: .seconds(7), using: &generator) == nil)
        // A 429 does not count an attempt: only time bounds it.
        #expect(RetrySchedule.rateLimitedWait(policy: policy, attempts: 4, elapsed: .seconds(10), retryAfter: .seconds(20),
                                              using: &generator) == .seconds(20))
    }

    @Test func jitterStaysInItsRange() {
        var generator = SystemRandomNumberGenerator()
        var full = policy
        full.jitter = .full
        var equal = policy
        equal.jitter = .equal
        for _ in 0..<200 {
            let f = RetrySchedule.backoff(policy: full, attempt: 3, using: &generator)
            #expect(f >= .zero && f <= .seconds(4))
            let e = RetrySchedule.backoff(policy: equal, attempt: 3, using: &generator)
            #expect(e >= .seconds(2) && e <= .seconds(4))
        }
    }
}

@Suite struct OutcomeTests {
    @Test func answersAreClassed() {
        func outcome(_ status: Int, _ headers: [(name: String, value: String)] = []) -> AttemptOutcome {
            AttemptOutcome.classify(InboundResponse(status: status, headers: headers, body: []))
        }
        #expect(outcome(201) == .delivered(status: 201))
        #expect(outcome(429, [("Retry-After", "12")]) == .rateLimited(retryAfter: .seconds(12)))
        #expect(outcome(429, [("X-RateLimit-Reset", "3")]) == .rateLimited(retryAfter: .seconds(3)))
        #expect(outcome(503).errorClass == "transient")
        #expect(outcome(408).errorClass == "transient")
        #expect(outcome(400).errorClass == "permanent")
        #expect(outcome(404).errorClass == "permanent")
        #expect(outcome(302).errorClass == "permanent")
    }
}
