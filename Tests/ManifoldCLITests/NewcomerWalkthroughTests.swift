import AsyncHTTPClient
import Foundation
import JSONValue
import TestSupport
import Testing

/// The README's "Your first connector, step by step", as written (the vendor's port aside): the examples pointed at
/// the local vendor with --target deliver there, and the connector and tests the README shows validate, pass, are
/// picked up by the running engine and deliver.
@Suite struct NewcomerWalkthroughTests {
    /// The YAML block after `<!-- walkthrough:NAME -->` in the README, unindented.
    static func block(_ name: String) throws -> String {
        let readme = try String(contentsOf: TestPaths.packageRoot.appending(path: "README.md"), encoding: .utf8)
        let marker = try #require(readme.range(of: "<!-- walkthrough:\(name) -->"))
        let rest = readme[marker.upperBound...]
        let open = try #require(rest.range(of: "```yaml\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        return rest[open.upperBound..<close.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("   ") ? String($0.dropFirst(3)) : String($0) }.joined(separator: "\n")
    }

    static func vendorLog(_ port: Int) async throws -> [JSON] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/_log"), timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 8 << 20)).split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
    }

    @Test func theWalkthroughWorksAsWritten() async throws {
        try await TemporaryDirectory.withAsync { folder in
            // 1. The vendor, and the engine on a copy of the examples with their targets pointed at it.
            let (vendor, port) = try await MockVendorProcess.start(in: folder)
            defer { vendor.terminate(); vendor.waitUntilExit() }
            let connectors = folder.appending(path: "connectors")
            try FileManager.default.copyItem(at: TestPaths.packageRoot.appending(path: "connectors"), to: connectors)
            let environment = connectors.appending(path: "example.env")
            try (String(contentsOf: environment, encoding: .utf8) + "\nORDERS_SECRET=walkthrough-secret\n")
                .write(to: environment, atomically: true, encoding: .utf8)
            let (engine, enginePort, log) = try await EngineEndToEndTests.start(
                store: folder.appending(path: "m.db").path,
                arguments: ["--connectors", connectors.path, "--env-file", environment.path,
                            "--target", "hubspot=http://127.0.0.1:\(port)", "--target", "slack=http://127.0.0.1:\(port)"])
            defer { engine.terminate(); engine.waitUntilExit() }
            let url = "http://127.0.0.1:\(enginePort)"

            // 2. A sample event, delivered to the local vendor (HubSpot's OAuth token too).
            let sample = TestPaths.packageRoot.appending(path: "connectors/samples/stripe-checkout-completed.json").path
            let sent = try await EngineEndToEndTests.manifold(["send", "stripe-to-hubspot", "--connectors", connectors.path,
                                                         "--env-file", environment.path, "--body", sample, "--url", url])
            #expect(sent.status == 0 && sent.output.hasPrefix("200 {\"status\":\"accepted\""), "\(sent.output)\(sent.error)")
            var delivered = false
            let deadline = ContinuousClock.now + .seconds(60)
            while !delivered, ContinuousClock.now < deadline {
                delivered = try await Self.vendorLog(port).contains { $0["path"]?.stringValue == "/crm/v3/objects/contacts/batch/upsert" }
                if !delivered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(delivered, "the contact reached the local vendor: \((try? String(contentsOf: log, encoding: .utf8))?.suffix(1500) ?? "")")

            // 3. The README's connector and tests, written into the watched folder.
            let connector = try Self.block("connector").replacingOccurrences(of: "127.0.0.1:9000", with: "127.0.0.1:\(port)")
            let tests = try Self.block("tests").replacingOccurrences(of: "127.0.0.1:9000", with: "127.0.0.1:\(port)")
            try connector.write(to: connectors.appending(path: "orders-to-crm.yaml"), atomically: true, encoding: .utf8)
            try tests.write(to: connectors.appending(path: "orders-to-crm.test.yaml"), atomically: true, encoding: .utf8)

            // 4. Validate, test, send.
            let validated = try await EngineEndToEndTests.manifold(["validate", "--env-file", environment.path,
                                                              connectors.appending(path: "orders-to-crm.yaml").path])
            #expect(validated.status == 0, "\(validated.output)\(validated.error)")
            let tested = try await EngineEndToEndTests.manifold(["test", connectors.appending(path: "orders-to-crm.test.yaml").path])
            #expect(tested.status == 0 && tested.output.contains("3 cases: 3 passed, 0 failed"), "\(tested.output)")
            let order = folder.appending(path: "order.json")
            try #"{"id":"o-9","status":"paid","total":5,"customer":{"email":"cy@example.com","name":"Cy"}}"#
                .write(to: order, atomically: true, encoding: .utf8)
            // The engine reloads the new file by itself; until it has, the path answers 404.
            var answer = ""
            while !answer.hasPrefix("200 "), ContinuousClock.now < deadline + .seconds(60) {
                answer = try await EngineEndToEndTests.manifold(["send", "orders-to-crm", "--connectors", connectors.path, "--env-file",
                                                           environment.path, "--body", order.path, "--url", url]).output
                if !answer.hasPrefix("200 ") { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(answer.hasPrefix("200 {\"status\":\"accepted\""), "\(answer)")
            var contact: JSON?
            while contact == nil, ContinuousClock.now < deadline + .seconds(60) {
                contact = try await Self.vendorLog(port).first { $0["path"]?.stringValue == "/contacts/cy%40example.com" }
                if contact == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(contact.flatMap { try? JSONParser.parse($0["body"]?.stringValue ?? "") } == ["name": "Cy", "total": 5])
        }
    }
}
