import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import Synchronization
import TestSupport
import Testing

/// A lane's next call does not wait for the last one's outcome to be written: a busy store (its writes queued behind
/// others) held every lane to its concurrency's calls per commit.
@Suite struct AnsweredCallTests {
    /// A vendor that answers at once; counts its calls and the most it had at once.
    final class Vendor: HTTPTransport {
        let calls = Atomic<Int>(0)
        let inFlight = Atomic<Int>(0)
        let most = Atomic<Int>(0)

        func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse {
            let now = inFlight.add(1, ordering: .relaxed).newValue
            most.max(now, ordering: .relaxed)
            calls.add(1, ordering: .relaxed)
            inFlight.subtract(1, ordering: .relaxed)
            return InboundResponse(status: 200, headers: [], body: [])
        }
    }

    /// Three events for `source` (a connector whose `all` route calls target `sink`, of `concurrency: 1`), their jobs
    /// stored and given to the lane as ingest does, while the store holds every outcome unwritten: the lane makes one
    /// call per job, one at a time, without waiting for the writes. Then the writes go through and every job is
    /// delivered after `calls` calls in all.
    static func threeJobsWhileOutcomesWait(_ source: String, flow: Bool, calls: Int) async throws {
        let store = GatedStore()
        store.recordsStalled.store(true, ordering: .relaxed)
        let compiled = ConnectorCompiler().compile([SourceFile(path: "orders.yaml", text: source)])
        let plan = try #require(compiled.plan, "\(compiled.diagnostics.map(\.message))")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let vendor = Vendor()
        let runtime = DeliveryRuntime(store: store, transport: vendor, logger: logger)
        runtime.install(try DeliveryPlan(plan: plan, resolver: ConfigResolver(environment: [:]), tokens: runtime.tokens))
        for index in 0..<3 {
            let job = NewJob(route: "all", target: "sink", lane: "orders/sink", orderingKey: nil,
                             traceID: String(repeating: "a", count: 32), planVersion: plan.version,
                             flow: flow ? FlowProgress.start.json : JSON?.none)
            let stored = try await store.inner.append(NewEvent(
                connector: "orders", eventID: "o\(index)", eventType: nil, planVersion: plan.version, receivedAt: Date(),
                contentType: "application/json", headers: [], body: Array(#"{"id":"o\#(index)"}"#.utf8), remoteAddress: nil,
                status: .routed, detail: nil, jobs: [job], lease: runtime.newLease))
            runtime.enqueue([job], eventStoreID: stored.id, connector: "orders", vendorEventID: "o\(index)", payload: ["id": .string("o\(index)")],
                            headers: [], receivedAt: Date())
        }
        // All three calls are made, one at a time, while the first outcome is still being written. (A call is counted
        // before its outcome reaches the store: both are waited for.)
        try await Eventually.until(every: .milliseconds(5)) {
            vendor.calls.load(ordering: .relaxed) >= 3 && store.recordsWaiting.load(ordering: .relaxed) >= 3
        }
        #expect(vendor.calls.load(ordering: .relaxed) == 3, "the lane waited for the outcome to be written")
        #expect(vendor.most.load(ordering: .relaxed) == 1, "the lane's concurrency (1) held")
        #expect(store.recordsWaiting.load(ordering: .relaxed) == 3)
        // Once written, each is delivered, each call made once.
        store.recordsStalled.store(false, ordering: .relaxed)
        // A deadline of its own: a first phase that ran out its bound left this one none.
        let written = ContinuousClock.now + .seconds(300)
        while try await store.inner.jobs(JobQuery(states: [.delivered])).count != 3, ContinuousClock.now < written { try await Task.sleep(for: .milliseconds(5)) }
        #expect(try await store.inner.jobs(JobQuery(states: [.delivered])).count == 3)
        #expect(vendor.calls.load(ordering: .relaxed) == calls)
        #expect(vendor.most.load(ordering: .relaxed) == 1)
    }

    @Test func aLanesNextCallStartsWhileTheLastOutcomeIsWritten() async throws {
        let source = TestConnector.source(name: "orders", webhook: "path: /in\nverify: { scheme: none }\nevent_id: id")
            .replacingOccurrences(of: "    base_url: https://example.com\n", with: "    base_url: https://example.com\n    concurrency: 1\n")
        try await Self.threeJobsWhileOutcomesWait(source, flow: false, calls: 3)
    }

    /// The same for a flow's calls: the lane's next flow starts its call while the last one's step is written.
    @Test func aLanesNextFlowCallStartsWhileTheLastStepIsWritten() async throws {
        let source = """
            connector: orders
            version: 1
            source:
              webhook:
                path: /in
                verify: { scheme: none }
                event_id: id
            targets:
              sink:
                base_url: https://example.com
                concurrency: 1
                operations:
                  post: { method: POST, path: /in }
            routes:
              - name: all
                steps:
                  - name: first
                    call: sink.post
                    body: "{% $ %}"
                  - name: second
                    call: sink.post
                    body: { after: "{% $steps.first.status %}" }
            """
        try await Self.threeJobsWhileOutcomesWait(source, flow: true, calls: 6)
    }
}
