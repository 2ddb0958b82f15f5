import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import ManifoldCLI
import TestSupport
import Testing

/// `manifold test`: the example connectors' own tests, and what an author reads when a case fails or a file is wrong.
@Suite struct TestCommandTests {
    static let connectors = GoldenFile.packageRoot.appending(path: "connectors")

    /// Times vary run to run; the temporary folder too.
    static func normalized(_ text: String, folder: URL) -> String {
        text.replacingOccurrences(of: folder.path, with: "DIR")
            .replacingOccurrences(of: #"\(\d+ ms\)"#, with: "(N ms)", options: .regularExpression)
            .replacingOccurrences(of: #"time="[0-9.]+""#, with: #"time="N""#, options: .regularExpression)
    }

    /// The project runs `manifold test connectors/`: every example connector has tests, and they pass.
    @Test func everyExampleConnectorHasPassingTests() async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.connectors.path)
        let connectors = names.filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".test.yaml") }.map { String($0.dropLast(5)) }
        for connector in connectors {
            #expect(names.contains(connector + ".test.yaml"), "\(connector) has no test file")
        }
        let output = try await TestCommand.parse([Self.connectors.path]).perform()
        #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
        #expect(output.standardOutput.contains(" passed, 0 failed\n"))
        // Each covers its happy path, a transient failure that recovers, a permanent one that dead-letters, and a
        // forged signature and a duplicate delivery (a webhook's) or a failed run and what it kept (a pull's).
        for connector in connectors {
            let text = try String(contentsOf: Self.connectors.appending(path: connector + ".test.yaml"), encoding: .utf8)
            let source = try String(contentsOf: Self.connectors.appending(path: connector + ".yaml"), encoding: .utf8)
            // (A schedule's run has nothing to fail on but the store: its cases cover the flow it starts.)
            let needles = source.contains("\n  webhook:")
                ? ["outcome: delivered", "dead_lettered", "signature: forged", "deliveries: ", "duplicate: true", "responses:"]
                : source.contains("\n  schedule:") ? ["outcome: delivered", "dead_lettered", "events: { stored: ", "responses:"]
                : ["outcome: delivered", "dead_lettered", "outcome: failed", "error_includes: ", "events: { stored: ", "responses:"]
            for needle in needles {
                #expect(text.contains(needle), "\(connector).test.yaml has no case with \(needle)")
            }
        }
    }

    /// A test file beside a copy of stripe-to-hubspot, with `edit` applied.
    static func run(_ edit: (String) -> String, _ options: [String] = []) async throws -> (output: CommandOutput, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appending(path: "manifold-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appending(path: "samples"), withIntermediateDirectories: true)
        for name in ["stripe-to-hubspot.yaml", "samples/stripe-checkout-completed.json"] {
            try FileManager.default.copyItem(at: Self.connectors.appending(path: name), to: folder.appending(path: name))
        }
        let tests = try String(contentsOf: Self.connectors.appending(path: "stripe-to-hubspot.test.yaml"), encoding: .utf8)
        try edit(tests).write(to: folder.appending(path: "stripe-to-hubspot.test.yaml"), atomically: true, encoding: .utf8)
        return (try await TestCommand.parse([folder.path] + options).perform(), folder)
    }

    @Test func aFailingCaseShowsWhereAndADiffOfExpectedAndActual() async throws {
        let (output, folder) = try await Self.run { text in
            text.replacingOccurrences(of: "lifecyclestage: customer }", with: "lifecyclestage: lead }")
                .replacingOccurrences(of: "attempts: { contact: 8 }", with: "attempts: { contact: 7 }")
                .replacingOccurrences(of: "      routes: [contact]\n", with: "      routes: [contact, big-sale]\n")
        }
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(output.status == 1)
        try GoldenFile.check(Self.normalized(output.standardOutput, folder: folder), against: "test/failures.txt")
        let (junit, again) = try await Self.run({ $0.replacingOccurrences(of: "attempts: { contact: 8 }", with: "attempts: { contact: 7 }") },
                                                ["--format", "junit"])
        defer { try? FileManager.default.removeItem(at: again) }
        #expect(junit.status == 1)
        try GoldenFile.check(Self.normalized(junit.standardOutput, folder: again), against: "test/junit.xml")
        let parser = XMLParser(data: Data(junit.standardOutput.utf8))
        #expect(parser.parse(), "the JUnit report is well-formed XML")
    }

    @Test func runsAreTheSameEveryTime() async throws {
        let (first, folder) = try await Self.run { $0 }
        defer { try? FileManager.default.removeItem(at: folder) }
        let second = try await TestCommand.parse([folder.path]).perform()
        #expect(first.status == 0 && second.status == 0)
        #expect(Self.normalized(first.standardOutput, folder: folder) == Self.normalized(second.standardOutput, folder: folder))
    }

    @Test func anInvalidTestFileExitsTwoAndSaysWhereAndWhy() async throws {
        let (typo, folder) = try await Self.run {
            $0.replacingOccurrences(of: "      signature: forged", with: "      signatur: forged")
                .replacingOccurrences(of: "      attempts: { contact: 1, big-sale: 1 }\n      outcome: delivered",
                                      with: "      attempts: { contact: 1, big-sale: 1 }\n      outcom: delivered")
        }
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(typo.status == 2)
        #expect(typo.standardError.contains("stripe-to-hubspot.test.yaml:83:7: error: unknown key 'signatur' in cases[5].webhook; did you mean 'signature'?"),
                "\(typo.standardError)")
        #expect(typo.standardError.contains("unknown key 'outcom' in cases[0].expect; did you mean 'outcome'?"))

        let (unknownRoute, other) = try await Self.run { $0.replacingOccurrences(of: "attempts: { contact: 8 }", with: "attempts: { contcat: 8 }") }
        defer { try? FileManager.default.removeItem(at: other) }
        #expect(unknownRoute.status == 2)
        #expect(unknownRoute.standardError.contains("error: stripe-to-hubspot has no route 'contcat' (it has: big-sale, contact)"),
                "\(unknownRoute.standardError)")

        let (missingSecret, third) = try await Self.run { $0.replacingOccurrences(of: "  HUBSPOT_CLIENT_SECRET: test-client-secret\n", with: "") }
        defer { try? FileManager.default.removeItem(at: third) }
        #expect(missingSecret.status == 2)
        #expect(missingSecret.standardError.contains("HUBSPOT_CLIENT_SECRET"))
        #expect(missingSecret.standardError.contains("give every variable the connector reads a fake value under env:"))
    }
}

/// One rule for references in what a test (and a record) shows: `${env:NAME}` as written, wherever it is (a base
/// URL, an operation path, a route's path value, a query value, a header), never the value and never `[redacted]`.
@Suite struct ReferenceDisplayTests {
    @Test func referencesShowAsWrittenEverywhere() async throws {
        try await TemporaryDirectory.withAsync { folder in
            try """
            connector: refs
            source:
              webhook:
                path: /in
                verify: { scheme: none }
                allow_ips: [127.0.0.1/32]
                event_id: id
            targets:
              hooks:
                base_url: https://${env:HOST}.example.com
                operations:
                  post: { method: POST, path: "/services/${env:PREFIX}/{hook}" }
            routes:
              - name: all
                call: hooks.post
                path: { hook: "${env:HOOK}" }
                query: { team: "${env:TEAM}-{% id %}" }
                headers: { X-Signing-Key: "${env:KEY}", Authorization: "{% 'Bearer ' & id %}" }
                body: { id: "{% id %}" }
            """.write(to: folder.appending(path: "refs.yaml"), atomically: true, encoding: .utf8)
            try """
            connector: refs
            env: { HOST: acme, PREFIX: T000, HOOK: s3cr3t-hook, TEAM: sales, KEY: k3y }
            cases:
              - name: references as written
                webhook: { body: { id: e1 } }
                expect:
                  requests:
                    - route: all
                      url: https://${env:HOST}.example.com/services/${env:PREFIX}/${env:HOOK}?team=${env:TEAM}-e1
                      headers: { X-Signing-Key: "${env:KEY}", Authorization: "[redacted]" }
            """.write(to: folder.appending(path: "refs.test.yaml"), atomically: true, encoding: .utf8)
            let output = try await TestCommand.parse([folder.path]).perform()
            #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
            #expect(!output.standardOutput.contains("s3cr3t-hook") && !output.standardOutput.contains("k3y"))
        }
    }
}

/// `signature: forged` on a connector that verifies nothing would pass whatever the connector does: an error in
/// the test file (exit 2), not a silent pass.
@Suite struct ForgedWithoutVerificationTests {
    @Test func aForgedCaseOnAnUnverifiedConnectorIsATestFileError() async throws {
        try await TemporaryDirectory.withAsync { folder in
            try TestConnector.source(name: "open", webhook: "path: /in\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]")
                .write(to: folder.appending(path: "open.yaml"), atomically: true, encoding: .utf8)
            try """
            connector: open
            cases:
              - name: a forged signature is refused
                webhook: { body: { id: 1 }, signature: forged }
                expect: { ingress: 401 }
            """.write(to: folder.appending(path: "open.test.yaml"), atomically: true, encoding: .utf8)
            let output = try await TestCommand.parse([folder.path]).perform()
            #expect(output.status == 2, "\(output.standardOutput)\(output.standardError)")
            #expect((output.standardOutput + output.standardError).contains("signature: forged tests nothing: open verifies no signature (scheme none)"))
        }
    }
}

/// `manifold test` covers a payload contract: a case whose payload breaks it is answered 202 (quarantined) and
/// routes nothing.
@Suite struct PayloadContractTestFileTests {
    @Test func aContractIsTestedOffline() async throws {
        try await TemporaryDirectory.withAsync { folder in
            try TestConnector.source(name: "orders", webhook: """
                path: /orders
                verify: { scheme: github, secret: "${env:SECRET}" }
                event_id: id
                payload_schema: { type: object, required: [id, amount], properties: { amount: { type: integer } } }
                """).write(to: folder.appending(path: "orders.yaml"), atomically: true, encoding: .utf8)
            try """
            connector: orders
            env: { SECRET: s }
            cases:
              - name: a payload that keeps the contract is delivered
                webhook: { body: { id: o-1, amount: 42 } }
                expect: { routes: [all], outcome: delivered }
              - name: a payload that breaks it is quarantined and not routed
                webhook: { body: { id: o-2, amount: "42" } }
                expect: { ingress: 202, routes: [] }
            """.write(to: folder.appending(path: "orders.test.yaml"), atomically: true, encoding: .utf8)
            let output = try await TestCommand.parse([folder.path]).perform()
            #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
            #expect(output.standardOutput.contains("2 cases: 2 passed, 0 failed"))
        }
    }
}
