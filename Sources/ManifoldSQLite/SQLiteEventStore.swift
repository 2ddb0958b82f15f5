public import Foundation
import GRDB
public import ManifoldStore
public import JSONValue

/// The embedded event store: one SQLite file in WAL mode, written through group commit.
///
/// `events` and `event_history` are append-only (triggers refuse UPDATE and DELETE); an event's status is its
/// latest history record. Commits are fsynced (`synchronous = FULL`) before `append` returns. Readers — the
/// CLI while the engine runs, the dashboard — never block the writer.
public final class SQLiteEventStore: EventStore {
    public let path: String
    let database: DatabasePool
    let writer: GroupCommitWriter
    private let checkpointer: Checkpointer

    /// Opens (creating and migrating if needed) the store at `path`.
    /// With `create: false`, a missing file is an error rather than a new empty store. With `verify`, an existing
    /// file is checked first (`SQLiteEventStore.check`): a damaged, emptied or newer store is refused with what was
    /// found and how to recover, instead of starting and failing every webhook.
    ///
    /// The log is copied into the database file on a thread of the store's own, within `checkpointInterval` of a
    /// commit (`Checkpointer`), not by the writer. Short, so that the writer's own checkpoint (a log of 10,000 pages)
    /// finds little left to copy: at 200 ms, webhooks' p99 latency under load was twice what it is at 20 ms.
    public init(path: String, create: Bool = true, verify: Bool = false,
                checkpointInterval: Duration = .milliseconds(20)) throws {
        let exists = FileManager.default.fileExists(atPath: path)
        if !create && !exists {
            throw StoreError("there is no event store at \(path)")
        }
        if verify, exists {
            let check = Self.check(path: path)
            if !check.isSound {
                throw StoreError("the event store \(path) is damaged: " + check.problems.joined(separator: "; ") + ". "
                                 + Self.recovery(path))
            }
        }
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The checkpointer copies the log as it grows; the writer checkpoints only a log this long.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.writerCheckpointPages)")
        }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            checkpointer = try Checkpointer(path: path, interval: checkpointInterval)
        } catch {
            throw StoreError("cannot open the event store at \(path): \(error)")
        }
        writer = GroupCommitWriter(database: database, committed: { [checkpointer] in checkpointer.committed() })
    }

    /// Commits what is waiting, stops writing and closes the database. The last connection to close copies the
    /// log into the database file and removes it: a store left by a stopped engine is one file, not a database
    /// beside a log of up to 40 MB. (Another process with the store open keeps the log, and copies it when it
    /// closes.) Reads and writes after `close` fail.
    public func close() {
        writer.close()
        checkpointer.stop()
        // The pool (its writer, then its readers), then the checkpointer's connection: whichever closes last makes
        // SQLite's last checkpoint and removes the log.
        // Should a statement still be open somewhere, the pool stays open until the process ends, and the next opening
        // copies the log. Nothing committed depends on it.
        try? database.close()
        checkpointer.close()
    }

    /// Checkpoints the store's checkpointer has run since opening.
    public var checkpointCount: Int { checkpointer.count }

    /// Group-commit batches and the writes in them since opening.
    public var commitStatistics: (batches: Int, writes: Int) { writer.statistics }

    // MARK: Schema

    /// Versioned migrations; each runs once, in order, recorded in `grdb_migrations`.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1 events and their history") { db in
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    connector TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    event_type TEXT,
                    plan_version TEXT NOT NULL,
                    received_at INTEGER NOT NULL,
                    content_type TEXT NOT NULL,
                    headers TEXT NOT NULL,
                    body BLOB NOT NULL,
                    remote_address TEXT,
                    UNIQUE (connector, event_id)
                );
                CREATE INDEX events_by_time ON events (received_at);
                CREATE INDEX events_by_connector ON events (connector, received_at);
                CREATE TABLE event_history (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_seq INTEGER NOT NULL REFERENCES events (seq),
                    at INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    detail TEXT
                );
                CREATE INDEX event_history_by_event ON event_history (event_seq, seq);
                CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
                    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                \(Self.deleteGuards["events"]!)
                CREATE TRIGGER event_history_append_only_update BEFORE UPDATE ON event_history
                    BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;
                \(Self.deleteGuards["event_history"]!)
                CREATE TABLE engine_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("2 delivery jobs, attempts and kept plans") { db in
            try db.execute(sql: Self.jobsSchema)
        }
        migrator.registerMigration("3 pending jobs by lane") { db in
            // The sweep claims lane by lane, oldest first, as each lane's window in memory has room.
            try db.execute(sql: "CREATE INDEX jobs_pending_by_lane ON jobs (lane, seq) WHERE state = 'pending'")
        }
        migrator.registerMigration("4 customers' webhook endpoints") { db in
            try db.execute(sql: Self.endpointsSchema)
        }
        migrator.registerMigration("5 flow progress") { db in
            // A flow job's progress: its step and element, and the results of the steps that completed (JSON).
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN flow TEXT")
        }
        migrator.registerMigration("6 pull sources' state") { db in
            try db.execute(sql: Self.pullStateSchema)
        }
        migrator.registerMigration("7 rollouts and applied plans") { db in
            try db.execute(sql: Self.rolloutSchema)
        }
        migrator.registerMigration("8 claim fences") { db in
            // Each claim raises a job's fence; an outcome carries the fence it was claimed under.
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("9 lane leases") { db in
            try db.execute(sql: "CREATE TABLE lane_leases (lane TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, until INTEGER NOT NULL)")
        }
        migrator.registerMigration("10 engines") { db in
            try db.execute(sql: "CREATE TABLE engines (owner TEXT PRIMARY KEY, info TEXT NOT NULL, recorded_at INTEGER NOT NULL)")
        }
        migrator.registerMigration("11 pending jobs by ordering key") { db in
            // A claim passes no job whose ordering key has an earlier job waiting for its retry.
            try db.execute(sql: Self.pendingByKeyIndex)
        }
        return migrator
    }

    // MARK: Writing

    public func append(_ event: NewEvent) async throws -> AppendOutcome {
        let rows = EventRows(event, id: EventIdentifier.make(at: event.receivedAt))
        return try await writer.write { db in try Self.insert(db, rows) }
    }

    public func append(all events: [NewEvent]) async throws -> [AppendOutcome] {
        guard !events.isEmpty else { return [] }
        let rows = events.map { EventRows($0, id: EventIdentifier.make(at: $0.receivedAt)) }
        // One piece of work: one transaction, all or nothing.
        return try await writer.write { db in
            try rows.map { try Self.insert(db, $0) }
        }
    }

    /// An event and the texts its rows hold (headers, its first status's detail, its routing's), made before it is
    /// handed to the writer: the writer's one thread, which every event waits for, only binds them.
    struct EventRows: Sendable {
        var event: NewEvent
        var id: String
        var headers: String
        var detail: String?
        var routed: String?

        init(_ event: NewEvent, id: String) {
            self.event = event
            self.id = id
            headers = StoredText.headers(event.headers)
            detail = event.detail?.serialized()
            routed = event.jobs.map { StoredText.routedDetail($0).serialized() }
        }
    }

    /// Inserts the event (with its first status and its jobs), or records it as a duplicate of the one stored.
    static func insert(_ db: Database, _ rows: EventRows) throws -> AppendOutcome {
        let event = rows.event
        let at = Self.milliseconds(event.receivedAt)
        try db.cachedStatement(sql: """
            INSERT INTO events (id, connector, event_id, event_type, plan_version, received_at, content_type,
                                headers, body, remote_address)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (connector, event_id) DO NOTHING
            """).run(.text(rows.id), .text(event.connector), .text(event.eventID), .text(event.eventType),
                     .text(event.planVersion), .integer(at), .text(event.contentType), .text(rows.headers),
                     .blob(event.body), .text(event.remoteAddress))
        if db.changesCount == 1 {
            let seq = db.lastInsertedRowID
            try Self.insertHistory(db, seq: seq, at: at, status: event.status, detail: rows.detail)
            if let jobs = event.jobs {
                try Self.insertJobs(db, jobs, eventSeq: seq, connector: event.connector, at: at, lease: event.lease)
                try Self.insertHistory(db, seq: seq, at: at, status: jobs.isEmpty ? .skipped : .routed, detail: rows.routed)
            }
            return AppendOutcome.stored(id: rows.id)
        }
        let original = try Row.fetchOne(db, sql: "SELECT seq, id, body FROM events WHERE connector = ? AND event_id = ?",
                                        arguments: [event.connector, event.eventID])!
        // A pull reads records again by design (a lookback, a page after a crash): not news in the history.
        guard event.recordsDuplicate else { return AppendOutcome.duplicate(of: original["id"]) }
        let sameBody = (original["body"] as Data?) == Data(event.body)
        let note = JSON.object(JSONObject([("same_body", .bool(sameBody)),
                                           ("remote_address", event.remoteAddress.map(JSON.string) ?? .null)]))
        try Self.insertHistory(db, seq: original["seq"], at: at, status: .duplicate, detail: note.serialized())
        return AppendOutcome.duplicate(of: original["id"])
    }

    public func recordStatus(_ status: EventStatus, of id: String, detail: JSON?) async throws {
        let text = detail?.serialized()
        let at = Self.milliseconds(Date())
        try await writer.write { db in
            guard let seq = try Int64.fetchOne(db, sql: "SELECT seq FROM events WHERE id = ?", arguments: [id]) else {
                throw StoreError("there is no event \(id)")
            }
            try Self.insertHistory(db, seq: seq, at: at, status: status, detail: text)
        }
    }

    public func checkWritable() async throws {
        let now = String(Self.milliseconds(Date()))
        try await writer.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO engine_state (key, value) VALUES ('last_ready_check', ?)",
                           arguments: [now])
        }
    }

    static func insertHistory(_ db: Database, seq: Int64, at: Int64, status: EventStatus, detail: String?) throws {
        try db.cachedStatement(sql: "INSERT INTO event_history (event_seq, at, status, detail) VALUES (?, ?, ?, ?)")
            .run(.integer(seq), .integer(at), .text(status.rawValue), .text(detail))
    }

    // MARK: Reading

    private static let summaryColumns = """
        e.seq, e.id, e.connector, e.event_id, e.event_type, e.plan_version, e.received_at,
        (SELECT status FROM event_history h WHERE h.event_seq = e.seq AND h.status != 'duplicate'
         ORDER BY h.seq DESC LIMIT 1) AS status,
        (SELECT count(*) FROM event_history h WHERE h.event_seq = e.seq AND h.status = 'duplicate') AS duplicates
        """

    public func events(_ query: EventQuery) async throws -> [EventSummary] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let connector = query.connector {
            conditions.append("connector = ?")
            arguments += [connector]
        }
        if let since = query.since {
            conditions.append("received_at >= ?")
            arguments += [Self.milliseconds(since)]
        }
        if let until = query.until {
            conditions.append("received_at < ?")
            arguments += [Self.milliseconds(until)]
        }
        if let status = query.status {
            conditions.append("status = ?")
            arguments += [status.rawValue]
        }
        arguments += [query.limit]
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT * FROM (SELECT \(Self.summaryColumns) FROM events e) \(filter) ORDER BY seq DESC LIMIT ?"
        let finalArguments = arguments
        return try await database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map(Self.summary)
        }
    }

    public func event(id: String) async throws -> EventRecord? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT \(Self.summaryColumns), e.content_type, e.headers, e.body, e.remote_address
                FROM events e WHERE e.id = ?
                """, arguments: [id])
            else { return nil }
            let history = try Row.fetchAll(db, sql: "SELECT at, status, detail FROM event_history WHERE event_seq = ? ORDER BY seq",
                                           arguments: [row["seq"] as Int64]).map { record in
                StatusRecord(at: Self.date(record["at"]), status: EventStatus(rawValue: record["status"]),
                             detail: (record["detail"] as String?).flatMap { try? JSONParser.parse($0) })
            }
            let headers = StoredText.headers(row["headers"])
            return EventRecord(summary: Self.summary(row), contentType: row["content_type"], headers: headers,
                               body: Array(row["body"] as Data), remoteAddress: row["remote_address"], history: history)
        }
    }

    /// Number of stored events (not counting duplicates).
    public func count() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0 }
    }

    private static func summary(_ row: Row) -> EventSummary {
        EventSummary(id: row["id"], connector: row["connector"], eventID: row["event_id"], eventType: row["event_type"],
                     planVersion: row["plan_version"], receivedAt: date(row["received_at"]),
                     status: EventStatus(rawValue: row["status"] ?? "received"), duplicates: row["duplicates"])
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
