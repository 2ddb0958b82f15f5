import ArgumentParser
import Foundation
@testable import ManifoldCLI
import Testing

/// `--help` of every command and `manifold plan` of the examples, as a user reads them.
@Suite struct CommandGoldenTests {
    @Test(arguments: ["manifold", "validate", "plan", "diff", "test", "reload", "schema", "run", "send", "events-list", "events-show"])
    func help(command: String) throws {
        let subcommand: any ParsableCommand.Type = switch command {
        case "validate": ValidateCommand.self
        case "plan": PlanCommand.self
        case "diff": DiffCommand.self
        case "reload": ReloadCommand.self
        case "test": TestCommand.self
        case "schema": SchemaCommand.self
        case "run": RunCommand.self
        case "send": SendCommand.self
        case "events-list": EventsListCommand.self
        case "events-show": EventsShowCommand.self
        default: ManifoldCommand.self
        }
        try GoldenFile.check(ManifoldCommand.helpMessage(for: subcommand, columns: 100) + "\n", against: "help/\(command).txt")
    }

    static func planExamples(_ format: String) throws -> CommandOutput {
        let connectors = GoldenFile.packageRoot.appending(path: "connectors").path
        var output = try PlanCommand.parse(["--format", format, "--env-file", connectors + "/example.env", connectors]).perform()
        output.standardOutput = output.standardOutput.replacingOccurrences(of: GoldenFile.packageRoot.path + "/", with: "")
        return output
    }

    @Test func planOfTheExamples() throws {
        let output = try Self.planExamples("text")
        #expect(output.status == 0)
        #expect(output.standardError == "")
        try GoldenFile.check(output.standardOutput, against: "plan/examples.txt")
    }

    @Test func planOfTheExamplesAsJSON() throws {
        let output = try Self.planExamples("json")
        #expect(output.status == 0)
        try GoldenFile.check(output.standardOutput, against: "plan/examples.json")
    }

    @Test func planRefusesBrokenFiles() throws {
        let broken = GoldenFile.folder.appending(path: "Golden/validate/typos.yaml").path
        let output = try PlanCommand.parse([broken]).perform()
        #expect(output.status == 1)
        #expect(output.standardOutput == "")
        #expect(output.standardError.contains("typos.yaml:2:10: error: version must be an integer >= 1 (got 0)"))
    }

    @Test func usageErrorsExitWithTwo() async {
        #expect(await ManifoldCommand.main(["validate", "--format", "yaml"]) == 2)
        #expect(await ManifoldCommand.main(["no-such-command"]) == 2)
        #expect(await ManifoldCommand.main(["--version"]) == 0)
    }
}
