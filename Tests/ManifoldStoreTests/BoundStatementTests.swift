import Foundation
import GRDB
@testable import ManifoldSQLite
import Testing

/// The writer's statements bind their values straight to SQLite: what they store must be what GRDB's own binding
/// stores, and a failure must fail the statement, not the next one.
@Suite struct BoundStatementTests {
    static let create = "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB NOT NULL, c INTEGER, d TEXT)"
    static let insert = "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)"

    static func rows(_ db: Database) throws -> [[DatabaseValue]] {
        try Row.fetchAll(db, sql: "SELECT a, b, c, d, typeof(a), typeof(b), typeof(c), typeof(d) FROM t ORDER BY id").map { row in
            (0..<8).map { row[$0] as DatabaseValue }
        }
    }

    @Test func valuesAreStoredAsGRDBStoresThem() throws {
        let texts: [String?] = ["", "plain", "é and \u{1F600}", "a\u{0}b", String(repeating: "x", count: 100_000), nil,
                                NSString(string: "bridged ü").description]
        let blobs: [[UInt8]] = [[], [0], Array("body".utf8), (0..<70_000).map { UInt8(truncatingIfNeeded: $0) }]
        let numbers: [Int64?] = [0, -1, .min, .max, nil]
        var cases: [(String?, [UInt8], Int64?, String?)] = []
        for (index, text) in texts.enumerated() {
            for (position, blob) in blobs.enumerated() {
                cases.append((text, blob, numbers[(index + position) % numbers.count], texts[(index * 3 + position) % texts.count]))
            }
        }
        let bound = try DatabaseQueue()
        let grdb = try DatabaseQueue()
        try bound.write { db in
            try db.execute(sql: Self.create)
            let statement = try db.makeStatement(sql: Self.insert)
            for (a, b, c, d) in cases { try statement.run(.text(a), .blob(b), .integer(c), .text(d)) }
        }
        try grdb.write { db in
            try db.execute(sql: Self.create)
            for (a, b, c, d) in cases { try db.execute(sql: Self.insert, arguments: [a, Data(b), c, d]) }
        }
        let stored = try bound.read(Self.rows)
        #expect(stored.count == cases.count)
        #expect(stored == (try grdb.read(Self.rows)))
        // An empty text is text and an empty body a blob: neither is NULL.
        #expect(stored.first?[4] == "text".databaseValue && stored.first?[5] == "blob".databaseValue)
    }

    @Test func aFailureIsThrownWithItsCauseAndTheStatementRunsAgain() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: Self.create)
            let statement = try db.makeStatement(sql: Self.insert)
            try statement.run(.text("first"), .blob([1]), .integer(1), .null)
            do {
                try statement.run(.text("no body"), .null, .integer(2), .null)
                Issue.record("a NULL body was stored")
            } catch let error as DatabaseError {
                #expect(error.resultCode == .SQLITE_CONSTRAINT)
                #expect(error.message?.contains("t.b") == true, "\(error)")
                #expect(error.sql == Self.insert)
            }
            #expect(throws: DatabaseError.self) { try statement.run(.text("too few"), .blob([1])) }
            try statement.run(.text("after"), .blob([2]), .integer(3), .null)
        }
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT a FROM t ORDER BY id") } == ["first", "after"])
    }

    @Test func aQueryGivesItsFirstRowByPositionOrNothing() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: Self.create)
            let insert = try db.makeStatement(sql: Self.insert)
            for (a, c, d) in [("é \u{0} 中文", Int64.min, nil), ("", 7, "seven"), ("third", 9, "")] as [(String, Int64, String?)] {
                try insert.run(.text(a), .blob([1]), .integer(c), .text(d))
            }
            let query = try db.makeStatement(sql: "SELECT a, c, d FROM t WHERE c >= ? ORDER BY id")
            let read = { (row: BoundRow) in (row.text(0), row.integer(1), row.text(2), row.isNull(2)) }
            let first = try query.first(.integer(Int64.min), read: read)
            #expect(first?.0 == "é \u{0} 中文" && first?.1 == .min && first?.2 == nil && first?.3 == true)
            let second = try query.first(.integer(0), read: read)
            #expect(second?.0 == "" && second?.1 == 7 && second?.2 == "seven" && second?.3 == false)
            #expect(try query.first(.integer(10), read: read) == nil)
        }
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 3)
    }

    /// Outside a transaction it refuses: after an error that ended the writer's transaction, running would commit the
    /// row alone, where the batch it belongs to is rolled back.
    @Test func itRunsOnlyInsideATransaction() throws {
        let queue = try DatabaseQueue()
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: Self.create)
            let statement = try db.makeStatement(sql: Self.insert)
            #expect(throws: DatabaseError.self) { try statement.run(.text("alone"), .blob([1]), .null, .null) }
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM t") == 0)
            try db.inTransaction {
                try statement.run(.text("inside"), .blob([1]), .null, .null)
                return .rollback
            }
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM t") == 0)
        }
    }
}
