public import Foundation
import GRDB
public import JSONValue
public import ManifoldStore

extension SQLiteEventStore: LaneLeaseStore {
    public func acquireLanes(_ lanes: [String], owner: String, until: Date, now: Date) async throws -> [LaneLease] {
        let (until, now) = (Self.date(Self.milliseconds(until)), Self.date(Self.milliseconds(now)))
        return try await writer.write { db in
            try Set(lanes).sorted().compactMap { lane in
                let current = try Row.fetchOne(db, sql: "SELECT * FROM lane_leases WHERE lane = ?", arguments: [lane]).map(Self.laneLease)
                guard let lease = LaneLease.decide(current, lane: lane, owner: owner, until: until, now: now) else { return nil }
                try db.execute(sql: """
                    INSERT INTO lane_leases (lane, owner, token, until) VALUES (?, ?, ?, ?)
                    ON CONFLICT (lane) DO UPDATE SET owner = excluded.owner, token = excluded.token, until = excluded.until
                    """, arguments: [lane, owner, lease.token, Self.milliseconds(lease.until)])
                return lease
            }
        }
    }

    public func releaseLanes(_ lanes: [String], owner: String, at: Date) async throws {
        let at = Self.milliseconds(at)
        try await writer.write { db in
            for lane in lanes {
                try db.execute(sql: "UPDATE lane_leases SET owner = NULL, until = ? WHERE lane = ? AND owner = ?", arguments: [at, lane, owner])
            }
        }
    }

    public func laneLeases() async throws -> [LaneLease] {
        try await database.read { db in try Row.fetchAll(db, sql: "SELECT * FROM lane_leases ORDER BY lane").map(Self.laneLease) }
    }

    public func liveEngines(now: Date) async throws -> [String] {
        let now = Self.milliseconds(now)
        return try await database.read { db in
            try String.fetchAll(db, sql: "SELECT owner FROM engine_leases WHERE until >= ? ORDER BY owner", arguments: [now])
        }
    }

    public func releaseJobs(_ ids: [String], owner: String) async throws {
        try await writer.write { db in
            for id in ids {
                try db.execute(sql: "UPDATE jobs SET lease_owner = NULL WHERE id = ? AND lease_owner = ? AND state = 'pending'",
                               arguments: [id, owner])
            }
        }
    }

    public func pendingLanes() async throws -> [String] {
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT lane FROM jobs WHERE state = 'pending' ORDER BY lane")
        }
    }

    public func recordEngine(_ engine: EngineRecord) async throws {
        let (info, at) = (engine.info.serialized(), Self.milliseconds(engine.recordedAt))
        try await writer.write { db in
            try db.execute(sql: """
                INSERT INTO engines (owner, info, recorded_at) VALUES (?, ?, ?)
                ON CONFLICT (owner) DO UPDATE SET info = excluded.info, recorded_at = excluded.recorded_at
                """, arguments: [engine.owner, info, at])
        }
    }

    public func engineRecords() async throws -> [EngineRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM engines ORDER BY owner").map { row in
                EngineRecord(owner: row["owner"], info: (try? JSONParser.parse(row["info"] as String)) ?? .null,
                             recordedAt: Self.date(row["recorded_at"]))
            }
        }
    }

    private static func laneLease(_ row: Row) -> LaneLease {
        LaneLease(lane: row["lane"], owner: row["owner"], token: row["token"], until: date(row["until"]))
    }
}
