import ArgumentParser
import Foundation
import JSONValue
import ManifoldCompiler
import ManifoldDelivery
import ManifoldDiff
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite

/// `manifold rollout`: a candidate version of a connector beside the current one, on a share of its events, shadowed
/// or live, then promoted or rolled back; every action recorded with who and when.
struct RolloutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Run a candidate version of a connector on a share of its events: start, status, set-share, compare, promote, rollback.",
        discussion: """
            The rollout is kept in the event store: a running engine takes it within a second (and every engine on the \
            store alike). Events go to the candidate by their key's bucket (the event id, or --stick-by's value): the same \
            key always gets the same version. A canary's events are routed and delivered by the candidate only; a shadow's \
            are delivered by the current version while the candidate's calls are mapped and recorded, never sent \
            (`rollout compare` shows the difference). A canary failing more than the current version is rolled back by \
            itself, with an alert.
            """,
        subcommands: [RolloutStartCommand.self, RolloutStatusCommand.self, RolloutShareCommand.self, RolloutCompareCommand.self,
                      RolloutPromoteCommand.self, RolloutRollbackCommand.self]
    )

    /// Who does it: the operating-system user, as the log records it.
    static var actor: String {
        "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? "unknown")
    }

    /// `10`, `2.5`, `10%` as basis points.
    static func basisPoints(_ text: String) throws -> Int {
        let trimmed = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let value = Double(trimmed), (0...100).contains(value) else {
            throw ValidationError("a share is a percentage from 0 to 100, such as 10 or 2.5 (got \(text))")
        }
        return Int((value * 100).rounded())
    }

    /// Opens the store at `path` (which must exist), runs `body` on it and closes it; an error is status 2, said.
    static func using(_ path: String, _ body: (any EngineStore) async throws -> CommandOutput) async -> CommandOutput {
        do {
            let opened = try await StoreAccess.open(path)
            defer { opened.close() }
            return try await body(opened)
        } catch {
            return .failure("\(error)")
        }
    }
}

struct RolloutStartCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a rollout of a candidate file of a connector.",
        discussion: """
              manifold rollout start stripe-to-hubspot --candidate candidates/stripe-to-hubspot.yaml --share 10
              manifold rollout start stripe-to-hubspot --candidate next.yaml --share 100 --shadow
            """
    )

    @Argument(help: "The connector.")
    var connector: String

    @Option(help: "The candidate: a connector file with the same connector name.")
    var candidate: String

    @Option(help: "The share of events (by key) that go to the candidate, in percent (default 10).")
    var share = "10"

    @Flag(help: "Shadow: the candidate's calls are mapped and recorded, never sent; the current version delivers every event.")
    var shadow = false

    @Option(name: .customLong("stick-by"), help: "An expression over the event whose value picks the version (default: the event id), e.g. data.object.customer.")
    var stickBy: String?

    @Option(help: "Roll a canary back when its failure rate exceeds the current's by more than this many points (default 5).")
    var margin = 5.0

    @Option(help: "The window the failure rates are measured over (default 5m).")
    var window = "5m"

    @Option(name: .customLong("min-attempts"), help: "The candidate attempts needed before its rate is judged (default 20).")
    var minAttempts = 20

    @Flag(name: .customLong("keep-on-quarantine"), help: "Do not roll back when the candidate quarantines an event.")
    var keepOnQuarantine = false

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        _ = try RolloutCommand.basisPoints(share)
        guard Duration(manifoldText: window) != nil else { throw ValidationError("--window must be a duration such as 5m") }
    }

    func perform() async -> CommandOutput {
        let current: Plan
        switch engine.load() {
        case .failure(let failure): return failure.output
        case .success(let loaded): current = loaded.plan
        }
        guard let running = current.connector(named: connector) else {
            return .failure("there is no connector \(connector) in \(engine.connectors)")
        }
        let text: String
        do {
            text = String(decoding: try SourceLoader.read(candidate), as: UTF8.self)
        } catch {
            return .failure("--candidate \(error)")
        }
        // The candidate must be a valid file of the same connector.
        let files = [SourceFile(path: candidate, text: text)]
        let compiled = ConnectorCompiler(environment: .ignore).compile(files)
        guard let plan = compiled.plan, let next = plan.connectors.first else {
            return CommandOutput(standardError: "error: the candidate does not compile:\n" + DiagnosticRenderer(files: files).report(compiled.diagnostics),
                                 status: 1)
        }
        guard next.name == connector else {
            return .failure("the candidate is connector \(next.name), not \(connector)")
        }
        if let problem = RolloutRecord.sourceProblem(current: running.json["source"], candidate: next.json["source"]) {
            return .failure(problem)
        }
        let diff = PlanDiff(old: Plan(connectors: [running]), new: plan)
        guard !diff.isEmpty else { return .failure("the candidate behaves as the current version does: nothing to roll out") }
        let record = RolloutRecord(
            id: "ro_" + JobIdentifier.make().dropFirst(4), connector: connector, mode: shadow ? .shadow : .canary,
            basisPoints: (try? RolloutCommand.basisPoints(share)) ?? 1000, stickBy: stickBy, candidateText: text, candidatePath: candidate,
            candidateVersion: plan.version, baseVersion: current.version, startedAt: Date(), startedBy: RolloutCommand.actor,
            margin: margin / 100, window: Duration(manifoldText: window) ?? .seconds(300), minimum: minAttempts,
            onQuarantine: !keepOnQuarantine)
        let started = await RolloutCommand.using(store) { opened in
            try await opened.startRollout(record, by: RolloutCommand.actor)
            return CommandOutput()
        }
        guard started.status == 0 else { return started }
        let what = shadow ? "shadow (the candidate's calls are recorded, not sent)" : "canary (routed and delivered by the candidate)"
        return CommandOutput(standardOutput: """
            rollout \(record.id) of \(connector): \(record.shareText) of events to the candidate, \(what)
            candidate \(plan.version) against the current \(running.version == next.version ? "" : "v\(running.version) ")\(current.version)
            \(diff.text(colour: false))
            """)
    }
}

struct RolloutStatusCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The rollouts: active and ended, their share, mode, who did what and when, and each version's events and dead letters."
    )

    @Argument(help: "Only this connector.")
    var connector: String?

    @OptionGroup var options: StoreOptions

    func perform() async -> CommandOutput {
        await options.reading { store in
            let rollouts = try await store.rollouts().filter { connector == nil || $0.connector == connector }
            let log = try await store.rolloutLog(connector: connector)
            // The plans the engine ran as its current one: an event of another version was handled by a candidate.
            let applied = Set(try await store.appliedPlans(limit: 10_000).map(\.version))
            var rows: [JSON] = []
            for rollout in rollouts {
                var object = rollout.json.objectValue ?? JSONObject()
                object["candidate_text"] = nil
                object["share"] = .string(rollout.shareText)
                // Events by the version that handled them since the rollout started (the candidate's plan has its own).
                // Counted in the store, not read into memory: a rollout may have seen millions of events.
                let counts = try await store.eventCounts(connector: rollout.connector, since: rollout.startedAt)
                let current = counts.filter { applied.contains($0.key) || $0.key == rollout.baseVersion }.values.reduce(0, +)
                object["events_current"] = .number(Double(current))
                object["events_candidate"] = .number(Double(counts.values.reduce(0, +) - current))
                object["log"] = .array(log.filter { $0.rollout == rollout.id }.map { entry in
                    var item: JSONObject = ["at": .string(JobJSON.time(entry.at)), "action": .string(entry.action), "by": .string(entry.by)]
                    if let detail = entry.detail { item["detail"] = detail }
                    return .object(item)
                })
                rows.append(.object(object))
            }
            if options.format == .json { return CommandOutput(standardOutput: JSON.array(rows).serialized(.pretty) + "\n") }
            guard !rows.isEmpty else { return CommandOutput(standardOutput: "no rollout\(connector.map { " of \($0)" } ?? "")\n") }
            var text = ""
            for (rollout, row) in zip(rollouts, rows) {
                text += "\(rollout.connector)  \(rollout.id)  \(rollout.status.rawValue)  \(rollout.mode.rawValue) \(rollout.shareText)\n"
                var fields: [(String, String)] = [
                    ("candidate", "\(rollout.candidatePath) (\(rollout.candidateVersion))"),
                    ("started", "\(JobJSON.time(rollout.startedAt)) by \(rollout.startedBy)"),
                    ("events", "\(row["events_current"]?.serialized() ?? "0") current, \(row["events_candidate"]?.serialized() ?? "0") candidate"),
                ]
                if rollout.mode == .canary {
                    fields.append(("guard", String(format: "rolls back when the candidate fails %.1f points more than the current over %@ (from %d attempts)",
                                                   rollout.margin * 100, rollout.window.manifoldText, rollout.minimum)
                                   + (rollout.onQuarantine ? ", or quarantines an event" : "")))
                }
                if let stick = rollout.stickBy { fields.append(("stick by", stick)) }
                if let reason = rollout.endedReason { fields.append(("ended", reason)) }
                text += StoreOptions.fieldLines(fields)
                for entry in row["log"]?.arrayValue ?? [] {
                    text += "    \(entry["at"]?.stringValue ?? "")  \(entry["action"]?.stringValue ?? "")  by \(entry["by"]?.stringValue ?? "")"
                        + (entry["detail"].map { "  \($0.serialized())" } ?? "") + "\n"
                }
            }
            return CommandOutput(standardOutput: text)
        }
    }
}

struct RolloutShareCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(commandName: "set-share", abstract: "Change an active rollout's share of events.")

    @Argument(help: "The connector.")
    var connector: String

    @Argument(help: "The share in percent (0 to 100).")
    var share: String

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    func validate() throws { _ = try RolloutCommand.basisPoints(share) }

    func perform() async -> CommandOutput {
        let points = (try? RolloutCommand.basisPoints(share)) ?? 0
        return await RolloutChange.apply(store: store, connector: connector, action: "set-share", detail: ["share": .string(share)]) {
            $0.basisPoints = points
        } message: { "\($0.connector): \($0.shareText) of events to the candidate\n" }
    }
}

struct RolloutRollbackCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "End an active rollout: every event goes to the current version (queued candidate jobs finish).")

    @Argument(help: "The connector.")
    var connector: String

    @Option(help: "Why, for the log.")
    var reason = "rolled back by hand"

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    func perform() async -> CommandOutput {
        let reason = self.reason
        return await RolloutChange.apply(store: store, connector: connector, action: "rollback", detail: ["reason": .string(reason)]) {
            $0.status = .rolledBack
            $0.endedReason = reason
        } message: { "\($0.connector): rolled back; every event goes to the current version\n" }
    }
}

struct RolloutPromoteCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Make the candidate the current version: its file replaces the connector's, and the engine reloads it.",
        discussion: """
            The candidate's text is written over the connector's file (found in --connectors); the running engine \
            reloads it (it watches the files; or run `manifold reload`), then every event goes to it. Until then the \
            rollout goes on, so no event is handled by both versions or by neither.
            """
    )

    @Argument(help: "The connector.")
    var connector: String

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @OptionGroup var engine: EngineOptions

    func perform() async -> CommandOutput {
        let current: Plan
        switch engine.load() {
        case .failure(let failure): return failure.output
        case .success(let loaded): current = loaded.plan
        }
        guard let file = current.connector(named: connector)?.sourceFile else {
            return .failure("there is no connector \(connector) in \(engine.connectors)")
        }
        return await RolloutCommand.using(store) { opened in
            guard let rollout = try await opened.rollouts().first(where: { $0.connector == connector && $0.status == .active }) else {
                return .failure("\(connector) has no active rollout")
            }
            try Data(rollout.candidateText.utf8).write(to: URL(fileURLWithPath: file))
            _ = try await opened.changeRollout(connector, action: "promote", by: RolloutCommand.actor, detail: ["file": .string(file)]) {
                $0.status = .promoted
                $0.endedReason = "promoted: \(file) is the candidate"
            }
            return CommandOutput(standardOutput: "\(connector): promoted; \(file) now holds the candidate (\(rollout.candidateVersion)); "
                                 + "the engine runs it once it reloads (it watches the files, or `manifold reload`)\n")
        }
    }
}

struct RolloutCompareCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "What a shadow candidate would have sent against what the current version sent, per event and in aggregate."
    )

    @Argument(help: "The connector.")
    var connector: String

    @Option(help: "The rollout (default: the connector's latest shadow rollout).")
    var rollout: String?

    @Option(help: "Output format: text, markdown or json.")
    var format: DiffCommand.Format = .text

    @Option(help: "Events listed in text and Markdown (json lists them all).")
    var limit = 20

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    func perform() async -> CommandOutput {
        await RolloutCommand.using(store) { opened in
            let all = try await opened.rollouts().filter { $0.connector == connector && $0.mode == .shadow }
            guard let chosen = rollout.map({ id in all.first { $0.id == id } }) ?? all.max(by: { $0.startedAt < $1.startedAt }) else {
                return .failure("\(connector) has no shadow rollout\(rollout.map { " \($0)" } ?? "") (start one with --shadow)")
            }
            let calls = try await opened.shadowCalls(rollout: chosen.id)
            var current: [String: [CallComparison.Call]] = [:], candidate: [String: [CallComparison.Call]] = [:]
            var order: [String] = []
            for call in calls {
                if !order.contains(call.event) { order.append(call.event) }
                let item = CallComparison.Call(route: call.route, call: call.call, request: call.request)
                if call.arm == "candidate" { candidate[call.event, default: []].append(item) } else { current[call.event, default: []].append(item) }
            }
            return render(CallComparison(current: current, candidate: candidate, order: order), chosen, events: order.count)
        }
    }

    private func render(_ comparison: CallComparison, _ chosen: RolloutRecord, events: Int) -> CommandOutput {
        let header = "rollout \(chosen.id) of \(connector) (shadow, \(chosen.shareText)), \(events) events\n"
        switch format {
        case .text: return CommandOutput(standardOutput: header + comparison.text(limit: limit))
        case .markdown: return CommandOutput(standardOutput: "### " + header + "\n" + comparison.markdown(limit: limit))
        case .json: return CommandOutput(standardOutput: comparison.json.serialized(.pretty) + "\n")
        }
    }
}

/// Changes an active rollout in the store, logged with who.
enum RolloutChange {
    static func apply(store: String, connector: String, action: String, detail: JSON?, _ change: @escaping @Sendable (inout RolloutRecord) -> Void,
                      message: (RolloutRecord) -> String) async -> CommandOutput
    {
        await RolloutCommand.using(store) { opened in
            guard let changed = try await opened.changeRollout(connector, action: action, by: RolloutCommand.actor, detail: detail, change) else {
                return .failure("\(connector) has no active rollout")
            }
            return CommandOutput(standardOutput: message(changed))
        }
    }
}
