import Foundation
import GRDB

/// When the background checkpointer copies the write-ahead log into the database file: once something was committed
/// since it last did, and at most every `interval`. Commits made while a checkpoint runs are copied by the next one.
/// A state machine on given instants, tested without a clock.
struct CheckpointSchedule: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// Nothing committed since the checkpoint that started at `last`.
        case clean(last: Duration)
        /// Committed since the checkpoint that started at `last`.
        case dirty(last: Duration)
        /// A checkpoint started at `started` is running; `committedSince` when something was committed after it started.
        case checkpointing(started: Duration, committedSince: Bool)
        case stopped
    }

    enum Action: Sendable, Equatable {
        case checkpoint
        /// Nothing to do before `until`, or (`nil`) before the next commit.
        case wait(until: Duration?)
        case finish
    }

    let interval: Duration
    private(set) var state: State

    init(interval: Duration, now: Duration) {
        self.interval = interval
        state = .clean(last: now)
    }

    /// A transaction was committed.
    mutating func committed() {
        switch state {
        case .clean(let last): state = .dirty(last: last)
        case .checkpointing(let started, _): state = .checkpointing(started: started, committedSince: true)
        case .dirty, .stopped: break
        }
    }

    /// What to do at `now`; `.checkpoint` starts one, which `checkpointed()` ends.
    mutating func next(at now: Duration) -> Action {
        switch state {
        case .stopped: return .finish
        case .clean, .checkpointing: return .wait(until: nil)
        case .dirty(let last):
            guard now >= last + interval else { return .wait(until: last + interval) }
            state = .checkpointing(started: now, committedSince: false)
            return .checkpoint
        }
    }

    /// The checkpoint that `next` started has ended (copied or not: the next one copies what it left).
    mutating func checkpointed() {
        guard case .checkpointing(let started, let committedSince) = state else { return }
        state = committedSince ? .dirty(last: started) : .clean(last: started)
    }

    mutating func stop() {
        state = .stopped
    }
}

/// Copies the write-ahead log into the database file on a thread of its own (`PRAGMA wal_checkpoint(PASSIVE)` from a
/// connection of its own), so that the store's writer does not. SQLite's automatic checkpoint runs in the connection
/// that commits, after its commit, every 1,000 pages of log: the writer copied and fsynced up to 4 MB while every
/// caller of the next batch waited, a quarter of the webhook rate on a disk that is not fast. A passive checkpoint
/// takes no lock the writer needs, so it runs while the writer commits. The writer's own automatic checkpoint stays
/// as the bound on the log's size (`writerCheckpointPages`): by then most of the log is copied already.
final class Checkpointer: @unchecked Sendable {
    /// The writer checkpoints by itself when the log reaches this many pages (40 MB of 4 KB pages).
    static let writerCheckpointPages = 10_000

    private let connection: DatabaseQueue
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var schedule: CheckpointSchedule
    private var finished = false
    private var checkpoints = 0

    init(path: String, interval: Duration) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "manifold-store-checkpointer"
        connection = try DatabaseQueue(path: path, configuration: configuration)
        start = clock.now
        schedule = CheckpointSchedule(interval: interval, now: .zero)
        let thread = Thread { [self] in
            // Named from inside: on Linux, Foundation names only the thread that sets its own name, and the kernel
            // keeps 15 characters. `top -H` and profiles show it.
            Thread.current.name = "store-checkpt"
            run()
        }
        thread.start()
    }

    /// A transaction was committed: its pages are copied within the interval.
    func committed() {
        condition.lock()
        schedule.committed()
        condition.signal()
        condition.unlock()
    }

    /// Checkpoints run so far.
    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return checkpoints
    }

    /// Stops the thread, after the checkpoint running (if one is) ends.
    func stop() {
        condition.lock()
        schedule.stop()
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    /// Closes the connection, after `stop`. When it is the last one open on the store, SQLite copies what is left
    /// of the log into the database file and removes the log.
    func close() {
        try? connection.close()
    }

    private var now: Duration { clock.now - start }

    private func run() {
        condition.lock()
        while true {
            switch schedule.next(at: now) {
            case .finish:
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            case .wait(nil):
                condition.wait()
            case .wait(let until?):
                let remaining = (until - now).components
                let seconds = Double(remaining.seconds) + Double(remaining.attoseconds) / 1e18
                _ = condition.wait(until: Date(timeIntervalSinceNow: max(seconds, 0)))
            case .checkpoint:
                condition.unlock()
                // A checkpoint that fails (the disk, a reader holding the log) leaves the log for the next one or for
                // the writer's own; nothing committed depends on it.
                _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                condition.lock()
                schedule.checkpointed()
                checkpoints += 1
            }
        }
    }
}
