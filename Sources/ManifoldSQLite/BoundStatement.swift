import GRDB
import GRDBSQLite

/// One value for a statement's parameter, bound straight to SQLite.
enum SQLArgument {
    case text(String)
    case integer(Int64)
    case blob([UInt8])
    case null

    static func text(_ text: String?) -> SQLArgument { text.map(SQLArgument.text) ?? .null }
    static func integer(_ number: Int64?) -> SQLArgument { number.map(SQLArgument.integer) ?? .null }
}

extension Statement {
    /// Runs this statement (an INSERT or UPDATE on the writer's path: every event, its history, its jobs) with
    /// `arguments` bound straight to SQLite.
    ///
    /// `execute(arguments:)` boxes every argument as an existential, converts each to a `DatabaseValue`, checks their
    /// count and nests a closure per argument: about a tenth of the store writer's time for an event, on the one thread
    /// that every event waits for. This binds each value once (SQLite copies it), steps, and resets.
    ///
    /// It runs only inside a transaction, as every piece of the writer's work does: GRDB refuses a statement after an
    /// error that ended the transaction, and this would otherwise commit alone what should have been rolled back with
    /// the batch. An error carries SQLite's code and message, and the statement's text (never its values).
    func run(_ arguments: SQLArgument...) throws {
        let statement = sqliteStatement
        defer { sqlite3_reset(statement) }
        try bind(arguments)
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_DONE: return
            case SQLITE_ROW: continue
            case let code: throw failure(code)
            }
        }
    }

    /// Runs this query with `arguments` bound straight to SQLite (as `run` does, inside a transaction only) and gives its
    /// first row to `read`, or `nil` when it has none; the query is reset before this returns.
    func first<Value>(_ arguments: SQLArgument..., read: (BoundRow) throws -> Value) throws -> Value? {
        let statement = sqliteStatement
        defer { sqlite3_reset(statement) }
        try bind(arguments)
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return try read(BoundRow(statement: statement))
        case SQLITE_DONE: return nil
        case let code: throw failure(code)
        }
    }

    private func bind(_ arguments: [SQLArgument]) throws {
        let statement = sqliteStatement
        guard sqlite3_get_autocommit(sqlite3_db_handle(statement)) == 0 else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a bound statement runs only inside a transaction", sql: sql)
        }
        guard arguments.count == Int(sqlite3_bind_parameter_count(statement)) else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE,
                                message: "\(arguments.count) arguments for \(sqlite3_bind_parameter_count(statement)) parameters", sql: sql)
        }
        sqlite3_reset(statement)
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch argument {
            case .null:
                code = sqlite3_bind_null(statement, index)
            case .integer(let number):
                code = sqlite3_bind_int64(statement, index, number)
            case .text(var text):
                code = text.withUTF8 { bytes in
                    // An empty buffer may have no address, and SQLite reads a null pointer as NULL, not "".
                    bytes.isEmpty
                        ? sqlite3_bind_text(statement, index, "", 0, SQLITE_TRANSIENT)
                        : sqlite3_bind_text(statement, index, bytes.baseAddress, Int32(bytes.count), SQLITE_TRANSIENT)
                }
            case .blob(let bytes):
                code = bytes.isEmpty
                    ? sqlite3_bind_zeroblob(statement, index, 0)
                    : bytes.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            }
            guard code == SQLITE_OK else { throw failure(code) }
        }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        let connection = sqlite3_db_handle(sqliteStatement)
        let extended = connection.map { sqlite3_extended_errcode($0) } ?? code
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: extended), message: message, sql: sql)
    }
}

/// The row a `first` query stands on, read by column position (from 0), valid only inside its `read`.
struct BoundRow {
    fileprivate let statement: OpaquePointer

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    /// The column's text, or `nil` when it is NULL.
    func text(_ column: Int32) -> String? {
        guard !isNull(column), let bytes = sqlite3_column_text(statement, column) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self)
    }
}

/// SQLite copies a value bound with this destructor before the bind returns.
private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
