import ArgumentParser
import ManifoldCompiler

/// `manifold audit`: the integration audit report, in Markdown.
struct AuditCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Write the integration audit report (Markdown) for connector files.",
        discussion: """
            Lists every connector with its source and verification, its targets with endpoints, auth methods and \
            effective policies (defaults filled in), its routes and its tests, and the risks found: no verification, \
            plain http, secrets written inline, no rate limit on a vendor known to rate-limit, no retry policy of \
            its own, no tests. No environment is needed. Exit status: 0 written, 1 the files do not compile, \
            2 usage or I/O error.
            """
    )

    @OptionGroup var options: CompileOptions

    func perform() -> CommandOutput {
        options.compiled { result, renderer in
            guard let plan = result.plan else {
                return CommandOutput(standardError: renderer.report(result.diagnostics), status: 1)
            }
            var tests: [String: AuditReport.TestFile] = [:]
            for file in plan.connectors.compactMap(\.sourceFile) { tests[file] = AuditReport.testFile(for: file) }
            return CommandOutput(standardOutput: AuditReport(plan: plan, diagnostics: result.diagnostics, testFiles: tests).markdown())
        }
    }
}
