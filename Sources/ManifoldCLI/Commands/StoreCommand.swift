import ArgumentParser
import Foundation
import ManifoldStore
import ManifoldPostgres
import ManifoldSQLite

/// `manifold store`: the event store file itself.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Check the event store file.",
        subcommands: [StoreCheckCommand.self]
    )
}

struct StoreCheckCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that the event store is sound: an SQLite database, not cut short, with a schema this version knows.",
        discussion: """
        Reads the file without changing it (also while the engine runs). Exit 0 when sound, 1 with what was found \
        and how to recover. The engine runs the same check (quick) when it starts, and refuses a damaged store. \
        A PostgreSQL store (postgres://...) is checked by connecting, migrating it if this version is newer, and \
        counting what it holds; its own integrity is PostgreSQL's (amcheck, backups).
        """
    )

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @Flag(help: "The full integrity check (every index against its table), slower on a large store.")
    var full = false

    func perform() async -> CommandOutput {
        if StoreAccess.isPostgres(store) {
            do {
                let opened = try await StoreAccess.open(store)
                defer { opened.close() }
                guard let postgres = opened as? PostgresStore else { return .failure("not a PostgreSQL store") }
                let (events, jobs) = (try await postgres.count(), try await postgres.jobCounts().values.reduce(0, +))
                let schema = try await postgres.appliedMigrations().joined(separator: ", ")
                return CommandOutput(standardOutput: "\(StoreAccess.describe(store)): sound (\(events) events, \(jobs) jobs, schema: \(schema))\n")
            } catch {
                return CommandOutput(standardOutput: "\(StoreAccess.describe(store)): unusable\n  - \(error)\n", status: 1)
            }
        }
        let check = SQLiteEventStore.check(path: store, full: full)
        guard check.isSound else {
            let problems = check.problems.map { "  - \($0)\n" }.joined()
            return CommandOutput(standardOutput: "\(store): damaged\n\(problems)\n\(SQLiteEventStore.recovery(store))\n", status: 1)
        }
        var line = "\(store): sound (\(full ? "integrity_check" : "quick_check") ok"
        if let events = check.events, let jobs = check.jobs { line += ", \(events) events, \(jobs) jobs" }
        line += ", schema: \(check.migrations.joined(separator: ", ")))\n"
        return CommandOutput(standardOutput: line)
    }
}
