import Foundation
import Logging
import ManifoldPostgres
import ManifoldSQLite
import ManifoldStore

/// The event store a command names with `--store`: a SQLite file (the embedded default, one engine), or a PostgreSQL
/// database, `postgres://user@host:port/database` (any number of engines; the password from the URL or PGPASSWORD).
enum StoreAccess {
    static let help = "The event store: a SQLite file, or a PostgreSQL database (postgres://user@host:port/database; "
        + "the password from PGPASSWORD)."

    /// Whether `address` names a PostgreSQL database rather than a file.
    static func isPostgres(_ address: String) -> Bool {
        address.hasPrefix("postgres://") || address.hasPrefix("postgresql://")
    }

    /// Opens the store. A SQLite file that does not exist is an error unless `create`; with `verify`, a damaged file
    /// is refused with how to recover. A PostgreSQL database is migrated on opening.
    static func open(_ address: String, create: Bool = false, verify: Bool = false) async throws -> any EngineStore {
        if isPostgres(address) {
            var logger = Logger(label: "manifold.store")
            logger.logLevel = .warning
            return try await PostgresStore.open(url: address, logger: logger)
        }
        return try SQLiteEventStore(path: address, create: create, verify: verify)
    }

    /// The store as messages name it: a file's path, or a database's host, port and name (never its password).
    static func describe(_ address: String) -> String {
        guard isPostgres(address) else { return address }
        guard let components = URLComponents(string: address), let host = components.host else { return "a PostgreSQL database" }
        let database = components.path.split(separator: "/").first.map(String.init) ?? components.user ?? "postgres"
        return "postgres://\(host):\(components.port ?? 5432)/\(database)"
    }
}
