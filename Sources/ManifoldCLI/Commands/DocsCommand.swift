import ArgumentParser
import Foundation
import ManifoldCompiler
import ManifoldPlan
import ManifoldTestRunner

/// `manifold docs`: the installation's handbook, generated.
struct DocsCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "docs",
        abstract: "Generate the handbook (runbooks, diagrams, playbooks) of connector files as a static site.",
        discussion: """
            Writes an index (the installation as one diagram, every connector, shared rate limits, alert rules), an \
            onboarding page, and per connector a walkthrough of what triggers it and what it sends where, its policies \
            in words, what happens when each target is down, its test cases, the alert rules that watch it and an \
            incident playbook with the exact commands. Diagrams are SVG files made here and inlined in the HTML: \
            no JavaScript. No secret is written: credentials appear as the variables that hold them. No \
            environment is needed. Exit status: 0 written, 1 the files do not compile, 2 usage or I/O error.

              manifold docs connectors --out site                  # HTML
              manifold docs connectors --out handbook --format markdown
            """
    )

    @OptionGroup var options: CompileOptions

    @Option(help: "The directory to write the site to (created when missing; the files it writes replace those of an earlier run, others are left).")
    var out: String

    @Option(help: "html or markdown.")
    var format: DocsFormat = .html

    @Option(help: "The engine's configuration, for its alert rules (default: manifold.yaml when it exists).")
    var config: String?

    enum DocsFormat: String, ExpressibleByArgument, CaseIterable { case html, markdown }

    func perform() -> CommandOutput {
        options.compiled { result, renderer in
            guard let plan = result.plan else {
                return CommandOutput(standardError: renderer.report(result.diagnostics), status: 1)
            }
            let configPath = config ?? (FileManager.default.fileExists(atPath: "manifold.yaml") ? "manifold.yaml" : nil)
            var alerts: AlertPlan?
            if let configPath {
                switch EngineConfigurationFile.load(configPath, environment: .ignore) {
                case .success(let configuration): alerts = configuration.alerts
                case .failure(let failure): return failure.output
                }
            }
            var tests: [String: DocsSite.TestFileSummary] = [:]
            for connector in plan.connectors {
                guard let file = connector.sourceFile, let test = AuditReport.testFile(for: file) else { continue }
                switch ConnectorTestSuite.load(path: test.path) {
                case .success(let suite): tests[connector.name] = .init(path: test.path, cases: suite.cases)
                case .failure(let invalid):
                    tests[connector.name] = .init(path: test.path, cases: [], problem: invalid.diagnostics.first.map(\.description) ?? "invalid")
                }
            }
            let site = DocsSite(plan: plan, alerts: alerts, configPath: configPath, tests: tests)
            let files = site.files(markdown: format == .markdown)
            do {
                let root = URL(fileURLWithPath: out)
                for (path, contents) in files.sorted(by: { $0.key < $1.key }) {
                    let url = root.appending(path: path)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data(contents.utf8).write(to: url, options: .atomic)
                }
            } catch {
                return .failure("cannot write the site to \(out): \(error.localizedDescription)")
            }
            let pages = files.keys.filter { $0.hasSuffix(format == .markdown ? ".md" : ".html") }.count
            return CommandOutput(standardOutput: "wrote \(pages) pages and \(files.count - pages) other files to \(out) "
                                 + "(\(PolicyWords.plural(plan.connectors.count, "connector"))); open \(out)/index.\(format == .markdown ? "md" : "html")\n",
                                 // The environment's variables are not needed: their warnings would only be noise here.
                                 standardError: renderer.text(result.diagnostics.filter { !$0.message.hasPrefix("environment variable") }))
        }
    }
}
