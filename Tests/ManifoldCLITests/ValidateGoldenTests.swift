import Foundation
@testable import ManifoldCLI
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
