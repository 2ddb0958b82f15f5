public import Foundation

/// The runtime's monotonic time, as a duration since an origin. The lanes' state machines take instants of it as
/// arguments, so tests drive them with explicit times; the runtime reads and sleeps on this clock.
public protocol RuntimeClock: Sendable {
    var now: Duration { get }
    func sleep(until deadline: Duration) async throws
    /// The wall-clock time: when an attempt started, how long a job has been retried (`max_elapsed`).
    var wall: Date { get }
}

extension RuntimeClock {
    public var wall: Date { Date() }
}

/// A seeded generator (SplitMix64) for jitter that repeats run after run, as a connector test needs.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
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
