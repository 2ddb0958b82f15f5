public import JSONValue

/// A source the engine pulls from on a schedule instead of being pushed to: an API polled page by page, a bare
/// schedule, or a folder of files. Every record it brings becomes an event, stored, de-duplicated and routed like a
/// webhook's.
public enum PullSource: Sendable, Hashable {
    case poll(PollSource)
    case schedule(ScheduleSource)
    case files(FilesSource)
    case sql(SQLSource)

    /// `poll`, `schedule`, `files` or `sql`.
    public var kind: String {
        switch self {
        case .poll: "poll"
        case .schedule: "schedule"
        case .files: "files"
        case .sql: "sql"
        }
    }

    /// When it runs.
    public var timing: PullSchedule {
        switch self {
        case .poll(let poll): poll.schedule
        case .schedule(let schedule): schedule.schedule
        case .files(let files): .every(files.every)
        case .sql(let sql): sql.schedule
        }
    }
}

/// When a pull runs: at a fixed interval after the previous run started, or at the times of a cron expression (UTC).
public enum PullSchedule: Sendable, Hashable {
    case every(Duration)
    case cron(CronSchedule)

    public var text: String {
        switch self {
        case .every(let interval): "every \(interval.manifoldText)"
        case .cron(let cron): "cron \(cron.text) (UTC)"
        }
    }
}

/// An API polled through a target's operation: its auth, rate limit and retries are the target's.
public struct PollSource: Sendable, Hashable {
    public var schedule: PullSchedule
    /// The request: `target.operation`, with query parameters and path values (templates that may read `$cursor`,
    /// `$cursor_end` and `$partition`).
    public var request: PollRequestPlan
    /// The records of a page: an expression over the answer's body (`$headers` bound too).
    public var records: ExpressionSource
    /// The event id of a record (de-duplicated per connector, like a webhook's).
    public var eventID: ExpressionSource
    public var eventType: ExpressionSource?
    public var paginate: Pagination?
    public var cursor: PollCursor?
    /// Parent records whose every value runs the request once (`$partition`), each with its own cursor.
    public var partitions: Partitions?
    /// The most pages one run reads (across partitions); the next run continues where it stopped.
    public var maxPages: Int

    public init(schedule: PullSchedule, request: PollRequestPlan, records: ExpressionSource, eventID: ExpressionSource,
                eventType: ExpressionSource?, paginate: Pagination?, cursor: PollCursor?, partitions: Partitions?, maxPages: Int)
    {
        self.schedule = schedule
        self.request = request
        self.records = records
        self.eventID = eventID
        self.eventType = eventType
        self.paginate = paginate
        self.cursor = cursor
        self.partitions = partitions
        self.maxPages = maxPages
    }

    public static let defaultMaxPages = 1000
}

/// A call a pull makes: a target's operation with query parameters and path values.
public struct PollRequestPlan: Sendable, Hashable {
    public var target: String
    public var operation: String
    public var query: [Header]
    public var pathParameters: [Header]

    public init(target: String, operation: String, query: [Header], pathParameters: [Header]) {
        self.target = target
        self.operation = operation
        self.query = query
        self.pathParameters = pathParameters
    }

    public var call: String { "\(target).\(operation)" }
}

/// How the next page is asked for, and when there is none.
public struct Pagination: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A token from the answer (`value`) sent as the query parameter `param`.
        case cursor
        /// The next page's URL from the answer (`value`).
        case nextURL = "next_url"
        /// The `Link` header's `rel="next"` URL.
        case link
        /// `param` = records read so far (`size` per page, sent as `size_param` when given).
        case offset
        /// `param` = page number, from `start`.
        case page
    }

    public var kind: Kind
    public var param: String?
    /// `cursor`: the token; `next_url`: the URL. Over `$response` (the body), `$records`, `$last`, `$headers`.
    public var value: ExpressionSource?
    /// Stop when this holds (over the same bindings); besides, an empty page or no next token always stops.
    public var stop: ExpressionSource?
    public var size: Int?
    public var sizeParam: String?
    public var start: Int

    public init(kind: Kind, param: String?, value: ExpressionSource?, stop: ExpressionSource?, size: Int?, sizeParam: String?,
                start: Int)
    {
        self.kind = kind
        self.param = param
        self.value = value
        self.stop = stop
        self.size = size
        self.sizeParam = sizeParam
        self.start = start
    }
}

/// An incremental cursor: the highest value of a record's field seen, kept between runs and committed with the
/// events, read by the request as `$cursor`.
public struct PollCursor: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case datetime, id }
    /// How a datetime is written, in records and in `$cursor`.
    public enum Format: String, Sendable, Hashable { case iso8601, unix, unixMilliseconds = "unix_ms" }

    /// The record's cursor value.
    public var field: ExpressionSource
    public var kind: Kind
    public var format: Format
    /// The value before the first run (a datetime as written in `format`, or ISO 8601; an id).
    public var start: JSON?
    /// Read this much before the cursor again each run (late records); what was already stored is a duplicate.
    public var lookback: Duration?
    /// Read in windows of this length (`$cursor` to `$cursor_end`), the cursor committed at each window's end.
    public var step: Duration?
    /// Whether records whose value equals the cursor are read again (the API filters with >=).
    public var inclusive: Bool

    public init(field: ExpressionSource, kind: Kind, format: Format, start: JSON?, lookback: Duration?, step: Duration?,
                inclusive: Bool)
    {
        self.field = field
        self.kind = kind
        self.format = format
        self.start = start
        self.lookback = lookback
        self.step = step
        self.inclusive = inclusive
    }
}

/// The parent request of a poll: its records' `value`s are the partitions the main request runs for.
public struct Partitions: Sendable, Hashable {
    public var request: PollRequestPlan
    public var records: ExpressionSource
    public var value: ExpressionSource
    public var paginate: Pagination?

    public init(request: PollRequestPlan, records: ExpressionSource, value: ExpressionSource, paginate: Pagination?) {
        self.request = request
        self.records = records
        self.value = value
        self.paginate = paginate
    }
}

/// A bare schedule: one event per tick, for flows that run at set times (a weekly report).
public struct ScheduleSource: Sendable, Hashable {
    public var schedule: PullSchedule
    /// The event's body, a template that may read `$tick` (the tick's time, ISO 8601).
    public var event: Template?
    public var eventType: String

    public init(schedule: PullSchedule, event: Template?, eventType: String) {
        self.schedule = schedule
        self.event = event
        self.eventType = eventType
    }
}

/// A folder watched for files of records (CSV with a header line, or JSON Lines): each row an event.
public struct FilesSource: Sendable, Hashable {
    public enum Format: String, Sendable, Hashable { case csv, jsonl }

    /// The folder: a path, relative to the connector file, or `${env:NAME}`.
    public var directory: ConfigString
    public var format: Format
    /// The event id of a row (over the row, `$file` and `$line` bound); by default the file's content hash and the
    /// line number, so a file read again after a crash gives the same ids.
    public var eventID: ExpressionSource?
    public var eventType: ExpressionSource?
    /// How often the folder is looked at.
    public var every: Duration
    /// How long a file must stay unchanged (size and time) before it is read: a file still being written is not.
    public var settle: Duration

    public init(directory: ConfigString, format: Format, eventID: ExpressionSource?, eventType: ExpressionSource?, every: Duration,
                settle: Duration)
    {
        self.directory = directory
        self.format = format
        self.eventID = eventID
        self.eventType = eventType
        self.every = every
        self.settle = settle
    }
}

/// A table read in batches by a query with a cursor column: each row an event, each batch committed with the cursor
/// past it.
public struct SQLSource: Sendable, Hashable {
    /// The database: an SQLite file (a path, relative to the connector file, or `${env:NAME}`).
    public var database: ConfigString
    /// The query, reading `:cursor` (the last committed value of `cursorColumn`, or `start`) and `:limit` (`batch`).
    public var query: String
    public var cursorColumn: String
    public var start: JSON?
    public var eventID: ExpressionSource
    public var eventType: ExpressionSource?
    public var schedule: PullSchedule
    public var batch: Int
    /// The most batches one run reads; the next run continues.
    public var maxBatches: Int

    public init(database: ConfigString, query: String, cursorColumn: String, start: JSON?, eventID: ExpressionSource,
                eventType: ExpressionSource?, schedule: PullSchedule, batch: Int, maxBatches: Int)
    {
        self.database = database
        self.query = query
        self.cursorColumn = cursorColumn
        self.start = start
        self.eventID = eventID
        self.eventType = eventType
        self.schedule = schedule
        self.batch = batch
        self.maxBatches = maxBatches
    }
}

extension PullSource {
    /// As JSON, with every effective value.
    public var json: JSON {
        switch self {
        case .poll(let poll):
            var object: JSONObject = ["schedule": poll.schedule.json, "call": .string(poll.request.call)]
            poll.request.addJSON(to: &object)
            object["records"] = .string(poll.records.source)
            object["event_id"] = .string(poll.eventID.source)
            if let type = poll.eventType { object["event_type"] = .string(type.source) }
            if let paginate = poll.paginate { object["paginate"] = paginate.json }
            if let cursor = poll.cursor {
                var value: JSONObject = ["field": .string(cursor.field.source), "type": .string(cursor.kind.rawValue),
                                         "inclusive": .bool(cursor.inclusive)]
                if cursor.kind == .datetime { value["format"] = .string(cursor.format.rawValue) }
                if let start = cursor.start { value["start"] = start }
                if let lookback = cursor.lookback { value["lookback"] = .string(lookback.manifoldText) }
                if let step = cursor.step { value["step"] = .string(step.manifoldText) }
                object["cursor"] = .object(value)
            }
            if let partitions = poll.partitions {
                var value: JSONObject = ["call": .string(partitions.request.call)]
                partitions.request.addJSON(to: &value)
                value["records"] = .string(partitions.records.source)
                value["value"] = .string(partitions.value.source)
                if let paginate = partitions.paginate { value["paginate"] = paginate.json }
                object["partitions"] = .object(value)
            }
            object["max_pages"] = .number(Double(poll.maxPages))
            return ["poll": .object(object)]
        case .schedule(let schedule):
            var object: JSONObject = ["schedule": schedule.schedule.json, "event_type": .string(schedule.eventType)]
            if let event = schedule.event { object["event"] = event.json }
            return ["schedule": .object(object)]
        case .files(let files):
            var object: JSONObject = ["directory": .string(files.directory.description), "format": .string(files.format.rawValue),
                                      "every": .string(files.every.manifoldText), "settle": .string(files.settle.manifoldText)]
            if let id = files.eventID { object["event_id"] = .string(id.source) }
            if let type = files.eventType { object["event_type"] = .string(type.source) }
            return ["files": .object(object)]
        case .sql(let sql):
            var object: JSONObject = ["database": .string(sql.database.description), "query": .string(sql.query),
                                      "schedule": sql.schedule.json, "cursor": ["column": .string(sql.cursorColumn)],
                                      "event_id": .string(sql.eventID.source), "batch": .number(Double(sql.batch)),
                                      "max_batches": .number(Double(sql.maxBatches))]
            if let start = sql.start { object["cursor"] = ["column": .string(sql.cursorColumn), "start": start] }
            if let type = sql.eventType { object["event_type"] = .string(type.source) }
            return ["sql": .object(object)]
        }
    }
}

extension PullSchedule {
    public var json: JSON {
        switch self {
        case .every(let interval): ["every": .string(interval.manifoldText)]
        case .cron(let cron): ["cron": .string(cron.text)]
        }
    }
}

extension PollRequestPlan {
    func addJSON(to object: inout JSONObject) {
        if !query.isEmpty { object["query"] = .object(JSONObject(query.map { ($0.name, $0.value.json) })) }
        if !pathParameters.isEmpty { object["path"] = .object(JSONObject(pathParameters.map { ($0.name, $0.value.json) })) }
    }
}

extension Pagination {
    public var json: JSON {
        var object: JSONObject = ["type": .string(kind.rawValue)]
        if let param { object["param"] = .string(param) }
        if let value { object["value"] = .string(value.source) }
        if let stop { object["stop"] = .string(stop.source) }
        if let size { object["size"] = .number(Double(size)) }
        if let sizeParam { object["size_param"] = .string(sizeParam) }
        if kind == .page { object["start"] = .number(Double(start)) }
        return .object(object)
    }
}

extension PullSource {
    /// The pull in words, one fact a line: what it reads, when, and how it keeps its place.
    public var describedLines: [(label: String, text: String)] {
        switch self {
        case .poll(let poll):
            var lines: [(String, String)] = [("schedule", poll.schedule.text), ("call", poll.request.call + Self.valuesText(poll.request))]
            lines.append(("records", poll.records.source))
            lines.append(("event id", poll.eventID.source))
            if let type = poll.eventType { lines.append(("event type", type.source)) }
            if let paginate = poll.paginate { lines.append(("paginate", paginate.text)) }
            if let cursor = poll.cursor {
                var text = "\(cursor.field.source) (\(cursor.kind.rawValue)"
                if cursor.kind == .datetime { text += ", \(cursor.format.rawValue)" }
                text += cursor.inclusive ? ", inclusive)" : ", exclusive)"
                if let start = cursor.start { text += ", from \(start.serialized())" }
                if let lookback = cursor.lookback { text += ", looking back \(lookback.manifoldText)" }
                if let step = cursor.step { text += ", in windows of \(step.manifoldText)" }
                if cursor.kind == .datetime { text += "; never past the run's start" }
                lines.append(("cursor", text))
            }
            if let partitions = poll.partitions {
                var text = "\(partitions.request.call)\(Self.valuesText(partitions.request)): each \(partitions.value.source) of \(partitions.records.source)"
                if let paginate = partitions.paginate { text += ", paged by \(paginate.text)" }
                lines.append(("partitions", text))
            }
            lines.append(("max pages", "\(poll.maxPages) a run, then the next run continues"))
            return lines
        case .schedule(let schedule):
            return [("schedule", schedule.schedule.text), ("event type", schedule.eventType),
                    ("event", schedule.event.map { $0.json.serialized() } ?? "{\"tick\": $tick}")]
        case .files(let files):
            var lines: [(String, String)] = [("folder", files.directory.description), ("format", files.format == .csv ? "CSV with a header line" : "JSON Lines"),
                                             ("looked at", "every \(files.every.manifoldText); a file is read once unchanged for \(files.settle.manifoldText)")]
            lines.append(("event id", files.eventID?.source ?? "the file's content hash and line number"))
            if let type = files.eventType { lines.append(("event type", type.source)) }
            lines.append(("after", "moved to done/ once its rows are stored (failed/ when it cannot be read)"))
            return lines
        case .sql(let sql):
            var lines: [(String, String)] = [("schedule", sql.schedule.text), ("database", sql.database.description), ("query", sql.query)]
            lines.append(("cursor", "\(sql.cursorColumn)" + (sql.start.map { ", from \($0.serialized())" } ?? "")
                          + "; committed with each batch of \(sql.batch) rows"))
            lines.append(("event id", sql.eventID.source))
            if let type = sql.eventType { lines.append(("event type", type.source)) }
            lines.append(("max batches", "\(sql.maxBatches) a run, then the next run continues"))
            return lines
        }
    }

    private static func valuesText(_ request: PollRequestPlan) -> String {
        let values = request.pathParameters.map { "{\($0.name)}=\($0.value.json.serialized())" }
            + request.query.map { "\($0.name)=\($0.value.json.serialized())" }
        return values.isEmpty ? "" : " with " + values.joined(separator: ", ")
    }
}

extension Pagination {
    /// The pagination in words.
    public var text: String {
        var text: String
        switch kind {
        case .cursor: text = "cursor: \(param ?? "?") = \(value?.source ?? "?")"
        case .nextURL: text = "next URL: \(value?.source ?? "?")"
        case .link: text = "Link header rel=\"next\""
        case .offset: text = "offset: \(param ?? "?") += \(size ?? 0)"
        case .page: text = "page: \(param ?? "?") from \(start)"
        }
        if let size, let sizeParam { text += ", \(sizeParam)=\(size)" }
        text += "; stops on an empty page" + (stop.map { " or when \($0.source)" } ?? "")
        return text
    }
}
