public import Foundation
public import JSONValue
public import ManifoldDelivery
public import ManifoldPlan
public import ManifoldIngress
public import ManifoldStore
import ManifoldSQLite
public import Logging
import Synchronization
import JSONata

/// Runs the engine's pull sources: polls (page by page through `PollMachine`), schedules and folders of files. One
/// loop per pulled connector sleeps on the runtime's clock until the connector is due, runs it, and records how it
/// went in the connector's pull state (committed with the events it brought).
public final class Puller: Sendable {
    let engine: Engine
    /// Sends the polls' requests (its plan must be the engine's); it need not deliver.
    let fetcher: DeliveryRuntime
    let clock: any RuntimeClock
    let logger: Logger
    private let loops = Mutex<[String: (source: PullSource, task: Task<Void, Never>)]>([:])
    /// Files seen in each folder, with their size and time and since when they have stayed so.
    private let seenFiles = Mutex<[String: FileSighting]>([:])
    /// Where a path of a connector is: a files connector's folder, an sql connector's database.
    let locate: @Sendable (ConnectorPlan, ConfigString) throws -> URL

    public init(engine: Engine, fetcher: DeliveryRuntime, clock: any RuntimeClock, logger: Logger,
                locate: @escaping @Sendable (ConnectorPlan, ConfigString) throws -> URL)
    {
        self.engine = engine
        self.fetcher = fetcher
        self.clock = clock
        self.logger = logger
        self.locate = locate
    }

    /// A path with its references resolved; a relative one is read from the connector file's folder.
    public static func locate(resolver: ConfigResolver) -> @Sendable (ConnectorPlan, ConfigString) throws -> URL {
        { connector, path in
            let base = connector.sourceFile.map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
                ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            return URL(fileURLWithPath: try resolver.resolve(path), relativeTo: base).standardizedFileURL
        }
    }

    // MARK: Loops

    /// Starts a loop for every pulled connector of the running plan, stops those no longer in it, and restarts those
    /// whose source changed. Call at start and after every reload.
    public func sync() {
        let wanted = Dictionary(uniqueKeysWithValues: engine.plan.connectors.compactMap { connector in
            connector.pull.map { (connector.name, $0) }
        })
        loops.withLock { loops in
            for (name, loop) in loops where wanted[name] != loop.source {
                loop.task.cancel()
                loops[name] = nil
            }
            for (name, source) in wanted where loops[name] == nil {
                let task = Task { [self] in await loop(name) }
                loops[name] = (source, task)
            }
        }
    }

    /// Reads `name`'s stored figures into the metrics (runs failed in a row, the last error).
    func noteStanding(_ name: String) async {
        guard let state = try? await stateStore?.pullState(name)?.state else { return }
        let stats = Stats(state["stats"] ?? .null)
        engine.metrics.pullStanding(name, failing: stats.failing, lastError: stats.lastError)
    }

    /// Stops every loop (a run under way stops at its next page; what it committed stays).
    public func stop() {
        loops.withLock { loops in
            for loop in loops.values { loop.task.cancel() }
            loops.removeAll()
        }
    }

    private func loop(_ name: String) async {
        // An engine restarted with a failing pull knows it before its next run.
        await noteStanding(name)
        // The first run is when the stored state says (at once for a run cut short, or one never run); every later one
        // at the schedule's next time after the last run this loop started, whatever that run came to (idle, failed).
        var lastStart: Int64?
        while !Task.isCancelled {
            guard let connector = engine.plan.connector(named: name), let pull = connector.pull else { return }
            let now = Self.milliseconds(clock.wall)
            let due: Int64
            if let lastStart {
                due = Self.next(pull.timing, after: lastStart)
            } else {
                due = Self.due(pull, state: (try? await stateStore?.pullState(name))?.state ?? .null, now: now)
            }
            if due > now {
                do {
                    try await clock.sleep(until: clock.now + .milliseconds(due - now))
                } catch {
                    return
                }
                continue
            }
            lastStart = now
            _ = await run(name)
        }
    }

    /// The schedule's next time after `milliseconds` (Unix milliseconds).
    static func next(_ timing: PullSchedule, after milliseconds: Int64) -> Int64 {
        switch timing {
        case .every(let interval): milliseconds + max(1, interval.milliseconds)
        case .cron(let cron): cron.next(after: milliseconds / 1000) * 1000
        }
    }

    /// When a pull is next due (Unix milliseconds): at once when a run is under way (a crash interrupted it) or it
    /// never ran; else its schedule's next time after the last run's start.
    public static func due(_ pull: PullSource, state: JSON, now: Int64) -> Int64 {
        if case .object(let object) = state["run"] ?? .null, !object.isEmpty { return now }
        guard let last = state["stats"]?["last_run_at"]?.intValue.map(Int64.init) else { return now }
        return next(pull.timing, after: last)
    }

    var stateStore: (any PullStateStore)? { engine.store as? any PullStateStore }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    // MARK: One run

    /// How one run went.
    public struct Report: Sendable {
        public enum Outcome: Sendable, Equatable {
            case finished
            /// The page limit: the next run continues.
            case paused
            case failed(String)
            /// Nothing to do (no file ready, a tick not yet due).
            case idle
        }

        public var connector: String
        public var outcome: Outcome
        public var pages = 0
        public var counts = PulledCounts()
        public var skipped = 0
        /// 429s waited out.
        public var rateLimited = 0
        public var retries = 0
        /// The requests made, as recorded (secrets hidden).
        public var requests: [String] = []
        public var files: [String] = []

        public var summary: String {
            var parts = ["\(counts.stored) stored"]
            if counts.quarantined > 0 { parts.append("\(counts.quarantined) quarantined") }
            if counts.duplicates > 0 { parts.append("\(counts.duplicates) already stored") }
            if skipped > 0 { parts.append("\(skipped) older than the cursor") }
            if pages > 0 { parts.append("\(pages) page\(pages == 1 ? "" : "s")") }
            if rateLimited > 0 { parts.append("\(rateLimited) 429\(rateLimited == 1 ? "" : "s") waited out") }
            if retries > 0 { parts.append("\(retries) retr\(retries == 1 ? "y" : "ies")") }
            if !files.isEmpty { parts.append("files: " + files.joined(separator: ", ")) }
            return parts.joined(separator: ", ")
        }
    }

    /// Runs `name`'s pull once now (a poll to its last page, a tick, the files ready), committing as it goes.
    public func run(_ name: String) async -> Report {
        guard let connector = engine.plan.connector(named: name), let pull = connector.pull else {
            return Report(connector: name, outcome: .failed("\(name) is not a pulled connector of the running plan"))
        }
        let report: Report
        switch pull {
        case .poll(let poll): report = await runPoll(connector, poll)
        case .schedule(let schedule): report = await runSchedule(connector, schedule)
        case .files(let files): report = await runFiles(connector, files)
        case .sql(let sql): report = await runSQL(connector, sql)
        }
        switch report.outcome {
        case .failed(let reason):
            logger.error("pull run failed", metadata: ["connector": "\(name)", "reason": "\(reason)", "done": "\(report.summary)"])
        case .paused:
            logger.warning("pull run reached its page limit; the next run continues", metadata: ["connector": "\(name)", "done": "\(report.summary)"])
        case .finished:
            logger.info("pull run finished", metadata: ["connector": "\(name)", "done": "\(report.summary)"])
        case .idle:
            break
        }
        engine.metrics.pulled(name, report)
        await noteStanding(name)
        return report
    }

    // MARK: Polls

    private func runPoll(_ connector: ConnectorPlan, _ poll: PollSource) async -> Report {
        var report = Report(connector: connector.name, outcome: .finished)
        guard let store = stateStore else { return Report(connector: connector.name, outcome: .failed("the event store keeps no pull state")) }
        let program: PollProgram
        do {
            program = try PollProgram(connector: connector.name, source: poll)
        } catch {
            return Report(connector: connector.name, outcome: .failed("the poll's expressions do not compile: \(error)"))
        }
        let stored: JSON
        do {
            stored = try await store.pullState(connector.name)?.state ?? .null
        } catch {
            return Report(connector: connector.name, outcome: .failed("its state cannot be read: \(error)"))
        }
        let startedAt = Self.milliseconds(clock.wall)
        var machine = PollMachine(program: program, stored: stored, now: startedAt)
        var stats = Stats(stored["stats"] ?? .null)
        stats.lastRunAt = startedAt
        stats.runs += 1
        var generator = SystemRandomNumberGenerator()
        var failureCommitted = false
        while let fetch = machine.nextFetch() {
            if Task.isCancelled { return report }
            // Ask until there is a page: a 429 waits and asks again (no attempt used); a transient failure waits the
            // target's backoff, up to its max_attempts.
            let policy = fetcher.pollRetryPolicy(connector: connector.name, parent: fetch.parent)
            var attempts = 0
            var answer: PageAnswer
            let firstAsked = clock.now
            while true {
                answer = await fetcher.fetchPage(connector: connector.name, fetch: fetch)
                switch answer {
                case .rateLimited(let retryAfter, let url):
                    report.rateLimited += 1
                    // Paused, not failed: as long as the target's max_elapsed allows (then the run stops, its place kept).
                    guard let wait = RetrySchedule.rateLimitedWait(policy: policy, attempts: attempts, elapsed: clock.now - firstAsked,
                                                                   retryAfter: retryAfter, using: &generator)
                    else {
                        machine.stop("page \(fetch.page) (\(url)): still rate limited (429) after the target's max_elapsed")
                        break
                    }
                    try? await clock.sleep(until: clock.now + max(wait, .milliseconds(1)))
                    if Task.isCancelled { return report }
                    continue
                case .transient(let reason, let retryAfter, let url):
                    attempts += 1
                    guard let wait = RetrySchedule.wait(policy: policy, attempts: attempts, elapsed: clock.now - firstAsked,
                                                        retryAfter: retryAfter, using: &generator)
                    else {
                        machine.stop("page \(fetch.page) (\(url)): \(reason), \(attempts) attempt\(attempts == 1 ? "" : "s")")
                        break
                    }
                    report.retries += 1
                    try? await clock.sleep(until: clock.now + wait)
                    if Task.isCancelled { return report }
                    continue
                case .refused(let reason, let url):
                    machine.stop("page \(fetch.page)\(url.isEmpty ? "" : " (\(url))"): \(reason)")
                case .page:
                    break
                }
                break
            }
            guard case .page(let body, let headers, let url) = answer else { break }
            report.requests.append(url)
            report.pages += 1
            let page = machine.receive(body: body, headers: headers, requestURL: url)
            report.skipped += page.skipped
            var records: [PulledRecord] = []
            records.reserveCapacity(page.records.count)
            for (index, record) in page.records.enumerated() {
                let (id, type, problem) = program.identify(record)
                let origin: JSON = ["page": .string(url), "index": .number(Double(index))]
                if let id {
                    records.append(PulledRecord(eventID: id, eventType: type, payload: record, origin: origin))
                } else {
                    // No id: kept and quarantined under one made from the page and position, so it is seen, not lost.
                    records.append(PulledRecord(eventID: "unidentified:" + PollMachine.digest(record), eventType: nil, payload: record,
                                                quarantine: problem, origin: origin))
                }
            }
            stats.pages += 1
            var progress = page.progress
            if machine.state == .finished { stats.finished(at: Self.milliseconds(clock.wall)) }
            if case .failed(let reason) = machine.state {
                stats.failed(reason)
                failureCommitted = true
            }
            do {
                let counts = try await ingestWithStats(connector.name, records: records, progress: &progress, stats: &stats)
                report.counts.stored += counts.stored
                report.counts.quarantined += counts.quarantined
                report.counts.duplicates += counts.duplicates
            } catch {
                let reason = "page \(fetch.page) (\(url)) could not be stored: \(error); the run stops and resumes from this page"
                stats.failed(reason)
                await record(connector.name, stats: stats, stored: stored)
                report.outcome = .failed(reason)
                return report
            }
        }
        switch machine.state {
        case .finished:
            report.outcome = .finished
        case .paused:
            report.outcome = .paused
        case .failed(let reason):
            report.outcome = .failed(reason)
            // A failure with no page to commit (an answer refused, retries spent) goes on record; its place is unchanged.
            if !failureCommitted {
                stats.failed(reason)
                await record(connector.name, stats: stats, stored: stored)
            }
        case .ready:
            report.outcome = .failed("stopped")
        }
        return report
    }

    /// Stores a page's records with the progress and the run's figures beside it, in one transaction.
    private func ingestWithStats(_ connector: String, records: [PulledRecord], progress: inout JSON, stats: inout Stats) async throws
        -> PulledCounts
    {
        // The figures count what this page will have stored once committed; they are written with it.
        var pending = stats
        pending.records += records.count
        if case .object(var object) = progress {
            object["stats"] = pending.json
            progress = .object(object)
        }
        let counts = try await engine.ingestPulled(connector: connector, records: records, state: progress, kind: "pull")
        stats = pending
        return counts
    }

    /// Writes the run's figures without moving its place: the progress last committed stays.
    private func record(_ connector: String, stats: Stats, stored: JSON) async {
        guard let store = stateStore else { return }
        var current = (try? await store.pullState(connector))?.state ?? stored
        if case .object(var object) = current {
            object["stats"] = stats.json
            current = .object(object)
        } else {
            current = ["stats": stats.json]
        }
        do {
            try await store.setPullState(current, of: connector)
        } catch {
            logger.error("the pull's state could not be written", metadata: ["connector": "\(connector)", "error": "\(error)"])
        }
    }

    // MARK: Schedules

    private func runSchedule(_ connector: ConnectorPlan, _ schedule: ScheduleSource) async -> Report {
        var report = Report(connector: connector.name, outcome: .finished)
        let now = Self.milliseconds(clock.wall)
        let stored = (try? await stateStore?.pullState(connector.name))?.state ?? .null
        var stats = Stats(stored["stats"] ?? .null)
        // The tick: the schedule's latest time at or before now (every: now itself, on the interval's grid).
        let tick: Int64
        switch schedule.schedule {
        case .every(let interval):
            let step = max(1, interval.milliseconds)
            tick = now - now % step
        case .cron(let cron):
            // The latest cron time not after now: the next one after (now less a year) walked forward.
            var candidate = cron.next(after: now / 1000 - 366 * 86_400) * 1000
            var latest: Int64?
            while candidate <= now {
                latest = candidate
                candidate = cron.next(after: candidate / 1000) * 1000
            }
            guard let found = latest else { return Report(connector: connector.name, outcome: .idle) }
            tick = found
        }
        if let last = stats.lastTick, last >= tick { return Report(connector: connector.name, outcome: .idle) }
        if stats.lastTick == nil, now - tick > 3_600_000 {
            // A schedule never run before makes no tick long past (a weekly report installed on a Sunday does not
            // send last Monday's): it notes the tick and waits for the next. A tick missed later, while the engine was
            // down, is made when it is back (the latest one only).
            stats.lastTick = tick
            try? await stateStore?.setPullState(["stats": stats.json], of: connector.name)
            return Report(connector: connector.name, outcome: .idle)
        }
        let tickText = PollCursor.written(tick, format: .iso8601)
        var payload: JSON = ["tick": tickText]
        if let template = schedule.event {
            do {
                payload = try CompiledTemplate(template, resolver: ConfigResolver(environment: ProcessInfo.processInfo.environment))
                    .evaluate(.object(JSONObject()), bindings: ["tick": tickText]) ?? .null
            } catch {
                payload = ["tick": tickText, "error": .string("\(error)")]
            }
        }
        stats.lastRunAt = now
        stats.runs += 1
        stats.lastTick = tick
        stats.finished(at: now)
        stats.records += 1
        let record = PulledRecord(eventID: "tick:" + (tickText.stringValue ?? String(tick)), eventType: schedule.eventType, payload: payload)
        do {
            report.counts = try await engine.ingestPulled(connector: connector.name, records: [record],
                                                          state: ["stats": stats.json], kind: "schedule")
            report.pages = 0
        } catch {
            report.outcome = .failed("the tick \(tickText.stringValue ?? "") could not be stored: \(error)")
        }
        return report
    }

    // MARK: Tables

    /// Reads the table batch by batch from the committed cursor: each batch's rows and the cursor past its last row in
    /// one transaction. Ends on a batch shorter than `batch`; a full batch whose rows all hold the cursor's value
    /// would never move on, and stops the run saying so.
    private func runSQL(_ connector: ConnectorPlan, _ sql: SQLSource) async -> Report {
        var report = Report(connector: connector.name, outcome: .finished)
        guard let store = stateStore else { return Report(connector: connector.name, outcome: .failed("the event store keeps no pull state")) }
        let stored = (try? await store.pullState(connector.name))?.state ?? .null
        var stats = Stats(stored["stats"] ?? .null)
        stats.lastRunAt = Self.milliseconds(clock.wall)
        stats.runs += 1
        var cursor: JSON? = stored["cursors"]?[""] ?? sql.start
        if cursor == .null { cursor = JSON?.none }
        let program: (id: JSONataExpression, type: JSONataExpression?)
        let path: String
        do {
            program = (try JSONataExpression(sql.eventID.source), try sql.eventType.map { try JSONataExpression($0.source) })
            path = try locate(connector, sql.database).path
        } catch {
            return await failSQL(connector.name, report, stats: stats, stored: stored, "\(error)")
        }
        for batch in 1...max(1, sql.maxBatches) {
            if Task.isCancelled { return report }
            let rows: [JSON]
            do {
                let (query, bound, limit) = (sql.query, cursor, sql.batch)
                rows = try await ExpressionThreads.run { Result { try SQLiteTableReader.rows(path: path, query: query, cursor: bound, limit: limit) } }.get()
            } catch {
                return await failSQL(connector.name, report, stats: stats, stored: stored, "batch \(batch): \(error)")
            }
            report.pages += 1
            guard let last = rows.last else { break }
            guard case .some(let next) = last[sql.cursorColumn], next != .null else {
                return await failSQL(connector.name, report, stats: stats, stored: stored,
                                     "batch \(batch): the rows have no value in the cursor column \(sql.cursorColumn)")
            }
            if rows.count == sql.batch, let cursor, next == cursor {
                return await failSQL(connector.name, report, stats: stats, stored: stored,
                                     "batch \(batch): all \(sql.batch) rows hold \(sql.cursorColumn) = \(next.serialized()): the cursor cannot move past them; raise batch, or order by a column that tells them apart")
            }
            let records = rows.map { row -> PulledRecord in
                let id = (try? program.id.evaluate(row)).flatMap { $0 }.flatMap(CompiledTemplate.scalarText)
                let type = (try? program.type?.evaluate(row)).flatMap { $0 }.map(CompiledTemplate.text(of:))
                guard let id, !id.isEmpty else {
                    return PulledRecord(eventID: "unidentified:" + PollMachine.digest(row), eventType: nil, payload: row,
                                        quarantine: "event_id (\(sql.eventID.source)) gave no text or number for this row",
                                        origin: ["batch": .number(Double(batch))])
                }
                return PulledRecord(eventID: id, eventType: type, payload: row)
            }
            stats.pages += 1
            stats.records += rows.count
            let moved = cursor != next
            cursor = next
            let finished = rows.count < sql.batch || !moved
            if finished { stats.finished(at: Self.milliseconds(clock.wall)) }
            do {
                let counts = try await engine.ingestPulled(connector: connector.name, records: records,
                                                           state: ["cursors": ["": next], "run": .null, "stats": stats.json], kind: "sql")
                report.counts.stored += counts.stored
                report.counts.quarantined += counts.quarantined
                report.counts.duplicates += counts.duplicates
            } catch {
                return await failSQL(connector.name, report, stats: stats, stored: stored,
                                     "batch \(batch) could not be stored: \(error); the next run reads it again")
            }
            if finished { return report }
            if batch == sql.maxBatches { report.outcome = .paused }
        }
        if report.outcome == .finished {
            stats.finished(at: Self.milliseconds(clock.wall))
            try? await store.setPullState(["cursors": cursor.map { ["": $0] } ?? .object(JSONObject()), "run": .null, "stats": stats.json],
                                          of: connector.name)
        }
        return report
    }

    private func failSQL(_ name: String, _ report: Report, stats: Stats, stored: JSON, _ reason: String) async -> Report {
        var failed = report
        failed.outcome = .failed(reason)
        var figures = stats
        figures.failed(reason)
        await record(name, stats: figures, stored: stored)
        return failed
    }

    // MARK: Files

    struct FileSighting: Sendable {
        var size: Int
        var modified: Date
        var since: Duration
    }

    private func runFiles(_ connector: ConnectorPlan, _ files: FilesSource) async -> Report {
        var report = Report(connector: connector.name, outcome: .idle)
        let manager = FileManager.default
        let names: [String]
        let folder: URL
        do {
            folder = try locate(connector, files.directory)
            // A folder not there yet is made: the drop it waits for may be the first thing written to it.
            try manager.createDirectory(at: folder, withIntermediateDirectories: true)
            names = try manager.contentsOfDirectory(atPath: folder.path).sorted()
        } catch {
            return Report(connector: connector.name, outcome: .failed("the folder \(files.directory) cannot be read: \(error)"))
        }
        let now = clock.now
        var ready: [URL] = []
        for name in names where FilesReader.isCandidate(name) {
            let url = folder.appending(path: name)
            guard let attributes = try? manager.attributesOfItem(atPath: url.path),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  let size = (attributes[.size] as? NSNumber)?.intValue, let modified = attributes[.modificationDate] as? Date
            else { continue }
            let key = url.path
            let age = clock.wall.timeIntervalSince(modified)
            let settled = seenFiles.withLock { seen -> Bool in
                if let sighting = seen[key] {
                    if sighting.size == size, sighting.modified == modified { return now - sighting.since >= files.settle }
                } else if age >= files.settle.timeInterval {
                    // Seen for the first time (a run of `poll run --once`, an engine just started) and last written
                    // longer ago than `settle`: written.
                    return true
                }
                // New, or changed since it was last seen: its time to settle starts now.
                seen[key] = FileSighting(size: size, modified: modified, since: now)
                return false
            }
            if settled { ready.append(url) }
        }
        let stored = (try? await stateStore?.pullState(connector.name))?.state ?? .null
        var stats = Stats(stored["stats"] ?? .null)
        for url in ready {
            if Task.isCancelled { break }
            if case .idle = report.outcome { report.outcome = .finished }
            let name = url.lastPathComponent
            stats.lastRunAt = Self.milliseconds(clock.wall)
            stats.runs += 1
            switch FilesReader.read(url, format: files.format, source: files) {
            case .failure(let problem):
                report.outcome = .failed("\(name): \(problem)")
                stats.failed("\(name): \(problem)")
                move(url, to: "failed", note: problem)
                report.files.append("\(name) -> failed/ (\(problem))")
                try? await stateStore?.setPullState(["stats": stats.json], of: connector.name)
            case .success(let records):
                stats.records += records.count
                stats.finished(at: Self.milliseconds(clock.wall))
                do {
                    let counts = try await engine.ingestPulled(connector: connector.name, records: records, state: ["stats": stats.json],
                                                               kind: "files")
                    report.counts.stored += counts.stored
                    report.counts.quarantined += counts.quarantined
                    report.counts.duplicates += counts.duplicates
                    // Moved only now that its rows are committed: a crash before this reads it again, and its rows are
                    // then duplicates of the ones stored (their ids are the file's hash and line).
                    move(url, to: "done", note: nil)
                    report.files.append("\(name) -> done/ (\(records.count) rows)")
                } catch {
                    report.outcome = .failed("\(name) could not be stored: \(error); it stays in place and is read again")
                    return report
                }
            }
            _ = seenFiles.withLock { $0.removeValue(forKey: url.path) }
        }
        return report
    }

    private func move(_ url: URL, to folderName: String, note: String?) {
        let manager = FileManager.default
        let folder = url.deletingLastPathComponent().appending(path: folderName)
        try? manager.createDirectory(at: folder, withIntermediateDirectories: true)
        var destination = folder.appending(path: url.lastPathComponent)
        if manager.fileExists(atPath: destination.path) {
            destination = folder.appending(path: "\(Int(Date().timeIntervalSince1970))-" + url.lastPathComponent)
        }
        do {
            try manager.moveItem(at: url, to: destination)
            if let note { try? Data((note + "\n").utf8).write(to: destination.appendingPathExtension("error.txt")) }
        } catch {
            logger.error("a pulled file could not be moved", metadata: ["file": "\(url.path)", "to": "\(folderName)/", "error": "\(error)"])
        }
    }
}


/// A pull's figures, kept in its state: runs, pages, records, the last run and its error.
public struct Stats: Sendable {
    public var runs = 0
    public var pages = 0
    /// Records read (events, duplicates and quarantined rows).
    public var records = 0
    public var lastRunAt: Int64?
    public var lastSuccessAt: Int64?
    public var lastError: String?
    /// Runs in a row that failed.
    public var failing = 0
    public var lastTick: Int64?

    public init(_ json: JSON) {
        guard case .object(let object) = json else { return }
        runs = object["runs"]?.intValue ?? 0
        pages = object["pages"]?.intValue ?? 0
        records = object["records"]?.intValue ?? 0
        lastRunAt = object["last_run_at"]?.intValue.map(Int64.init)
        lastSuccessAt = object["last_success_at"]?.intValue.map(Int64.init)
        lastError = object["last_error"]?.stringValue
        failing = object["failing_runs"]?.intValue ?? 0
        lastTick = object["last_tick"]?.intValue.map(Int64.init)
    }

    mutating func finished(at: Int64) {
        lastSuccessAt = at
        lastError = nil
        failing = 0
    }

    mutating func failed(_ reason: String) {
        lastError = reason
        failing += 1
    }

    public var json: JSON {
        var object: JSONObject = ["runs": .number(Double(runs)), "pages": .number(Double(pages)),
                                  "records": .number(Double(records)),
                                  "failing_runs": .number(Double(failing))]
        if let lastRunAt { object["last_run_at"] = .number(Double(lastRunAt)) }
        if let lastSuccessAt { object["last_success_at"] = .number(Double(lastSuccessAt)) }
        if let lastError { object["last_error"] = .string(lastError) }
        if let lastTick { object["last_tick"] = .number(Double(lastTick)) }
        return .object(object)
    }
}
