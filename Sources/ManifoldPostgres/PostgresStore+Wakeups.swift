public import ManifoldStore
import PostgresNIO

extension PostgresStore: JobWakeups {
    /// `LISTEN manifold_jobs` on a connection of its own, kept while the store is open: each notification's payload
    /// is a lane. A connection lost is made again (after 0.1 s, doubling to 5 s); the engines' sweeps cover the gap.
    public func jobWakeups() -> AsyncStream<String> {
        AsyncStream { continuation in
            let listening = Task {
                var pause: Duration = .milliseconds(100)
                while !Task.isCancelled, !isClosed {
                    do {
                        try await client.withConnection { connection in
                            try await connection.listen(on: PostgresSchema.wakeupChannel) { notifications in
                                pause = .milliseconds(100)
                                for try await notification in notifications { continuation.yield(notification.payload) }
                            }
                        }
                    } catch {
                        if !isClosed { logger.warning("listening for new jobs failed; retrying", metadata: ["error": "\(describe(error))"]) }
                    }
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(5))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in listening.cancel() }
        }
    }
}
