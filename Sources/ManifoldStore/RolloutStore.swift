public import Foundation
import GRDB
public import JSONValue

/// Rollouts of candidate connector versions, their log, the calls a shadow candidate would have made, and the history
/// of the plans the engine applied. Every engine sharing the store reads the same rollouts, so the same key always
/// gets the same version.
public protocol RolloutStore: Sendable {
    /// Every rollout, active or ended, newest first per connector.
    func rollouts() async throws -> [RolloutRecord]
    /// The active rollouts only (what an engine runs; read every second).
    func activeRollouts() async throws -> [RolloutRecord]
    /// Starts (or replaces) `connector`'s rollout and logs it.
    func startRollout(_ rollout: RolloutRecord, by: String) async throws
    /// Changes an active rollout (its share, its status) and logs the action; returns the rollout as changed, or `nil`
    /// when `connector` has no active rollout.
    func changeRollout(_ connector: String, action: String, by: String, detail: JSON?,
                       _ change: @escaping @Sendable (inout RolloutRecord) -> Void) async throws -> RolloutRecord?
    /// What was done to rollouts, oldest first.
    func rolloutLog(connector: String?) async throws -> [RolloutLogEntry]
    /// Records the calls the current and the candidate version made (or would have made) for one event.
    func recordShadow(_ calls: [ShadowCall]) async throws
    /// The recorded calls of `rollout`, in order.
    func shadowCalls(rollout: String) async throws -> [ShadowCall]
    /// Records a plan the engine applied: when, by what, and what changed.
    func recordApplied(version: String, trigger: String, summary: String) async throws
    /// The plans applied, newest first.
    func appliedPlans(limit: Int) async throws -> [AppliedPlan]
    /// How many of `connector`'s events since `since` each plan version handled.
    func eventCounts(connector: String, since: Date) async throws -> [String: Int]
}

/// A candidate version of a connector beside the current one.
public struct RolloutRecord: Sendable, Equatable {
    public enum Mode: String, Sendable { case canary, shadow }
    public enum Status: String, Sendable { case active, promoted, rolledBack = "rolled_back" }

    public var id: String
    public var connector: String
    public var mode: Mode
    /// The share of events (by key) that go to the candidate, in hundredths of a percent (0–10,000).
    public var basisPoints: Int
    /// The expression whose value picks the version (`nil`: the event id).
    public var stickBy: String?
    /// The candidate connector's file text, its path as given, and the version of the plan it makes.
    public var candidateText: String
    public var candidatePath: String
    public var candidateVersion: String
    /// The plan version running when the rollout started.
    public var baseVersion: String
    public var status: Status
    public var startedAt: Date
    public var startedBy: String
    /// The automatic rollback: the candidate's failure rate may exceed the current's by `margin` over `window`, judged
    /// from `minimum` attempts; any event it quarantines rolls it back when `onQuarantine`.
    public var margin: Double
    public var window: Duration
    public var minimum: Int
    public var onQuarantine: Bool
    /// Why it ended, when it did.
    public var endedReason: String?

    public init(id: String, connector: String, mode: Mode, basisPoints: Int, stickBy: String?, candidateText: String,
                candidatePath: String, candidateVersion: String, baseVersion: String, status: Status = .active,
                startedAt: Date, startedBy: String, margin: Double = 0.05, window: Duration = .seconds(300), minimum: Int = 20,
                onQuarantine: Bool = true)
    {
        self.id = id
        self.connector = connector
        self.mode = mode
        self.basisPoints = basisPoints
        self.stickBy = stickBy
        self.candidateText = candidateText
        self.candidatePath = candidatePath
        self.candidateVersion = candidateVersion
        self.baseVersion = baseVersion
        self.status = status
        self.startedAt = startedAt
        self.startedBy = startedBy
        self.margin = margin
        self.window = window
        self.minimum = minimum
        self.onQuarantine = onQuarantine
    }

    /// Why a candidate cannot be rolled out beside the current version: its source differs. A rollout splits the
    /// events the current source takes (its webhook, its pull) between the two versions' routes and targets; a change of
    /// the source itself would not run, so it is refused, not ignored (change it with a plain reload).
    public static func sourceProblem(current: JSON?, candidate: JSON?) -> String? {
        guard current != candidate else { return nil }
        return "the candidate changes the connector's source (how its events are taken: the webhook, its verification, or the pull); "
            + "a rollout splits the current source's events between the versions' routes and targets, so a source change is made with a reload, not a rollout"
    }

    /// The share as a person reads it: `10%`, `2.5%`.
    public var shareText: String {
        basisPoints % 100 == 0 ? "\(basisPoints / 100)%" : "\(Double(basisPoints) / 100)%"
    }

    public var json: JSON {
        var object = JSONObject()
        object["id"] = .string(id)
        object["connector"] = .string(connector)
        object["mode"] = .string(mode.rawValue)
        object["basis_points"] = .number(Double(basisPoints))
        object["candidate_text"] = .string(candidateText)
        object["candidate_path"] = .string(candidatePath)
        object["candidate_version"] = .string(candidateVersion)
        object["base_version"] = .string(baseVersion)
        object["status"] = .string(status.rawValue)
        object["started_at"] = .number(Double(Int64(startedAt.timeIntervalSince1970 * 1000)))
        object["started_by"] = .string(startedBy)
        object["margin"] = .number(margin)
        object["window_ms"] = .number(Double(window.components.seconds * 1000))
        object["minimum"] = .number(Double(minimum))
        object["on_quarantine"] = .bool(onQuarantine)
        if let stickBy { object["stick_by"] = .string(stickBy) }
        if let endedReason { object["ended_reason"] = .string(endedReason) }
        return .object(object)
    }

    public init?(json: JSON) {
        guard case .object(let o) = json, let id = o["id"]?.stringValue, let connector = o["connector"]?.stringValue,
              let mode = o["mode"]?.stringValue.flatMap(Mode.init(rawValue:)), let status = o["status"]?.stringValue.flatMap(Status.init(rawValue:))
        else { return nil }
        self.init(id: id, connector: connector, mode: mode, basisPoints: o["basis_points"]?.intValue ?? 0,
                  stickBy: o["stick_by"]?.stringValue, candidateText: o["candidate_text"]?.stringValue ?? "",
                  candidatePath: o["candidate_path"]?.stringValue ?? "", candidateVersion: o["candidate_version"]?.stringValue ?? "",
                  baseVersion: o["base_version"]?.stringValue ?? "", status: status,
                  startedAt: Date(timeIntervalSince1970: (o["started_at"]?.numberValue ?? 0) / 1000),
                  startedBy: o["started_by"]?.stringValue ?? "", margin: o["margin"]?.numberValue ?? 0.05,
                  window: .milliseconds(Int64(o["window_ms"]?.numberValue ?? 300_000)), minimum: o["minimum"]?.intValue ?? 20,
                  onQuarantine: o["on_quarantine"]?.boolValue ?? true)
        endedReason = o["ended_reason"]?.stringValue
    }
}

/// One thing done to a rollout: who, when, what.
public struct RolloutLogEntry: Sendable, Equatable {
    public var connector: String
    public var rollout: String
    public var at: Date
    public var action: String
    public var by: String
    public var detail: JSON?
}

/// A call one version made, or would have made, for an event of a shadow rollout: its route and request as recorded
/// (credentials hidden).
public struct ShadowCall: Sendable, Equatable {
    public var rollout: String
    public var event: String
    /// `current` or `candidate`.
    public var arm: String
    public var route: String
    public var call: String
    public var request: JSON

    public init(rollout: String, event: String, arm: String, route: String, call: String, request: JSON) {
        self.rollout = rollout
        self.event = event
        self.arm = arm
        self.route = route
        self.call = call
        self.request = request
    }
}

/// A plan the engine applied.
public struct AppliedPlan: Sendable, Equatable {
    public var version: String
    public var at: Date
    /// start, file change, reload, promote, rollback, ...
    public var trigger: String
    public var summary: String
    /// Whether its sources are kept (so that `manifold rollback --to` can restore them).
    public var sourcesKept: Bool
}

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
