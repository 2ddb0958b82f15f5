public import Foundation
public import JSONValue
public import ManifoldStore

/// The engines sharing a store as the store says now: the live ones (their lease renewed), what each recorded of
/// itself (plan version, host, address), the lanes each holds, and the lanes no engine holds. What
/// `manifold cluster status` prints and the dashboard shows.
public struct ClusterStatus: Sendable {
    public struct Member: Sendable {
        public var record: EngineRecord
        public var lanes: [LaneLease]
        public var plan: String? { record.info["plan"]?.stringValue }
    }

    public var members: [Member]
    public var unheldLanes: [String]
    /// The plan versions the live engines run: more than one while a reload has not reached every engine.
    public var plans: Set<String> { Set(members.compactMap(\.plan)) }

    /// Reads the store's live engines, their records and the lanes' leases, as of `now`.
    public static func read(from store: any LaneLeaseStore, now: Date = Date()) async throws -> ClusterStatus {
        let live = Set(try await store.liveEngines(now: now))
        let records = try await store.engineRecords()
        let leases = try await store.laneLeases()
        let known = Set(records.map(\.owner))
        // A live engine that recorded nothing (it started and has not written its record yet) is listed bare.
        let engines = records.filter { live.contains($0.owner) } + live.subtracting(known).sorted()
            .map { EngineRecord(owner: $0, info: [:], recordedAt: now) }
        let held = Dictionary(grouping: leases.filter { $0.owner != nil && $0.until > now }, by: { $0.owner! })
        return ClusterStatus(members: engines.map { Member(record: $0, lanes: held[$0.owner] ?? []) },
                             unheldLanes: leases.filter { $0.owner == nil || $0.until <= now }.map(\.lane))
    }

    /// As JSON: each engine with what it recorded, its lanes and their leases; `this` marks `engine` when given.
    public func json(this engine: String? = nil) -> JSON {
        [
            "engines": .array(members.map { member in
                var object = member.record.info.objectValue ?? JSONObject()
                object["engine"] = .string(member.record.owner)
                object["recorded_at"] = .string(JobJSON.time(member.record.recordedAt))
                if let engine { object["this"] = .bool(member.record.owner == engine) }
                object["lanes"] = .array(member.lanes.map { lease in
                    ["lane": .string(lease.lane), "token": .number(Double(lease.token)), "until": .string(JobJSON.time(lease.until))]
                })
                return .object(object)
            }),
            "unheld_lanes": .array(unheldLanes.map(JSON.string)),
            "plans_agree": .bool(plans.count <= 1),
        ]
    }
}
