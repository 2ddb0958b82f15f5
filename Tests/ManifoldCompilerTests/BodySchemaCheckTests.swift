import Foundation
@testable import ManifoldCompiler
import Testing

/// `validate` reads a route's literal mapping keys against its operation's `body_schema`.
@Suite struct BodySchemaCheckTests {
    static func connector(body: String, schema: String) -> String {
        """
        connector: crm
        version: 1
        source: { webhook: { path: /in, verify: { scheme: hmac, secret: "${env:S}", header: X-Sig }, event_id: id } }
        targets:
          hubspot:
            base_url: https://api.hubapi.com
            operations:
              upsert:
                method: POST
                path: /crm/v3/objects/contacts/batch/upsert
                body_schema:
        \(schema)
        routes:
          - name: contact
            call: hubspot.upsert
            body:
        \(body)
        """
    }

    static let schema = """
                  type: object
                  required: [inputs]
                  properties:
                    inputs:
                      type: array
                      items: { $ref: "#/$defs/input" }
                  $defs:
                    input:
                      type: object
                      required: [id, properties]
                      properties:
                        id: { type: string }
                        idProperty: { type: string }
                        properties:
                          type: object
                          required: [email]
                          properties: { email: { type: string }, firstname: { type: string }, lastname: { type: string } }
        """

    @Test func aMisspeltPropertyIsAWarningWithTheRightName() {
        let body = """
                  inputs:
                    - id: "{% email %}"
                      idPropertie: email
                      properties:
                        email: "{% email %}"
                        fristname: "{% first %}"
        """
        let result = Fixtures.compile(["c.yaml": Self.connector(body: body, schema: Self.schema)])
        let messages = result.diagnostics.map(\.description)
        #expect(messages.contains { $0.hasPrefix("c.yaml:35:15: warning: route 'contact': body.inputs[0].idPropertie is not a property of hubspot.upsert's request body; did you mean 'idProperty'?") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("c.yaml:38:17: warning: route 'contact': body.inputs[0].properties.fristname is not a property of hubspot.upsert's request body; did you mean 'firstname'?") }, "\(messages)")
        #expect(result.plan != nil, "warnings only")
    }

    @Test func aMissingRequiredPropertyIsAnError() {
        let body = """
                  inputs:
                    - id: "{% email %}"
                      properties:
                        firstname: "{% first %}"
        """
        let result = Fixtures.compile(["c.yaml": Self.connector(body: body, schema: Self.schema)])
        #expect(result.plan == nil)
        #expect(result.diagnostics.map(\.description).contains {
            $0.contains("error: route 'contact': body.inputs[0].properties lacks 'email', which hubspot.upsert's request body requires")
        }, "\(result.diagnostics)")
    }

    @Test func computedValuesAndOpenSchemasAreLeftToTheRuntime() {
        // A whole-list expression: its elements are not known before an event.
        let computed = Fixtures.compile(["c.yaml": Self.connector(body: "          inputs: \"{% [contacts] %}\"", schema: Self.schema)])
        #expect(computed.diagnostics.isEmpty, "\(computed.diagnostics)")
        // additionalProperties allows any key; anyOf cannot be told apart without a value.
        let open = Fixtures.compile(["c.yaml": Self.connector(body: "          anything: 1", schema: """
                          type: object
                          properties: { a: { type: string } }
                          additionalProperties: true
                """)])
        #expect(open.diagnostics.isEmpty, "\(open.diagnostics)")
        let either = Fixtures.compile(["c.yaml": Self.connector(body: "          b: 1", schema: """
                          anyOf: [{ properties: { a: {} } }, { properties: { c: {} } }]
                """)])
        #expect(either.diagnostics.isEmpty, "\(either.diagnostics)")
    }

    @Test func aClosedSchemaSaysEveryCallWouldBeQuarantined() {
        let result = Fixtures.compile(["c.yaml": Self.connector(body: "          nmae: x", schema: """
                          type: object
                          properties: { name: { type: string } }
                          additionalProperties: false
                """)])
        #expect(result.diagnostics.map(\.description).contains {
            $0.contains("body.nmae is not a property of hubspot.upsert's request body; did you mean 'name'?: the body schema refuses unknown properties")
        }, "\(result.diagnostics)")
    }
}
