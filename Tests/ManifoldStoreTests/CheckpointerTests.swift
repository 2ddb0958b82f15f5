import Foundation
import GRDB
@testable import ManifoldSQLite
import TestSupport
import Testing

/// The store's log is copied into its database file by a checkpointer of its own, after commits, at most every interval.
@Suite struct CheckpointerTests {
    @Test func theScheduleCheckpointsAfterCommitsAtMostEveryInterval() {
        let ms = { (value: Int) in Duration.milliseconds(value) }
        var schedule = CheckpointSchedule(interval: ms(20), now: .zero)
        #expect(schedule.next(at: ms(500)) == .wait(until: nil), "nothing committed: nothing to copy")

        schedule.committed()
        #expect(schedule.next(at: ms(5)) == .wait(until: ms(20)), "not before the interval since the last one")
        #expect(schedule.next(at: ms(20)) == .checkpoint)
        #expect(schedule.next(at: ms(21)) == .wait(until: nil), "one checkpoint at a time")

        // A commit while it runs is copied by the next one, an interval after this one started.
        schedule.committed()
        schedule.checkpointed()
        #expect(schedule.state == .dirty(last: ms(20)))
        #expect(schedule.next(at: ms(30)) == .wait(until: ms(40)))
        #expect(schedule.next(at: ms(41)) == .checkpoint)
        schedule.checkpointed()
        #expect(schedule.next(at: ms(100)) == .wait(until: nil))

        // Long after the last one, a commit is copied at once; several commits, once.
        schedule.committed()
        schedule.committed()
        #expect(schedule.next(at: ms(5_000)) == .checkpoint)
        schedule.checkpointed()
        #expect(schedule.next(at: ms(5_001)) == .wait(until: nil))

        schedule.committed()
        schedule.stop()
        #expect(schedule.next(at: ms(10_000)) == .finish)
        schedule.committed()
        schedule.checkpointed()
        #expect(schedule.next(at: ms(20_000)) == .finish)
    }

    /// A few events are far fewer pages than the writer checkpoints by itself: only the store's checkpointer copies
    /// them into the database file. Read alone (a copy without its log), the file holds them.
    @Test func theDatabaseFileHoldsWhatWasCommittedWithoutTheWriterCopyingIt() async throws {
        let path = SQLiteEventStoreTests.temporaryPath()
        let store = try SQLiteEventStore(path: path, checkpointInterval: .milliseconds(20))
        defer { store.close() }
        for index in 0..<50 {
            _ = try await store.append(SQLiteEventStoreTests.event("evt_\(index)"))
        }
        let copy = SQLiteEventStoreTests.temporaryPath()
        var inFile = 0
        try await Eventually.until(every: .milliseconds(20)) {
            // A copy made while a checkpoint writes may be torn: read again.
            try? FileManager.default.removeItem(atPath: copy)
            guard (try? FileManager.default.copyItem(atPath: path, toPath: copy)) != nil else { return false }
            inFile = (try? await DatabaseQueue(path: copy).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") ?? 0 }) ?? 0
            return inFile == 50
        }
        #expect(inFile == 50, "the database file alone holds \(inFile) of the 50 events committed")
        #expect(store.checkpointCount >= 1)
        #expect(try await store.count() == 50)
    }

    /// A closed store is one file: its log is copied into the database and removed, and the file alone, opened again,
    /// holds everything. A store another process still has open keeps its log until that one closes too.
    @Test func aClosedStoreLeavesNoLogBehind() async throws {
        let path = SQLiteEventStoreTests.temporaryPath()
        // A checkpointer that never runs in the test's time: only closing can copy the log.
        let store = try SQLiteEventStore(path: path, checkpointInterval: .seconds(3_600))
        for index in 0..<40 {
            _ = try await store.append(SQLiteEventStoreTests.event("evt_\(index)"))
        }
        let log = path + "-wal"
        #expect(try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int ?? 0 > 0, "the events are in the log")
        store.close()
        #expect(!FileManager.default.fileExists(atPath: log), "the log is left beside the closed store")
        #expect(!FileManager.default.fileExists(atPath: path + "-shm"))
        let copy = SQLiteEventStoreTests.temporaryPath()
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let inFile = try await DatabaseQueue(path: copy).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") }
        #expect(inFile == 40, "the database file alone holds \(inFile ?? 0) of the 40 events")

        // Another connection open on the store (the CLI, a backup) keeps the log; nothing is lost either way.
        let again = try SQLiteEventStore(path: path, checkpointInterval: .seconds(3_600))
        let other = try DatabaseQueue(path: path)
        _ = try await again.append(SQLiteEventStoreTests.event("evt_late"))
        again.close()
        #expect(try await other.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") } == 41)
        try other.close()
        #expect(!FileManager.default.fileExists(atPath: log), "the last connection to close removes the log")
        await #expect(throws: (any Error).self, "reads after close fail") { try await store.count() }
    }
}
