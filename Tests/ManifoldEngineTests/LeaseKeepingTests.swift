import Foundation
import JSONValue
import Logging
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import Synchronization
import TestSupport
import Testing

/// An engine keeps its leases while its claims are held up: a busy store (every connection taken by appends) slows
/// the claims, and must not let the engine's jobs and lanes run out under it, or another engine calls them again.
@Suite struct LeaseKeepingTests {
    /// The in-memory store, whose claims wait while `stalled` is set; counts the lease renewals.
    final class StallingStore: JobStore, LaneLeaseStore {
        let inner = InMemoryStore()
        let stalled = Atomic<Bool>(true)
        let claimsWaiting = Atomic<Int>(0)
        let engineRenewals = Atomic<Int>(0)
        let laneRenewals = Atomic<Int>(0)

        func claimJobs(owner: String, leaseUntil: Date, now: Date, limit: Int, lane: String?) async throws -> [ClaimedJob] {
            claimsWaiting.add(1, ordering: .relaxed)
            defer { claimsWaiting.subtract(1, ordering: .relaxed) }
            while stalled.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(2)) }
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

    /// Waits (up to a generous bound) until `done` holds.
    static func eventually(_ done: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !done(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func leasesAreRenewedWhileAClaimIsHeldUp() async throws {
        let store = StallingStore()
        let plan = try TestConnector.plan(name: "orders", webhook: "path: /in\nverify: { scheme: none }\nevent_id: id")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = DeliveryRuntime.Configuration()
        configuration.sweepInterval = .milliseconds(20)
        configuration.leaseDuration = .milliseconds(90)
        configuration.sharesStore = true
        let runtime = DeliveryRuntime(store: store, transport: SharedStoreTests.Vendor(open: true), logger: logger,
                                      configuration: configuration)
        runtime.install(try DeliveryPlan(plan: plan, resolver: ConfigResolver(environment: [:]), tokens: runtime.tokens))
        let stop = SharedStoreTests.Stop()
        let running = Task { await runtime.run(until: { stop.now }) }
        // The first claim is under way and stays there; meanwhile the engine's lease and its lane's lease are renewed
        // again and again (each lasts 90 ms and is renewed a third of the way through; counted, not timed: on a busy
        // machine a renewal may come late, but it comes).
        try await Self.eventually { store.claimsWaiting.load(ordering: .relaxed) > 0 }
        let (engine, lanes) = (store.engineRenewals.load(ordering: .relaxed), store.laneRenewals.load(ordering: .relaxed))
        try await Self.eventually {
            store.engineRenewals.load(ordering: .relaxed) >= engine + 5 && store.laneRenewals.load(ordering: .relaxed) >= lanes + 5
        }
        #expect(store.claimsWaiting.load(ordering: .relaxed) > 0, "the claim was still held up")
        #expect(store.engineRenewals.load(ordering: .relaxed) >= engine + 5, "the engine's lease was not renewed during the claim")
        #expect(store.laneRenewals.load(ordering: .relaxed) >= lanes + 5, "the lanes' leases were not renewed during the claim")
        stop.set()
        store.stalled.store(false, ordering: .relaxed)
        await running.value
    }
}
