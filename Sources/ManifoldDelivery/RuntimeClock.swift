import Synchronization

/// The runtime's monotonic time, as a duration since an origin: injected so that lanes, limiters and breakers can
/// be driven by a manual clock in tests.
public protocol RuntimeClock: Sendable {
    var now: Duration { get }
    func sleep(until deadline: Duration) async throws
}

/// The system's continuous clock.
public struct SystemRuntimeClock: RuntimeClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: Duration { origin.duration(to: .now) }

    public func sleep(until deadline: Duration) async throws {
        try await Task.sleep(until: origin + deadline, clock: .continuous)
    }
}

/// A clock that moves only when told: `advance(by:)` wakes the sleepers whose deadline has come.
public final class ManualRuntimeClock: RuntimeClock {
    private struct State {
        var now: Duration = .zero
        var sleepers: [(deadline: Duration, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var now: Duration { state.withLock { $0.now } }

    public func sleep(until deadline: Duration) async throws {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state in
                if deadline <= state.now { return true }
                state.sleepers.append((deadline, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let due = state.withLock { state in
            state.now += duration
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// How many tasks are sleeping on the clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }
}
