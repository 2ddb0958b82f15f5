import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldPostgres
import ManifoldStore
import Synchronization
import TestSupport
import Testing

/// Several engines on one PostgreSQL database (the private server `scripts/test` starts): each event is stored once
/// whichever engine receives it, each job is delivered by one engine, and the jobs of an engine that stops are
/// delivered by another once its lease runs out.
@Suite struct SharedStoreTests {
    /// A vendor that records each call's idempotency key; calls wait while the gate is closed.
    final class Vendor: HTTPTransport {
        let open: Atomic<Bool>
        let keys = Mutex<[String]>([])

        init(open: Bool) { self.open = Atomic(open) }

        func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse {
            while !open.load(ordering: .relaxed) {
                do { try await Task.sleep(for: .milliseconds(5)) } catch { throw .connection("cancelled") }
            }
            keys.withLock { $0.append(request.headers.first { $0.name == "Idempotency-Key" }?.value ?? "") }
            return InboundResponse(status: 200, headers: [], body: [])
        }
    }

    /// Tells running engines to stop.
    final class Stop: Sendable {
        private let flag = Atomic<Bool>(false)
        var now: Bool { flag.load(ordering: .relaxed) }
        func set() { flag.store(true, ordering: .relaxed) }
    }

    struct Node {
        let store: PostgresStore
        let runtime: DeliveryRuntime
        let engine: Engine
        let route: Engine.Route
    }

    /// An engine on the database at `url` with its own connections, runtime and owner id.
    static func node(_ url: String, vendor: Vendor, lease: Duration = .seconds(10)) async throws -> Node {
        let store = try await PostgresStore.open(url: url, connections: 4)
        let plan = try TestConnector.plan(name: "orders", webhook: "path: /in\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]\nevent_id: id")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = DeliveryRuntime.Configuration()
        configuration.sweepInterval = .milliseconds(50)
        configuration.leaseDuration = lease
        let runtime = DeliveryRuntime(store: store, transport: vendor, logger: logger, configuration: configuration)
        let engine = try Engine(plan: plan, store: store, resolver: ConfigResolver(environment: [:]), logger: logger, runtime: runtime)
        return Node(store: store, runtime: runtime, engine: engine, route: try #require(engine.route(for: "/in")))
    }

    static func post(_ id: String, to node: Node) async -> Int {
        let request = WebhookRequest(method: "POST", target: "/in", headers: ["Content-Type": "application/json"],
                                     body: Array(#"{"id":"\#(id)"}"#.utf8), remoteAddress: "127.0.0.1")
        return await node.engine.receive(request, on: node.route).status
    }

    /// Waits (up to a generous bound) until `done` holds.
    static func eventually(_ done: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try await !done(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    }

    @Test func twoEnginesStoreEachEventOnceAndDeliverEachJobOnce() async throws {
        let url = try await PrivatePostgres.freshDatabase()
        let vendor = Vendor(open: true)
        let a = try await Self.node(url, vendor: vendor)
        let b = try await Self.node(url, vendor: vendor)
        let stop = Stop()
        let running = [a.runtime, b.runtime].map { runtime in Task { await runtime.run(until: { stop.now }) } }
        // 100 events to each engine; the vendor sends 20 of them again, to the other engine.
        await withTaskGroup(of: Int.self) { group in
            for index in 0..<200 { group.addTask { await Self.post("o\(index)", to: index % 2 == 0 ? a : b) } }
            for index in 0..<20 { group.addTask { await Self.post("o\(index)", to: index % 2 == 0 ? b : a) } }
            for await status in group { #expect(status == 200) }
        }
        try await Self.eventually { vendor.keys.withLock { $0.count } >= 200 }
        try await Self.eventually { try await a.store.jobCounts()[.delivered] == 200 }
        stop.set()
        for task in running { await task.value }
        let keys = vendor.keys.withLock { $0 }
        #expect(keys.count == 200 && Set(keys).count == 200, "\(keys.count) calls, \(Set(keys).count) keys")
        #expect(try await a.store.count() == 200)
        let repeated = try await b.store.events(EventQuery(limit: 500)).filter { $0.duplicates > 0 }
        #expect(repeated.count == 20)
        a.store.close()
        b.store.close()
    }

    @Test func anEngineThatStopsHasItsJobsDeliveredByAnother() async throws {
        let url = try await PrivatePostgres.freshDatabase()
        // Engine a takes the events and its vendor calls hang; then it stops renewing its lease, as if killed.
        let stalled = Vendor(open: false)
        let a = try await Self.node(url, vendor: stalled, lease: .seconds(2))
        try await a.store.renewLeases(owner: a.runtime.owner, until: Date() + 2)
        for index in 0..<30 { #expect(await Self.post("o\(index)", to: a) == 200) }
        let vendor = Vendor(open: true)
        let b = try await Self.node(url, vendor: vendor)
        // Engine b sweeps: nothing is claimable while a's lease lives, everything once it has run out.
        let stop = Stop()
        let runtime = b.runtime
        let running = Task { await runtime.run(until: { stop.now }) }
        try await Self.eventually { try await b.store.jobCounts()[.delivered] == 30 }
        #expect(try await b.store.jobCounts()[.delivered] == 30)
        // Engine a's calls come back: the vendor sees them (same idempotency keys as b's), the store refuses their
        // outcomes, and each job keeps b's one delivered attempt.
        stalled.open.store(true, ordering: .relaxed)
        try await Self.eventually { a.runtime.backlog == 0 }
        #expect(a.runtime.backlog == 0)
        #expect(Set(stalled.keys.withLock { $0 }).isSubset(of: Set(vendor.keys.withLock { $0 })))
        for job in try await b.store.jobs(JobQuery(limit: 100)) {
            let record = try #require(try await b.store.job(id: job.id))
            #expect(record.summary.state == .delivered && record.attempts.count == 1, "\(job.id): \(record.attempts.count) attempts")
        }
        stop.set()
        await running.value
        a.store.close()
        b.store.close()
    }
}
