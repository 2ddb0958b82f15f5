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
            its own, no tests. No environment is needed. Exit status: 0 written, 1 the files do not compile (or, \
            with --fail-on, a risk at that level or worse was found; the report is written all the same), \
            2 usage or I/O error.

              manifold audit connectors --fail-on high > audit.md     # a CI gate
            """
    )

    @OptionGroup var options: CompileOptions

    /// A level of risk for --fail-on.
    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case high, medium, low
    }

    @Option(name: .customLong("fail-on"), help: "Exit 1 when a risk of this level or worse is found: high, medium or low.")
    var failOn: FailOn?

    func perform() -> CommandOutput {
        options.compiled { result, renderer in
            guard let plan = result.plan else {
                return CommandOutput(standardError: renderer.report(result.diagnostics), status: 1)
            }
            var tests: [String: AuditReport.TestFile] = [:]
            for file in plan.connectors.compactMap(\.sourceFile) { tests[file] = AuditReport.testFile(for: file) }
            let report = AuditReport(plan: plan, diagnostics: result.diagnostics, testFiles: tests)
            let threshold = failOn.map { AuditReport.Severity(rawValue: FailOn.allCases.firstIndex(of: $0)!)! }
            let failing = threshold.map { level in report.risks().contains { $0.severity <= level } } ?? false
            return CommandOutput(standardOutput: report.markdown(), status: failing ? 1 : 0)
        }
    }
}
