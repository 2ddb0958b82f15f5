public import Foundation
import GRDB
public import JSONValue
public import ManifoldStore

extension SQLiteEventStore: PullStateStore {
    static let pullStateSchema = """
        CREATE TABLE pull_state (
            connector TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        );
        """

    public func pullState(_ connector: String) async throws -> PullStateRecord? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT connector, state, updated_at FROM pull_state WHERE connector = ?", arguments: [connector])
                .map(Self.pullRecord)
        }
    }

    public func pullStates() async throws -> [PullStateRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT connector, state, updated_at FROM pull_state ORDER BY connector").map(Self.pullRecord)
        }
    }

    public func append(all events: [NewEvent], pullState: JSON, of connector: String) async throws -> [AppendOutcome] {
        let rows = events.map { EventRows($0, id: EventIdentifier.make(at: $0.receivedAt)) }
        let text = pullState.serialized()
        let at = Self.milliseconds(Date())
        return try await writer.write { db in
            let outcomes = try rows.map { try Self.insert(db, $0) }
            try Self.writePullState(db, connector: connector, text: text, at: at)
            return outcomes
        }
    }

    public func setPullState(_ state: JSON?, of connector: String) async throws {
        let text = state?.serialized()
        let at = Self.milliseconds(Date())
        try await writer.write { db in
            if let text {
                try Self.writePullState(db, connector: connector, text: text, at: at)
            } else {
                try db.execute(sql: "DELETE FROM pull_state WHERE connector = ?", arguments: [connector])
            }
        }
    }

    private static func writePullState(_ db: Database, connector: String, text: String, at: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT INTO pull_state (connector, state, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (connector) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
            """).execute(arguments: [connector, text, at])
    }

    private static func pullRecord(_ row: Row) -> PullStateRecord {
        PullStateRecord(connector: row["connector"], state: (try? JSONParser.parse(row["state"] as String)) ?? .null,
                        updatedAt: date(row["updated_at"]))
    }
}
