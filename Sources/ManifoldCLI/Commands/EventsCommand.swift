import ArgumentParser
import Foundation
import JSONValue
import ManifoldStore
import ManifoldSQLite

/// `manifold events`: reads the event store, also while the engine writes to it.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "List stored events, or show the whole story of one.",
        subcommands: [EventsListCommand.self, EventsShowCommand.self]
    )
}

/// The store option the event commands share.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    /// Shows one record found by id: as JSON or as text; a missing one is an error naming the store (status 1).
    func showing<Record>(_ noun: String, _ id: String, find: @escaping (any EngineStore) async throws -> Record?,
                         json: @escaping (Record) -> JSON, text: @escaping (Record) -> String) async -> CommandOutput
    {
        await reading { store in
            guard let record = try await find(store) else {
                return CommandOutput(standardError: "error: there is no \(noun) \(id) in \(self.store)\n", status: 1)
            }
            switch format {
            case .json: return CommandOutput(standardOutput: json(record).serialized(.pretty) + "\n")
            case .text: return CommandOutput(standardOutput: text(record))
            }
        }
    }

    /// `  name      value` lines, the names in a column.
    static func fieldLines(_ fields: [(String, String)]) -> String {
        fields.map { "  " + $0.0.padding(toLength: 10, withPad: " ", startingAt: 0) + $0.1 + "\n" }.joined()
    }

    /// Opens the store (which must exist), reads it with `body`, closes it; a store error is status 2.
    func reading(_ body: (any EngineStore) async throws -> CommandOutput) async -> CommandOutput {
        do {
            let opened = try await StoreAccess.open(store)
            defer { opened.close() }
            return try await body(opened)
        } catch {
            return .failure("\(error)")
        }
    }
}

struct EventsListCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List events, newest first.",
        discussion: "--since takes a time (2026-11-23T10:00:00Z or 2026-11-23) or an age (90s, 15m, 2h, 7d)."
    )

    @OptionGroup var options: StoreOptions

    @Option(help: "Only this connector's events.")
    var connector: String?

    @Option(help: "Only events whose status is this (received, quarantined, ...).")
    var status: String?

    @Option(help: "Only events received since this time or within this age.", transform: TimeArgument.parse)
    var since: Date?

    @Option(help: "At most this many events.")
    var limit = 50

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    func perform() async -> CommandOutput {
        let query = EventQuery(connector: connector, status: status.map(EventStatus.init(rawValue:)),
                               since: since, limit: limit)
        return await options.reading { store in render(try await store.events(query)) }
    }

    private func render(_ events: [EventSummary]) -> CommandOutput {
        switch options.format {
        case .json:
            return CommandOutput(standardOutput: JSON.array(events.map(\.json)).serialized(.pretty) + "\n")
        case .text:
            guard !events.isEmpty else { return CommandOutput(standardOutput: "no events\n") }
            let rows = [["ID", "RECEIVED", "CONNECTOR", "TYPE", "STATUS", "EVENT ID"]] + events.map { event in
                [event.id, Timestamp.text(event.receivedAt), event.connector, event.eventType ?? "-",
                 event.status.rawValue + (event.duplicates > 0 ? " (+\(event.duplicates) dup)" : ""), event.eventID]
            }
            return CommandOutput(standardOutput: Table.render(rows))
        }
    }
}

struct EventsShowCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one event: what was received, and its timeline."
    )

    @OptionGroup var options: StoreOptions

    @Argument(help: "The event's id (ev_...).")
    var id: String

    func perform() async -> CommandOutput {
        await options.showing("event", id, find: { store -> (EventRecord, [JobSummary])? in
            guard let event = try await store.event(id: id) else { return nil }
            return (event, try await store.jobs(JobQuery(eventID: id, limit: 1000)).reversed())
        }, json: { record, jobs in
            var object = record.json.objectValue ?? JSONObject()
            object["jobs"] = .array(jobs.map(\.json))
            return .object(object)
        }, text: { record, jobs in
            var out = Self.text(record)
            let flows = jobs.flatMap { FlowText.lines($0) }
            if !flows.isEmpty {
                out = out.replacingOccurrences(of: "\nbody\n", with: "\nsteps\n" + flows.joined(separator: "\n") + "\n\nbody\n")
            }
            return out
        })
    }

    static func text(_ record: EventRecord) -> String {
        let event = record.summary
        var out = "event \(event.id)\n"
        let fields: [(String, String)] = [
            ("connector", event.connector), ("event id", event.eventID), ("type", event.eventType ?? "-"),
            ("status", event.status.rawValue), ("plan", event.planVersion), ("from", record.remoteAddress ?? "-"),
            ("body", "\(record.body.count) bytes, \(record.contentType)"),
        ]
        out += StoreOptions.fieldLines(fields)
        out += "\nheaders\n"
        for header in record.headers { out += "  \(header.name): \(header.value)\n" }
        out += "\ntimeline\n"
        for step in record.history {
            out += "  \(Timestamp.text(step.at))  \(step.status.rawValue)"
            if let detail = step.detail?.objectValue {
                out += "  " + detail.map { "\($0.key)=\($0.value.stringValue ?? $0.value.serialized())" }.joined(separator: " ")
            }
            out += "\n"
        }
        out += "\nbody\n"
        let text = String(decoding: record.body, as: UTF8.self)
        if record.contentType == "json", let json = try? JSONParser.parse(bytes: record.body) {
            out += json.serialized(.pretty) + "\n"
        } else {
            out += text + (text.hasSuffix("\n") ? "" : "\n")
        }
        return out
    }
}

extension EventSummary {
    var json: JSON {
        .object(JSONObject([
            ("id", .string(id)), ("connector", .string(connector)), ("event_id", .string(eventID)),
            ("event_type", eventType.map(JSON.string) ?? .null), ("status", .string(status.rawValue)),
            ("duplicates", .number(Double(duplicates))), ("plan_version", .string(planVersion)),
            ("received_at", .string(Timestamp.text(receivedAt))),
        ]))
    }
}

extension EventRecord {
    var json: JSON {
        var object = summary.json.objectValue ?? JSONObject()
        object["content_type"] = .string(contentType)
        object["remote_address"] = remoteAddress.map(JSON.string) ?? .null
        object["headers"] = .array(headers.map { .array([.string($0.name), .string($0.value)]) })
        object["body"] = .string(String(decoding: body, as: UTF8.self))
        object["history"] = .array(history.map { step in
            .object(JSONObject([("at", .string(Timestamp.text(step.at))), ("status", .string(step.status.rawValue)),
                                ("detail", step.detail ?? .null)]))
        })
        return .object(object)
    }
}

/// Times as the CLI prints them: ISO 8601 in UTC with milliseconds.
enum Timestamp {
    static func text(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// Columns padded to their widest cell.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
