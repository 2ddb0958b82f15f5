/// The runtime's monotonic time, as a duration since an origin. The lanes' state machines take instants of it as
/// arguments, so tests drive them with explicit times; the runtime reads and sleeps on this clock.
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
