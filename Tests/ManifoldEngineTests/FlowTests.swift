import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
@testable import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import Synchronization
import TestSupport
import Testing

/// Flows through the real engine, store and HTTP: a step's answer feeds the next, a restart resumes at the step
/// that was running (never repeating a completed one), a dead flow replays from its failed step, and a failing
/// element is a dead letter of its own.
@Suite struct FlowTests {
    /// The connector, its calls timing out after `timeout`: generous unless a test is about a call that hangs, so
    /// that a call slowed by a loaded machine is not retried.
    static func connector(port: Int, timeout: String = "60s") -> String {
        """
        connector: orders
        version: 1
        source:
          webhook:
            path: /hooks/orders
            verify: { scheme: github, secret: "${env:HOOK_SECRET}" }
            event_id: id
        targets:
          crm:
            base_url: http://127.0.0.1:\(port)
            auth:
              oauth2: { grant: client_credentials, token_url: "http://127.0.0.1:\(port)/token", client_id: manifold, client_secret: "${env:CRM_SECRET}" }
            timeout: \(timeout)
            retry: { max_attempts: 2, backoff: { initial: 50ms, max: 50ms, jitter: none } }
            operations:
              contact: { method: POST, path: /contacts }
              deal: { method: POST, path: "/contacts/{contact}/deals" }
              line: { method: POST, path: "/deals/{deal}/lines" }
              alert: { method: POST, path: /alerts }
        routes:
          - name: sale
            steps:
              - name: contact
                call: crm.contact
                body: { email: "{% email %}" }
              - name: deal
                call: crm.deal
                path: { contact: "{% $steps.contact.body.id %}" }
                body: { amount: "{% amount %}" }
              - name: lines
                for_each: lines
                max_items: 10
                on_element_failure: continue
                call: crm.line
                path: { deal: "{% $steps.deal.body.id %}" }
                body: { sku: "{% $item %}", n: "{% $index %}" }
            on_failure:
              - name: alert
                call: crm.alert
                body: { failed: "{% $failure.step %}", contact: "{% $steps.contact.body.id %}" }
        """
    }

    /// An engine and runtime on `path`'s store, calling `vendor`.
    struct Node {
        let store: SQLiteEventStore
        let runtime: DeliveryRuntime
        let engine: Engine
        let plan: Plan
        let route: Engine.Route
        let signer: WebhookEndpoint
        let transport = AsyncHTTPTransport()

        init(path: String, vendor: MockVendor, timeout: String = "60s") throws {
            store = try SQLiteEventStore(path: path)
            let result = ConnectorCompiler().compile([SourceFile(path: "orders.yaml", text: FlowTests.connector(port: vendor.port, timeout: timeout))])
            plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
            let resolver = ConfigResolver(environment: ["HOOK_SECRET": "hook-secret", "CRM_SECRET": "crm-secret"])
            var logger = Logger(label: "flow")
            logger.logLevel = .critical
            var configuration = DeliveryRuntime.Configuration()
            configuration.leaseDuration = .milliseconds(300)
            configuration.sweepInterval = .milliseconds(50)
            runtime = DeliveryRuntime(store: store, transport: transport, logger: logger, configuration: configuration)
            engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger, runtime: runtime)
            route = try #require(engine.route(for: "/hooks/orders"))
            signer = try WebhookEndpoint(connector: plan.connectors[0], resolver: resolver)
        }

        func post(_ body: String) async -> Engine.Reply {
            var request = WebhookRequest(method: "POST", target: "/hooks/orders", headers: ["Content-Type": "application/json"],
                                         body: Array(body.utf8), remoteAddress: nil)
            for field in signer.signature.sign(request, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
                request.headers.append(field.name, field.value)
            }
            return await engine.receive(request, on: route)
        }

        /// Waits (up to a generous bound, not a window) until `done` holds of the store.
        func until(_ done: @escaping () async throws -> Bool) async throws {
            try await Eventually.until(every: .milliseconds(20)) {
                if try await done() { return true }
                await runtime.sweep()
                return false
            }
        }

        func jobs() async throws -> [JobSummary] { try await store.jobs(JobQuery(limit: 100)) }

        func stop() async {
            await runtime.drain()
            await transport.shutdown()
            store.close()
        }
    }

    @Test func eachStepReadsTheAnswersBeforeItAndAFailingElementIsADeadLetterOfItsOwn() async throws {
        let vendor = try await MockVendor()
        vendor.body("/contacts", #"{"id":"c-7"}"#)
        vendor.body("/contacts/c-7/deals", #"{"id":"d-9"}"#)
        vendor.answer("/deals/d-9/lines", with: [201, 422, 201])
        let path = EngineHTTPTests.storePath()
        let node = try Node(path: path, vendor: vendor)
        let reply = await node.post(#"{"id":"o1","email":"ada@example.com","amount":12,"lines":["A","B","C"]}"#)
        #expect(reply.status == 200)
        try await node.until { try await node.jobs().contains { $0.state == .delivered } }
        // The dashboard's timeline of the event names each call's step (and element).
        let timeline = try await DashboardData(engine: node.engine, alerts: nil).timeline(eventID: try #require(reply.body["id"]?.stringValue))
        let steps = (timeline.body["timeline"]?.arrayValue ?? []).compactMap { entry -> String? in
            guard let step = entry["step"]?.stringValue else { return nil }
            return step + (entry["element"]?.intValue.map { "[\($0)]" } ?? "")
        }
        #expect(steps == ["contact", "deal", "lines[0]", "lines[1]", "lines[2]"], "\(steps)")
        await node.stop()
        try await vendor.stop()

        let calls = vendor.calls.filter { $0.path != "/token" }
        #expect(calls.map(\.path) == ["/contacts", "/contacts/c-7/deals", "/deals/d-9/lines", "/deals/d-9/lines", "/deals/d-9/lines"])
        #expect(calls.map { $0.headers["idempotency-key"] ?? "" } == [
            "orders:o1:sale/contact", "orders:o1:sale/deal", "orders:o1:sale/lines/0", "orders:o1:sale/lines/1", "orders:o1:sale/lines/2",
        ])
        #expect(try JSONParser.parse(calls[3].body) == ["sku": "B", "n": 1])
        // What the stopped engine left in its store, opened again.
        let store = try SQLiteEventStore(path: path)
        defer { store.close() }
        let jobs = try await store.jobs(JobQuery(limit: 10))
        let flow = try #require(jobs.first { $0.state == .delivered })
        let progress = FlowProgress(json: try #require(flow.flow))
        #expect(progress.done && progress.results["deal"]?["body"]?["id"] == "d-9")
        #expect(progress.failedElements.count == 1)
        // The refused line is a dead letter of its own, holding the element it was.
        let letter = try #require(jobs.first { $0.state == .dead })
        let kept = FlowProgress(json: try #require(letter.flow))
        #expect(kept.only && kept.items == ["B"] && FlowMachine.index(of: kept) == 1 && letter.lastError?.contains("422") == true)
    }

    @Test func aRestartResumesAtTheStepThatWasRunningAndNeverRepeatsACompletedOne() async throws {
        let vendor = try await MockVendor()
        vendor.body("/contacts", #"{"id":"c-1"}"#)
        vendor.body("/contacts/c-1/deals", #"{"id":"d-1"}"#)
        // The deal's first call hangs past the timeout: the first engine stops while the flow is at that step.
        vendor.delay("/contacts/c-1/deals", by: .seconds(5))
        let path = EngineHTTPTests.storePath()
        let first = try Node(path: path, vendor: vendor, timeout: "2s")
        #expect(await first.post(#"{"id":"o2","email":"bo@example.com","amount":3,"lines":[]}"#).status == 200)
        try await first.until { vendor.arrivals.contains("/contacts/c-1/deals") }
        let midway = try #require(try await first.jobs().first)
        let stored = FlowProgress(json: try #require(midway.flow))
        #expect(midway.state == .pending && stored.results["contact"]?["body"]?["id"] == "c-1",
                "the contact's answer is stored before the deal is called")
        await first.stop()
        // The first engine may have called the contact more than once, if a call ran past the 2 s timeout on a loaded
        // machine: a retry, with the same idempotency key. The second engine never calls it.
        let contactsBefore = vendor.calls.filter { $0.path == "/contacts" }

        vendor.delay("/contacts/c-1/deals", by: nil)
        let second = try Node(path: path, vendor: vendor, timeout: "2s")
        try await second.until { try await second.jobs().first?.state == .delivered }
        await second.stop()
        try await vendor.stop()
        let paths = vendor.calls.map(\.path).filter { $0 != "/token" }
        let contacts = vendor.calls.filter { $0.path == "/contacts" }
        #expect(!contactsBefore.isEmpty && contacts.count == contactsBefore.count,
                "the completed contact step is never called again: \(paths)")
        #expect(Set(contacts.map { $0.headers["idempotency-key"] ?? "" }).count == 1, "a retry carries the same key")
        #expect(paths.filter { $0 == "/contacts/c-1/deals" }.count >= 1)
        let store = try SQLiteEventStore(path: path)
        defer { store.close() }
        let final = try await store.jobs(JobQuery(limit: 100)).first?.flow
        #expect(FlowProgress(json: try #require(final)).done)
    }

    @Test func aDeadFlowToldItsFailureStepsAndReplaysFromTheStepThatFailed() async throws {
        let vendor = try await MockVendor()
        vendor.body("/contacts", #"{"id":"c-3"}"#)
        vendor.answer("/contacts/c-3/deals", with: [400])
        let node = try Node(path: EngineHTTPTests.storePath(), vendor: vendor)
        #expect(await node.post(#"{"id":"o3","email":"cy@example.com","amount":5,"lines":[]}"#).status == 200)
        try await node.until {
            let jobs = try await node.jobs()
            return jobs.count == 2 && jobs.allSatisfy { $0.state != .pending }
        }
        let dead = try #require(try await node.jobs().first { $0.state == .dead })
        #expect(FlowProgress(json: try #require(dead.flow)).failure?["step"] == "deal")
        let alert = try #require(vendor.calls.first { $0.path == "/alerts" })
        #expect(try JSONParser.parse(alert.body) == ["failed": "deal", "contact": "c-3"], "the failure steps read the failure and the completed results")

        // Replayed: the deal again (the vendor takes it now), never the contact.
        vendor.body("/contacts/c-3/deals", #"{"id":"d-3"}"#)
        let replayer = Replayer(store: node.store, router: try Router(plan: node.plan), loadRouter: { _ in nil })
        let report = try await replayer.replay(jobs: [dead], originalPlan: false, by: "test")
        #expect(report.replayed.count == 1)
        try await node.until { try await node.jobs().contains { $0.replayOf == dead.id && $0.state == .delivered } }
        await node.stop()
        try await vendor.stop()
        let paths = vendor.calls.map(\.path).filter { $0 != "/token" }
        #expect(paths == ["/contacts", "/contacts/c-3/deals", "/alerts", "/contacts/c-3/deals"], "\(paths)")
    }
}
