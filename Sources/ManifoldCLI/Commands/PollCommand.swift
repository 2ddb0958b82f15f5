import ArgumentParser
import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite

/// `manifold poll`: the pulled connectors (polls, schedules, files): where each stands, and running, rewinding or
/// resetting one.
struct PollCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poll",
        abstract: "Pulled connectors (poll, schedule, files): status, run once, backfill, reset.",
        subcommands: [PollStatusCommand.self, PollRunCommand.self, PollBackfillCommand.self, PollResetCommand.self]
    )
}

/// What every `poll` subcommand reads: the store, and the connectors when it needs their plan.
struct PulledConnectors {
    static func plan(_ options: EngineOptions) -> Result<Plan, CommandOutputError> {
        options.load().map(\.plan)
    }

    /// The pulled connector `name` of `plan`, or why not.
    static func connector(_ name: String, in plan: Plan) -> Result<ConnectorPlan, CommandOutputError> {
        guard let connector = plan.connector(named: name) else {
            let pulled = plan.connectors.filter { $0.pull != nil }.map(\.name)
            return .failure(CommandOutputError(.failure("there is no connector \(name) (pulled ones: \(pulled.isEmpty ? "none" : pulled.joined(separator: ", ")))")))
        }
        guard connector.pull != nil else {
            return .failure(CommandOutputError(.failure("\(name) receives webhooks; it pulls nothing")))
        }
        return .success(connector)
    }

    static func time(_ milliseconds: Int64?) -> String {
        guard let milliseconds else { return "never" }
        return PollCursor.written(milliseconds, format: .iso8601).stringValue ?? "?"
    }
}

struct PollStatusCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each pulled connector: its cursor, last run, next run, records read and its last error.",
        discussion: "Reads the store (also while the engine runs) and the connectors' schedules."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var engine: EngineOptions

    func perform() async -> CommandOutput {
        // The connectors give kinds and schedules; without them (a missing variable) the store's states are shown alone.
        let plan = try? PulledConnectors.plan(engine).get()
        return await store.reading { opened in
            let states = Dictionary(uniqueKeysWithValues: try await opened.pullStates().map { ($0.connector, $0) })
            let names = Set(states.keys).union(plan?.connectors.filter { $0.pull != nil }.map(\.name) ?? []).sorted()
            var rows: [JSON] = []
            for name in names {
                let pull = plan?.connector(named: name)?.pull
                let state = states[name]?.state ?? .null
                let stats = Stats(state["stats"] ?? .null)
                var object: JSONObject = ["connector": .string(name)]
                if let pull {
                    object["kind"] = .string(pull.kind)
                    object["schedule"] = .string(pull.timing.text)
                    object["next_run_at"] = .string(PulledConnectors.time(Self.nextRun(pull, state: state)))
                }
                object["cursors"] = state["cursors"] ?? .object(JSONObject())
                let run = state["run"] ?? .null
                object["run_under_way"] = .bool(run.objectValue?.isEmpty == false)
                if case .object(let under) = run, !under.isEmpty {
                    object["run_page"] = under["page"] ?? .number(0)
                }
                object["last_run_at"] = .string(PulledConnectors.time(stats.lastRunAt))
                object["last_success_at"] = .string(PulledConnectors.time(stats.lastSuccessAt))
                object["runs"] = .number(Double(stats.runs))
                object["pages"] = .number(Double(stats.pages))
                object["records"] = .number(Double(stats.records))
                object["failing_runs"] = .number(Double(stats.failing))
                if let error = stats.lastError { object["last_error"] = .string(error) }
                if states[name] == nil { object["state"] = .string("never run") }
                rows.append(.object(object))
            }
            switch store.format {
            case .json:
                return CommandOutput(standardOutput: JSON.array(rows).serialized(.pretty) + "\n")
            case .text:
                guard !rows.isEmpty else { return CommandOutput(standardOutput: "no pulled connector\n") }
                var text = ""
                for row in rows {
                    text += "\(row["connector"]?.stringValue ?? "")  \(row["kind"]?.stringValue ?? "") \(row["schedule"]?.stringValue ?? "")\n"
                    var fields: [(String, String)] = []
                    if let cursors = row["cursors"]?.objectValue, !cursors.isEmpty {
                        fields.append(("cursor", cursors.map { ($0.key.isEmpty ? "" : $0.key + ": ") + $0.value.serialized() }.joined(separator: ", ")))
                    }
                    if row["run_under_way"] == .bool(true) {
                        fields.append(("run", "under way, \(row["run_page"].map { $0.serialized() } ?? "0") page(s) committed: it resumes there"))
                    }
                    fields.append(("last run", row["last_run_at"]?.stringValue ?? ""))
                    fields.append(("last ok", row["last_success_at"]?.stringValue ?? ""))
                    if let next = row["next_run_at"]?.stringValue { fields.append(("next run", next)) }
                    fields.append(("read", "\(row["records"]?.serialized() ?? "0") records in \(row["pages"]?.serialized() ?? "0") pages over \(row["runs"]?.serialized() ?? "0") runs"))
                    if let error = row["last_error"]?.stringValue {
                        fields.append(("error", "\(error) (\(row["failing_runs"]?.serialized() ?? "1") run(s) in a row)"))
                    }
                    text += StoreOptions.fieldLines(fields)
                }
                return CommandOutput(standardOutput: text)
            }
        }
    }

    static func nextRun(_ pull: PullSource, state: JSON) -> Int64? {
        Puller.due(pull, state: state, now: Int64(Date().timeIntervalSince1970 * 1000))
    }
}

struct PollRunCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pulled connector once now, committing page by page, and say what it read.",
        discussion: """
        Runs in this process against the store, with the connector's targets (auth, rate limit, retries). The events \
        are stored with their jobs; the running engine delivers them (or the next one started). A run interrupted \
        resumes from its last committed page. Do not run it while the engine is in the middle of the same run.
        """
    )

    @Argument(help: "The pulled connector.")
    var connector: String

    @Flag(help: "One run (the only mode: the engine runs the schedule).")
    var once = false

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @OptionGroup var engine: EngineOptions

    func perform() async -> CommandOutput {
        let loaded: (plan: Plan, environment: [String: String])
        switch engine.load() {
        case .failure(let failure): return failure.output
        case .success(let value): loaded = value
        }
        if case .failure(let failure) = PulledConnectors.connector(connector, in: loaded.plan) { return failure.output }
        let opened: any EngineStore
        do {
            opened = try await StoreAccess.open(store, create: true, verify: true)
        } catch {
            return .failure("\(error)")
        }
        defer { opened.close() }
        var logger = Logger(label: "manifold.pull")
        logger.logLevel = .warning
        let resolver = ConfigResolver(environment: loaded.environment)
        let transport = AsyncHTTPTransport()
        defer { Task { await transport.shutdown() } }
        // The runtime only sends the poll's requests; the jobs are left unleased in the store for the engine.
        let fetcher = DeliveryRuntime(store: opened, transport: transport, logger: logger)
        do {
            fetcher.install(try DeliveryPlan(plan: loaded.plan, resolver: resolver, tokens: fetcher.tokens))
            let engine = try Engine(plan: loaded.plan, store: opened, resolver: resolver, logger: logger)
            let puller = Puller(engine: engine, fetcher: fetcher, clock: fetcher.clock, logger: logger,
                                locate: Puller.locate(resolver: resolver))
            let report = await puller.run(connector)
            var line = "\(connector): "
            switch report.outcome {
            case .finished: line += "finished"
            case .paused: line += "paused at its page limit (the next run continues)"
            case .idle: line += "nothing to do"
            case .failed(let reason): line += "failed: \(reason)"
            }
            line += " (\(report.summary))\n"
            if case .failed = report.outcome { return CommandOutput(standardOutput: line, status: 1) }
            return CommandOutput(standardOutput: line)
        } catch {
            return .failure("\(error)")
        }
    }
}

struct PollBackfillCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Set a poll's cursor back to a time, so its next run reads again from there.",
        discussion: """
        Records read again that are already stored are not events twice (their event ids are). Every partition's \
        cursor is set. Refused while a run is under way (it would write its own cursor over this one), unless --force.
        """
    )

    @Argument(help: "The polled connector (with a datetime cursor).")
    var connector: String

    @Option(help: "Read again from this time: 2024-06-01T00:00:00Z, 2024-06-01, or an age such as 7d.", transform: TimeArgument.parse)
    var since: Date

    @Flag(help: "Even while a run is under way (its place is dropped: it starts over at the next run).")
    var force = false

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @OptionGroup var engine: EngineOptions

    func perform() async -> CommandOutput {
        let plan: Plan
        switch PulledConnectors.plan(engine) {
        case .failure(let failure): return failure.output
        case .success(let value): plan = value
        }
        let found: ConnectorPlan
        switch PulledConnectors.connector(connector, in: plan) {
        case .failure(let failure): return failure.output
        case .success(let value): found = value
        }
        guard case .poll(let poll)? = found.pull, let cursor = poll.cursor, cursor.kind == .datetime else {
            return .failure("\(connector) has no datetime cursor to set back (backfill rewinds a poll's cursor: cursor.type datetime)")
        }
        return await PollStateEdit.edit(store: store, connector: connector, force: force) { state in
            var object = state.objectValue ?? JSONObject()
            let value = PollCursor.written(Int64(since.timeIntervalSince1970 * 1000), format: cursor.format)
            var cursors = object["cursors"]?.objectValue ?? JSONObject()
            if cursors.isEmpty { cursors[""] = value }
            for key in cursors.keys { cursors[key] = value }
            object["cursors"] = .object(cursors)
            object["run"] = .null
            return (.object(object), "\(connector): the cursor is \(value.serialized()); the next run reads from there\n")
        }
    }
}

struct PollResetCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Forget a pulled connector's cursor and run: the next run starts from cursor.start (or reads everything).",
        discussion: "Stored events stay; records read again are not events twice. Refused while a run is under way, unless --force."
    )

    @Argument(help: "The pulled connector.")
    var connector: String

    @Flag(help: "Even while a run is under way.")
    var force = false

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    func perform() async -> CommandOutput {
        await PollStateEdit.edit(store: store, connector: connector, force: force) { state in
            var object = state.objectValue ?? JSONObject()
            object["cursors"] = .object(JSONObject())
            object["run"] = .null
            return (.object(object), "\(connector): reset; the next run starts from the beginning\n")
        }
    }
}

/// Changes a pull's stored state, refusing while a run is under way unless forced.
enum PollStateEdit {
    static func edit(store: String, connector: String, force: Bool, _ change: (JSON) -> (JSON, String)) async -> CommandOutput {
        do {
            let opened = try await StoreAccess.open(store)
            defer { opened.close() }
            let state = try await opened.pullState(connector)?.state ?? .null
            if case .object(let run) = state["run"] ?? .null, !run.isEmpty, !force {
                return CommandOutput(standardError: "error: a run of \(connector) is under way (page \(run["page"]?.serialized() ?? "?") committed); "
                                     + "wait for it to end, or give --force to drop its place\n", status: 1)
            }
            let (next, message) = change(state)
            try await opened.setPullState(next, of: connector)
            return CommandOutput(standardOutput: message)
        } catch {
            return .failure("\(error)")
        }
    }
}
