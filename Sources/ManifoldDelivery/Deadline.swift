public import NIOCore

/// Bounds an operation in time with a timer on an event loop. A `Task.sleep` raced against every request would
/// do the same, but each sleep keeps its task and a dispatch timer alive until its deadline even when cancelled:
/// at 12,000 requests a second with a 30-second bound, 300 MB of timers. An event loop's scheduled task is
/// removed when cancelled.
public enum Deadline {
    /// `operation`'s result, or `nil` when `timeout` passes first (the operation is then cancelled).
    public static func run<Value: Sendable>(within timeout: Duration, on eventLoop: any EventLoop,
                                            _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value?
    {
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let timer = eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {}
        return try await withThrowingTaskGroup(of: Outcome<Value>.self) { group in
            group.addTask { .finished(try await operation()) }
            group.addTask {
                // Ends when the timer fires, or at once when it is cancelled because the operation finished.
                do { try await timer.futureResult.get() } catch { return .cancelled }
                return .expired
            }
            defer {
                timer.cancel()
                group.cancelAll()
            }
            while let outcome = try await group.next() {
                switch outcome {
                case .finished(let value): return value
                case .expired: return nil
                case .cancelled: continue
                }
            }
            return nil
        }
    }

    private enum Outcome<Value: Sendable>: Sendable {
        case finished(Value)
        case expired
        case cancelled
    }
}
