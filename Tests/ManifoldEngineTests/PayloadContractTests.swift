import Foundation
import JSONValue
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import TestSupport
import Testing

/// Payload contracts: when a vendor changes its format, nothing corrupt is delivered — the event is stored and
/// quarantined with where and why (never the values), and counted. In process.
@Suite struct PayloadContractTests {
    static let webhook = """
        path: /orders
        verify: { scheme: github, secret: "${env:SECRET}" }
        event_id: id
        event_type: kind
        payload_schema: { type: object, required: [id, amount], properties: { amount: { type: integer } } }
        payload_schemas: { refund: { type: object, required: [id, reason], properties: { reason: { type: string, minLength: 3 } } } }
        """

    @Test func aPayloadThatBreaksItsContractIsQuarantinedWithWhereAndWhy() async throws {
        let plan = try TestConnector.plan(name: "orders", webhook: Self.webhook)
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        try await InProcessEngine.with(store: store, plan: plan, resolver: ConfigResolver(environment: ["SECRET": "s"])) { running in
            let good = try await running.post("/orders", body: #"{"id":"o-1","kind":"order","amount":42}"#)
            #expect(good.status == 200 && good.body?["status"] == "accepted")
            let changed = try await running.post("/orders", body: #"{"id":"o-2","kind":"order","amount":"forty-two"}"#)
            #expect(changed.status == 202 && changed.body?["status"] == "quarantined")
            let refund = try await running.post("/orders", body: #"{"id":"r-1","kind":"refund","amount":5,"reason":"no"}"#)
            #expect(refund.status == 202 && refund.body?["status"] == "quarantined")
            let metrics = await running.engine.scrape()
            #expect(metrics.contains(#"manifold_events_quarantined_total{connector="orders"} 2"#), "\(metrics.split(separator: "\n").filter { $0.contains("quarantined") })")
        }
        let reopened = try SQLiteEventStore(path: store.path, create: false)
        defer { reopened.close() }
        let events = try await reopened.events(EventQuery())
        func reason(_ eventID: String) async throws -> String {
            let summary = try #require(events.first { $0.eventID == eventID })
            return try #require(try await reopened.event(id: summary.id)?.history.first?.detail?["reason"]?.stringValue)
        }
        #expect(try await reason("o-2") == "the payload breaks its contract (payload_schema): /amount: must be an integer (got a string) [/properties/amount/type]")
        let refundReason = try await reason("r-1")
        #expect(refundReason.hasPrefix("the payload breaks its contract (payload_schemas[refund]): /reason: must be at least 3 characters long"))
        let orderReason = try await reason("o-2")
        #expect(!refundReason.contains("\"no\"") && !orderReason.contains("forty"), "no payload value in a reason")
        #expect(try await reopened.jobs(JobQuery()).count == 1, "only the good event was routed")
    }
}
