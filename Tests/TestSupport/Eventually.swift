/// Waiting for something a test caused to happen: poll until it has, with a bound for a hang, not a window.
///
/// A test that waits "a second" for an answer fails on a busy machine; one that waits for the answer itself does not.
/// The bound (300 s by default) only ends a wait that would never end; the test's own expectation then says what was
/// missing.
public enum Eventually {
    /// How long a wait lasts at most.
    public static let bound: Duration = .seconds(300)

    /// Polls `condition` every `interval` until it holds or `bound` has passed; whether it held (asked once more at the
    /// end, so that a condition met during the last pause counts).
    @discardableResult
    public static func until(within bound: Duration = Eventually.bound, every interval: Duration = .milliseconds(10),
                             _ condition: () async throws -> Bool) async throws -> Bool
    {
        let deadline = ContinuousClock.now + bound
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: interval)
        }
        return try await condition()
    }
}
