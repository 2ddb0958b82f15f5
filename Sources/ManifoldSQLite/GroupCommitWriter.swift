import Foundation
import GRDB
public import ManifoldStore

/// Batches concurrent writes into one transaction, so that one fsync makes many of them durable.
///
/// Callers hand over a piece of work and wait. A dedicated thread takes everything waiting, runs it all in one
/// `BEGIN IMMEDIATE` transaction, commits (with `synchronous = FULL` the WAL is fsynced), and only then answers
/// every caller. If anything in the batch fails, the batch is rolled back and each piece runs again in its own
/// transaction, so that one failing write fails alone. While a commit is on disk the next batch gathers, so the
/// batch grows with the load: one caller gets the latency of one commit, many share it.
final class GroupCommitWriter: @unchecked Sendable {
    typealias Work = @Sendable (Database) throws -> any Sendable

    private struct Job {
        var work: Work
        var continuation: CheckedContinuation<any Sendable, any Error>
    }

    private let database: DatabasePool
    private let maximumBatch: Int
    /// Told after every commit (the background checkpointer).
    private let committed: @Sendable () -> Void
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var pending: [Job] = []
    private var stopping = false
    private var finished = false
    private var batches = 0
    private var written = 0

    init(database: DatabasePool, maximumBatch: Int = 1024, committed: @escaping @Sendable () -> Void = {}) {
        self.database = database
        self.maximumBatch = maximumBatch
        self.committed = committed
        let thread = Thread { [self] in
            // Named from inside: on Linux, Foundation names only the thread that sets its own name, and the kernel
            // keeps 15 characters. `top -H` and profiles show it.
            Thread.current.name = "store-writer"
            run()
        }
        thread.start()
    }

    /// Runs `work` in the next batch; returns once its transaction is durable.
    func write<Value: Sendable>(_ work: @escaping @Sendable (Database) throws -> Value) async throws -> Value {
        let value = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: StoreError("the event store is closed"))
                return
            }
            pending.append(Job(work: { try work($0) }, continuation: continuation))
            condition.signal()
            condition.unlock()
        }
        return value as! Value
    }

    /// Commits what is waiting, then stops the thread. Later writes fail.
    func close() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    /// Batches committed and writes in them so far.
    var statistics: (batches: Int, writes: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (batches, written)
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = Array(pending.prefix(maximumBatch))
            pending.removeFirst(batch.count)
            condition.unlock()
            commit(batch)
        }
    }

    private func commit(_ batch: [Job]) {
        var results: [Result<any Sendable, any Error>]
        do {
            // The fast path: the whole batch in one transaction, one fsync.
            results = try database.writeWithoutTransaction { db in
                var results: [Result<any Sendable, any Error>] = []
                results.reserveCapacity(batch.count)
                try db.inTransaction(.immediate) {
                    for job in batch { results.append(.success(try job.work(db))) }
                    return .commit
                }
                return results
            }
        } catch {
            // A piece of work failed (or the commit did): run each alone, so that one bad write fails only itself.
            results = batch.map { job in
                Result {
                    try database.writeWithoutTransaction { db in
                        var value: (any Sendable)?
                        try db.inTransaction(.immediate) {
                            value = try job.work(db)
                            return .commit
                        }
                        return value!
                    }
                }.mapError { error in
                    error is StoreError ? error : StoreError("the event store could not commit: \(error)")
                }
            }
        }
        condition.lock()
        batches += 1
        written += batch.count
        condition.unlock()
        committed()
        for (job, result) in zip(batch, results) {
            job.continuation.resume(with: result)
        }
    }
}
