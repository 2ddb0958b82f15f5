/// A target's circuit breaker: closed → open after `threshold` consecutive failures → half-open after `openFor`,
/// where one probe call decides: success closes it, failure opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Duration)
        /// Waiting for its probe: `probing` once the probe call has started.
        case halfOpen(probing: Bool)

        public var name: String {
            switch self {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half_open"
            }
        }
    }

    /// What the breaker allows now.
    public enum Permit: Sendable, Equatable {
        case call
        /// One call, the probe.
        case probe
        /// Nothing until this time (open), or until the probe's result (`nil`).
        case wait(until: Duration?)
    }

    public let threshold: Int
    public let openFor: Duration
    public private(set) var state: State = .closed(failures: 0)

    public init(threshold: Int, openFor: Duration) {
        self.threshold = max(1, threshold)
        self.openFor = openFor
    }

    /// Whether a call may start at `now`; an open breaker whose time is up becomes half-open.
    public mutating func permit(at now: Duration) -> Permit {
        switch state {
        case .closed:
            return .call
        case .open(let until):
            guard now >= until else { return .wait(until: until) }
            state = .halfOpen(probing: false)
            return .probe
        case .halfOpen(let probing):
            return probing ? .wait(until: nil) : .probe
        }
    }

    /// A call started after `permit` said `.probe`.
    public mutating func probeStarted() {
        if case .halfOpen = state { state = .halfOpen(probing: true) }
    }

    /// A call succeeded. While open, it is a call that started before the breaker opened: the probe decides.
    public mutating func recordSuccess() {
        if case .open = state { return }
        state = .closed(failures: 0)
    }

    /// A call failed (transiently) at `now`.
    public mutating func recordFailure(at now: Duration) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= threshold ? .open(until: now + openFor) : .closed(failures: failures + 1)
        case .halfOpen:
            state = .open(until: now + openFor)
        case .open:
            break
        }
    }
}
