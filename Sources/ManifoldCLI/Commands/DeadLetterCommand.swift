import ArgumentParser
import Foundation
import JSONValue
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite

/// `manifold dlq`: the dead letters — jobs that failed for good or were quarantined as bad data.
struct DeadLetterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List, show, replay or purge dead letters.",
        subcommands: [DeadLetterListCommand.self, DeadLetterShowCommand.self, DeadLetterReplayCommand.self,
                      DeadLetterPurgeCommand.self]
    )
}

/// Which dead letters: ids, or filters.
struct DeadLetterSelection: ParsableArguments {
    @Argument(help: "Job ids (job_...).")
    var jobs: [String] = []

    @Flag(help: "Every dead letter that matches the filters.")
    var all = false

    @Option(help: "Only this connector's dead letters.")
    var connector: String?

    @Option(help: "Only dead letters of this target.")
    var target: String?

    @Option(help: "Only dead letters to this customer's endpoint (ep_...).")
    var endpoint: String?

    @Option(help: "Only dead letters since this time or within this age (15m, 2h, 2026-11-23).", transform: TimeArgument.parse)
    var since: Date?

    @Option(help: "Only dead letters before this time or age.", transform: TimeArgument.parse)
    var until: Date?

    func validate() throws {
        guard !jobs.isEmpty || all else { throw ValidationError("name job ids, or --all (with --connector/--target/--endpoint/--since to narrow)") }
    }

    func select(_ store: any EngineStore) async throws -> [JobSummary] {
        try await ReplaySelection.deadLetters(ids: jobs, connector: connector, target: target, endpoint: endpoint, since: since,
                                              until: until, in: store)
    }
}

/// The current plan for replays: the connectors as they are on disk (conditions only; no secrets needed).
struct ReplayPlanOptions: ParsableArguments {
    @Option(help: "The connectors whose plan replays run on (the running plan).")
    var connectors = "connectors"

    @Flag(name: .customLong("original-plan"), help: "Replay on the plan version that first ran, as kept in the store.")
    var originalPlan = false

    func replayer(_ store: any EngineStore) throws -> Replayer {
        let router = try Self.router(paths: [connectors])
        return Replayer(store: store, router: router, loadRouter: { version in
            try await KeptPlans.plan(version: version, in: store).map { try Router(plan: $0) }
        })
    }

    static func router(paths: [String]) throws -> Router {
        var options = CompileOptions()
        options.paths = paths
        let files: [SourceFile]
        switch options.sources() {
        case .failure(let failure): throw failure
        case .success(let read): files = read
        }
        let result = ConnectorCompiler().compile(files)
        guard let plan = result.plan else {
            throw CommandFailure(message: "the connectors do not compile; run `manifold validate \(paths.joined(separator: " "))`")
        }
        return try Router(plan: plan)
    }
}

/// A progress bar on standard error for long replays.
struct ProgressBar {
    let label: String

    func update(_ done: Int, _ total: Int) {
        guard total >= 20, done == total || done % max(1, total / 100) == 0 else { return }
        let width = 30
        let filled = total == 0 ? width : done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileOutput.standardError("\r\(label) [\(bar)] \(done)/\(total)" + (done == total ? "\n" : ""))
    }
}

extension Replayer.Report {
    func output(format: OutputFormat, noun: String) -> CommandOutput {
        switch format {
        case .json:
            return CommandOutput(standardOutput: json.serialized(.pretty) + "\n")
        case .text:
            var out = "replayed \(replayed.count) \(noun)(s)\n"
            for item in replayed { out += "  \(item.from) -> \(item.jobs.isEmpty ? "(no route matched)" : item.jobs.joined(separator: ", "))\n" }
            if !skipped.isEmpty {
                out += "skipped \(skipped.count)\n"
                for item in skipped { out += "  \(item.id): \(item.reason)\n" }
            }
            return CommandOutput(standardOutput: out, status: skipped.isEmpty ? 0 : 1)
        }
    }
}

struct DeadLetterListCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List dead letters, newest first.")

    @OptionGroup var options: StoreOptions

    @Option(help: "Only this connector's dead letters.")
    var connector: String?

    @Option(help: "Only dead letters of this target.")
    var target: String?

    @Option(help: "Only dead letters since this time or within this age (15m, 2h, 2026-11-23).", transform: TimeArgument.parse)
    var since: Date?

    @Option(help: "At most this many.")
    var limit = 50

    func perform() async -> CommandOutput {
        let query = JobQuery(states: [.dead, .quarantined], connector: connector, target: target,
                             since: since, limit: limit)
        return await options.reading { store in
            let jobs = try await store.jobs(query)
            switch options.format {
            case .json:
                return CommandOutput(standardOutput: JSON.array(jobs.map(\.json)).serialized(.pretty) + "\n")
            case .text:
                guard !jobs.isEmpty else { return CommandOutput(standardOutput: "no dead letters\n") }
                let rows = [["JOB", "AT", "CONNECTOR", "ROUTE", "STATE", "ATTEMPTS", "LAST", "REASON"]] + jobs.map { job in
                    [job.id, Timestamp.text(job.updatedAt), job.connector, job.route, job.state.rawValue, "\(job.attempts)",
                     job.lastStatus.map(String.init) ?? "-", job.lastError ?? "-"]
                }
                return CommandOutput(standardOutput: Table.render(rows))
            }
        }
    }
}

struct DeadLetterShowCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a job: its event, and every attempt with its request and response.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The job's id (job_...).")
    var id: String

    func perform() async -> CommandOutput {
        await options.showing("job", id, find: { try await $0.job(id: id) }, json: \.json, text: Self.text)
    }

    static func text(_ record: JobRecord) -> String {
        let job = record.summary
        var out = "job \(job.id)\n"
        let fields: [(String, String)] = [
            ("event", job.eventID), ("connector", job.connector), ("route", job.route), ("target", job.target),
            ("state", job.state.rawValue), ("attempts", "\(job.attempts)"), ("plan", job.planVersion),
            ("trace", job.traceID), ("reason", job.lastError ?? "-"),
        ] + (job.replayOf.map { [("replays", $0)] } ?? []) + (job.orderingKey.map { [("ordering", $0)] } ?? [])
        out += StoreOptions.fieldLines(fields)
        let flow = FlowText.lines(job)
        if !flow.isEmpty { out += "\n" + flow.joined(separator: "\n") + "\n" }
        for (index, attempt) in record.attempts.enumerated() {
            let step = attempt.request?["step"]?.stringValue.map { "  step \($0)" + (attempt.request?["element"]?.intValue.map { " [\($0)]" } ?? "") } ?? ""
            out += "\nattempt \(index + 1)  \(Timestamp.text(attempt.at))  \(attempt.errorClass)\(step)"
                + "  \(attempt.responseStatus.map(String.init) ?? "-")  \(attempt.durationMilliseconds) ms"
                + (attempt.countsAsAttempt ? "" : "  (not counted)") + "\n"
            if let error = attempt.error { out += "  error     \(error)\n" }
            if let request = attempt.request {
                out += "  request   \(request["method"]?.stringValue ?? "") \(request["url"]?.stringValue ?? "")\n"
                for header in request["headers"]?.arrayValue ?? [] {
                    out += "    \(header.arrayValue?.first?.stringValue ?? ""): \(header.arrayValue?.last?.stringValue ?? "")\n"
                }
                if let body = request["body"]?.stringValue { out += "    \(body)\n" }
            }
            if attempt.responseStatus != nil {
                out += "  response\n"
                for header in attempt.responseHeaders { out += "    \(header.name): \(header.value)\n" }
                if let body = attempt.responseBody, !body.isEmpty { out += "    \(body)\n" }
            }
        }
        return out
    }
}

struct DeadLetterReplayCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay dead letters as new jobs; a running engine picks them up within a second.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: DeadLetterSelection
    @OptionGroup var plan: ReplayPlanOptions

    @Flag(name: .customLong("from-start"),
          help: "A flow starts again at its first step (by default it resumes at the call that failed, with what the steps before it gave).")
    var fromStart = false

    func perform() async -> CommandOutput {
        await options.reading { store in
            let jobs = try await selection.select(store)
            let bar = ProgressBar(label: "replaying")
            let report = try await plan.replayer(store).replay(jobs: jobs, originalPlan: plan.originalPlan,
                                                               by: Actor.current, fromStart: fromStart, progress: bar.update)
            return report.output(format: options.format, noun: "dead letter")
        }
    }
}

struct DeadLetterPurgeCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Remove dead letters from the queue (their events and attempts stay in the store).")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: DeadLetterSelection

    func perform() async -> CommandOutput {
        await options.reading { store in
            let jobs = try await selection.select(store)
            let purged = try await store.moveJobs(jobs.map(\.id), from: [.dead, .quarantined], to: .purged)
            return CommandOutput(standardOutput: "purged \(purged.count) dead letter(s)\n")
        }
    }
}

/// `manifold replay`: route stored events again.
struct ReplayCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Route stored events again and deliver what their routes ask for.",
        discussion: "Choose events by id, or by connector and time range, or by status. The replay is recorded in each event's history.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var plan: ReplayPlanOptions

    @Option(name: .customLong("event"), help: "An event id (ev_...); repeat for several.")
    var events: [String] = []

    @Option(help: "Events of this connector.")
    var connector: String?

    @Option(help: "Events received since this time or within this age.", transform: TimeArgument.parse)
    var since: Date?

    @Option(help: "Events received before this time.", transform: TimeArgument.parse)
    var until: Date?

    @Option(help: "Events whose status is this (dead_lettered, quarantined, ...).")
    var status: String?

    @Option(help: "At most this many events.")
    var limit = 10_000

    func validate() throws {
        guard !events.isEmpty || connector != nil || status != nil || since != nil else {
            throw ValidationError("choose events: --event ID, or --connector/--since/--until, or --status")
        }
    }

    func perform() async -> CommandOutput {
        await options.reading { store in
            let chosen = try await ReplaySelection.events(
                ids: events, connector: connector, status: status.map(EventStatus.init(rawValue:)),
                since: since, until: until, limit: limit, in: store)
            let bar = ProgressBar(label: "replaying")
            let report = try await plan.replayer(store).replay(events: chosen, originalPlan: plan.originalPlan,
                                                               by: Actor.current, progress: bar.update)
            return report.output(format: options.format, noun: "event")
        }
    }
}

/// Who runs a command, for the record.
enum Actor {
    static var current: String {
        "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? "unknown")
    }
}
