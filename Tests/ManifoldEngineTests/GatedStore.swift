import Foundation
import JSONValue
import ManifoldStore
import Synchronization

/// The in-memory store, whose claims wait while `claimsStalled` is set and outcome records while `recordsStalled`
/// is (a busy store, held up behind other writes); counts what waits and the lease renewals.
final class GatedStore: JobStore, LaneLeaseStore {
    let inner = InMemoryStore()
    let claimsStalled = Atomic<Bool>(false)
    let recordsStalled = Atomic<Bool>(false)
    let claimsWaiting = Atomic<Int>(0)
    let recordsWaiting = Atomic<Int>(0)
    let engineRenewals = Atomic<Int>(0)
    let laneRenewals = Atomic<Int>(0)

    func claimJobs(owner: String, leaseUntil: Date, now: Date, limit: Int, lane: String?) async throws -> [ClaimedJob] {
        claimsWaiting.add(1, ordering: .relaxed)
        defer { claimsWaiting.subtract(1, ordering: .relaxed) }
        while claimsStalled.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(2)) }
        return try await inner.claimJobs(owner: owner, leaseUntil: leaseUntil, now: Date(), limit: limit, lane: lane)
    }
    func renewLeases(owner: String, until: Date) async throws {
        engineRenewals.add(1, ordering: .relaxed)
        try await inner.renewLeases(owner: owner, until: until)
    }
    func acquireLanes(_ lanes: [String], owner: String, until: Date, now: Date) async throws -> [LaneLease] {
        laneRenewals.add(1, ordering: .relaxed)
        return try await inner.acquireLanes(lanes, owner: owner, until: until, now: now)
    }
    func releaseLeases(owner: String) async throws { try await inner.releaseLeases(owner: owner) }
    func record(_ attempt: AttemptRecord, outcome: JobOutcome, flow: JSON?, spawn: [NewJob]) async throws {
        recordsWaiting.add(1, ordering: .relaxed)
        defer { recordsWaiting.subtract(1, ordering: .relaxed) }
        while recordsStalled.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(2)) }
        try await inner.record(attempt, outcome: outcome, flow: flow, spawn: spawn)
    }
    func jobs(_ query: JobQuery) async throws -> [JobSummary] { try await inner.jobs(query) }
    func job(id: String) async throws -> JobRecord? { try await inner.job(id: id) }
    func jobCounts(states: [JobState]) async throws -> [JobCount] { try await inner.jobCounts(states: states) }
    func addJobs(_ jobs: [NewJob], toEvent id: String, status: EventStatus, detail: JSON) async throws {
        try await inner.addJobs(jobs, toEvent: id, status: status, detail: detail)
    }
    func deadLetter(lane: String, reason: String) async throws -> Int { try await inner.deadLetter(lane: lane, reason: reason) }
    func moveJobs(_ ids: [String], from: [JobState], to: JobState) async throws -> [String] {
        try await inner.moveJobs(ids, from: from, to: to)
    }
    func replay(job id: String, with replacement: NewJob, status: EventStatus, detail: JSON) async throws -> Bool {
        try await inner.replay(job: id, with: replacement, status: status, detail: detail)
    }
    func keepPlan(version: String, sources: [PlanSource]) async throws { try await inner.keepPlan(version: version, sources: sources) }
    func planSources(version: String) async throws -> [PlanSource]? { try await inner.planSources(version: version) }
    func releaseLanes(_ lanes: [String], owner: String, at: Date) async throws { try await inner.releaseLanes(lanes, owner: owner, at: at) }
    func laneLeases() async throws -> [LaneLease] { try await inner.laneLeases() }
    func liveEngines(now: Date) async throws -> [String] { try await inner.liveEngines(now: now) }
    func releaseJobs(_ ids: [String], owner: String) async throws { try await inner.releaseJobs(ids, owner: owner) }
    func pendingLanes() async throws -> [String] { try await inner.pendingLanes() }
    func recordEngine(_ engine: EngineRecord) async throws { try await inner.recordEngine(engine) }
    func engineRecords() async throws -> [EngineRecord] { try await inner.engineRecords() }
}
