import ManifoldCompiler
import ManifoldDelivery
import ManifoldIngress
import ManifoldPlan
import TestSupport
import Testing

/// Which connectors are admitted on the thread that received the request (`Engine.admitsHere`): those whose every
/// expression at ingest takes time bounded by the event's size, and no payload contract (a schema's `pattern` can
/// backtrack). Anything else is evaluated on the expression threads.
@Suite struct BoundedAdmissionTests {
    static let resolver = ConfigResolver(environment: [:])

    static func connector(webhook: String = "", when: String? = nil) throws -> (WebhookEndpoint, Router, String) {
        var source = TestConnector.source(name: "shop", webhook: "path: /in\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]\n" + webhook)
        if let when { source = source.replacingOccurrences(of: "    call: sink.post", with: "    when: \(when)\n    call: sink.post") }
        let plan = try #require(ConnectorCompiler().compile([SourceFile(path: "shop.yaml", text: source)]).plan)
        return (try WebhookEndpoint(connector: plan.connectors[0], resolver: resolver), try Router(plan: plan), "shop")
    }

    @Test func plainPathsAndComparisonsAreBounded() throws {
        let (endpoint, router, name) = try Self.connector(webhook: "event_id: data.id\nevent_type: $lowercase(type)",
                                                          when: "type in ['a', 'b'] and $sum(items.price) > 10")
        #expect(endpoint.admitsInBoundedTime)
        #expect(router.routesInBoundedTime(name))
    }

    @Test func aRegexOrCallbackAnywhereIsNot() throws {
        #expect(try !Self.connector(webhook: "event_id: $match(id, /[0-9]+/).match").0.admitsInBoundedTime)
        #expect(try !Self.connector(webhook: "event_id: id\nevent_type: $map(types, $string)").0.admitsInBoundedTime)
        let (_, router, name) = try Self.connector(webhook: "event_id: id", when: "$count($filter(items, function($i) { $i.ok })) > 0")
        #expect(!router.routesInBoundedTime(name))
    }

    @Test func aPayloadContractIsNot() throws {
        let (endpoint, _, _) = try Self.connector(webhook: "event_id: id\npayload_schema: { type: object, properties: { id: { type: string, pattern: '^(a+)+$' } } }")
        #expect(!endpoint.admitsInBoundedTime)
    }
}
