import ArgumentParser
import Foundation
import JSONValue
import ManifoldCompiler
import ManifoldDelivery
import ManifoldStore
import ManifoldSQLite

/// `manifold history`: every plan the engine applied, when and by what, with what changed.
struct HistoryCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "The plans the engine applied: version, when, by what (start, file change, reload, promote, rollback), what changed.",
        discussion: """
            A version whose sources are kept can be compared (`manifold diff --store manifold.db OLD NEW`) and restored \
            (`manifold rollback --to VERSION`); a plan with a secret written inline keeps none (it would put the secret \
            in the store).
            """
    )

    @OptionGroup var options: StoreOptions

    @Option(help: "At most this many, newest first.")
    var limit = 50

    func perform() async -> CommandOutput {
        await options.reading { store in
            let plans = try await store.appliedPlans(limit: limit)
            if options.format == .json {
                return CommandOutput(standardOutput: JSON.array(plans.map { plan in
                    ["version": .string(plan.version), "at": .string(JobJSON.time(plan.at)), "trigger": .string(plan.trigger),
                     "summary": .string(plan.summary), "sources_kept": .bool(plan.sourcesKept)]
                }).serialized(.pretty) + "\n")
            }
            guard !plans.isEmpty else { return CommandOutput(standardOutput: "no plan applied yet\n") }
            let lines = plans.map { plan in
                "\(plan.version)  \(JobJSON.time(plan.at))  \(plan.trigger.padding(toLength: 12, withPad: " ", startingAt: 0))  \(plan.summary)"
                    + (plan.sourcesKept ? "" : "  (sources not kept)")
            }
            return CommandOutput(standardOutput: lines.joined(separator: "\n") + "\n")
        }
    }
}

/// `manifold rollback --to VERSION`: the connector files as they were in a kept plan version, written back; the
/// running engine reloads them.
struct PlanRollbackCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Restore the connector files of a kept plan version (see `manifold history`); the engine reloads them.",
        discussion: """
            Every file of that version is written back to its path; a connector file that version did not have is renamed \
            to NAME.yaml.rolled-back (not deleted). Refused when the version's sources are not kept (a plan with a secret \
            written inline keeps none). The running engine reloads the files (it watches them; or `manifold reload`).
            """
    )

    @Option(help: "The plan version to restore (sha256:...).")
    var to: String

    @Option(help: "The directory of connectors.")
    var connectors = "connectors"

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    func perform() async -> CommandOutput {
        let opened: any EngineStore
        do {
            opened = try await StoreAccess.open(store)
        } catch {
            return .failure("\(error)")
        }
        defer { opened.close() }
        let sources: [PlanSource]
        do {
            guard let kept = try await opened.planSources(version: to), !kept.isEmpty else {
                let known = try await opened.appliedPlans(limit: 1000).contains { $0.version == to }
                return .failure(known
                    ? "the sources of \(to) are not kept (a plan with a secret written inline keeps none, so that the secret stays out of the store): it cannot be restored"
                    : "no plan \(to) was kept in \(store) (see `manifold history`)")
            }
            sources = kept
        } catch {
            return .failure("\(error)")
        }
        let compiled = ConnectorCompiler().compile(sources.map { SourceFile(path: $0.path, text: $0.text) })
        guard compiled.plan != nil else {
            return .failure("the kept sources of \(to) no longer compile with this version of manifold: "
                            + compiled.diagnostics.filter { $0.severity == .error }.prefix(3).map(\.description).joined(separator: "; "))
        }
        let manager = FileManager.default
        let keptPaths = Set(sources.map { URL(fileURLWithPath: $0.path).standardizedFileURL.path })
        var renamed: [String] = []
        do {
            let current = (try? SourceLoader.load(paths: [connectors])) ?? []
            for file in current where !keptPaths.contains(URL(fileURLWithPath: file.path).standardizedFileURL.path) {
                try manager.moveItem(atPath: file.path, toPath: file.path + ".rolled-back")
                renamed.append(file.path)
            }
            for source in sources {
                let url = URL(fileURLWithPath: source.path)
                try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(source.text.utf8).write(to: url)
            }
        } catch {
            return .failure("restoring the files failed: \(error)")
        }
        var text = "restored \(sources.count) connector file(s) of \(to)"
        if !renamed.isEmpty { text += "; not in that version, renamed to .rolled-back: " + renamed.joined(separator: ", ") }
        return CommandOutput(standardOutput: text + "\nthe engine runs them once it reloads (it watches the files, or `manifold reload`)\n")
    }
}
