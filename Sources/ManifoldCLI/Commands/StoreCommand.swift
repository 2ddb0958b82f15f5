import ArgumentParser
import Foundation
import JSONValue
import ManifoldDelivery
import ManifoldPlan
import ManifoldStore
import ManifoldPostgres
import ManifoldSQLite

/// `manifold store`: the event store file itself.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Check the event store, or prune what is older than a retention period.",
        subcommands: [StoreCheckCommand.self, StorePruneCommand.self]
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

/// `manifold store prune --older-than 30d`: retention.
struct StorePruneCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove the events received before a retention period, with their history, jobs and attempts.",
        discussion: """
        An event with a job still pending, or a dead letter (dead or quarantined: work not done, replayable), is kept \
        whole, however old. A removed event's id can be received again as a new event. One transaction: everything or \
        nothing. On PostgreSQL a day whose events are all removable goes as a whole partition (no rows deleted); on \
        SQLite the rows are deleted (run it while the engine runs: it waits its turn among the engine's writes).
        """
    )

    @Option(help: "Remove what was received longer ago than this (30d, 12h; at least 1h).")
    var olderThan: String

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func perform() async -> CommandOutput {
        guard let age = Duration(manifoldText: olderThan), age >= .seconds(3600) else {
            return .failure("--older-than takes an age of at least an hour, such as 30d or 12h (got '\(olderThan)')")
        }
        let horizon = Date() - age.timeInterval
        do {
            let opened = try await StoreAccess.open(store)
            defer { opened.close() }
            let report = try await opened.prune(receivedBefore: horizon)
            if format == .json {
                let body: JSON = ["received_before": .string(JobJSON.time(horizon)), "events": .number(Double(report.events)),
                                  "jobs": .number(Double(report.jobs)), "kept_events": .number(Double(report.keptEvents)),
                                  "dropped_partitions": .array(report.droppedPartitions.map(JSON.string))]
                return CommandOutput(standardOutput: body.serialized(.pretty) + "\n")
            }
            var lines = ["\(StoreAccess.describe(store)): removed \(report.events) event\(report.events == 1 ? "" : "s") received before "
                         + "\(JobJSON.time(horizon)) and their \(report.jobs) job\(report.jobs == 1 ? "" : "s")"]
            if report.keptEvents > 0 {
                lines.append("kept \(report.keptEvents) older event\(report.keptEvents == 1 ? "" : "s") with a job pending or a dead letter "
                             + "(`manifold dlq list` shows the dead letters)")
            }
            if !report.droppedPartitions.isEmpty {
                lines.append("dropped \(report.droppedPartitions.count) partitions: \(report.droppedPartitions.joined(separator: ", "))")
            }
            return CommandOutput(standardOutput: lines.joined(separator: "\n") + "\n")
        } catch {
            return .failure("\(error)")
        }
    }
}
