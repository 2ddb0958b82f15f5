public import Foundation
import GRDB
public import JSONValue
public import ManifoldStore

extension SQLiteEventStore: RolloutStore {
    static let rolloutSchema = """
        CREATE TABLE rollouts (id TEXT PRIMARY KEY, connector TEXT NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL,
                               updated_at INTEGER NOT NULL);
        CREATE INDEX rollouts_by_connector ON rollouts (connector, updated_at);
        CREATE INDEX rollouts_active ON rollouts (status) WHERE status = 'active';
        CREATE TABLE rollout_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, connector TEXT NOT NULL, rollout TEXT NOT NULL,
                                  at INTEGER NOT NULL, action TEXT NOT NULL, by TEXT NOT NULL, detail TEXT);
        CREATE TABLE shadow_calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, rollout TEXT NOT NULL, event TEXT NOT NULL,
                                   arm TEXT NOT NULL, route TEXT NOT NULL, call TEXT NOT NULL, request TEXT NOT NULL);
        CREATE INDEX shadow_calls_by_rollout ON shadow_calls (rollout, seq);
        CREATE TABLE applied_plans (seq INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT NOT NULL, at INTEGER NOT NULL,
                                    trigger TEXT NOT NULL, summary TEXT NOT NULL);
        """

    public func rollouts() async throws -> [RolloutRecord] {
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM rollouts ORDER BY connector, updated_at DESC")
                .compactMap { (try? JSONParser.parse($0)).flatMap(RolloutRecord.init(json:)) }
        }
    }

    public func activeRollouts() async throws -> [RolloutRecord] {
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM rollouts WHERE status = 'active' ORDER BY connector")
                .compactMap { (try? JSONParser.parse($0)).flatMap(RolloutRecord.init(json:)) }
        }
    }

    public func startRollout(_ rollout: RolloutRecord, by: String) async throws {
        let at = Self.milliseconds(Date())
        try await writer.write { db in
            // One active rollout per connector: a new one ends the last.
            let active = try String.fetchAll(db, sql: "SELECT state FROM rollouts WHERE connector = ? AND status = 'active'",
                                             arguments: [rollout.connector])
            for text in active {
                guard var old = (try? JSONParser.parse(text)).flatMap(RolloutRecord.init(json:)) else { continue }
                old.status = .rolledBack
                old.endedReason = "replaced by rollout \(rollout.id)"
                try Self.saveRollout(db, old, at: at)
                try Self.log(db, old, at: at, action: "replaced", by: by, detail: nil)
            }
            try Self.saveRollout(db, rollout, at: at)
            try Self.log(db, rollout, at: at, action: "start", by: by, detail: [
                "mode": .string(rollout.mode.rawValue), "share": .string(rollout.shareText),
                "candidate": .string(rollout.candidateVersion),
            ])
        }
    }

    public func changeRollout(_ connector: String, action: String, by: String, detail: JSON?,
                              _ change: @escaping @Sendable (inout RolloutRecord) -> Void) async throws -> RolloutRecord?
    {
        let at = Self.milliseconds(Date())
        return try await writer.write { db in
            guard let text = try String.fetchOne(db, sql: "SELECT state FROM rollouts WHERE connector = ? AND status = 'active'",
                                                 arguments: [connector]),
                  var rollout = (try? JSONParser.parse(text)).flatMap(RolloutRecord.init(json:))
            else { return nil }
            change(&rollout)
            try Self.saveRollout(db, rollout, at: at)
            try Self.log(db, rollout, at: at, action: action, by: by, detail: detail)
            return rollout
        }
    }

    public func rolloutLog(connector: String?) async throws -> [RolloutLogEntry] {
        try await database.read { db in
            let rows = try connector.map {
                try Row.fetchAll(db, sql: "SELECT * FROM rollout_log WHERE connector = ? ORDER BY seq", arguments: [$0])
            } ?? Row.fetchAll(db, sql: "SELECT * FROM rollout_log ORDER BY seq")
            return rows.map { row in
                RolloutLogEntry(connector: row["connector"], rollout: row["rollout"], at: Self.date(row["at"]), action: row["action"],
                                by: row["by"], detail: (row["detail"] as String?).flatMap { try? JSONParser.parse($0) })
            }
        }
    }

    public func recordShadow(_ calls: [ShadowCall]) async throws {
        guard !calls.isEmpty else { return }
        try await writer.write { db in
            for call in calls {
                try db.cachedStatement(sql: "INSERT INTO shadow_calls (rollout, event, arm, route, call, request) VALUES (?, ?, ?, ?, ?, ?)")
                    .execute(arguments: [call.rollout, call.event, call.arm, call.route, call.call, call.request.serialized()])
            }
        }
    }

    public func shadowCalls(rollout: String) async throws -> [ShadowCall] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM shadow_calls WHERE rollout = ? ORDER BY seq", arguments: [rollout]).map { row in
                ShadowCall(rollout: row["rollout"], event: row["event"], arm: row["arm"], route: row["route"], call: row["call"],
                           request: (try? JSONParser.parse(row["request"] as String)) ?? .null)
            }
        }
    }

    public func recordApplied(version: String, trigger: String, summary: String) async throws {
        let at = Self.milliseconds(Date())
        try await writer.write { db in
            try db.execute(sql: "INSERT INTO applied_plans (version, at, trigger, summary) VALUES (?, ?, ?, ?)",
                           arguments: [version, at, trigger, summary])
        }
    }

    public func appliedPlans(limit: Int) async throws -> [AppliedPlan] {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT a.version, a.at, a.trigger, a.summary, EXISTS (SELECT 1 FROM plans p WHERE p.version = a.version) AS kept
                FROM applied_plans a ORDER BY a.seq DESC LIMIT ?
                """, arguments: [limit]).map { row in
                AppliedPlan(version: row["version"], at: Self.date(row["at"]), trigger: row["trigger"], summary: row["summary"],
                            sourcesKept: row["kept"])
            }
        }
    }

    public func eventCounts(connector: String, since: Date) async throws -> [String: Int] {
        let from = Self.milliseconds(since)
        return try await database.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: """
                SELECT plan_version, count(*) AS n FROM events WHERE connector = ? AND received_at >= ? GROUP BY plan_version
                """, arguments: [connector, from]).map { ($0["plan_version"] as String, $0["n"] as Int) })
        }
    }

    private static func saveRollout(_ db: Database, _ rollout: RolloutRecord, at: Int64) throws {
        try db.execute(sql: """
            INSERT INTO rollouts (id, connector, status, state, updated_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at = excluded.updated_at
            """, arguments: [rollout.id, rollout.connector, rollout.status.rawValue, rollout.json.serialized(), at])
    }

    private static func log(_ db: Database, _ rollout: RolloutRecord, at: Int64, action: String, by: String, detail: JSON?) throws {
        try db.execute(sql: "INSERT INTO rollout_log (connector, rollout, at, action, by, detail) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [rollout.connector, rollout.id, at, action, by, detail?.serialized()])
    }
}

extension SQLiteEventStore {
    /// The sources kept with a plan version, read now (for commands that are not async).
    public func keptSources(version: String) throws -> [PlanSource]? {
        try database.read { db in
            guard let text = try String.fetchOne(db, sql: "SELECT sources FROM plans WHERE version = ?", arguments: [version]),
                  let list = (try? JSONParser.parse(text))?.arrayValue
            else { return nil }
            return list.map { PlanSource(path: $0["path"]?.stringValue ?? "", text: $0["text"]?.stringValue ?? "") }
        }
    }
}
