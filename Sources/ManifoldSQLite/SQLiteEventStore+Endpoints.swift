public import Foundation
import GRDB
public import JSONValue
public import ManifoldStore

extension SQLiteEventStore: EndpointStore {
    static let endpointsSchema = """
        CREATE TABLE endpoints (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            url TEXT NOT NULL,
            event_types TEXT,
            headers TEXT NOT NULL,
            rate_limit INTEGER,
            description TEXT,
            state TEXT NOT NULL,
            state_reason TEXT,
            failing_since INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX endpoints_by_tenant ON endpoints (tenant);
        CREATE TABLE endpoint_secrets (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint_id TEXT NOT NULL REFERENCES endpoints (id),
            sealed BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER
        );
        CREATE TABLE endpoint_history (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint_id TEXT NOT NULL,
            at INTEGER NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE INDEX endpoint_history_by_endpoint ON endpoint_history (endpoint_id, seq);
        INSERT INTO engine_state (key, value) VALUES ('endpoints_version', '0');
        """

    private static func bump(_ db: Database) throws {
        try db.execute(sql: "UPDATE engine_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'endpoints_version'")
    }

    private static func history(_ db: Database, _ id: String, _ kind: String, _ detail: String, _ at: Date) throws {
        try db.execute(sql: "INSERT INTO endpoint_history (endpoint_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                       arguments: [id, milliseconds(at), kind, detail])
    }

    private static func json(_ headers: [String: String]) -> String {
        JSON.object(JSONObject(headers.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })).serialized()
    }

    public func addEndpoint(_ endpoint: StoredEndpoint, sealedSecret: [UInt8], at: Date) async throws {
        let types = endpoint.eventTypes.map { JSON.array($0.map(JSON.string)).serialized() }
        try await writer.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM endpoints WHERE id = ?", arguments: [endpoint.id]) == true {
                throw StoreError("there is an endpoint \(endpoint.id) already")
            }
            try db.execute(sql: """
                INSERT INTO endpoints (id, tenant, url, event_types, headers, rate_limit, description, state, state_reason,
                                       failing_since, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'enabled', NULL, NULL, ?, ?)
                """, arguments: [endpoint.id, endpoint.tenant, endpoint.url, types, Self.json(endpoint.headers), endpoint.rateLimit,
                                 endpoint.description, Self.milliseconds(at), Self.milliseconds(at)])
            try db.execute(sql: "INSERT INTO endpoint_secrets (endpoint_id, sealed, created_at, expires_at) VALUES (?, ?, ?, NULL)",
                           arguments: [endpoint.id, Data(sealedSecret), Self.milliseconds(at)])
            try Self.history(db, endpoint.id, "created", "tenant \(endpoint.tenant), \(endpoint.url)", at)
            try Self.bump(db)
        }
    }

    public func endpoints(includingRemoved: Bool) async throws -> [StoredEndpoint] {
        try await database.read { db in
            let secrets = try Row.fetchAll(db, sql: "SELECT endpoint_id, sealed, created_at, expires_at FROM endpoint_secrets ORDER BY seq")
            var byEndpoint: [String: [SealedSecret]] = [:]
            for row in secrets {
                byEndpoint[row["endpoint_id"], default: []].append(SealedSecret(
                    sealed: Array((row["sealed"] as Data?) ?? Data()), createdAt: Self.date(row["created_at"]),
                    expiresAt: (row["expires_at"] as Int64?).map(Self.date)))
            }
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM endpoints" + (includingRemoved ? "" : " WHERE state != 'removed'")
                                        + " ORDER BY created_at, id")
            return rows.map { row in
                let types = (row["event_types"] as String?).flatMap { try? JSONParser.parse($0) }?.arrayValue?.compactMap(\.stringValue)
                let headers = ((row["headers"] as String?).flatMap { try? JSONParser.parse($0) }?.objectValue ?? JSONObject())
                    .map { ($0.key, $0.value.stringValue ?? "") }
                return StoredEndpoint(
                    id: row["id"], tenant: row["tenant"], url: row["url"], eventTypes: types,
                    headers: Dictionary(headers, uniquingKeysWith: { _, last in last }), rateLimit: row["rate_limit"],
                    description: row["description"], state: EndpointState(rawValue: row["state"]) ?? .disabled,
                    stateReason: row["state_reason"], failingSince: (row["failing_since"] as Int64?).map(Self.date),
                    createdAt: Self.date(row["created_at"]), updatedAt: Self.date(row["updated_at"]),
                    secrets: byEndpoint[row["id"]] ?? [])
            }
        }
    }


    private static func requireEndpoint(_ db: Database, _ id: String) throws {
        guard try String.fetchOne(db, sql: "SELECT state FROM endpoints WHERE id = ?", arguments: [id]).map({ $0 != "removed" }) == true
        else { throw StoreError("there is no endpoint \(id)") }
    }

    public func updateEndpoint(_ endpoint: StoredEndpoint, at: Date, note: String) async throws {
        let types = endpoint.eventTypes.map { JSON.array($0.map(JSON.string)).serialized() }
        try await writer.write { db in
            try Self.requireEndpoint(db, endpoint.id)
            try db.execute(sql: """
                UPDATE endpoints SET url = ?, event_types = ?, headers = ?, rate_limit = ?, description = ?, updated_at = ?
                WHERE id = ?
                """, arguments: [endpoint.url, types, Self.json(endpoint.headers), endpoint.rateLimit, endpoint.description,
                                 Self.milliseconds(at), endpoint.id])
            try Self.history(db, endpoint.id, "updated", note, at)
            try Self.bump(db)
        }
    }

    public func setEndpointState(id: String, state: EndpointState, reason: String, at: Date) async throws {
        try await writer.write { db in
            try Self.requireEndpoint(db, id)
            // A state change starts the failure count afresh.
            try db.execute(sql: "UPDATE endpoints SET state = ?, state_reason = ?, failing_since = NULL, updated_at = ? WHERE id = ?",
                           arguments: [state.rawValue, reason, Self.milliseconds(at), id])
            try Self.history(db, id, state.rawValue, reason, at)
            try Self.bump(db)
        }
    }

    public func rotateEndpointSecret(id: String, sealedSecret: [UInt8], previousExpireAt: Date, at: Date) async throws {
        try await writer.write { db in
            try Self.requireEndpoint(db, id)
            try db.execute(sql: "UPDATE endpoint_secrets SET expires_at = MIN(COALESCE(expires_at, ?), ?) WHERE endpoint_id = ?",
                           arguments: [Self.milliseconds(previousExpireAt), Self.milliseconds(previousExpireAt), id])
            try db.execute(sql: "INSERT INTO endpoint_secrets (endpoint_id, sealed, created_at, expires_at) VALUES (?, ?, ?, NULL)",
                           arguments: [id, Data(sealedSecret), Self.milliseconds(at)])
            try Self.history(db, id, "rotated", "the previous secrets sign until \(ISO8601DateFormatter().string(from: previousExpireAt))", at)
            try Self.bump(db)
        }
    }

    public func recordEndpointAttempt(id: String, succeeded: Bool, at: Date) async throws {
        try await writer.write { db in
            if succeeded {
                try db.execute(sql: "UPDATE endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL", arguments: [id])
            } else {
                try db.execute(sql: "UPDATE endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL",
                               arguments: [Self.milliseconds(at), id])
            }
        }
    }

    public func endpointHistory(id: String) async throws -> [EndpointHistoryEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT at, kind, detail FROM endpoint_history WHERE endpoint_id = ? ORDER BY seq", arguments: [id])
                .map { EndpointHistoryEntry(at: Self.date($0["at"]), kind: $0["kind"], detail: $0["detail"]) }
        }
    }

    public func endpointsVersion() async throws -> Int64 {
        try await database.read { db in
            try Int64.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM engine_state WHERE key = 'endpoints_version'") ?? 0
        }
    }
}
