import Foundation
@testable import ManifoldCLI
import TestSupport
import Testing

/// `manifold diff`: one golden file per kind of change, each made by one edit of `Golden/diff/base.yaml`.
@Suite struct DiffGoldenTests {
    static let base = GoldenFile.folder.appending(path: "Golden/diff/base.yaml")

    /// Each case: the edits (find, replace) that turn the base into the new side.
    static let cases: [String: [(String, String)]] = [
        "route-added": [("routes:\n", "routes:\n  - { name: audit, call: chat.post, body: { text: \"{% id %}\" } }\n")],
        "route-removed": [("  - name: notify\n    call: chat.post\n    body:\n      text: \"{% 'Order ' & id %}\"\n", "")],
        "route-condition": [("when: action = 'created'", "when: action in ['created', 'updated']")],
        "route-condition-removed": [("    when: action = 'created'\n", "")],
        "route-target": [("call: crm.upsert", "call: chat.post")],
        "route-mapping": [("      name: \"{% customer.name %}\"", "      full_name: \"{% customer.name %}\"")],
        "route-idempotency": [("    call: crm.upsert\n", "    call: crm.upsert\n    idempotency_key: \"'order-' & id\"\n")],
        "endpoint-host": [("https://api.crm.example/v2", "https://crm.other.example/v2")],
        "insecure-http": [("base_url: https://chat.example", "base_url: http://chat.example\n    allow_insecure: true")],
        "auth-method": [("bearer: { token: \"${env:CRM_TOKEN}\" }", "api_key: { header: X-Api-Key, value: \"${env:CRM_KEY}\" }")],
        "credentials": [("${env:CRM_TOKEN}", "${env:CRM_TOKEN_V2}")],
        "inline-secret": [("\"${env:CRM_TOKEN}\"", "\"s3cr3t-t0ken\"")],
        "retries-lowered": [("max_attempts: 8", "max_attempts: 3")],
        "timeout-past-budget": [("timeout: 10s", "timeout: 10m")],
        "timeout-raised": [("timeout: 10s", "timeout: 20s")],
        "rate-limit-raised": [("requests: 100, per: 10s", "requests: 100, per: 1s")],
        "rate-limit-removed": [("    rate_limit: { requests: 100, per: 10s }\n", "")],
        "policies-safe": [("concurrency: 4", "concurrency: 8\n    circuit_breaker: { failures: 3, open_for: 1m }")],
        "webhook-path": [("path: /hooks/orders", "path: /hooks/v2/orders")],
        "verification-removed": [("      scheme: github\n      secrets: [\"${env:ORDERS_SECRET}\"]\n", "      scheme: none\n")],
        "secret-rotated": [("secrets: [\"${env:ORDERS_SECRET}\"]", "secrets: [\"${env:ORDERS_SECRET}\", \"${env:ORDERS_SECRET_NEXT}\"]")],
        "secret-removed": [("secrets: [\"${env:ORDERS_SECRET}\"]", "secrets: [\"${env:ORDERS_SECRET_NEXT}\"]")],
        "event-id": [("event_id: id", "event_id: delivery.id")],
        "webhook-batch-and-contract": [("    event_id: id\n", "    split: orders\n    event_id: id\n    payload_schema: { type: object, required: [id] }\n    handshake: { preset: slack }\n")],
        "operation-path": [("path: /contacts", "path: /people")],
    ]

    static func edited(_ name: String) throws -> String {
        var text = try String(contentsOf: base, encoding: .utf8)
        for (find, replace) in cases[name] ?? [] {
            guard text.contains(find) else { throw EditError(find: find) }
            text = text.replacingOccurrences(of: find, with: replace)
        }
        return text
    }

    struct EditError: Error { var find: String }

    /// Runs `manifold diff` on the base and `text` (written to a temporary file), without colour.
    static func diff(to text: String, _ options: [String] = []) async throws -> CommandOutput {
        try await TemporaryDirectory.withAsync { folder in
            let new = folder.appending(path: "orders.yaml")
            try text.write(to: new, atomically: true, encoding: .utf8)
            return try await DiffCommand.parse([base.path, new.path, "--color", "never"] + options).perform()
        }
    }

    @Test(arguments: cases.keys.sorted())
    func kindOfChange(_ name: String) async throws {
        let output = try await Self.diff(to: Self.edited(name))
        #expect(output.status == 1, "a change exits 1")
        #expect(output.standardError == "")
        try GoldenFile.check(output.standardOutput, against: "diff/\(name).txt")
    }

    @Test func reformattingCommentsKeyOrderAndSpelledOutDefaultsAreNoChange() async throws {
        let reformatted = GoldenFile.folder.appending(path: "Golden/diff/base-reformatted.yaml")
        let output = try await DiffCommand.parse([Self.base.path, reformatted.path]).perform()
        #expect(output.status == 0)
        #expect(output.standardOutput == "no changes in behaviour\n")
    }

    @Test func inlineSecretsAreNeverShown() async throws {
        for format in ["text", "markdown", "json"] {
            let output = try await Self.diff(to: Self.edited("inline-secret"), ["--format", format])
            #expect(!output.standardOutput.contains("s3cr3t"))
            #expect(output.standardOutput.contains("[inline secret]"))
        }
    }

    /// Several changes at once, as a pull-request comment and as JSON.
    @Test func markdownAndJSON() async throws {
        var text = try Self.edited("endpoint-host")
        text = text.replacingOccurrences(of: "max_attempts: 8", with: "max_attempts: 3")
        text = text.replacingOccurrences(of: "when: action = 'created'", with: "when: action = 'paid'")
        let markdown = try await Self.diff(to: text, ["--format", "markdown"])
        #expect(markdown.status == 1)
        try GoldenFile.check(markdown.standardOutput, against: "diff/several.md")
        let json = try await Self.diff(to: text, ["--format", "json"])
        try GoldenFile.check(json.standardOutput, against: "diff/several.json")
    }

    @Test func failOnGatesBySeverity() async throws {
        let safe = try Self.edited("route-condition"), risky = try Self.edited("retries-lowered")
        let breaking = try Self.edited("route-removed")
        #expect(try await Self.diff(to: safe, ["--fail-on", "risky"]).status == 0)
        #expect(try await Self.diff(to: risky, ["--fail-on", "risky"]).status == 1)
        #expect(try await Self.diff(to: risky, ["--fail-on", "breaking"]).status == 0)
        #expect(try await Self.diff(to: breaking, ["--fail-on", "breaking"]).status == 1)
    }

    @Test func colourOnlyWhenAsked() async throws {
        let text = try Self.edited("retries-lowered")
        #expect(try await Self.diff(to: text).standardOutput.contains("\u{1B}[") == false)
        let coloured = try await TemporaryDirectory.withAsync { folder in
            let new = folder.appending(path: "orders.yaml")
            try text.write(to: new, atomically: true, encoding: .utf8)
            return try await DiffCommand.parse([Self.base.path, new.path, "--color", "always"]).perform()
        }
        #expect(coloured.standardOutput.contains("\u{1B}[33mrisky"))
    }

    @Test func connectorsAddedAndRemovedAcrossDirectories() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let old = folder.appending(path: "old"), new = folder.appending(path: "new")
            for directory in [old, new] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            let base = try String(contentsOf: Self.base, encoding: .utf8)
            let billing = base.replacingOccurrences(of: "connector: orders", with: "connector: billing")
                .replacingOccurrences(of: "/hooks/orders", with: "/hooks/billing")
            // Old: orders + billing. New: orders renamed to another file, billing removed, refunds added.
            try base.write(to: old.appending(path: "orders.yaml"), atomically: true, encoding: .utf8)
            try billing.write(to: old.appending(path: "billing.yaml"), atomically: true, encoding: .utf8)
            try base.write(to: new.appending(path: "10-orders.yaml"), atomically: true, encoding: .utf8)
            try billing.replacingOccurrences(of: "connector: billing", with: "connector: refunds")
                .replacingOccurrences(of: "/hooks/billing", with: "/hooks/refunds")
                .write(to: new.appending(path: "refunds.yaml"), atomically: true, encoding: .utf8)
            let output = try await DiffCommand.parse([old.path, new.path, "--color", "never"]).perform()
            #expect(output.status == 1)
            try GoldenFile.check(output.standardOutput, against: "diff/connectors-added-removed.txt")
        }
    }

    @Test func aSideThatDoesNotCompileExitsTwoWithItsLocation() async throws {
        let output = try await Self.diff(to: Self.edited("retries-lowered").replacingOccurrences(of: "max_attempts: 3", with: "max_attempts: three"))
        #expect(output.status == 2)
        #expect(output.standardOutput == "")
        #expect(output.standardError.contains("the new side does not compile"))
        #expect(output.standardError.contains("orders.yaml:21:21: error: targets.crm.retry.max_attempts must be an integer"))
    }

    @Test func gitRefAgainstTheWorkingTree() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let connectors = folder.appending(path: "connectors")
            try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
            try String(contentsOf: Self.base, encoding: .utf8)
                .write(to: connectors.appending(path: "orders.yaml"), atomically: true, encoding: .utf8)
            let git = { (arguments: [String]) async throws -> ProcessRun in
                try await ProcessRun.runAsync(URL(fileURLWithPath: "/usr/bin/env"),
                                   ["git", "-C", folder.path, "-c", "user.name=t", "-c", "user.email=t@t"] + arguments)
            }
            #expect(try await git(["init", "-q"]).status == 0)
            #expect(try await git(["add", "."]).status == 0)
            #expect(try await git(["commit", "-q", "-m", "base"]).status == 0)
            try Self.edited("retries-lowered").write(to: connectors.appending(path: "orders.yaml"), atomically: true, encoding: .utf8)
            // The binary, run in the repository as a reviewer does: the old side is connectors/ as committed.
            let output = try await ProcessRun.runAsync(TestPaths.manifold, ["diff", "--git", "HEAD", "--color", "never"], in: folder)
            #expect(output.status == 1, "\(output.error)")
            try GoldenFile.check(output.output, against: "diff/retries-lowered.txt")
            let unknown = try await ProcessRun.runAsync(TestPaths.manifold, ["diff", "--git", "no-such-branch"], in: folder)
            #expect(unknown.status == 2)
            #expect(unknown.error.contains("no such git ref: no-such-branch"))
        }
    }
}
