import Foundation
@testable import ManifoldCLI
import ManifoldCompiler
import TestSupport
import Testing

/// `manifold validate` on broken files: the exact text a user reads, file by file.
@Suite struct ValidateGoldenTests {
    static let inputs = GoldenFile.folder.appending(path: "Golden/validate")

    /// Runs `manifold validate ARGS` in process, with the fixture folder shown as relative paths.
    static func validate(_ arguments: [String]) throws -> CommandOutput {
        let command = try ValidateCommand.parse(arguments)
        var output = command.perform()
        output.standardOutput = output.standardOutput.replacingOccurrences(of: inputs.path + "/", with: "")
        return output
    }

    @Test(arguments: ["typos", "auth-forms", "tabs", "dup", "empty", "list", "malformed", "semantic", "warnings", "yaml-features"])
    func brokenFileDiagnostics(name: String) throws {
        let output = try Self.validate([Self.inputs.appending(path: "\(name).yaml").path])
        try GoldenFile.check(output.standardOutput, against: "validate/\(name).txt")
        #expect(output.status == (name == "warnings" ? 0 : 1))
    }

    /// Expressions nested far past any real one (a `when` of 10,000 parentheses, 50,000 `[` in a template)
    /// are errors at their place: they used to overflow the stack and kill validate, test, eval and the engine.
    @Test func deeplyNestedExpressionsAreLocatedErrors() throws {
        try TemporaryDirectory.with { folder in
            let deep = String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
            let text = TestConnector.source(webhook: "path: /in\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]")
                .replacingOccurrences(of: "    call: sink.post", with: "    when: \"\(deep)\"\n    call: sink.post")
                .replacingOccurrences(of: #"body: "{% $ %}""#, with: #"body: "{% "# + String(repeating: "[", count: 50_000) + #" %}""#)
            let file = folder.appending(path: "deep.yaml")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let output = try ValidateCommand.parse([file.path]).perform()
            #expect(output.status == 1)
            let errors = output.standardOutput.split(separator: "\n").filter { $0.contains(": error: ") }
            #expect(errors.count == 2, "\(output.standardOutput.prefix(2000))")
            #expect(errors.allSatisfy { $0.hasPrefix(Substring(file.path + ":")) && $0.contains("nests more than 150 levels deep") },
                    "\(errors.map { $0.prefix(300) })")
        }
    }

    @Test func warningsFailOnlyWhenStrict() throws {
        let output = try Self.validate(["--strict", Self.inputs.appending(path: "warnings.yaml").path])
        #expect(output.status == 1)
    }

    @Test func crossFileConflicts() throws {
        let output = try Self.validate([Self.inputs.appending(path: "cross-file-a.yaml").path,
                                        Self.inputs.appending(path: "cross-file-b.yaml").path])
        try GoldenFile.check(output.standardOutput, against: "validate/cross-file.txt")
        #expect(output.status == 1)
    }

    @Test func jsonFormat() throws {
        let output = try Self.validate(["--format", "json", Self.inputs.appending(path: "tabs.yaml").path])
        try GoldenFile.check(output.standardOutput, against: "validate/tabs.json")
    }

    @Test func binaryGarbageIsLocated() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "manifold-binary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appending(path: "garbage.yaml")
        try Data("connector: x\nsource: \u{1}".utf8 + [0xFF, 0xD8, 0xFF, 0x00]).write(to: file)
        let output = try ValidateCommand.parse([file.path]).perform()
        #expect(output.standardOutput.hasPrefix("\(file.path):2:10: error: file is not UTF-8 text (invalid byte 0xFF)\n"))
        #expect(output.status == 1)
    }

    @Test func unreadableInputsSayWhy() throws {
        let eval = try EvalCommand.parse(["id", "--input", "/nonexistent/event.json"]).perform()
        #expect(eval.status == 2)
        #expect(eval.standardError == "error: /nonexistent/event.json: cannot be read: no such file\n")
        let environment = try ValidateCommand.parse(["--env-file", "/nonexistent/.env", Self.inputs.path]).perform()
        #expect(environment.status == 2)
        #expect(environment.standardError == "error: environment file /nonexistent/.env: cannot be read: no such file\n")
    }

    @Test func missingPathIsAnIOError() throws {
        let output = try ValidateCommand.parse(["/nonexistent/connectors"]).perform()
        #expect(output.status == 2)
        #expect(output.standardError == "error: /nonexistent/connectors: no such file or directory\n")
    }
}

/// `manifold plan` in text shows what a reviewer checks that JSON alone showed: a generic HMAC's prefix, signed
/// string and timestamp header, and an operation's query.
@Suite struct PlanTextTests {
    @Test func hmacAndQueryAreShown() throws {
        let source = """
            connector: custom
            source:
              webhook:
                path: /in
                verify: { scheme: hmac, secret: "${env:S}", header: X-Sig, prefix: "v1=", timestamp_header: X-Ts, string_to_sign: "{timestamp}:{body}" }
                event_id: id
            targets:
              api:
                base_url: https://api.example.com
                operations:
                  find: { method: GET, path: /items, query: { limit: "50" } }
            routes:
              - { name: find, call: api.find, query: { q: "{% id %}" } }
            """
        let plan = try #require(ConnectorCompiler().compile([SourceFile(path: "custom.yaml", text: source)]).plan)
        let text = PlanRenderer.text(plan)
        #expect(text.contains("sha256 hex in X-Sig after prefix 'v1=' of '{timestamp}:{body}', timestamp in X-Ts"), "\(text)")
        #expect(text.contains("GET https://api.example.com/items?limit=50&q={% id %}"), "\(text)")
    }
}

/// A setting of another kind is not a typo, and one mistake is one error.
@Suite struct SuggestionTests {
    @Test func aKeyOfAnotherSettingGetsNoSuggestionAndOneError() throws {
        try TemporaryDirectory.with { folder in
            let file = folder.appending(path: "sendgrid.yaml")
            try """
            connector: sendgrid
            source:
              webhook:
                path: /hooks/sendgrid
                verify: { scheme: hmac, header: X-Sig, secret: "${env:SENDGRID_KEY}", max_body: 2MB }
                event_id: sg_event_id
            targets:
              mixpanel:
                base_url: https://api.mixpanel.com
                operations: { track: { method: POST, path: /track } }
            routes:
              - { name: track, call: mixpanel.track, body: { id: "{% id %}" } }
            """.write(to: file, atomically: true, encoding: .utf8)
            let output = try ValidateCommand.parse([file.path]).perform()
            let errors = output.standardOutput.split(separator: "\n").filter { $0.contains(": error: ") }
            #expect(errors.count == 1, "\(output.standardOutput)")
            #expect(errors.first?.contains("unknown key 'max_body' in source.webhook.verify (expected one of: scheme, secret,") == true)
            #expect(!output.standardOutput.contains("did you mean"))
        }
    }
}
