public import Foundation
import GRDB
public import ManifoldStore
public import JSONValue

/// Reads rows of another SQLite database (a pull's `source.sql`), read-only: each row an object of its columns.
public enum SQLiteTableReader {
    /// Runs `query` with `:cursor` and `:limit` bound, and returns the rows: integers and reals as numbers, text as
    /// text, blobs as base64 text, NULL as null. A database that cannot be opened, or a query that fails, throws
    /// with SQLite's reason.
    public static func rows(path: String, query: String, cursor: JSON?, limit: Int) throws -> [JSON] {
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError("there is no database at \(path)") }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                let statement = try db.makeStatement(sql: query)
                var arguments: [String: (any DatabaseValueConvertible)?] = [:]
                if query.contains(":cursor") { arguments["cursor"] = databaseValue(cursor) }
                if query.contains(":limit") { arguments["limit"] = limit }
                statement.arguments = StatementArguments(arguments)
                return try Row.fetchAll(statement).map { row in
                    .object(JSONObject(row.columnNames.map { name in (name, json(row[name] as DatabaseValue)) }))
                }
            }
        } catch let error as DatabaseError {
            throw StoreError("\(path): \(error.message ?? "\(error)")")
        }
    }

    static func databaseValue(_ value: JSON?) -> (any DatabaseValueConvertible)? {
        switch value {
        case .number(let number)?: number == number.rounded() && abs(number) < 9e15 ? Int64(number) : number
        case .string(let text)?: text
        case .bool(let flag)?: flag
        default: nil
        }
    }

    static func json(_ value: DatabaseValue) -> JSON {
        switch value.storage {
        case .null: .null
        case .int64(let integer): .number(Double(integer))
        case .double(let real): .number(real)
        case .string(let text): .string(text)
        case .blob(let data): .string(data.base64EncodedString())
        }
    }
}

extension SQLiteTableReader {
    /// Makes (or opens) the database at `path` and runs `statements` in one transaction: a test's table.
    public static func prepare(path: String, statements: [String]) throws {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        try queue.write { db in
            for statement in statements { try db.execute(sql: statement) }
        }
    }
}
