import ArgumentParser
import Foundation
import ManifoldCompiler
import ManifoldDiff
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite

/// `manifold diff`: what changed in behaviour between two sets of connectors, for a reviewer or a CI gate.
struct DiffCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare the behaviour of two sets of connectors.",
        discussion: """
            Each side is a connector file or a directory; with --git REF, the old side is PATH (default \
            connectors) as committed at REF and the new side the working tree. Both sides are compiled and their \
            plans compared: connectors, routes (condition, call, mapping), targets (endpoint, auth, effective \
            policies), webhooks (path, verification). Reformatting, comments and key order are not changes. \
            Each change is breaking, risky or safe.

            Exit status: 0 no changes (or none at --fail-on's level), 1 changes, 2 a side does not compile \
            or cannot be read.

              manifold diff old/connectors connectors
              manifold diff --git origin/main --format markdown --fail-on risky
            """
    )

    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case safe, risky, breaking
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, markdown, json
    }

    enum Colour: String, ExpressibleByArgument, CaseIterable {
        case auto, always, never
    }

    @Argument(help: "OLD and NEW (files or directories); with --git, only the PATH to compare.")
    var sides: [String] = []

    @Option(help: "Compare PATH at this git ref (commit, branch, tag) with the working tree.")
    var git: String?

    @Option(help: "Output format: text, markdown (a pull-request comment) or json.")
    var format: Format = .text

    @Option(name: .customLong("fail-on"), help: "Exit 1 only for changes of this severity or worse: safe (any change), risky or breaking.")
    var failOn: FailOn = .safe

    @Option(help: "Colour the text output: auto (when a terminal, unless NO_COLOR is set), always or never.")
    var color: Colour = .auto

    @Option(help: "Read sides named by plan version (sha256:..., see `manifold history`) from this event store's kept plans.")
    var store: String?

    func validate() throws {
        if git != nil, sides.count > 1 { throw ValidationError("with --git, name at most one PATH (got \(sides.count))") }
        if git == nil, sides.count != 2 { throw ValidationError("name two sides, OLD and NEW (or use --git REF [PATH])") }
    }

    func perform() async -> CommandOutput {
        let oldFiles: [SourceFile], newFiles: [SourceFile]
        do {
            if let git {
                let path = sides.first ?? "connectors"
                oldFiles = try GitSources.files(at: git, path: path)
                newFiles = FileManager.default.fileExists(atPath: path) ? try SourceLoader.load(paths: [path]) : []
            } else {
                oldFiles = try await side(sides[0])
                newFiles = try await side(sides[1])
            }
        } catch let failure as SourceLoader.Failure {
            return .failure(failure.description)
        } catch {
            return .failure("\(error)")
        }
        var errors = ""
        func plan(_ files: [SourceFile], side: String) -> Plan? {
            guard !files.isEmpty else { return Plan(connectors: []) }
            // `${env:}` references are compared as written: no environment is needed to diff.
            let result = ConnectorCompiler(environment: .ignore).compile(files)
            if result.plan == nil {
                errors += "error: the \(side) side does not compile:\n" + DiagnosticRenderer(files: files).report(result.diagnostics)
            }
            return result.plan
        }
        let old = plan(oldFiles, side: "old"), new = plan(newFiles, side: "new")
        guard let old, let new else { return CommandOutput(standardError: errors, status: 2) }
        let diff = PlanDiff(old: old, new: new)
        let rendered = switch format {
        case .text: diff.text(colour: Self.useColour(color))
        case .markdown: diff.markdown
        case .json: diff.json.serialized(.pretty) + "\n"
        }
        let threshold = PlanChange.Severity(rawValue: failOn.rawValue)!
        let fails = diff.highestSeverity.map { $0 >= threshold } ?? false
        return CommandOutput(standardOutput: rendered, status: fails ? 1 : 0)
    }

    /// A side: files or a directory, or a kept plan version from `--store`.
    private func side(_ text: String) async throws -> [SourceFile] {
        guard text.hasPrefix("sha256:"), let store else { return try SourceLoader.load(paths: [text]) }
        let opened = try await StoreAccess.open(store)
        defer { opened.close() }
        guard let sources = try await opened.planSources(version: text), !sources.isEmpty else {
            throw StoreError("the sources of \(text) are not kept in \(StoreAccess.describe(store)) (see `manifold history`)")
        }
        return sources.map { SourceFile(path: $0.path, text: $0.text) }
    }

    /// Whether to colour: as asked, or when standard output is a terminal and NO_COLOR is not set.
    static func useColour(_ color: Colour) -> Bool {
        switch color {
        case .always: true
        case .never: false
        case .auto: isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        }
    }
}
