import Foundation
@testable import ManifoldCLI
import JSONValue
@testable import ManifoldImport
import TestSupport
import Testing

/// `manifold import openapi` on the spec excerpts kept in Docs/openapi (a CRM, a payments API, a chat API): the
/// targets it writes validate, the calls routes make through them pass their body schemas at run time, a body that
/// breaks them is quarantined, and a misspelt property is caught by `validate`.
@Suite struct ImportOpenAPITests {
    static let specs = TestPaths.packageRoot.appending(path: "Docs/openapi")

    /// A connector around an imported target: a webhook in, one route out with `body`.
    static func connector(imported: String, call: String, body: String, path: String = "") -> String {
        """
        connector: imported
        version: 1
        source: { webhook: { path: /in, verify: { scheme: hmac, secret: "${env:IN_SECRET}", header: X-Sig }, event_id: id } }
        \(imported)
        routes:
          - name: out
            call: \(call)
        \(path)    body:
        \(body)
        """
    }

    static func importing(_ spec: String, _ arguments: [String]) throws -> String {
        let output = try ImportOpenAPICommand.parse([specs.appending(path: spec).path] + arguments).perform()
        #expect(output.status == 0, "\(output.standardError)")
        return output.standardOutput
    }

    /// Validates `connector` and runs `tests` on it; returns validate's output and the test report.
    static func check(_ connector: String, tests: String) async throws -> (validate: CommandOutput, test: CommandOutput) {
        try await TemporaryDirectory.withAsync { folder in
            try Data(connector.utf8).write(to: folder.appending(path: "imported.yaml"))
            try Data(tests.utf8).write(to: folder.appending(path: "imported.test.yaml"))
            let validate = try ValidateCommand.parse([folder.appending(path: "imported.yaml").path]).perform()
            let test = try await TestCommand.parse([folder.appending(path: "imported.test.yaml").path]).perform()
            return (validate, test)
        }
    }

    @Test func aCRMsContactsBecomeATargetWhoseCallsPassTheirSchema() async throws {
        let imported = try Self.importing("hubspot-crm-contacts.yaml", ["--target", "hubspot", "--operations", "create,upsert"])
        #expect(imported.contains("bearer: { token: \"${env:HUBSPOT_TOKEN}\" }"))
        #expect(imported.contains("      create:   # post-/crm/v3/objects/contacts_create: Create a contact"))
        #expect(imported.contains("      upsert:"))
        #expect(!imported.contains("      update:"), "only the operations asked for")
        #expect(imported.contains("sha256:"))
        let body = """
                  properties:
                    email: "{% email %}"
                    firstname: "{% name %}"
            """
        let (validate, test) = try await Self.check(Self.connector(imported: imported, call: "hubspot.create", body: body), tests: """
            connector: imported
            env: { IN_SECRET: s, HUBSPOT_TOKEN: t }
            cases:
              - name: a contact the schema takes is sent
                webhook: { body: { id: e1, email: ada@example.com, name: Ada } }
                expect:
                  requests: [{ route: out, method: POST, url: https://api.hubapi.com/crm/v3/objects/contacts,
                               body: { properties: { email: ada@example.com, firstname: Ada } } }]
                  outcome: delivered
              - name: a property that is not a string breaks the schema and is never sent
                webhook: { body: { id: e2, email: 42, name: Ada } }
                expect: { outcome: quarantined }
            """)
        #expect(validate.status == 0 && !validate.standardOutput.contains("request body"), "\(validate.standardOutput)")
        #expect(test.standardOutput.contains("2 cases: 2 passed, 0 failed"), "\(test.standardOutput)")

        // A misspelt top-level property: a warning naming the right one; a required one left out: an error.
        let misspelt = try await Self.check(Self.connector(imported: imported, call: "hubspot.create", body: """
                  propertes:
                    email: "{% email %}"
            """), tests: "connector: imported\ncases: []\n")
        #expect(misspelt.validate.status == 1)
        #expect(misspelt.validate.standardOutput.contains("warning: route 'out': body.propertes is not a property of hubspot.create's request body; did you mean 'properties'?"),
                "\(misspelt.validate.standardOutput)")
        #expect(misspelt.validate.standardOutput.contains("error: route 'out': body lacks 'properties', which hubspot.create's request body requires"))
    }

    @Test func aPaymentsAPIsOrdersUseItsOAuthAndItsNestedSchema() async throws {
        let imported = try Self.importing("paypal-orders.json", ["--target", "paypal", "--operations", "orders"])
        // Every operation tagged `orders`, client credentials at the server's token URL (relative in the document).
        #expect(imported.contains("      orders_create:") && imported.contains("      orders_capture:"))
        #expect(imported.contains("token_url: https://api-m.sandbox.paypal.com/v1/oauth2/token"))
        #expect(imported.contains("client_secret: \"${env:PAYPAL_CLIENT_SECRET}\""))
        let body = """
                  intent: CAPTURE
                  purchase_units:
                    - reference_id: "{% id %}"
                      amount: { currency_code: "{% currency %}", value: "{% $string(total) %}" }
            """
        let (validate, test) = try await Self.check(Self.connector(imported: imported, call: "paypal.orders_create", body: body), tests: """
            connector: imported
            env: { IN_SECRET: s, PAYPAL_CLIENT_ID: c, PAYPAL_CLIENT_SECRET: t }
            cases:
              - name: an order in a currency's code is created
                webhook: { body: { id: o1, currency: EUR, total: 12.5 } }
                expect:
                  requests: [{ route: out, url: https://api-m.sandbox.paypal.com/v2/checkout/orders,
                               body: { intent: CAPTURE, purchase_units: [{ reference_id: o1, amount: { currency_code: EUR, value: "12.5" } }] } }]
                  outcome: delivered
              - name: a currency that is not a three-letter code is quarantined
                webhook: { body: { id: o2, currency: EURO, total: 12.5 } }
                expect: { outcome: quarantined }
            """)
        #expect(validate.status == 0 && !validate.standardOutput.contains("request body"), "\(validate.standardOutput)")
        #expect(test.standardOutput.contains("2 cases: 2 passed, 0 failed"), "\(test.standardOutput)")

        let misspelt = try await Self.check(Self.connector(imported: imported, call: "paypal.orders_create", body: """
                  intent: CAPTURE
                  purchase_units:
                    - amount: { currency_code: EUR, value: "1.00" }
                      invoiceid: "{% id %}"
            """), tests: "connector: imported\ncases: []\n")
        #expect(misspelt.validate.standardOutput.contains("body.purchase_units[0].invoiceid is not a property of paypal.orders_create's request body; did you mean 'invoice_id'?"),
                "\(misspelt.validate.standardOutput)")
    }

    @Test func aChatAPIs31DocumentGivesItsJSONBodyNotTheMultipartOne() async throws {
        let imported = try Self.importing("discord-messages.yaml", [])
        #expect(imported.contains("  discord:"), "the target named from the title")
        #expect(imported.contains("base_url: https://discord.com/api/v10"), "server variables at their defaults")
        #expect(imported.contains("api_key: { header: Authorization, value: \"${env:DISCORD_API_KEY}\" }"))
        #expect(!imported.contains("              type: \"null\"\n            tts"), "a nullable oneOf keeps its branches")
        let body = """
                  content: "{% 'New order ' & id %}"
                  nonce: "{% id %}"
                  embeds: [{ title: "{% id %}", fields: [{ name: Total, value: "{% $string(total) %}" }] }]
            """
        let (validate, test) = try await Self.check(Self.connector(imported: imported, call: "discord.create_message", body: body,
                                                              path: "    path: { channel_id: \"1234567890\" }\n"), tests: """
            connector: imported
            env: { IN_SECRET: s, DISCORD_API_KEY: "Bot t" }
            cases:
              - name: a message is posted to the channel
                webhook: { body: { id: "o-1", total: 3 } }
                expect:
                  requests: [{ route: out, url: https://discord.com/api/v10/channels/1234567890/messages }]
                  outcome: delivered
              - name: an embed field without its value is quarantined
                webhook: { body: { id: "o-2" } }
                expect: { outcome: quarantined }
            """)
        #expect(validate.status == 0 && !validate.standardOutput.contains("request body"), "\(validate.standardOutput)")
        #expect(test.standardOutput.contains("2 cases: 2 passed, 0 failed"), "\(test.standardOutput)")
    }

    @Test func documentsThatCannotBeImportedSaySo() throws {
        try TemporaryDirectory.with { folder in
            let swagger = folder.appending(path: "swagger.yaml")
            try Data("swagger: \"2.0\"\ninfo: { title: Old, version: \"1\" }\npaths: {}\n".utf8).write(to: swagger)
            let old = try ImportOpenAPICommand.parse([swagger.path]).perform()
            #expect(old.status == 1 && old.standardError.contains("not an OpenAPI 3 document"), "\(old.standardError)")
            let dangling = folder.appending(path: "dangling.yaml")
            try Data("""
                openapi: 3.1.0
                info: { title: Broken, version: "1" }
                paths:
                  /x:
                    post:
                      operationId: make
                      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Missing" } } } }
                      responses: { "200": { description: ok } }
                """.utf8).write(to: dangling)
            let broken = try ImportOpenAPICommand.parse([dangling.path]).perform()
            #expect(broken.status == 1 && broken.standardError.contains("does not resolve"), "\(broken.standardError)")
        }
        let unknown = try ImportOpenAPICommand.parse([Self.specs.appending(path: "paypal-orders.json").path, "--operations", "refunds"]).perform()
        #expect(unknown.status == 1 && unknown.standardError.contains("no operation matches refunds") && unknown.standardError.contains("orders.create"))
    }

    @Test func theVariablesPrefixAndTheOutputFileAreTheUsers() throws {
        try TemporaryDirectory.with { folder in
            let file = folder.appending(path: "crm.yaml")
            let output = try ImportOpenAPICommand.parse([Self.specs.appending(path: "hubspot-crm-contacts.yaml").path, "--target", "crm",
                                                         "--env-prefix", "SALES_CRM", "--out", file.path]).perform()
            #expect(output.status == 0 && output.standardOutput.contains("wrote \(file.path)"), "\(output.standardError)")
            let written = try String(contentsOf: file, encoding: .utf8)
            #expect(written.contains("bearer: { token: \"${env:SALES_CRM_TOKEN}\" }") && written.contains("  crm:"))
        }
    }

    @Test func readOnlyPropertiesAreNotAskedOfARequest() throws {
        let schema = try JSONParser.parse(#"{"type":"object","required":["id","name"],"properties":{"id":{"type":"string","readOnly":true},"name":{"type":"string","description":"d"}}}"#)
        #expect(OpenAPIImport.forRequest(schema).serialized() == #"{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}"#)
    }
}
