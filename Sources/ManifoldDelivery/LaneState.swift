/// Something a lane delivers: an id, and an optional ordering key.
public protocol LaneItem: Sendable {
    var id: String { get }
    var orderingKey: String? { get }
}

/// One target's lane as a state machine on an injected time: its queue (ready, waiting to retry, held behind an
/// earlier job of the same ordering key), its concurrency limit, its rate limiter, its circuit breaker and a pause
/// a vendor imposed (429). `take` says which jobs may start now and when to look again; `finish` takes a result.
/// No I/O and no clock of its own, so tests drive it step by step.
public struct LaneState<Item: LaneItem>: Sendable {
    /// What became of a started job.
    public enum Result: Sendable, Equatable {
        /// Done for good (delivered, dead-lettered or quarantined).
        case done
        /// Try again at this time.
        case retry(at: Duration)
        /// The vendor said slow down: pause the whole lane until then; the job goes back to the front.
        case rateLimited(until: Duration)

        /// When a rate-limited job's lane may start calls again.
        var pause: Duration? {
            if case .rateLimited(let until) = self { until } else { nil }
        }
    }

    /// What the call told the breaker.
    public enum Health: Sendable, Equatable {
        case success
        case failure
        /// Says nothing about the target's health (a 4xx for bad data, a 429, a mapping error).
        case neutral
    }

    /// Whether this engine may run the lane now. Alone on its store, always; with engines sharing a store, only while
    /// it holds the lane's lease (so the limits, the breaker and the order are one engine's, exact).
    public enum Ownership: Sendable, Equatable {
        case sole
        /// Held: calls start before `startsUntil` (the lease's end, less a margin for the renewal to land), and not
        /// before `quietUntil` (one rate-limit window after the previous holder's end: its calls count).
        case held(startsUntil: Duration, quietUntil: Duration?)
        /// Another engine's, or nobody's: nothing starts.
        case notHeld
    }

    public var ownership: Ownership = .sole
    public var concurrency: Int
    public var limiter: SlidingWindowLimiter?
    public var breaker: CircuitBreaker
    public private(set) var inFlight = 0
    public private(set) var pausedUntil: Duration?
    /// How many times the rate limiter made the lane wait (once per wait, however often the lane looked again).
    public private(set) var limiterWaits = 0
    private var limitedUntil: Duration?

    private var ready: [Item] = []
    private var readyHead = 0
    /// Jobs waiting to retry, ordered by time.
    private var delayed: [(at: Duration, item: Item)] = []
    /// Jobs behind an earlier job of the same key.
    private var held: [String: [Item]] = [:]
    private var activeKeys: Set<String> = []
    private var probeInFlight: String?

    public init(concurrency: Int, limiter: SlidingWindowLimiter?, breaker: CircuitBreaker) {
        self.concurrency = max(1, concurrency)
        self.limiter = limiter
        self.breaker = breaker
    }

    /// Jobs queued (ready, waiting or held), not counting those in flight.
    public var queued: Int {
        (ready.count - readyHead) + delayed.count + held.values.reduce(0) { $0 + $1.count }
    }

    /// The least of `key` over the queued jobs (ready, waiting or held): the oldest one's age, say.
    public func minimum<Key: Comparable>(of key: (Item) -> Key) -> Key? {
        var least: Key?
        func visit(_ item: Item) {
            let value = key(item)
            if least.map({ value < $0 }) ?? true { least = value }
        }
        for item in ready[readyHead...] { visit(item) }
        for entry in delayed { visit(entry.item) }
        for items in held.values { for item in items { visit(item) } }
        return least
    }

    /// Adds a job; `notBefore` delays it. A job whose ordering key is active waits behind it.
    public mutating func enqueue(_ item: Item, notBefore: Duration? = nil) {
        if let key = item.orderingKey {
            if activeKeys.contains(key) {
                held[key, default: []].append(item)
                return
            }
            activeKeys.insert(key)
        }
        schedule(item, at: notBefore)
    }

    private mutating func schedule(_ item: Item, at time: Duration?) {
        if let time {
            let index = delayed.firstIndex { $0.at > time } ?? delayed.count
            delayed.insert((time, item), at: index)
        } else {
            ready.append(item)
        }
    }

    /// The jobs that may start at `now`, and the time to look again (`nil`: when a job finishes or is added).
    public mutating func take(at now: Duration) -> (start: [Item], wake: Duration?) {
        var promoted = 0
        while promoted < delayed.count, delayed[promoted].at <= now { promoted += 1 }
        if promoted > 0 {
            ready.append(contentsOf: delayed[..<promoted].map(\.item))
            delayed.removeFirst(promoted)
        }
        var start: [Item] = []
        var wake: Duration?
        while inFlight < concurrency, readyHead < ready.count {
            switch ownership {
            case .sole: break
            case .notHeld: return (start, nil)
            case .held(let startsUntil, let quietUntil):
                if let quietUntil, now < quietUntil { wake = quietUntil }
                // Past the hold's margin nothing starts until a renewal moves it (the runtime pumps the lane then).
                if wake != nil || now >= startsUntil { return (start, wake) }
            }
            if let pause = pausedUntil {
                if now < pause { wake = pause; break }
                pausedUntil = nil
            }
            let permit = breaker.permit(at: now)
            if case .wait(let until) = permit { wake = until; break }
            if let limiter, let free = limiter.acquire(at: now) {
                if limitedUntil.map({ $0 < now }) ?? true { limiterWaits += 1 }
                limitedUntil = free
                wake = free
                break
            }
            let item = ready[readyHead]
            readyHead += 1
            if permit == .probe {
                breaker.probeStarted()
                probeInFlight = item.id
            }
            inFlight += 1
            start.append(item)
        }
        if readyHead > 64, readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        }
        if let next = delayed.first?.at {
            wake = wake.map { min($0, next) } ?? next
        }
        return (start, wake)
    }

    /// A started job ended with `result`; `health` feeds the breaker. The same as `answered` then `settle`.
    public mutating func finish(_ item: Item, result: Result, health: Health, at now: Duration) {
        answered(item, health: health, pausedUntil: result.pause, at: now)
        settle(item, result: result)
    }

    /// A started job's call is over (answered, or it could not go out): its place among the calls in flight is free
    /// for the next job at once, `health` feeds the breaker, and a vendor's "slow down" (`pausedUntil`) pauses the
    /// lane from now. Its key stays taken, and its retry waits, until `settle`: the outcome is recorded meanwhile, and
    /// a call of the vendor's is no longer held up by our write (with it held, a lane made at most its concurrency's
    /// calls per commit).
    public mutating func answered(_ item: Item, health: Health, pausedUntil pause: Duration?, at now: Duration) {
        inFlight -= 1
        if probeInFlight == item.id { probeInFlight = nil }
        switch health {
        case .success: breaker.recordSuccess()
        case .failure: breaker.recordFailure(at: now)
        case .neutral:
            // A neutral answer to the probe says the target is reachable.
            if case .halfOpen(probing: true) = breaker.state { breaker.recordSuccess() }
        }
        if let pause { pausedUntil = max(pausedUntil ?? pause, pause) }
    }

    /// An answered job's outcome is recorded: done, its key's next job becomes ready; a retry waits until its time;
    /// a rate-limited job goes back to the head of the lane (which `answered` paused).
    public mutating func settle(_ item: Item, result: Result) {
        switch result {
        case .done:
            release(item)
        case .retry(let time):
            schedule(item, at: time)
        case .rateLimited:
            if readyHead > 0 {
                readyHead -= 1
                ready[readyHead] = item
            } else {
                ready.insert(item, at: 0)
            }
        }
    }

    /// Takes every queued job out (ready, waiting to retry, held behind a key), in the order they would have run;
    /// jobs in flight stay. For a lane the plan no longer has.
    public mutating func removeQueued() -> [Item] {
        let waiting = Array(ready[readyHead...]) + delayed.map(\.item)
        for item in waiting { if let key = item.orderingKey { activeKeys.remove(key) } }
        let behind = held.keys.sorted().flatMap { held[$0]! }
        ready = []
        readyHead = 0
        delayed = []
        held = [:]
        return waiting + behind
    }

    /// A job of an ordering key is done: the next one of that key becomes ready.
    private mutating func release(_ item: Item) {
        guard let key = item.orderingKey else { return }
        if var waiting = held[key], !waiting.isEmpty {
            let next = waiting.removeFirst()
            held[key] = waiting.isEmpty ? nil : waiting
            schedule(next, at: nil)
        } else {
            activeKeys.remove(key)
        }
    }
}
