public import Foundation
import GRDB
public import ManifoldStore
public import JSONValue

extension SQLiteEventStore: JobStore {
    /// Jobs are a work queue (their state changes); their attempts and the events' history stay append-only.
    static let jobsSchema = """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            event_seq INTEGER NOT NULL REFERENCES events (seq),
            connector TEXT NOT NULL,
            route TEXT NOT NULL,
            target TEXT NOT NULL,
            lane TEXT NOT NULL,
            plan_version TEXT NOT NULL,
            ordering_key TEXT,
            trace_id TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            first_attempt_at INTEGER,
            not_before INTEGER,
            lease_owner TEXT,
            lease_until INTEGER,
            last_status INTEGER,
            last_error TEXT,
            updated_at INTEGER NOT NULL,
            replay_of TEXT,
            pins_plan INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX jobs_pending ON jobs (seq) WHERE state = 'pending';
        CREATE INDEX jobs_by_owner ON jobs (lease_owner) WHERE state = 'pending';
        CREATE INDEX jobs_by_state ON jobs (state, updated_at);
        CREATE INDEX jobs_by_event ON jobs (event_seq);
        CREATE TABLE job_attempts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_seq INTEGER NOT NULL REFERENCES jobs (seq),
            at INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            counts INTEGER NOT NULL,
            class TEXT NOT NULL,
            request TEXT,
            response_status INTEGER,
            response_headers TEXT NOT NULL,
            response_body TEXT,
            error TEXT
        );
        CREATE INDEX job_attempts_by_job ON job_attempts (job_seq, seq);
        CREATE TRIGGER job_attempts_append_only_update BEFORE UPDATE ON job_attempts
            BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;
        \(deleteGuards["job_attempts"]!)
        CREATE TABLE engine_leases (
            owner TEXT PRIMARY KEY,
            until INTEGER NOT NULL
        );
        CREATE TABLE plans (
            version TEXT PRIMARY KEY,
            kept_at INTEGER NOT NULL,
            sources TEXT NOT NULL
        );
        """

    static let pendingByKeyIndex = """
        CREATE INDEX jobs_pending_by_key ON jobs (lane, ordering_key, seq) WHERE state = 'pending' AND ordering_key IS NOT NULL
        """

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    static func insertJobs(_ db: Database, _ jobs: [NewJob], eventSeq: Int64, connector: String, at: Int64,
                           lease: (owner: String, until: Date)?) throws
    {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO jobs (id, event_seq, connector, route, target, lane, plan_version, ordering_key, trace_id, state,
                              created_at, lease_owner, lease_until, updated_at, replay_of, pins_plan, flow, last_error)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for job in jobs {
            try statement.run(.text(job.id), .integer(eventSeq), .text(connector), .text(job.route), .text(job.target),
                              .text(job.lane), .text(job.planVersion), .text(job.orderingKey), .text(job.traceID),
                              .text(job.state.rawValue), .integer(at), .text(job.state == .pending ? lease?.owner : nil),
                              .null, .integer(at), .text(job.replayOf), .integer(job.pinsPlan ? 1 : 0),
                              .text(job.flow?.serialized()), .text(job.reason))
        }
    }

    // MARK: Leases

    public func claimJobs(owner: String, leaseUntil: Date, now: Date, limit: Int, lane: String?) async throws -> [ClaimedJob] {
        let until = Self.milliseconds(leaseUntil)
        let current = Self.milliseconds(now)
        // A lane ending in "@" is the prefix of every customer endpoint's lane of one target (`connector/target@`):
        // one range over the lane index claims for all of them.
        // One exact lane: in the order the store took its jobs, never past a job another live engine still holds (a
        // lane's previous engine), so that a lane changing engines keeps its order. That barrier reads every pending
        // job of the lane, so it is applied only when another engine is alive (alone, as most SQLite stores are, no
        // other engine holds anything).
        let barrier = """
            AND seq < coalesce((SELECT min(seq) FROM jobs WHERE lane = ? AND state = 'pending' AND lease_owner <> ?
                AND lease_owner IN (SELECT owner FROM engine_leases WHERE until >= ?)), 9223372036854775807)
            """
        let seqs: [Int64] = try await writer.write { db in
            try Self.renew(db, owner: owner, until: until)
            let (laneFilter, laneArguments): (String, [any DatabaseValueConvertible]) = switch lane {
            case nil: ("", [])
            case let prefix? where prefix.hasSuffix("@"): ("AND lane >= ? AND lane < ?", [prefix, String(prefix.dropLast()) + "A"])
            case let exact?:
                try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM engine_leases WHERE owner <> ? AND until >= ?)"),
                                  arguments: [owner, current]) == true
                    ? ("AND lane = ? " + barrier, [exact, exact, owner, current]) : ("AND lane = ?", [exact])
            }
            // One statement per kind of lane filter, prepared once. A job whose retry is not due yet is not claimed:
            // claimed early it was held in memory until then (and counted against its lane's window). Nor is a job
            // whose ordering key has an earlier job waiting for its retry that this engine does not hold (its engine
            // died, or this one restarted): it would overtake it.
            let seqs = try Int64.fetchAll(db.cachedStatement(sql: """
                SELECT seq FROM jobs WHERE state = 'pending' \(laneFilter)
                  AND (not_before IS NULL OR not_before <= ?)
                  AND (lease_owner IS NULL OR lease_owner NOT IN (SELECT owner FROM engine_leases WHERE until >= ?))
                  AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs earlier
                       WHERE earlier.lane = jobs.lane AND earlier.ordering_key = jobs.ordering_key AND earlier.state = 'pending'
                         AND earlier.seq < jobs.seq AND earlier.not_before > ? AND earlier.lease_owner IS NOT ?))
                ORDER BY seq LIMIT ?
                """), arguments: StatementArguments(laneArguments + [current, current, current, owner, limit]))
            // One statement for the batch: the claim raises each job's fence and takes its lease.
            if !seqs.isEmpty {
                try db.execute(sql: "UPDATE jobs SET lease_owner = ?, fence = fence + 1 WHERE seq IN (\(seqs.map(String.init).joined(separator: ",")))",
                               arguments: [owner])
            }
            return seqs
        }
        guard !seqs.isEmpty else { return [] }
        return try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.jobColumns), j.fence, e.id AS event_store_id, e.connector AS event_connector, e.event_id, e.event_type,
                       e.plan_version AS event_plan_version, e.received_at, e.content_type, e.headers, e.body, e.remote_address
                FROM jobs j JOIN events e ON e.seq = j.event_seq
                WHERE j.seq IN (\(seqs.map(String.init).joined(separator: ","))) ORDER BY j.seq
                """).map { row in
                // By position: the job's columns, then these eleven in the order selected.
                let at = Self.jobColumnCount
                let summary = EventSummary(id: row[at + 1], connector: row[at + 2], eventID: row[at + 3], eventType: row[at + 4],
                                           planVersion: row[at + 5], receivedAt: Self.date(row[at + 6]),
                                           status: .routed, duplicates: 0)
                let event = EventRecord(summary: summary, contentType: row[at + 7],
                                        headers: StoredText.headers(row[at + 8]), body: Array(row[at + 9] as Data),
                                        remoteAddress: row[at + 10], history: [])
                return ClaimedJob(job: Self.jobSummary(row), event: event, fence: row[at])
            }
        }
    }

    /// One row per engine: renewing the lease of every job an engine holds is one write, however many it holds.
    public func renewLeases(owner: String, until: Date) async throws {
        let until = Self.milliseconds(until)
        try await writer.write { db in try Self.renew(db, owner: owner, until: until) }
    }

    private static func renew(_ db: Database, owner: String, until: Int64) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO engine_leases (owner, until) VALUES (?, ?)")
            .execute(arguments: [owner, until])
    }

    public func releaseLeases(owner: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE jobs SET lease_owner = NULL WHERE lease_owner = ? AND state = 'pending'",
                           arguments: [owner])
            try db.execute(sql: "DELETE FROM engine_leases WHERE owner = ?", arguments: [owner])
        }
    }

    // MARK: Attempts

    public func record(_ attempt: AttemptRecord, outcome: JobOutcome, flow: JSON?, spawn: [NewJob]) async throws {
        let at = Self.milliseconds(attempt.startedAt)
        let now = Self.milliseconds(Date())
        let request = attempt.request?.serialized()
        let headers = StoredText.headers(attempt.responseHeaders)
        let progress = flow?.serialized()
        try await writer.write { db in
            guard let job = try db.cachedStatement(sql: "SELECT seq, event_seq, route, target, state, lease_owner, fence FROM jobs WHERE id = ?")
                .first(.text(attempt.jobID), read: { row in
                    (seq: row.integer(0), eventSeq: row.integer(1), route: row.text(2) ?? "", target: row.text(3) ?? "",
                     state: row.text(4) ?? "", leaseOwner: row.text(5), fence: Int(row.integer(6)))
                })
            else { throw StoreError("there is no job \(attempt.jobID)") }
            // Only a pending job takes an outcome, and only from the engine that holds it (or from anyone when no
            // engine does): a finished job keeps its outcome, and a job claimed by another engine keeps its holder's.
            guard job.state == JobState.pending.rawValue else {
                throw StoreError.fenced("job \(attempt.jobID) is \(job.state) already: this outcome is not recorded")
            }
            if let owner = attempt.owner, let holder = job.leaseOwner, holder != owner {
                throw StoreError.fenced("job \(attempt.jobID) is held by another engine (\(holder)): this engine's outcome is not recorded")
            }
            if let fence = attempt.fence, fence != job.fence {
                throw StoreError.fenced("job \(attempt.jobID) was claimed again since this attempt's claim: its outcome is not recorded")
            }
            let seq = job.seq
            try db.cachedStatement(sql: """
                INSERT INTO job_attempts (job_seq, at, duration_ms, counts, class, request, response_status,
                                          response_headers, response_body, error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).run(.integer(seq), .integer(at), .integer(Self.milliseconds(attempt.duration)),
                         .integer(attempt.countsAsAttempt ? 1 : 0), .text(attempt.errorClass), .text(request),
                         .integer(attempt.responseStatus.map(Int64.init)), .text(headers), .text(attempt.responseBody),
                         .text(attempt.error))
            let state: JobState
            var notBefore: Int64?
            var eventStatus: EventStatus?
            var reason: String?
            switch outcome {
            case .delivered: state = .delivered; eventStatus = .delivered
            case .retry(let time): state = .pending; notBefore = Self.milliseconds(time)
            case .dead(let why): state = .dead; eventStatus = .deadLettered; reason = why
            case .quarantined(let why): state = .quarantined; eventStatus = .quarantined; reason = why
            case .advance(let lane, let target):
                // The next call of a flow: its own lane, its attempts afresh; the progress (with this call's result)
                // is written in the same statement, so a crash resumes at the next call, never repeats this one.
                try db.cachedStatement(sql: """
                    UPDATE jobs SET lane = ?, target = ?, attempts = 0, first_attempt_at = NULL, not_before = NULL,
                        last_status = ?, last_error = NULL, updated_at = ?, flow = coalesce(?, flow)
                    WHERE seq = ?
                    """).execute(arguments: [lane, target, attempt.responseStatus, now, progress, seq])
                try Self.insertJobs(db, spawn, eventSeq: job.eventSeq, connector: Self.connector(db, seq: seq), at: now,
                                    lease: job.leaseOwner.map { ($0, Date()) })
                return
            }
            try db.cachedStatement(sql: """
                UPDATE jobs SET state = ?, attempts = attempts + ?, first_attempt_at = coalesce(first_attempt_at, ?),
                    not_before = ?, last_status = ?, last_error = ?, updated_at = ?,
                    lease_owner = CASE WHEN ? = 'pending' THEN lease_owner END, flow = coalesce(?, flow)
                WHERE seq = ?
                """).run(.text(state.rawValue), .integer(attempt.countsAsAttempt ? 1 : 0),
                         .integer(attempt.request == nil ? nil : at), .integer(notBefore),
                         .integer(attempt.responseStatus.map(Int64.init)), .text(reason ?? attempt.error), .integer(now),
                         .text(state.rawValue), .text(progress), .integer(seq))
            if !spawn.isEmpty {
                // Made by this outcome (a flow's failure steps): held by the same engine, which runs them at once; should
                // it die first, its lease runs out and any engine's sweep claims them.
                try Self.insertJobs(db, spawn, eventSeq: job.eventSeq, connector: Self.connector(db, seq: seq), at: now,
                                    lease: job.leaseOwner.map { ($0, Date()) })
            }
            if let eventStatus {
                try Self.insertHistory(db, seq: job.eventSeq, at: now, status: eventStatus,
                                       detail: StoredText.outcome(job: attempt.jobID, route: job.route, target: job.target,
                                                                  status: attempt.responseStatus, reason: reason))
            }
        }
    }

    private static func connector(_ db: Database, seq: Int64) throws -> String {
        try String.fetchOne(db.cachedStatement(sql: "SELECT connector FROM jobs WHERE seq = ?"), arguments: [seq]) ?? ""
    }

    // MARK: Dead letters and replays

    public func addJobs(_ jobs: [NewJob], toEvent id: String, status: EventStatus, detail: JSON) async throws {
        let now = Self.milliseconds(Date())
        var detail = detail.objectValue ?? JSONObject()
        detail["jobs"] = StoredText.routedDetail(jobs)["jobs"]
        let text = JSON.object(detail).serialized()
        try await writer.write { db in
            guard let event = try Row.fetchOne(db, sql: "SELECT seq, connector FROM events WHERE id = ?", arguments: [id]) else {
                throw StoreError("there is no event \(id)")
            }
            try Self.insertJobs(db, jobs, eventSeq: event["seq"], connector: event["connector"], at: now, lease: nil)
            try Self.insertHistory(db, seq: event["seq"], at: now, status: status, detail: text)
        }
    }

    public func deadLetter(lane: String, reason: String) async throws -> Int {
        let now = Self.milliseconds(Date())
        return try await writer.write { db in
            try db.execute(sql: """
                UPDATE jobs SET state = 'dead', last_error = ?, lease_owner = NULL, updated_at = ?
                WHERE lane = ? AND state = 'pending'
                """, arguments: [reason, now, lane])
            return db.changesCount
        }
    }

    public func replay(job id: String, with replacement: NewJob, status: EventStatus, detail: JSON) async throws -> Bool {
        let now = Self.milliseconds(Date())
        var detail = detail.objectValue ?? JSONObject()
        detail["jobs"] = StoredText.routedDetail([replacement])["jobs"]
        let text = JSON.object(detail).serialized()
        return try await writer.write { db in
            guard let job = try Row.fetchOne(db, sql: "SELECT event_seq, connector FROM jobs WHERE id = ? AND state IN ('dead', 'quarantined')",
                                             arguments: [id])
            else { return false }
            try db.execute(sql: "UPDATE jobs SET state = 'replayed', updated_at = ? WHERE id = ?", arguments: [now, id])
            try Self.insertJobs(db, [replacement], eventSeq: job["event_seq"], connector: job["connector"], at: now, lease: nil)
            try Self.insertHistory(db, seq: job["event_seq"], at: now, status: status, detail: text)
            return true
        }
    }

    public func moveJobs(_ ids: [String], from: [JobState], to: JobState) async throws -> [String] {
        try JobState.checkMove(from: from, to: to)
        let now = Self.milliseconds(Date())
        let states = from.map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try await writer.write { db in
            var moved: [String] = []
            for id in ids {
                try db.execute(sql: "UPDATE jobs SET state = ?, updated_at = ? WHERE id = ? AND state IN (\(states))",
                               arguments: [to.rawValue, now, id])
                if db.changesCount == 1 { moved.append(id) }
            }
            return moved
        }
    }

    public func keepPlan(version: String, sources: [PlanSource]) async throws {
        let text = JSON.array(sources.map { .object(JSONObject([("path", .string($0.path)), ("text", .string($0.text))])) })
            .serialized()
        let now = Self.milliseconds(Date())
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO plans (version, kept_at, sources) VALUES (?, ?, ?)",
                           arguments: [version, now, text])
        }
    }

    public func planSources(version: String) async throws -> [PlanSource]? {
        try await database.read { db in
            guard let text = try String.fetchOne(db, sql: "SELECT sources FROM plans WHERE version = ?", arguments: [version]),
                  let list = (try? JSONParser.parse(text))?.arrayValue
            else { return nil }
            return list.map { PlanSource(path: $0["path"]?.stringValue ?? "", text: $0["text"]?.stringValue ?? "") }
        }
    }

    // MARK: Reading jobs

    /// A job's columns, in the order `jobSummary` reads them.
    static let jobColumnList = [
        "j.id", "(SELECT id FROM events WHERE seq = j.event_seq) AS event_id_text", "j.connector", "j.route", "j.target",
        "j.lane", "j.plan_version", "j.ordering_key", "j.trace_id", "j.state", "j.attempts", "j.created_at",
        "j.first_attempt_at", "j.not_before", "j.updated_at", "j.last_status", "j.last_error", "j.replay_of",
        "j.pins_plan", "j.flow",
    ]
    static let jobColumns = jobColumnList.joined(separator: ", ")
    /// A query may select more columns after `jobColumns`: they start here.
    static let jobColumnCount = jobColumnList.count

    public func jobs(_ query: JobQuery) async throws -> [JobSummary] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if !query.states.isEmpty {
            conditions.append("j.state IN (\(query.states.map { "'\($0.rawValue)'" }.joined(separator: ",")))")
        }
        if let connector = query.connector { conditions.append("j.connector = ?"); arguments += [connector] }
        if let target = query.target { conditions.append("j.target = ?"); arguments += [target] }
        if let endpoint = query.endpoint { conditions.append("j.lane LIKE ? ESCAPE '\\'"); arguments += ["%@" + Self.likeEscaped(endpoint)] }
        if let event = query.eventID {
            conditions.append("j.event_seq = (SELECT seq FROM events WHERE id = ?)"); arguments += [event]
        }
        if let since = query.since { conditions.append("j.updated_at >= ?"); arguments += [Self.milliseconds(since)] }
        if let until = query.until { conditions.append("j.updated_at < ?"); arguments += [Self.milliseconds(until)] }
        arguments += [query.limit]
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.jobColumns) FROM jobs j \(filter) ORDER BY j.seq DESC LIMIT ?"
        let finalArguments = arguments
        return try await database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map { Self.jobSummary($0) }
        }
    }

    static func likeEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }

    public func jobCounts(states: [JobState]) async throws -> [JobCount] {
        guard !states.isEmpty else { return [] }
        let sql = """
            SELECT connector, target, state, COUNT(*) AS count FROM jobs
            WHERE state IN (\(states.map { "'\($0.rawValue)'" }.joined(separator: ","))) GROUP BY connector, target, state
            """
        return try await database.read { db in
            try Row.fetchAll(db, sql: sql).compactMap { row in
                JobState(rawValue: row["state"]).map { state in
                    JobCount(connector: row["connector"], target: row["target"], state: state, count: row["count"])
                }
            }
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT j.seq, \(Self.jobColumns) FROM jobs j WHERE j.id = ?",
                                             arguments: [id])
            else { return nil }
            let attempts = try Row.fetchAll(db, sql: "SELECT * FROM job_attempts WHERE job_seq = ? ORDER BY seq",
                                            arguments: [row["seq"] as Int64]).map { attempt in
                AttemptSummary(at: Self.date(attempt["at"]), durationMilliseconds: attempt["duration_ms"],
                               countsAsAttempt: (attempt["counts"] as Int) == 1, errorClass: attempt["class"],
                               request: (attempt["request"] as String?).flatMap { try? JSONParser.parse($0) },
                               responseStatus: attempt["response_status"],
                               responseHeaders: StoredText.headers(attempt["response_headers"]),
                               responseBody: attempt["response_body"], error: attempt["error"])
            }
            return JobRecord(summary: Self.jobSummary(row, from: 1), attempts: attempts)
        }
    }

    /// Jobs by state, for tests and proofs.
    public func jobCounts() async throws -> [JobState: Int] {
        try await database.read { db in
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    /// Reads `jobColumns` by position, from `at` (a query may select other columns before them). A column found by
    /// name costs a case-insensitive search that lowercases the name at every lookup: reading a claimed backlog's jobs
    /// by name was a twentieth of the engine's CPU while it delivered them.
    static func jobSummary(_ row: Row, from at: Int = 0) -> JobSummary {
        JobSummary(id: row[at], eventID: row[at + 1], connector: row[at + 2], route: row[at + 3],
                   target: row[at + 4], lane: row[at + 5], planVersion: row[at + 6],
                   orderingKey: row[at + 7], traceID: row[at + 8],
                   state: JobState(rawValue: row[at + 9]) ?? .pending, attempts: row[at + 10],
                   createdAt: date(row[at + 11]), firstAttemptAt: (row[at + 12] as Int64?).map(date),
                   notBefore: (row[at + 13] as Int64?).map(date), updatedAt: date(row[at + 14]),
                   lastStatus: row[at + 15], lastError: row[at + 16], replayOf: row[at + 17],
                   pinsPlan: (row[at + 18] as Int) == 1,
                   flow: (row[at + 19] as String?).flatMap { try? JSONParser.parse($0) })
    }
}
