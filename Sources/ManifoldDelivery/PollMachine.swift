import Crypto
public import JSONata
public import JSONValue
public import ManifoldPlan

/// A poll's expressions, compiled once per plan.
public struct PollProgram: Sendable {
    public let connector: String
    public let source: PollSource
    let records: JSONataExpression
    let eventID: JSONataExpression
    let eventType: JSONataExpression?
    let paginate: PaginationProgram?
    let cursorField: JSONataExpression?
    let partitionRecords: JSONataExpression?
    let partitionValue: JSONataExpression?
    let partitionPaginate: PaginationProgram?

    public init(connector: String, source: PollSource) throws {
        self.connector = connector
        self.source = source
        records = try JSONataExpression(source.records.source)
        eventID = try JSONataExpression(source.eventID.source)
        eventType = try source.eventType.map { try JSONataExpression($0.source) }
        paginate = try source.paginate.map(PaginationProgram.init)
        cursorField = try source.cursor.map { try JSONataExpression($0.field.source) }
        partitionRecords = try source.partitions.map { try JSONataExpression($0.records.source) }
        partitionValue = try source.partitions.map { try JSONataExpression($0.value.source) }
        partitionPaginate = try source.partitions?.paginate.map(PaginationProgram.init)
    }

    /// A record's event id and type, or why it has none (the record is then quarantined).
    public func identify(_ record: JSON) -> (id: String?, type: String?, problem: String?) {
        do {
            guard let value = try eventID.evaluate(record), let id = CompiledTemplate.scalarText(value), !id.isEmpty else {
                return (nil, nil, "event_id (\(source.eventID.source)) gave no text or number for this record")
            }
            let type = try eventType?.evaluate(record).map(CompiledTemplate.text(of:))
            return (id, type, nil)
        } catch {
            return (nil, nil, "event_id or event_type failed: \(error)")
        }
    }
}

struct PaginationProgram: Sendable {
    let plan: Pagination
    let value: JSONataExpression?
    let stop: JSONataExpression?

    init(_ plan: Pagination) throws {
        self.plan = plan
        value = try plan.value.map { try JSONataExpression($0.source) }
        stop = try plan.stop.map { try JSONataExpression($0.source) }
    }
}

/// One poll run as a state machine, without I/O: it says which page to ask for next, reads each answer into records
/// and the progress to commit with them, and keeps the guards (a page or token seen twice, a page limit, a cursor never
/// past the run's start). The runner sends the requests, commits each page's events with `progress` in one
/// transaction, and sleeps; tests drive it with answers and times of their choosing.
///
/// A run reads, for each partition (one when there are none) and each cursor window (one without `step`), a chain of
/// pages. Its progress — the cursor per partition and, while a run is under way, where it is — is JSON the store keeps,
/// so a run interrupted anywhere resumes from its last committed page.
public struct PollMachine: Sendable {
    public enum State: Sendable, Equatable {
        /// A page is to be asked for.
        case ready
        /// Every page was read; `progress` holds the advanced cursors and no run.
        case finished
        /// The run stopped (a repeat, a bad answer); its place is kept for the next run.
        case failed(String)
        /// The page limit was reached; the next run continues where this one stopped.
        case paused
    }

    /// What to ask for: the request (the poll's own, or the partitions' parent request), its bindings, and the
    /// pagination's query parameters or the URL of the next page.
    public struct Fetch: Sendable, Equatable {
        public var parent: Bool
        public var bindings: [String: JSON]
        public var query: [QueryItem]
        public var url: String?
        /// The page's number in its chain (1 is the first), for messages.
        public var page: Int
    }

    public struct QueryItem: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    /// What one answer gave: the records to store as events (none while listing partitions) and the progress to commit
    /// with them.
    public struct Page: Sendable {
        public var records: [JSON]
        public var skipped: Int
        public var progress: JSON
    }

    public private(set) var state: State = .ready
    let program: PollProgram
    private var progress: Progress
    /// Pages read since this machine started (the limit counts these: a resumed run gets a fresh allowance).
    private var pagesRead = 0

    /// Starts a run at `now` (Unix milliseconds), or resumes the one `stored` holds.
    public init(program: PollProgram, stored: JSON?, now: Int64) {
        self.program = program
        progress = Progress(stored ?? .null)
        if progress.run == nil {
            progress.run = Run(startedAt: now, listing: program.source.partitions != nil)
            startChain()
        }
    }

    /// The progress as it stands (stats members passed through untouched).
    public var progressJSON: JSON { progress.json }

    /// When the run under way started (Unix milliseconds).
    public var runStartedAt: Int64? { progress.run?.startedAt }

    /// The committed cursor of each partition (`""` without partitions), as JSON.
    public var cursors: [String: JSON] { progress.cursors }

    // MARK: Asking

    /// The next page to ask for, or `nil` when the run is over (`state` says how).
    public func nextFetch() -> Fetch? {
        guard state == .ready, let run = progress.run else { return nil }
        var bindings: [String: JSON] = [:]
        if !run.listing {
            if let partition = run.partition { bindings["partition"] = partition }
            if let cursor = requestCursor(run) { bindings["cursor"] = cursor }
            if let end = run.windowEnd, let format = program.source.cursor?.format {
                bindings["cursor_end"] = PollCursor.written(end, format: format)
            }
        }
        var fetch = Fetch(parent: run.listing, bindings: bindings, query: [], url: nil, page: run.page + 1)
        let pagination = run.listing ? program.partitionPaginate : program.paginate
        if let pagination {
            if let size = pagination.plan.size, let sizeParam = pagination.plan.sizeParam {
                fetch.query.append(QueryItem(name: sizeParam, value: String(size)))
            }
            switch run.next {
            case .query(let name, let value)?: fetch.query.append(QueryItem(name: name, value: value))
            case .url(let url)?: fetch.url = url
            case nil:
                // The first page of a chain: an offset or page number is sent from the start.
                if let param = pagination.plan.param {
                    if pagination.plan.kind == .offset { fetch.query.append(QueryItem(name: param, value: "0")) }
                    if pagination.plan.kind == .page { fetch.query.append(QueryItem(name: param, value: String(pagination.plan.start))) }
                }
            }
        }
        return fetch
    }

    /// `$cursor` as the request writes it: the committed cursor (less the lookback), a window's start, or the start.
    private func requestCursor(_ run: Run) -> JSON? {
        guard let cursor = program.source.cursor else { return nil }
        if let start = run.windowStart { return PollCursor.written(start - (cursor.lookback?.milliseconds ?? 0), format: cursor.format) }
        guard let committed = progress.cursors[run.partitionKey] ?? cursor.start else { return nil }
        guard cursor.kind == .datetime else { return committed }
        guard let milliseconds = PollCursor.milliseconds(of: committed, format: cursor.format) else { return committed }
        return PollCursor.written(milliseconds - (cursor.lookback?.milliseconds ?? 0), format: cursor.format)
    }

    // MARK: Reading

    /// Reads a 2xx answer's body (and headers) for the page asked for; returns the records and progress to commit.
    /// On a repeat, a body that is not what `records` expects, or the page limit, `state` says so and the page's
    /// progress keeps the run's place (its records, if any, are still stored).
    public mutating func receive(body: JSON, headers: [(name: String, value: String)], requestURL: String) -> Page {
        guard state == .ready, var run = progress.run else { return Page(records: [], skipped: 0, progress: progress.json) }
        pagesRead += 1
        run.page += 1
        let headerBindings: [String: JSON] = ["headers": .object(JSONObject(headers.map { ($0.name.lowercased(), .string($0.value)) }))]
        let recordsExpression = run.listing ? program.partitionRecords! : program.records
        let records: [JSON]
        do {
            switch try recordsExpression.evaluate(body, bindings: headerBindings) {
            case nil: records = []
            case .array(let elements)?: records = elements
            case let single?: records = [single]
            }
        } catch {
            return fail(run, "page \(run.page): records (\(run.listing ? program.source.partitions!.records.source : program.source.records.source)) failed: \(error)")
        }
        // A page whose body is the last one's again: an API repeating itself, which would never end.
        let digest = Self.digest(body)
        if !records.isEmpty, run.lastDigest == digest {
            return fail(run, "page \(run.page) (\(requestURL)) repeats page \(run.page - 1) record for record: the API repeats a page, so the run stops here and keeps its place")
        }
        run.lastDigest = records.isEmpty ? nil : digest

        var kept: [JSON] = []
        var skipped = 0
        if run.listing {
            for record in records {
                if let value = Self.evaluate(program.partitionValue, record, [:]) { run.listed.append(value) }
            }
        } else {
            (kept, skipped) = filter(records, run: &run)
        }

        // The next page, or the end of the chain.
        let pagination = run.listing ? program.partitionPaginate : program.paginate
        var next: Token?
        if let pagination, !records.isEmpty {
            var bindings = headerBindings
            bindings["response"] = body
            bindings["records"] = .array(records)
            if let last = records.last { bindings["last"] = last }
            let stop: JSON? = Self.evaluate(pagination.stop, body, bindings)
            if stop.map(Self.truthy) != true {
                switch pagination.plan.kind {
                case .cursor:
                    if let value = Self.evaluate(pagination.value, body, bindings),
                       let text = CompiledTemplate.scalarText(value), !text.isEmpty
                    {
                        next = .query(pagination.plan.param ?? "", text)
                    }
                case .nextURL:
                    if case .string(let url)? = Self.evaluate(pagination.value, body, bindings), !url.isEmpty {
                        next = .url(url)
                    }
                case .link:
                    if let url = Self.nextLink(headers) { next = .url(url) }
                case .offset:
                    run.offset += records.count
                    next = .query(pagination.plan.param ?? "", String(run.offset))
                case .page:
                    next = .query(pagination.plan.param ?? "", String(pagination.plan.start + run.page))
                }
            }
        }
        if let next {
            let fingerprint = next.fingerprint
            if let earlier = run.seen.firstIndex(of: fingerprint) {
                progress.run = run
                let page = Page(records: kept, skipped: skipped, progress: progress.json)
                state = .failed("page \(run.page) (\(requestURL)) points to the page \(earlier + 2) was read from (\(next.description)): the API repeats a page, so the run stops here and keeps its place")
                return page
            }
            run.seen.append(fingerprint)
            run.next = next
            progress.run = run
            if pagesRead >= program.source.maxPages {
                state = .paused
            }
            return Page(records: kept, skipped: skipped, progress: progress.json)
        }
        // The chain is over: a partition listed, a window or a partition read.
        progress.run = run
        endChain()
        if state == .ready, pagesRead >= program.source.maxPages, progress.run != nil { state = .paused }
        return Page(records: kept, skipped: skipped, progress: progress.json)
    }

    /// An answer that is not a page (after the runner's retries): the run stops, its place kept.
    public mutating func stop(_ reason: String) {
        if state == .ready { state = .failed(reason) }
    }

    private mutating func fail(_ run: Run, _ reason: String) -> Page {
        progress.run = run
        state = .failed(reason)
        return Page(records: [], skipped: 0, progress: progress.json)
    }

    /// Drops records older than the cursor (less the lookback): an API that ignores the filter, or a boundary read
    /// again, gives no old events. Tracks the highest value seen.
    private func filter(_ records: [JSON], run: inout Run) -> ([JSON], Int) {
        guard let cursor = program.source.cursor, let field = program.cursorField else { return (records, 0) }
        let committed = progress.cursors[run.partitionKey] ?? cursor.start
        let lookback = cursor.lookback?.milliseconds ?? 0
        var kept: [JSON] = []
        var skipped = 0
        for record in records {
            guard let value = Self.evaluate(field, record, [:]), value != .null else {
                kept.append(record)
                continue
            }
            if run.windowStart == nil, let committed, let order = Self.compare(value, committed, cursor) {
                let older: Bool
                if cursor.kind == .datetime, lookback > 0,
                   let v = PollCursor.milliseconds(of: value, format: cursor.format),
                   let c = PollCursor.milliseconds(of: committed, format: cursor.format)
                {
                    older = v < c - lookback
                } else {
                    older = order < 0 || (order == 0 && !cursor.inclusive)
                }
                if older {
                    skipped += 1
                    continue
                }
            }
            if run.high.map({ (Self.compare(value, $0, cursor) ?? 0) > 0 }) ?? true { run.high = value }
            kept.append(record)
        }
        return (kept, skipped)
    }

    // MARK: Chains

    /// Sets up the chain the run is at: the partition list, or the next partition's (next window's) pages.
    private mutating func startChain() {
        guard var run = progress.run else { return }
        run.page = 0
        run.next = nil
        run.seen = []
        run.lastDigest = nil
        run.offset = 0
        run.high = nil
        if !run.listing, let cursor = program.source.cursor, let step = cursor.step?.milliseconds, cursor.kind == .datetime {
            let committed = progress.cursors[run.partitionKey] ?? cursor.start
            let from = committed.flatMap { PollCursor.milliseconds(of: $0, format: cursor.format) } ?? run.startedAt
            run.windowStart = from
            run.windowEnd = min(from + step, run.startedAt)
        } else {
            run.windowStart = nil
            run.windowEnd = nil
        }
        progress.run = run
    }

    /// A chain ended: commit its cursor, then move to the next window, partition, or the end of the run.
    private mutating func endChain() {
        guard var run = progress.run else { return }
        if run.listing {
            run.listing = false
            run.partitions = run.listed
            run.listed = []
            run.partitionIndex = 0
            progress.run = run
            if run.partitions?.isEmpty == true { return finish() }
            return startChain()
        }
        if let cursor = program.source.cursor {
            let key = run.partitionKey
            if let end = run.windowEnd {
                progress.cursors[key] = PollCursor.written(end, format: cursor.format)
            } else if let high = run.high {
                var value = high
                if cursor.kind == .datetime, let milliseconds = PollCursor.milliseconds(of: high, format: cursor.format),
                   milliseconds > run.startedAt
                {
                    // The signpost: a record stamped after the run began (a clock ahead, a record being written) must
                    // not move the cursor past what this run can have seen whole.
                    value = PollCursor.written(run.startedAt, format: cursor.format)
                }
                if let old = progress.cursors[key], (Self.compare(value, old, cursor) ?? 1) <= 0 { value = old }
                progress.cursors[key] = value
            }
            if let end = run.windowEnd, end < run.startedAt {
                progress.run = run
                return startChain()
            }
        }
        if let partitions = run.partitions, run.partitionIndex + 1 < partitions.count {
            run.partitionIndex += 1
            progress.run = run
            return startChain()
        }
        finish()
    }

    private mutating func finish() {
        progress.run = nil
        state = .finished
    }

    // MARK: Helpers

    /// An expression's value, `nil` when it gives nothing or fails (a missing field in one record).
    static func evaluate(_ expression: JSONataExpression?, _ input: JSON, _ bindings: [String: JSON]) -> JSON? {
        guard let expression else { return JSON?.none }
        do {
            return try expression.evaluate(input, bindings: bindings)
        } catch {
            return JSON?.none
        }
    }

    /// A short hash of a value (a page's body, a record without an id).
    public static func digest(_ body: JSON) -> String {
        SHA256.hash(data: Array(body.serialized().utf8)).prefix(12).map { (($0 < 16 ? "0" : "") + String($0, radix: 16)) }.joined()
    }

    static func truthy(_ value: JSON) -> Bool {
        switch value {
        case .bool(let flag): flag
        case .null: false
        case .number(let number): number != 0
        case .string(let text): !text.isEmpty
        case .array(let elements): !elements.isEmpty
        case .object: true
        }
    }

    /// Orders two cursor values: datetimes by time, numbers by value, text by text; `nil` when they do not compare.
    static func compare(_ a: JSON, _ b: JSON, _ cursor: PollCursor) -> Int? {
        if cursor.kind == .datetime {
            guard let x = PollCursor.milliseconds(of: a, format: cursor.format), let y = PollCursor.milliseconds(of: b, format: cursor.format)
            else { return nil }
            return x < y ? -1 : x == y ? 0 : 1
        }
        switch (a, b) {
        case (.number(let x), .number(let y)): return x < y ? -1 : x == y ? 0 : 1
        case (.string(let x), .string(let y)):
            if let p = Double(x), let q = Double(y) { return p < q ? -1 : p == q ? 0 : 1 }
            return x < y ? -1 : x == y ? 0 : 1
        case (.number(let x), .string(let y)): return Double(y).map { x < $0 ? -1 : x == $0 ? 0 : 1 }
        case (.string(let x), .number(let y)): return Double(x).map { $0 < y ? -1 : $0 == y ? 0 : 1 }
        default: return nil
        }
    }

    /// The `rel="next"` URL of a `Link` header (RFC 8288), if any.
    static func nextLink(_ headers: [(name: String, value: String)]) -> String? {
        for header in headers where header.name.lowercased() == "link" {
            for link in header.value.split(separator: ",") {
                let parts = link.split(separator: ";").map { $0.trimmed }
                guard let first = parts.first, first.hasPrefix("<"), first.hasSuffix(">") else { continue }
                let isNext = parts.dropFirst().contains { parameter in
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmed }
                    guard pair.count == 2, pair[0].lowercased() == "rel" else { return false }
                    return pair[1].filter { $0 != "\"" }.lowercased().split(separator: " ").contains("next")
                }
                if isNext { return String(first.dropFirst().dropLast()) }
            }
        }
        return nil
    }
}

// MARK: Progress

extension PollMachine {
    /// How the next page is asked for.
    enum Token: Sendable, Equatable {
        case query(String, String)
        case url(String)

        var fingerprint: String {
            switch self {
            case .query(let name, let value): "q:\(name)=\(value)"
            case .url(let url): "u:\(url)"
            }
        }

        var description: String {
            switch self {
            case .query(let name, let value): "\(name)=\(value)"
            case .url(let url): url
            }
        }
    }

    /// Where a run is.
    struct Run: Sendable {
        var startedAt: Int64
        var listing: Bool
        var listed: [JSON] = []
        var partitions: [JSON]?
        var partitionIndex = 0
        var windowStart: Int64?
        var windowEnd: Int64?
        var page = 0
        var next: Token?
        var seen: [String] = []
        var lastDigest: String?
        var offset = 0
        var high: JSON?

        var partition: JSON? {
            guard let partitions, partitionIndex < partitions.count else { return nil }
            return partitions[partitionIndex]
        }

        var partitionKey: String { partition.map(CompiledTemplate.text(of:)) ?? "" }
    }

    /// The stored JSON: `cursors`, `run`, and whatever else the runner keeps beside them (its figures).
    struct Progress: Sendable {
        var cursors: [String: JSON] = [:]
        var run: Run?
        var others = JSONObject()

        init(_ json: JSON) {
            guard case .object(let object) = json else { return }
            for (key, value) in object {
                switch key {
                case "cursors": cursors = Dictionary(uniqueKeysWithValues: (value.objectValue ?? JSONObject()).map { ($0.key, $0.value) })
                case "run": run = Run(value)
                default: others[key] = value
                }
            }
        }

        var json: JSON {
            var object = others
            object["cursors"] = .object(JSONObject(cursors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
            object["run"] = run?.json ?? .null
            return .object(object)
        }
    }
}

extension PollMachine.Run {
    init?(_ json: JSON) {
        guard case .object(let object) = json, let started = object["started_at"]?.intValue else { return nil }
        startedAt = Int64(started)
        listing = object["listing"]?.boolValue ?? false
        listed = object["listed"]?.arrayValue ?? []
        partitions = object["partitions"]?.arrayValue
        partitionIndex = object["partition_index"]?.intValue ?? 0
        windowStart = object["window_start"]?.intValue.map(Int64.init)
        windowEnd = object["window_end"]?.intValue.map(Int64.init)
        page = object["page"]?.intValue ?? 0
        if let name = object["next_param"]?.stringValue, let value = object["next_value"]?.stringValue {
            next = .query(name, value)
        } else if let url = object["next_url"]?.stringValue {
            next = .url(url)
        }
        seen = (object["seen"]?.arrayValue ?? []).compactMap(\.stringValue)
        lastDigest = object["last_digest"]?.stringValue
        offset = object["offset"]?.intValue ?? 0
        if let high = object["high"], high != .null { self.high = high }
    }

    var json: JSON {
        var object: JSONObject = ["started_at": .number(Double(startedAt)), "listing": .bool(listing), "page": .number(Double(page))]
        if !listed.isEmpty { object["listed"] = .array(listed) }
        if let partitions { object["partitions"] = .array(partitions) }
        if partitionIndex > 0 { object["partition_index"] = .number(Double(partitionIndex)) }
        if let windowStart { object["window_start"] = .number(Double(windowStart)) }
        if let windowEnd { object["window_end"] = .number(Double(windowEnd)) }
        switch next {
        case .query(let name, let value)?:
            object["next_param"] = .string(name)
            object["next_value"] = .string(value)
        case .url(let url)?: object["next_url"] = .string(url)
        case nil: break
        }
        if !seen.isEmpty { object["seen"] = .array(seen.map(JSON.string)) }
        if let lastDigest { object["last_digest"] = .string(lastDigest) }
        if offset > 0 { object["offset"] = .number(Double(offset)) }
        if let high { object["high"] = high }
        return .object(object)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmed: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
