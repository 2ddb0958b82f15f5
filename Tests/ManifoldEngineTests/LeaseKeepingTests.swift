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
    /// Waits (up to a generous bound) until `done` holds.
    static func eventually(_ done: () -> Bool) async throws {
        try await Eventually.until(every: .milliseconds(5)) { done() }
    }

    @Test func leasesAreRenewedWhileAClaimIsHeldUp() async throws {
        let store = GatedStore()
        store.claimsStalled.store(true, ordering: .relaxed)
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
        store.claimsStalled.store(false, ordering: .relaxed)
        await running.value
    }
}
