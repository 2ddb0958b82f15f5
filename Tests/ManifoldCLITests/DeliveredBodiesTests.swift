import Foundation
import JSONValue
import TestSupport
import Testing

/// What a delivered call's record keeps, as `manifold test --record` shows it: by default the body's SHA-256 and
/// size (said in the recorded case), with `--keep-delivered-bodies` the body itself (expected by the case). The real
/// binaries and the mock vendor, on loopback.
@Suite(.serialized) struct DeliveredBodiesTests {
    /// Sends one order to an engine started with `arguments`, waits for its delivery to be recorded, and returns what
    /// `manifold test --record` makes of it.
    static func recorded(engineArguments: [String]) async throws -> String {
        try await TemporaryDirectory.withAsync { folder in
            let setup = try await ObservabilityEndToEndTests.start(in: folder, engineArguments: engineArguments)
            defer { setup.stop() }
            let body = folder.appending(path: "o1.json")
            try #"{"id":"o1","action":"created"}"#.write(to: body, atomically: true, encoding: .utf8)
            var environment = ObservabilityEndToEndTests.secrets
            environment["VENDOR_PORT"] = String(setup.vendorPort)
            let sent = try await EngineEndToEndTests.manifold(
                ["send", "orders", "--connectors", folder.appending(path: "connectors").path, "--body", body.path,
                 "--url", "http://127.0.0.1:\(setup.port)"], environment: environment)
            #expect(sent.status == 0, "\(sent.output)\(sent.error)")
            let id = try #require(try JSONParser.parse(String(sent.output.dropFirst(4)))["id"]?.stringValue, "\(sent.output)")
            var output = ""
            _ = try await Eventually.until(every: .milliseconds(200)) {
                output = try await EngineEndToEndTests.manifold(["test", "--record", id, "--store", folder.appending(path: "m.db").path]).output
                return output.contains(#""contact": delivered"#)
            }
            #expect(output.contains(#""contact": delivered"#), "\(output)")
            return output
        }
    }

    @Test func aDeliveredCallKeepsItsBodysDigestUnlessAskedToKeepTheBody() async throws {
        let digest = try await Self.recorded(engineArguments: [])
        #expect(digest.contains("# body not kept by the engine (sha256 "), "\(digest)")
        #expect(!digest.contains("          body: "), "\(digest)")
        let kept = try await Self.recorded(engineArguments: ["--keep-delivered-bodies"])
        #expect(kept.contains(#"          body: {"id":"o1"}"#), "\(kept)")
        #expect(!kept.contains("body not kept"), "\(kept)")
    }
}
