import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import Synchronization
import TestSupport
import Testing

/// A vendor that is down holds only a window of jobs in memory; the rest wait in the store and are all delivered,
/// once each, when it comes back.
@Suite struct BacklogWindowTests {
    /// A vendor that answers nothing until the gate opens (the calls wait), then 200.
    final class GatedTransport: HTTPTransport {
        let open = Atomic<Bool>(false)
        let delivered = Mutex<[String]>([])

        func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse {
            while !open.load(ordering: .relaxed) {
                do { try await Task.sleep(for: .milliseconds(5)) } catch { throw .connection("cancelled") }
            }
            let key = request.headers.first { $0.name == "Idempotency-Key" }?.value ?? ""
            delivered.withLock { $0.append(key) }
            return InboundResponse(status: 200, headers: [], body: [])
        }
    }

    /// A vendor whose calls wait until the gate opens, then fail (503).
    final class FailingGate: HTTPTransport {
        let open = Atomic<Bool>(false)
        let calls = Atomic<Int>(0)
        func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse {
            calls.add(1, ordering: .relaxed)
            while !open.load(ordering: .relaxed) {
                do { try await Task.sleep(for: .milliseconds(5)) } catch { throw .connection("cancelled") }
            }
            return InboundResponse(status: 503, headers: [], body: [])
        }
    }

    /// Receives one event and waits (up to a generous bound) until its call is out at the gated vendor.
    static func receiveOneWhoseCallIsOut(engine: Engine, route: Engine.Route, transport: FailingGate) async throws {
        let request = WebhookRequest(method: "POST", target: "/in", headers: ["Content-Type": "application/json"],
                                     body: Array(#"{"id":"o1"}"#.utf8), remoteAddress: "127.0.0.1")
        #expect(await engine.receive(request, on: route).status == 200)
        let started = ContinuousClock.now + .seconds(300)
        while transport.calls.load(ordering: .relaxed) == 0, ContinuousClock.now < started { try await Task.sleep(for: .milliseconds(5)) }
    }

    /// A store, a runtime delivering through `transport` with a `laneWindow`-job window, and an engine with the test
    /// connector (no verification) at `/in`.
    static func engine(transport: any HTTPTransport, laneWindow: Int = 10, sweepInterval: Duration = .seconds(1)) throws
        -> (SQLiteEventStore, DeliveryRuntime, Engine, Engine.Route)
    {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        let plan = try TestConnector.plan(name: "orders", webhook: "path: /in\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]\nevent_id: id")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = DeliveryRuntime.Configuration()
        configuration.laneWindow = laneWindow
        configuration.sweepInterval = sweepInterval
        let runtime = DeliveryRuntime(store: store, transport: transport, logger: logger, configuration: configuration)
        let engine = try Engine(plan: plan, store: store, resolver: ConfigResolver(environment: [:]), logger: logger, runtime: runtime)
        return (store, runtime, engine, try #require(engine.route(for: "/in")))
    }

    @Test func aDownVendorKeepsOnlyAWindowInMemoryAndEverythingIsDeliveredOnce() async throws {
        let transport = GatedTransport()
        let (store, runtime, engine, route) = try Self.engine(transport: transport, sweepInterval: .milliseconds(20))
        let stop = Atomic<Bool>(false)
        let running = Task { await runtime.run(until: { stop.load(ordering: .relaxed) }) }

        var largest = 0
        for index in 0..<200 {
            let request = WebhookRequest(method: "POST", target: "/in", headers: ["Content-Type": "application/json"],
                                         body: Array(#"{"id":"o\#(index)"}"#.utf8), remoteAddress: "127.0.0.1")
            #expect(await engine.receive(request, on: route).status == 200)
            largest = max(largest, runtime.backlog)
        }
        #expect(largest <= 10, "at most the lane's window in memory (saw \(largest))")
        #expect(try await store.jobs(JobQuery(states: [.pending], limit: 1000)).count == 200, "the rest wait in the store")

        transport.open.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(120)
        while transport.delivered.withLock({ $0.count }) < 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        stop.store(true, ordering: .relaxed)
        await running.value
        let keys = transport.delivered.withLock { $0 }
        #expect(keys.count == 200 && Set(keys).count == 200, "each job once: \(keys.count) calls, \(Set(keys).count) distinct")
        store.close()
    }

    /// A lane with jobs waiting in the store claims more as soon as it is down to half its window, not at the next
    /// sweep: with a sweep an hour away (so only the first one runs), all 200 jobs of a 10-job window are delivered.
    /// Before, a lane delivered at most one window per sweep interval.
    @Test func aDrainingLaneClaimsMoreWithoutWaitingForTheSweep() async throws {
        let transport = GatedTransport()
        let (store, runtime, engine, route) = try Self.engine(transport: transport, sweepInterval: .seconds(3600))
        for index in 0..<200 {
            let request = WebhookRequest(method: "POST", target: "/in", headers: ["Content-Type": "application/json"],
                                         body: Array(#"{"id":"o\#(index)"}"#.utf8), remoteAddress: "127.0.0.1")
            #expect(await engine.receive(request, on: route).status == 200)
        }
        let stop = Atomic<Bool>(false)
        let running = Task { await runtime.run(until: { stop.load(ordering: .relaxed) }) }
        transport.open.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(120)
        while transport.delivered.withLock({ $0.count }) < 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let keys = transport.delivered.withLock { $0 }
        #expect(keys.count == 200 && Set(keys).count == 200, "each job once: \(keys.count) calls, \(Set(keys).count) distinct")
        stop.store(true, ordering: .relaxed)
        running.cancel()
        await running.value
        store.close()
    }

    /// An engine whose job was claimed by another (its lease ran out while the call was out) cannot record the call's
    /// outcome and lets the job go: it is not retried here, and the other engine's hold is untouched.
    @Test func anEngineThatLostAJobLetsItGo() async throws {
        let transport = FailingGate()
        // Not running: this engine never renews its lease, so another may claim its job at once.
        let (store, runtime, engine, route) = try Self.engine(transport: transport, laneWindow: 5_000)
        try await Self.receiveOneWhoseCallIsOut(engine: engine, route: route, transport: transport)
        let taken = try await store.claimJobs(owner: "other-engine", leaseUntil: Date() + 3600, now: Date() + 60, limit: 10, lane: nil)
        #expect(taken.count == 1)
        transport.open.store(true, ordering: .relaxed)
        try await Eventually.until { runtime.backlog == 0 }
        #expect(runtime.backlog == 0, "the engine kept retrying a job another engine holds")
        #expect(transport.calls.load(ordering: .relaxed) == 1)
        let job = try #require(try await store.job(id: taken[0].job.id))
        #expect(job.summary.state == .pending && job.attempts.isEmpty, "the other engine's job was changed: \(job.summary.state)")
        await runtime.drain()
        store.close()
    }

    /// An engine that lost a job to another and claimed it back while its first call was still out records that
    /// call's outcome under the new claim (the job is resident once): it is neither refused nor stranded, held in the
    /// store and in nobody's memory.
    @Test func anEngineThatClaimedItsJobBackRecordsTheCallUnderTheNewClaim() async throws {
        let transport = FailingGate()
        let (store, runtime, engine, route) = try Self.engine(transport: transport, laneWindow: 5_000)
        try await Self.receiveOneWhoseCallIsOut(engine: engine, route: route, transport: transport)
        // Another engine takes the job, and its lease runs out at once; this engine's sweep claims the job back.
        let taken = try await store.claimJobs(owner: "other-engine", leaseUntil: Date() - 1, now: Date() + 60, limit: 10, lane: nil)
        #expect(taken.count == 1)
        _ = await runtime.sweep()
        transport.open.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(300)
        var job = try #require(try await store.job(id: taken[0].job.id))
        while job.attempts.isEmpty, runtime.backlog > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            job = try #require(try await store.job(id: taken[0].job.id))
        }
        // Its retry (full jitter from 1 s, so possibly at once) may have been recorded too by now: every one is a 503.
        #expect(!job.attempts.isEmpty && job.attempts.allSatisfy { $0.responseStatus == 503 }, "the call's outcome was refused")
        #expect(job.summary.state == .pending && runtime.backlog == 1, "the job left memory while the store has it held here")
        await runtime.drain()
        store.close()
    }
}
