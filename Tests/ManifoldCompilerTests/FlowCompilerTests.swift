import Foundation
@testable import ManifoldCompiler
import ManifoldPlan
import Testing

/// `validate` on flows: what a step may read, how steps are named and bounded, and where a flow's calls go.
@Suite struct FlowCompilerTests {
    static func connector(_ routes: String) -> String {
        """
        connector: shop
        version: 1
        source: { webhook: { path: /in, verify: { scheme: hmac, secret: "${env:S}", header: X-Sig }, event_id: id } }
        targets:
          crm:
            base_url: https://crm.example
            operations:
              create: { method: POST, path: /things }
              update: { method: POST, path: "/things/{id}" }
          customers:
            endpoints: { tenant: customer }
        routes:
        \(routes)
        """
    }

    static func messages(_ routes: String) -> [String] {
        Fixtures.compile(["f.yaml": connector(routes)]).diagnostics.map(\.description)
    }

    @Test func aFlowCompilesIntoStepsWithTheirCallsConditionsAndBounds() throws {
        let result = Fixtures.compile(["f.yaml": Self.connector("""
              - name: order
                when: type = 'order'
                steps:
                  - name: contact
                    call: crm.create
                    body: { email: "{% email %}" }
                  - name: totals
                    set: { sum: "{% $sum(lines.price) %}" }
                  - name: lines
                    when: $steps.totals.sum > 0
                    for_each: lines
                    max_items: 50
                    on_element_failure: continue
                    call: crm.update
                    path: { id: "{% $steps.contact.body.id %}" }
                    body: { sku: "{% $item.sku %}", position: "{% $index %}" }
                on_failure:
                  - name: tell
                    call: crm.create
                    body: { failed: "{% $failure.step %}" }
            """)])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let route = try #require(result.plan?.connectors.first?.routes.first)
        #expect(route.isFlow && route.target == "crm" && route.operation == "create", "the job starts on its first call's lane")
        #expect(route.steps.map(\.name) == ["contact", "totals", "lines"] && route.onFailure.map(\.name) == ["tell"])
        #expect(route.steps[1].call == nil && route.steps[1].value != nil)
        #expect(route.steps[2].maxItems == 50 && route.steps[2].onElementFailure == .continue && route.steps[2].forEach?.source == "lines")
        #expect(route.steps[2].call?.call == "crm.update" && route.steps[2].condition?.source == "$steps.totals.sum > 0")
        // The plan's JSON (and so its version) holds the steps.
        #expect(route.json["steps"]?.arrayValue?.count == 3 && route.json["call"] == nil)
    }

    @Test func aStepReadsOnlyTheStepsBeforeItAndAMisspeltOneGetsTheRightName() {
        #expect(Self.messages("""
              - name: order
                steps:
                  - name: contact
                    call: crm.create
                    body: { deal: "{% $steps.deal.body.id %}" }
                  - name: deal
                    call: crm.update
                    path: { id: "{% $steps.contatc.body.id %}" }
                  - name: again
                    call: crm.create
                    body: { me: "{% $steps.again.status %}" }
            """) == [
            "f.yaml:17:23: error: step 'contact' reads $steps.deal, which runs after it: a step reads only the steps before it",
            "f.yaml:20:21: error: step 'deal' reads $steps.contatc, but route 'order' has no step 'contatc' before it; did you mean $steps.contact?",
            "f.yaml:23:21: error: step 'again' reads its own result ($steps.again): a step reads only the steps before it",
        ])
    }

    @Test func stepNamesAreUniqueAndAForEachIsBounded() {
        let messages = Self.messages("""
              - name: order
                steps:
                  - { name: one, call: crm.create }
                  - { name: one, call: crm.create }
                  - { name: lines, for_each: lines, call: crm.create }
                on_failure:
                  - { name: one, call: crm.create }
            """)
        #expect(messages.contains { $0.hasPrefix("f.yaml:16:17: error: step name 'one' is used twice in route 'order'") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("f.yaml:17:9: error: routes[0].steps[2] is missing the required key 'max_items'") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("f.yaml:19:17: error: step name 'one' is used twice in route 'order'") }, "\(messages)")
    }

    @Test func aFlowCallsOneAPIPerStepAndTellsSomeoneWhenItFails() {
        let messages = Self.messages("""
              - name: order
                steps:
                  - { name: send, call: customers.send }
                on_failure:
                  - { name: note, set: { x: 1 } }
              - name: both
                call: crm.create
                steps:
                  - { name: a, call: crm.create }
              - name: transform
                steps:
                  - { name: only, set: { x: 1 }, body: { y: 2 } }
            """)
        #expect(messages.contains("f.yaml:15:29: error: route 'order', step 'send' calls customers.send, which sends to customers' endpoints: a flow's step calls one API; send to endpoints from a route"), "\(messages)")
        #expect(messages.contains { $0.hasPrefix("f.yaml:17:7: error: route 'order': on_failure has no step that calls an operation") }, "\(messages)")
        #expect(messages.contains { $0.contains("routes[1] runs steps, so call, body, headers, query, path, idempotency_key and success_when belong in its steps") }, "\(messages)")
        #expect(messages.contains { $0.contains("routes[2].steps[0] computes a value (set:) and makes no call") }, "\(messages)")
    }
}
