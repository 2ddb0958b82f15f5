import ArgumentParser
import Foundation
import JSONValue
import ManifoldDiff
import ManifoldCompiler
import ManifoldIngress
import ManifoldStore
import ManifoldTestRunner

/// `manifold test`: runs connectors' test files offline, through the real plan and runtime.
struct TestCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run connectors' tests offline.",
        discussion: """
            Each <connector>.test.yaml (see schemas/connector-test.schema.json) names its connector, the fake \
            secrets it reads (env:) and its cases: a webhook (signed with the connector's scheme unless the case \
            says otherwise), the scripted answers of each target, and what must happen (the engine's answer, the \
            routes that match, the requests sent, the number of calls, the outcome). Cases run through the real \
            compiled plan, engine and delivery runtime, with an in-process network, virtual time and seeded \
            jitter: no credentials, no network, the same result every run.

            Exit status: 0 every case passed, 1 a case failed, 2 a test file (or its connector) is invalid.

              manifold test connectors/
              manifold test connectors/stripe-to-hubspot.test.yaml --format junit > report.xml
              manifold test --record ev_01J... --store manifold.db >> connectors/stripe-to-hubspot.test.yaml
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, junit
    }

    @Argument(help: "Test files, or directories of them (default: connectors/).")
    var paths: [String] = []

    @Option(help: "Output format: text, or junit (JUnit XML for CI systems).")
    var format: Format = .text

    @Option(help: "Print a stored event as a new test case (YAML to add under cases:), instead of running tests.")
    var record: String?

    @Option(help: "The SQLite event store to --record from.")
    var store = "manifold.db"

    @Option(help: "A candidate version of the connector under test (a file with the same connector name): every case runs against both, and where their requests differ is printed.")
    var candidate: String?

    func perform() async -> CommandOutput {
        if let record { return await Self.record(record, store: store) }
        var files: [String] = []
        for path in paths.isEmpty ? ["connectors"] : paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                return .failure("\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                let separator = path.hasSuffix("/") ? "" : "/"
                files += names.filter { $0.hasSuffix(".test.yaml") || $0.hasSuffix(".test.yml") }.sorted().map { path + separator + $0 }
            } else {
                files.append(path)
            }
        }
        guard !files.isEmpty else { return .failure("no test files (*.test.yaml) in \(paths.joined(separator: ", "))") }
        var invalid = ""
        var suites: [TestReport.Suite] = []
        for file in files {
            switch await Self.run(file) {
            case .success(let suite): suites.append(suite)
            case .failure(let failure): invalid += failure.report
            }
        }
        let report = TestReport(suites: suites)
        let status: Int32 = !invalid.isEmpty ? 2 : report.failed > 0 ? 1 : 0
        var output = suites.isEmpty ? "" : format == .junit ? report.junit : report.text
        if let candidate {
            switch await Self.compare(candidate, current: suites) {
            case .success(let text): output += text
            case .failure(let failure): return CommandOutput(standardOutput: output, standardError: invalid + failure.report, status: 2)
            }
        }
        return CommandOutput(standardOutput: output, standardError: invalid, status: status)
    }

    /// Runs the test files of `candidate`'s connector against it and prints, case by case, where its requests differ
    /// from the current version's (whose results are `current`).
    static func compare(_ candidate: String, current: [TestReport.Suite]) async -> Result<String, InvalidSuite> {
        let sources: [SourceFile]
        do {
            sources = try SourceLoader.load(paths: [candidate])
        } catch {
            return .failure(InvalidSuite(report: "--candidate \(candidate): \(error.description)\n"))
        }
        let name = ConnectorCompiler(environment: .ignore).compile(sources).plan?.connectors.first?.name
        // The suite already run for the current version: its file, loaded again for its cases.
        guard let name, let before = current.first(where: { $0.connector == name }),
              let suite = try? ConnectorTestSuite.load(path: before.path).get()
        else {
            return .failure(InvalidSuite(report: "--candidate \(candidate): no test file here tests its connector \(name ?? "(it does not compile)")\n"))
        }
        let compiled = ConnectorCompiler(environment: .require(suite.environment)).compile(sources)
        guard let connector = compiled.plan?.connector(named: name) else {
            return .failure(InvalidSuite(report: DiagnosticRenderer(files: sources).report(compiled.diagnostics)))
        }
        let runner = ConnectorTestRunner(connector: connector, resolver: ConfigResolver(environment: suite.environment), endpoints: suite.endpoints)
        var currentCalls: [String: [CallComparison.Call]] = [:], candidateCalls: [String: [CallComparison.Call]] = [:]
        var failing: [String] = []
        for (testCase, result) in zip(suite.cases, before.results) {
            let next = await runner.run(testCase)
            if !next.passed { failing.append(testCase.name) }
            currentCalls[testCase.name] = result.calls.map { CallComparison.Call(route: $0.route, call: $0.call, request: Self.comparable($0.request)) }
            candidateCalls[testCase.name] = next.calls.map { CallComparison.Call(route: $0.route, call: $0.call, request: Self.comparable($0.request)) }
        }
        let comparison = CallComparison(current: currentCalls, candidate: candidateCalls, order: suite.cases.map { $0.name })
        var text = "\ncandidate \(candidate) against \(name)'s \(suite.cases.count) cases: " + comparison.summary + "\n"
        for event in comparison.events where !event.identical {
            text += "  case \"\(event.event)\"\n" + event.differences.map { "    " + CallComparison.line($0) + "\n" }.joined()
        }
        if !failing.isEmpty {
            text += "  the candidate fails \(failing.count) case(s) as written: " + failing.map { "\"\($0)\"" }.joined(separator: ", ") + "\n"
        }
        return .success(text)
    }

    /// A recorded request with the body as JSON (so that its members compare one by one).
    static func comparable(_ request: JSON) -> JSON {
        guard case .object(var object) = request, let text = object["body"]?.stringValue, let body = try? JSONParser.parse(text) else { return request }
        object["body"] = body
        object["step"] = nil
        return .object(object)
    }

    /// Loads one test file and its connector and runs its cases; or the diagnostics that stop it.
    static func run(_ path: String) async -> Result<TestReport.Suite, InvalidSuite> {
        let suite: ConnectorTestSuite
        switch ConnectorTestSuite.load(path: path) {
        case .failure(let invalid):
            return .failure(InvalidSuite(report: Self.render(invalid.diagnostics, files: [path])))
        case .success(let loaded):
            suite = loaded
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let connectorPath = directory + "/" + suite.connector + ".yaml"
        let files: [SourceFile]
        do {
            files = try SourceLoader.load(paths: [connectorPath])
        } catch {
            return .failure(InvalidSuite(report: "\(path): error: the connector under test cannot be read: \(error.description)\n"))
        }
        // Only the test's own environment: a test needs no real secret and reads none from the machine.
        let result = ConnectorCompiler(environment: .require(suite.environment)).compile(files)
        guard let plan = result.plan, let connector = plan.connector(named: suite.connector) else {
            let note = result.plan == nil ? "" : "\(path): error: \(connectorPath) holds no connector named '\(suite.connector)'\n"
            return .failure(InvalidSuite(report: note + DiagnosticRenderer(files: files).report(result.diagnostics)
                + (result.diagnostics.contains { $0.message.contains("environment variable") }
                    ? "note: give every variable the connector reads a fake value under env: in \(path)\n" : "")))
        }
        let runner = ConnectorTestRunner(connector: connector, resolver: ConfigResolver(environment: suite.environment),
                                         endpoints: suite.endpoints)
        let problems = runner.check(suite)
        guard problems.isEmpty else { return .failure(InvalidSuite(report: Self.render(problems, files: [path]))) }
        var results: [CaseResult] = []
        for testCase in suite.cases {
            results.append(await runner.run(testCase))
        }
        return .success(TestReport.Suite(path: path, connector: suite.connector, results: results))
    }

    /// The event `id` as a test case: its body and headers, the targets' answers and what happened, as expectations.
    static func record(_ id: String, store path: String) async -> CommandOutput {
        var options = StoreOptions()
        options.store = path
        return await options.reading { store in
            guard let event = try await store.event(id: id) else {
                return CommandOutput(standardError: "error: there is no event \(id) in \(path)\n", status: 1)
            }
            var jobs: [JobRecord] = []
            for summary in try await store.jobs(JobQuery(eventID: id, limit: 1000)).reversed() {
                if let job = try await store.job(id: summary.id) { jobs.append(job) }
            }
            let header = "# Add under cases: in \(event.summary.connector).test.yaml, then name the case for what it proves.\n"
            return CommandOutput(standardOutput: header + CaseRecorder.yaml(event: event, jobs: jobs))
        }
    }

    struct InvalidSuite: Error {
        var report: String
    }

    private static func render(_ diagnostics: [Diagnostic], files paths: [String]) -> String {
        let files = paths.compactMap { path in (try? SourceLoader.read(path)).map { SourceFile(path: path, contents: $0) } }
        return DiagnosticRenderer(files: files).report(diagnostics)
    }
}
