public import Foundation
public import JSONValue
public import Logging
public import ManifoldStore
import PostgresNIO
import Synchronization

/// The store on PostgreSQL, shared by any number of engines (`manifold run --store postgres://…`).
///
/// The same contract as the embedded SQLite store (the conformance suite runs on both), with what several engines
/// on one database need: appends de-duplicated by a unique key whichever engine receives the repeat, claims that
/// lock with `FOR UPDATE SKIP LOCKED` (two engines never take the same job) and raise the job's fencing token,
/// and outcomes refused unless they carry the holder's token.
///
/// Events, their history and the attempts are partitioned by day (of the event's arrival), so that retention drops
/// whole partitions instead of deleting rows; each engine creates the next days' partitions ahead of time.
public final class PostgresStore: EventStore {
    /// Where the store is, without credentials: `host:port/database`.
    public let address: String
    let client: PostgresClient
    /// Connections of their own for the engine's and the lanes' leases: a renewal never waits behind the appends and
    /// claims that hold every connection of `client` (it would, under load, and the lease would run out under a
    /// live engine).
    let leaseClient: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    private let closed = Atomic<Bool>(false)
    /// Calls under way (connections leased), so that closing waits for them.
    private let underWay = Counter()
    /// The end (ms since 1970) of the last day whose partitions exist.
    private let partitionsUntil = Atomic<Int64>(0)

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with `?sslmode=disable`,
    /// `prefer` (the default) or `require`), migrates its schema and creates the partitions of the coming days.
    /// Throws, saying where and why, when the database cannot be reached or was migrated by a newer Manifold.
    public static func open(url: String, connections: Int = 20, logger: Logger = Logger(label: "manifold.postgres")) async throws
        -> PostgresStore
    {
        let target = try PostgresAddress(url: url)
        // One connection first, made directly: a database that cannot be reached or refuses is said at once, in
        // PostgreSQL's words (a pool retries for a minute before it gives up, and then says less); the schema is
        // migrated on it.
        var quiet = logger
        quiet.logLevel = .error
        do {
            let connection = try await PostgresConnection.connect(configuration: try target.connectionConfiguration(), id: 0, logger: quiet)
            do {
                try await migrate(connection, address: target.description, logger: quiet)
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw describe(error, address: target.description)
        }
        var configuration = PostgresClient.Configuration(host: target.host, port: target.port, username: target.user,
                                                         password: target.password, database: target.database, tls: target.tls)
        configuration.options.maximumConnections = connections
        configuration.options.connectTimeout = .seconds(10)
        var leaseConfiguration = configuration
        leaseConfiguration.options.maximumConnections = 2
        let store = PostgresStore(client: PostgresClient(configuration: configuration, backgroundLogger: quiet),
                                  leaseClient: PostgresClient(configuration: leaseConfiguration, backgroundLogger: quiet),
                                  address: target.description, logger: quiet)
        do {
            try await store.preparePartitions(now: Date())
        } catch {
            store.close()
            throw error
        }
        return store
    }

    private init(client: PostgresClient, leaseClient: PostgresClient, address: String, logger: Logger) {
        self.client = client
        self.leaseClient = leaseClient
        self.address = address
        self.logger = logger
        runner = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                group.addTask { await leaseClient.run() }
            }
        }
    }

    /// Later calls fail at once; the connection pool stops once the calls under way have finished (at most 10 s
    /// later): stopped under them, a call could wait for an answer that never comes.
    public func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        let (runner, underWay) = (runner, underWay)
        Task {
            let deadline = ContinuousClock.now + .seconds(10)
            while underWay.current > 0, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
            runner.cancel()
        }
    }

    // MARK: Running statements

    /// Runs `body` on one connection, outside a transaction; `leases`: on the connections kept for leases.
    func connection<Result: Sendable>(leases: Bool = false, _ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try ensureOpen()
        underWay.add(1)
        defer { underWay.subtract(1) }
        do {
            return try await (leases ? leaseClient : client).withConnection { try await body($0) }
        } catch {
            throw describe(error)
        }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws; `leases`: on the
    /// connections kept for leases.
    func transaction<Result: Sendable>(leases: Bool = false, _ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try ensureOpen()
        underWay.add(1)
        defer { underWay.subtract(1) }
        do {
            return try await (leases ? leaseClient : client).withTransaction(logger: logger) { try await body($0) }
        } catch {
            throw describe(error)
        }
    }

    /// Whether `close` was called.
    var isClosed: Bool { closed.load(ordering: .relaxed) }

    private func ensureOpen() throws {
        if closed.load(ordering: .relaxed) { throw StoreError("the PostgreSQL store (\(address)) is closed") }
    }

    func describe(_ error: any Error) -> any Error {
        Self.describe(error, address: address)
    }

    /// A store error saying what PostgreSQL said, never the credentials (PostgresNIO's own description hides all).
    static func describe(_ error: any Error, address: String) -> any Error {
        if let error = error as? StoreError { return error }
        if let transaction = error as? PostgresTransactionError {
            return describe(transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? transaction.rollbackError
                            ?? StoreError("a transaction failed"), address: address)
        }
        guard let error = error as? PSQLError else { return StoreError("PostgreSQL (\(address)): \(error)") }
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState].map { " [\($0)]" } ?? ""
            let detail = error.serverInfo?[.detail].map { ": \($0)" } ?? ""
            return StoreError("PostgreSQL (\(address)) refused: \(message)\(detail)\(state)")
        }
        let cause = error.underlying.map { ": \($0)" } ?? ""
        return StoreError("cannot use PostgreSQL at \(address) (\(error.code))\(cause)")
    }

    // MARK: Schema

    /// Versioned migrations, each run once, in order, by one engine at a time (an advisory lock), recorded in
    /// `manifold_migrations`.
    static let migrations: [(version: Int, name: String, sql: String)] = [
        (1, "events, jobs, endpoints, pulls and rollouts", PostgresSchema.initial),
        (2, "lane leases", "CREATE TABLE lane_leases (lane text PRIMARY KEY, owner text, token bigint NOT NULL, until bigint NOT NULL);"),
        (3, "engines", "CREATE TABLE engines (owner text PRIMARY KEY, info text NOT NULL, recorded_at bigint NOT NULL);"),
        (4, "pruning", PostgresSchema.pruning),
        (5, "pending jobs by ordering key", """
            CREATE INDEX jobs_pending_by_key ON jobs (lane, ordering_key, seq) WHERE state = 'pending' AND ordering_key IS NOT NULL;
            """),
        (6, "claims held until their lease's end", "ALTER TABLE jobs ADD COLUMN claimed_until bigint;"),
    ]

    static func migrate(_ connection: PostgresConnection, address: String, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS manifold_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)
                """, logger: logger)
            let applied = try await connection.query("SELECT coalesce(max(version), 0) FROM manifold_migrations", logger: logger)
                .collect().first?.decode(Int.self) ?? 0
            let known = Self.migrations.last?.version ?? 0
            if applied > known {
                throw StoreError("the PostgreSQL store at \(address) was migrated by a newer Manifold (schema version \(applied), "
                                 + "this one knows \(known)); run that version, or restore a backup made before it ran")
            }
            for migration in Self.migrations where migration.version > applied {
                for statement in PostgresSchema.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("""
                    INSERT INTO manifold_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), \(Self.milliseconds(Date())))
                    """, logger: logger)
            }
        }
    }

    /// The migrations the database records, in order.
    public func appliedMigrations() async throws -> [String] {
        try await connection { connection in
            try await connection.query("SELECT name FROM manifold_migrations ORDER BY version", logger: self.logger).collect()
                .map { try $0.decode(String.self) }
        }
    }

    /// Creates the partitions of yesterday, today and the next two days, once a day at most per engine (cheap to
    /// call often). Partitions are created ahead of the rows that go in them: a row that arrives outside them still
    /// goes into the default partition and is kept.
    func preparePartitions(now: Date) async throws {
        let today = Self.milliseconds(now) / PostgresSchema.day * PostgresSchema.day
        guard partitionsUntil.load(ordering: .relaxed) < today + 2 * PostgresSchema.day else { return }
        let days = (-1...2).map { today + Int64($0) * PostgresSchema.day }
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.partitionLock))", logger: self.logger)
            for day in days {
                for table in PostgresSchema.partitionedTables {
                    let name = PostgresSchema.partitionName(table, day: day)
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        CREATE TABLE IF NOT EXISTS \(name) PARTITION OF \(table) FOR VALUES FROM (\(day)) TO (\(day + PostgresSchema.day))
                        """), logger: self.logger)
                }
            }
        }
        partitionsUntil.store(days.last! + PostgresSchema.day, ordering: .relaxed)
    }

    // MARK: Events

    public func append(_ event: NewEvent) async throws -> AppendOutcome {
        let id = EventIdentifier.make(at: event.receivedAt)
        return try await transaction { try await self.insert($0, event, id: id) }
    }

    public func append(all events: [NewEvent]) async throws -> [AppendOutcome] {
        guard !events.isEmpty else { return [] }
        let ids = events.map { EventIdentifier.make(at: $0.receivedAt) }
        return try await transaction { connection in
            var outcomes: [AppendOutcome] = []
            for (event, id) in zip(events, ids) { outcomes.append(try await self.insert(connection, event, id: id)) }
            return outcomes
        }
    }

    /// Inserts `event` (with its first status and its jobs), or records it as a repeat of the one stored: the key
    /// (connector, event id) is taken first, so that of two engines receiving the same event at once, the second
    /// waits for the first's commit and finds the event there.
    func insert(_ connection: PostgresConnection, _ event: NewEvent, id: String) async throws -> AppendOutcome {
        let at = Self.milliseconds(event.receivedAt)
        let taken = try await connection.query("""
            INSERT INTO event_keys (connector, event_id, id, received_at) VALUES (\(event.connector), \(event.eventID), \(id), \(at))
            ON CONFLICT (connector, event_id) DO NOTHING RETURNING id
            """, logger: logger).collect()
        if !taken.isEmpty {
            try await connection.query("""
                INSERT INTO events (id, connector, event_id, event_type, plan_version, received_at, content_type, headers, body, remote_address)
                VALUES (\(id), \(event.connector), \(event.eventID), \(event.eventType), \(event.planVersion), \(at), \(event.contentType),
                        \(StoredText.headers(event.headers)), \(Data(event.body)), \(event.remoteAddress))
                """, logger: logger)
            try await insertHistory(connection, event: id, eventAt: at, at: at, status: event.status, detail: event.detail)
            if let jobs = event.jobs {
                try await insertJobs(connection, jobs, event: id, eventAt: at, connector: event.connector, at: at, owner: event.lease?.owner)
                try await insertHistory(connection, event: id, eventAt: at, at: at, status: jobs.isEmpty ? .skipped : .routed,
                                        detail: StoredText.routedDetail(jobs))
            }
            return .stored(id: id)
        }
        let rows = try await connection.query("""
            SELECT k.id, k.received_at, e.body FROM event_keys k
            LEFT JOIN events e ON e.id = k.id AND e.received_at = k.received_at
            WHERE k.connector = \(event.connector) AND k.event_id = \(event.eventID)
            """, logger: logger).collect()
        guard let row = rows.first?.makeRandomAccess() else { throw StoreError("the event \(event.eventID) vanished while it was appended") }
        let original = try row["id"].decode(String.self)
        guard event.recordsDuplicate else { return .duplicate(of: original) }
        let body = try row["body"].decode(Data?.self)
        let note = JSON.object(JSONObject([("same_body", .bool(body == Data(event.body))),
                                           ("remote_address", event.remoteAddress.map(JSON.string) ?? .null)]))
        try await insertHistory(connection, event: original, eventAt: try row["received_at"].decode(Int64.self), at: at,
                                status: .duplicate, detail: note)
        return .duplicate(of: original)
    }

    func insertHistory(_ connection: PostgresConnection, event: String, eventAt: Int64, at: Int64, status: EventStatus,
                       detail: JSON?) async throws
    {
        let text: String? = detail?.serialized()
        try await connection.query("""
            INSERT INTO event_history (event, event_at, at, status, detail) VALUES (\(event), \(eventAt), \(at), \(status.rawValue), \(text))
            """, logger: logger)
    }

    public func recordStatus(_ status: EventStatus, of id: String, detail: JSON?) async throws {
        let at = Self.milliseconds(Date())
        try await transaction { connection in
            guard let row = try await connection.query("SELECT received_at FROM events WHERE id = \(id)", logger: self.logger).collect().first
            else { throw StoreError("there is no event \(id)") }
            try await self.insertHistory(connection, event: id, eventAt: try row.decode(Int64.self), at: at, status: status, detail: detail)
        }
    }

    public func checkWritable() async throws {
        let now = String(Self.milliseconds(Date()))
        try await connection { connection in
            try await connection.query("""
                INSERT INTO engine_state (key, value) VALUES ('last_ready_check', \(now))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """, logger: self.logger)
        }
    }

    static let summaryColumns = """
        e.seq, e.id, e.connector, e.event_id, e.event_type, e.plan_version, e.received_at,
        (SELECT h.status FROM event_history h WHERE h.event = e.id AND h.event_at = e.received_at AND h.status <> 'duplicate'
         ORDER BY h.seq DESC LIMIT 1) AS status,
        (SELECT count(*) FROM event_history h WHERE h.event = e.id AND h.event_at = e.received_at AND h.status = 'duplicate') AS duplicates
        """

    public func events(_ query: EventQuery) async throws -> [EventSummary] {
        var sql = SQLText()
        var conditions: [String] = []
        if let connector = query.connector { conditions.append("connector = \(sql.bind(connector))") }
        if let since = query.since { conditions.append("received_at >= \(sql.bind(Self.milliseconds(since)))") }
        if let until = query.until { conditions.append("received_at < \(sql.bind(Self.milliseconds(until)))") }
        if let status = query.status { conditions.append("status = \(sql.bind(status.rawValue))") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        sql.text = "SELECT * FROM (SELECT \(Self.summaryColumns) FROM events e) s \(filter) ORDER BY seq DESC LIMIT \(sql.bind(query.limit))"
        let statement = sql.query
        return try await connection { connection in
            try await connection.query(statement, logger: self.logger).collect().map { try Self.summary($0.makeRandomAccess()) }
        }
    }

    public func event(id: String) async throws -> EventRecord? {
        try await connection { connection in
            guard let found = try await connection.query("""
                SELECT \(unescaped: Self.summaryColumns), e.content_type, e.headers, e.body, e.remote_address FROM events e WHERE e.id = \(id)
                """, logger: self.logger).collect().first
            else { return nil }
            let row = found.makeRandomAccess()
            let eventAt = try row["received_at"].decode(Int64.self)
            let history = try await connection.query("""
                SELECT at, status, detail FROM event_history WHERE event = \(id) AND event_at = \(eventAt) ORDER BY seq
                """, logger: self.logger).collect().map { record in
                let cells = record.makeRandomAccess()
                return StatusRecord(at: Self.date(try cells["at"].decode(Int64.self)), status: EventStatus(rawValue: try cells["status"].decode(String.self)),
                                    detail: try cells["detail"].decode(String?.self).flatMap { try? JSONParser.parse($0) })
            }
            return EventRecord(summary: try Self.summary(row), contentType: try row["content_type"].decode(String.self),
                               headers: StoredText.headers(try row["headers"].decode(String.self)), body: Array(try row["body"].decode(Data.self)),
                               remoteAddress: try row["remote_address"].decode(String?.self), history: history)
        }
    }

    /// Number of stored events (not counting repeats).
    public func count() async throws -> Int {
        try await connection { connection in
            try await connection.query("SELECT count(*) FROM events", logger: self.logger).collect().first?.decode(Int.self) ?? 0
        }
    }

    static func summary(_ row: PostgresRandomAccessRow) throws -> EventSummary {
        EventSummary(id: try row["id"].decode(String.self), connector: try row["connector"].decode(String.self),
                     eventID: try row["event_id"].decode(String.self), eventType: try row["event_type"].decode(String?.self),
                     planVersion: try row["plan_version"].decode(String.self), receivedAt: date(try row["received_at"].decode(Int64.self)),
                     status: EventStatus(rawValue: try row["status"].decode(String?.self) ?? "received"),
                     duplicates: try row["duplicates"].decode(Int.self))
    }

    // MARK: Values

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

/// A statement built piece by piece, its values bound as `$1`, `$2`, … (never spliced into the text).
struct SQLText {
    var text = ""
    var binds = PostgresBindings()

    mutating func bind(_ value: String) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind(_ value: Int64) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind(_ value: Int) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind(_ values: [String]) -> String {
        binds.append(values)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: binds) }
}

/// A `postgres://` address, read once; its description never holds the password.
struct PostgresAddress: CustomStringConvertible {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String?
    var tls: PostgresClient.Configuration.TLS
    private var mode: String

    init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty
        else {
            throw StoreError("the store address is not a PostgreSQL URL (postgres://user:password@host:port/database)")
        }
        self.host = host
        port = components.port ?? 5432
        user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        password = components.password.flatMap { $0.removingPercentEncoding } ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : path
        mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        switch mode {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw StoreError("sslmode=\(other) in the store address is not one of disable, prefer, require")
        }
    }

    var description: String { "\(host):\(port)/\(database ?? user)" }

    /// The same address for one direct connection.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS = switch mode {
        case "disable": .disable
        case "prefer": .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }
}

/// A count shared with the task that stops the pool.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func add(_ amount: Int) { value.add(amount, ordering: .relaxed) }
    func subtract(_ amount: Int) { value.subtract(amount, ordering: .relaxed) }
    var current: Int { value.load(ordering: .relaxed) }
}
