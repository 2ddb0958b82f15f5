public import Foundation
public import JSONValue
public import ManifoldStore
import PostgresNIO

extension PostgresStore: LaneLeaseStore {
    public func acquireLanes(_ lanes: [String], owner: String, until: Date, now: Date) async throws -> [LaneLease] {
        let (until, now) = (Self.date(Self.milliseconds(until)), Self.date(Self.milliseconds(now)))
        let sorted = Set(lanes).sorted()
        guard !sorted.isEmpty else { return [] }
        return try await transaction(leases: true) { connection in
            // Rows locked in lane order (two engines asking for overlapping lanes never deadlock), decided by the one
            // rule every store applies, written back.
            let rows = try await connection.query("""
                SELECT lane, owner, token, until FROM lane_leases WHERE lane = ANY(\(sorted)) ORDER BY lane FOR UPDATE
                """, logger: self.logger).collect()
            var current: [String: LaneLease] = [:]
            for row in rows {
                let (lane, holder, token, end) = try row.decode((String, String?, Int, Int64).self)
                current[lane] = LaneLease(lane: lane, owner: holder, token: token, until: Self.date(end))
            }
            var held: [LaneLease] = []
            for lane in sorted {
                guard let lease = LaneLease.decide(current[lane], lane: lane, owner: owner, until: until, now: now) else { continue }
                // A lane first asked for by two engines at once: the second insert finds the first's row and takes nothing.
                let written = try await connection.query("""
                    INSERT INTO lane_leases (lane, owner, token, until) VALUES (\(lane), \(owner), \(lease.token), \(Self.milliseconds(lease.until)))
                    ON CONFLICT (lane) DO UPDATE SET owner = excluded.owner, token = excluded.token, until = excluded.until
                    WHERE lane_leases.token = \(current[lane]?.token ?? 0) RETURNING lane
                    """, logger: self.logger).collect()
                if !written.isEmpty { held.append(lease) }
            }
            return held
        }
    }

    public func releaseLanes(_ lanes: [String], owner: String, at: Date) async throws {
        guard !lanes.isEmpty else { return }
        let at = Self.milliseconds(at)
        try await connection(leases: true) { connection in
            try await connection.query("""
                UPDATE lane_leases SET owner = NULL, until = \(at) WHERE lane = ANY(\(lanes)) AND owner = \(owner)
                """, logger: self.logger)
        }
    }

    public func laneLeases() async throws -> [LaneLease] {
        try await connection { connection in
            try await connection.query("SELECT lane, owner, token, until FROM lane_leases ORDER BY lane", logger: self.logger).collect()
                .map { row in
                    let (lane, holder, token, end) = try row.decode((String, String?, Int, Int64).self)
                    return LaneLease(lane: lane, owner: holder, token: token, until: Self.date(end))
                }
        }
    }

    public func liveEngines(now: Date) async throws -> [String] {
        let now = Self.milliseconds(now)
        return try await connection(leases: true) { connection in
            try await connection.query("SELECT owner FROM engine_leases WHERE until >= \(now) ORDER BY owner", logger: self.logger)
                .collect().map { try $0.decode(String.self) }
        }
    }

    public func releaseJobs(_ ids: [String], owner: String) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { connection in
            let lanes = try await connection.query("""
                UPDATE jobs SET lease_owner = NULL, claimed_until = NULL WHERE id = ANY(\(ids)) AND lease_owner = \(owner) AND state = 'pending'
                RETURNING lane
                """, logger: self.logger).collect().map { try $0.decode(String.self) }
            for lane in Set(lanes).sorted() {
                try await connection.query("SELECT pg_notify(\(PostgresSchema.wakeupChannel), \(lane))", logger: self.logger)
            }
        }
    }

    public func pendingLanes() async throws -> [String] {
        try await connection { connection in
            try await connection.query("SELECT DISTINCT lane FROM jobs WHERE state = 'pending' ORDER BY lane", logger: self.logger)
                .collect().map { try $0.decode(String.self) }
        }
    }

    public func recordEngine(_ engine: EngineRecord) async throws {
        let (info, at) = (engine.info.serialized(), Self.milliseconds(engine.recordedAt))
        try await connection { connection in
            try await connection.query("""
                INSERT INTO engines (owner, info, recorded_at) VALUES (\(engine.owner), \(info), \(at))
                ON CONFLICT (owner) DO UPDATE SET info = excluded.info, recorded_at = excluded.recorded_at
                """, logger: self.logger)
        }
    }

    public func engineRecords() async throws -> [EngineRecord] {
        try await connection { connection in
            try await connection.query("SELECT owner, info, recorded_at FROM engines ORDER BY owner", logger: self.logger).collect()
                .map { row in
                    let (owner, info, at) = try row.decode((String, String, Int64).self)
                    return EngineRecord(owner: owner, info: (try? JSONParser.parse(info)) ?? .null, recordedAt: Self.date(at))
                }
        }
    }
}
