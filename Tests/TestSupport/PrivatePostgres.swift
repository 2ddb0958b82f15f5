import Foundation
import Logging
import PostgresNIO

/// The private PostgreSQL server `scripts/with-postgres` starts for the tests (`scripts/test` runs every test beside
/// one). A test that needs it and finds none fails, saying how to get one: it is never skipped.
public enum PrivatePostgres {
    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "MANIFOLD_TEST_POSTGRES is not set: these tests need a PostgreSQL server. Run them with scripts/test, or "
                + "`scripts/with-postgres swift test --skip-build`, which start a private one"
        }
    }

    /// The server's address (its `postgres` database).
    public static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["MANIFOLD_TEST_POSTGRES"], !url.isEmpty else { throw Missing() }
        return url
    }

    /// A new, empty database on the server; its address.
    public static func freshDatabase() async throws -> String {
        let base = try url()
        guard var components = URLComponents(string: base), let host = components.host else { throw Missing() }
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let configuration = PostgresConnection.Configuration(host: host, port: components.port ?? 5432, username: components.user ?? "manifold",
                                                             password: components.password, database: "postgres", tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Logger(label: "tests.postgres"))
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Logger(label: "tests.postgres"))
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        components.path = "/" + name
        return components.string!
    }
}
