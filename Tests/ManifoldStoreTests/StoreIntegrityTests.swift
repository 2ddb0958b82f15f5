import Foundation
import GRDB
import JSONValue
import ManifoldStore
import ManifoldSQLite
import Testing

/// A store file that is damaged, emptied, newer, or already in use is refused with what was found and what to do,
/// instead of an engine that reports ready and answers every webhook 503.
@Suite struct StoreIntegrityTests {
    /// A store with a few thousand events, its WAL folded into the file.
    static func filledStore() async throws -> String {
        let path = SQLiteEventStoreTests.temporaryPath()
        let store = try SQLiteEventStore(path: path)
        let body = String(repeating: "x", count: 500)
        for index in 0..<2000 {
            _ = try await store.append(SQLiteEventStoreTests.event("evt_\(index)", body: #"{"id":\#(index),"pad":"\#(body)"}"#))
        }
        store.close()
        try await DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return path
    }

    @Test func aStoreCutInHalfIsRefusedWithTheWayToRecover() async throws {
        let path = try await Self.filledStore()
        #expect(SQLiteEventStore.check(path: path).isSound)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()

        let check = SQLiteEventStore.check(path: path)
        #expect(!check.isSound)
        let error = try #require(throws: StoreError.self) { try SQLiteEventStore(path: path, verify: true) }
        #expect(error.description.contains("the event store \(path) is damaged"), "\(error)")
        #expect(error.description.contains(".recover"), "\(error)")
    }

    @Test func anEmptiedStoreIsNotReplacedByANewOne() throws {
        let path = SQLiteEventStoreTests.temporaryPath()
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let error = try #require(throws: StoreError.self) { try SQLiteEventStore(path: path, verify: true) }
        #expect(error.description.contains("is empty (0 bytes)"), "\(error)")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 0, "the file was left as it was")
    }

    @Test func aStoreOfANewerVersionIsRefused() async throws {
        let path = try await Self.filledStore()
        try await DatabaseQueue(path: path).write {
            try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9 from the future')")
        }
        let error = try #require(throws: StoreError.self) { try SQLiteEventStore(path: path, verify: true) }
        #expect(error.description.contains("written by a newer Manifold (schema 9 from the future)"), "\(error)")
    }

    @Test func aSecondEngineOnTheSameStoreIsRefused() throws {
        let path = SQLiteEventStoreTests.temporaryPath()
        var first: StoreLock? = try StoreLock(storePath: path)
        let error = try #require(throws: StoreError.self) { try StoreLock(storePath: path) }
        #expect(error.description.contains("another engine (pid \(getpid())) is running on the store \(path)"), "\(error)")
        first = nil
        #expect(first == nil)
        #expect(throws: Never.self) { _ = try StoreLock(storePath: path) }
    }
}
