public import Foundation
public import JSONValue
public import ManifoldStore
import PostgresNIO

extension PostgresStore: JobStore {
    func insertJobs(_ connection: PostgresConnection, _ jobs: [NewJob], event: String, eventAt: Int64, connector: String, at: Int64,
                    owner: String?) async throws
    {
        // Jobs nobody holds: the engine holding their lane is told when this commits (`jobWakeups`).
        for lane in Set(jobs.filter { $0.state == .pending && owner == nil }.map(\.lane)).sorted() {
            try await connection.query("SELECT pg_notify(\(PostgresSchema.wakeupChannel), \(lane))", logger: logger)
        }
        for job in jobs {
            let holder = job.state == .pending ? owner : nil
            let flow: String? = job.flow?.serialized()
            try await connection.query("""
                INSERT INTO jobs (id, event, event_at, connector, route, target, lane, plan_version, ordering_key, trace_id, state,
                                  created_at, lease_owner, updated_at, replay_of, pins_plan, flow, last_error)
                VALUES (\(job.id), \(event), \(eventAt), \(connector), \(job.route), \(job.target), \(job.lane), \(job.planVersion),
                        \(job.orderingKey), \(job.traceID), \(job.state.rawValue), \(at), \(holder), \(at), \(job.replayOf), \(job.pinsPlan),
                        \(flow), \(job.reason))
                """, logger: logger)
        }
    }

    // MARK: Leases

    public func claimJobs(owner: String, leaseUntil: Date, now: Date, limit: Int, lane: String?) async throws -> [ClaimedJob] {
        let until = Self.milliseconds(leaseUntil)
        let current = Self.milliseconds(now)
        var sql = SQLText()
        let ownerBind = sql.bind(owner)
        let laneFilter: String = switch lane {
        case nil: ""
        // Every customer endpoint's lane of one target: one range over the lane index.
        case let prefix? where prefix.hasSuffix("@"):
            "AND lane >= \(sql.bind(prefix)) AND lane < \(sql.bind(String(prefix.dropLast()) + "A"))"
        // One exact lane: in the order the store took its jobs, never past a job another live engine still holds (a
        // lane's previous engine), so that a lane changing engines keeps its order.
        case let exact?: """
            AND lane = \(sql.bind(exact)) AND seq < coalesce((SELECT min(seq) FROM jobs WHERE lane = \(sql.bind(exact))
                AND state = 'pending' AND lease_owner <> \(ownerBind)
                AND (claimed_until >= \(sql.bind(current))
                     OR lease_owner IN (SELECT owner FROM engine_leases WHERE until >= \(sql.bind(current))))), 9223372036854775807)
            """
        }
        let nowBind = sql.bind(current)
        let untilBind = sql.bind(until)
        // Locked rows another engine is claiming are skipped, not waited for; each claim raises the job's fence. A job
        // whose ordering key has an earlier job waiting for its retry that this engine does not hold is not claimed.
        // A claim marks its rows held until its lease's end (`claimed_until`), besides the engine's lease: a claim
        // running at the same time re-reads a row another just took with that row's values, but reads `engine_leases`
        // as it was when it began, before a new engine's first lease was there.
        sql.text = """
            WITH picked AS (
                SELECT seq FROM jobs WHERE state = 'pending' \(laneFilter)
                  AND (not_before IS NULL OR not_before <= \(nowBind))
                  AND (lease_owner IS NULL OR (coalesce(claimed_until, 0) < \(nowBind)
                       AND lease_owner NOT IN (SELECT owner FROM engine_leases WHERE until >= \(nowBind))))
                  AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs earlier
                       WHERE earlier.lane = jobs.lane AND earlier.ordering_key = jobs.ordering_key AND earlier.state = 'pending'
                         AND earlier.seq < jobs.seq AND earlier.not_before > \(nowBind)
                         AND earlier.lease_owner IS DISTINCT FROM \(ownerBind)))
                ORDER BY seq LIMIT \(sql.bind(limit)) FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs j SET lease_owner = \(ownerBind), claimed_until = \(untilBind), fence = j.fence + 1
            FROM picked WHERE j.seq = picked.seq RETURNING j.seq
            """
        let claim = sql.query
        return try await transaction { connection in
            try await self.renew(connection, owner: owner, until: until)
            let seqs = try await connection.query(claim, logger: self.logger).collect().map { try $0.decode(Int64.self) }
            guard !seqs.isEmpty else { return [] }
            return try await connection.query("""
                SELECT \(unescaped: Self.jobColumns), j.fence, e.connector AS event_connector, e.event_id AS vendor_event_id, e.event_type,
                       e.plan_version AS event_plan_version, e.received_at, e.content_type, e.headers, e.body, e.remote_address
                FROM jobs j JOIN events e ON e.id = j.event AND e.received_at = j.event_at
                WHERE j.seq = ANY(\(seqs)) ORDER BY j.seq
                """, logger: self.logger).collect().map { found in
                let row = found.makeRandomAccess()
                let summary = EventSummary(id: try row["event"].decode(String.self), connector: try row["event_connector"].decode(String.self),
                                           eventID: try row["vendor_event_id"].decode(String.self),
                                           eventType: try row["event_type"].decode(String?.self),
                                           planVersion: try row["event_plan_version"].decode(String.self),
                                           receivedAt: Self.date(try row["received_at"].decode(Int64.self)), status: .routed, duplicates: 0)
                let event = EventRecord(summary: summary, contentType: try row["content_type"].decode(String.self),
                                        headers: StoredText.headers(try row["headers"].decode(String.self)),
                                        body: Array(try row["body"].decode(Data.self)),
                                        remoteAddress: try row["remote_address"].decode(String?.self), history: [])
                return ClaimedJob(job: try Self.jobSummary(row), event: event, fence: try row["fence"].decode(Int.self))
            }
        }
    }

    public func renewLeases(owner: String, until: Date) async throws {
        let until = Self.milliseconds(until)
        try await connection(leases: true) { try await self.renew($0, owner: owner, until: until) }
        // Renewed every few seconds by every engine: the moment to make the coming days' partitions when due.
        try await preparePartitions(now: Date())
    }

    func renew(_ connection: PostgresConnection, owner: String, until: Int64) async throws {
        try await connection.query("""
            INSERT INTO engine_leases (owner, until) VALUES (\(owner), \(until)) ON CONFLICT (owner) DO UPDATE SET until = excluded.until
            """, logger: logger)
    }

    public func releaseLeases(owner: String) async throws {
        try await transaction { connection in
            try await connection.query("UPDATE jobs SET lease_owner = NULL, claimed_until = NULL WHERE lease_owner = \(owner) AND state = 'pending'", logger: self.logger)
            try await connection.query("DELETE FROM engine_leases WHERE owner = \(owner)", logger: self.logger)
        }
    }

    // MARK: Attempts

    public func record(_ attempt: AttemptRecord, outcome: JobOutcome, flow: JSON?, spawn: [NewJob]) async throws {
        let at = Self.milliseconds(attempt.startedAt)
        let now = Self.milliseconds(Date())
        let request: String? = attempt.request?.serialized()
        let progress: String? = flow?.serialized()
        let headers = StoredText.headers(attempt.responseHeaders)
        let duration = attempt.duration.components.seconds * 1000 + attempt.duration.components.attoseconds / 1_000_000_000_000_000
        try await transaction { connection in
            // The row is locked until the outcome commits: a claim by another engine waits (or skips it) meanwhile.
            guard let found = try await connection.query("""
                SELECT event, event_at, connector, route, target, state, lease_owner, fence FROM jobs WHERE id = \(attempt.jobID) FOR UPDATE
                """, logger: self.logger).collect().first
            else { throw StoreError("there is no job \(attempt.jobID)") }
            let job = found.makeRandomAccess()
            let state = try job["state"].decode(String.self)
            let holder = try job["lease_owner"].decode(String?.self)
            guard state == JobState.pending.rawValue else {
                throw StoreError.fenced("job \(attempt.jobID) is \(state) already: this outcome is not recorded")
            }
            if let owner = attempt.owner, let holder, holder != owner {
                throw StoreError.fenced("job \(attempt.jobID) is held by another engine (\(holder)): this engine's outcome is not recorded")
            }
            if let fence = attempt.fence, fence != (try job["fence"].decode(Int.self)) {
                throw StoreError.fenced("job \(attempt.jobID) was claimed again since this attempt's claim: its outcome is not recorded")
            }
            let event = try job["event"].decode(String.self)
            let eventAt = try job["event_at"].decode(Int64.self)
            let connector = try job["connector"].decode(String.self)
            try await connection.query("""
                INSERT INTO job_attempts (job, event_at, at, duration_ms, counts, class, request, response_status, response_headers,
                                          response_body, error)
                VALUES (\(attempt.jobID), \(eventAt), \(at), \(duration), \(attempt.countsAsAttempt), \(attempt.errorClass), \(request),
                        \(attempt.responseStatus), \(headers), \(attempt.responseBody), \(attempt.error))
                """, logger: self.logger)
            let next: JobState
            var notBefore: Int64?
            var eventStatus: EventStatus?
            var reason: String?
            switch outcome {
            case .delivered: next = .delivered; eventStatus = .delivered
            case .retry(let time): next = .pending; notBefore = Self.milliseconds(time)
            case .dead(let why): next = .dead; eventStatus = .deadLettered; reason = why
            case .quarantined(let why): next = .quarantined; eventStatus = .quarantined; reason = why
            case .advance(let lane, let target):
                try await connection.query("""
                    UPDATE jobs SET lane = \(lane), target = \(target), attempts = 0, first_attempt_at = NULL, not_before = NULL,
                        last_status = \(attempt.responseStatus), last_error = NULL, updated_at = \(now), flow = coalesce(\(progress), flow)
                    WHERE id = \(attempt.jobID)
                    """, logger: self.logger)
                try await self.insertJobs(connection, spawn, event: event, eventAt: eventAt, connector: connector, at: now, owner: holder)
                return
            }
            let firstAttempt: Int64? = attempt.request == nil ? nil : at
            let keepsHolder = next == .pending
            try await connection.query("""
                UPDATE jobs SET state = \(next.rawValue), attempts = attempts + \(attempt.countsAsAttempt ? 1 : 0),
                    first_attempt_at = coalesce(first_attempt_at, \(firstAttempt)), not_before = \(notBefore),
                    last_status = \(attempt.responseStatus), last_error = \(reason ?? attempt.error), updated_at = \(now),
                    lease_owner = CASE WHEN \(keepsHolder) THEN lease_owner END, flow = coalesce(\(progress), flow)
                WHERE id = \(attempt.jobID)
                """, logger: self.logger)
            if !spawn.isEmpty {
                try await self.insertJobs(connection, spawn, event: event, eventAt: eventAt, connector: connector, at: now, owner: holder)
            }
            if let eventStatus {
                var detail: [(String, JSON)] = [("job", .string(attempt.jobID)), ("route", .string(try job["route"].decode(String.self))),
                                                ("target", .string(try job["target"].decode(String.self)))]
                if let status = attempt.responseStatus { detail.append(("status", .number(Double(status)))) }
                if let reason { detail.append(("reason", .string(reason))) }
                try await self.insertHistory(connection, event: event, eventAt: eventAt, at: now, status: eventStatus,
                                             detail: .object(JSONObject(detail)))
            }
        }
    }

    // MARK: Dead letters and replays

    public func addJobs(_ jobs: [NewJob], toEvent id: String, status: EventStatus, detail: JSON) async throws {
        let now = Self.milliseconds(Date())
        var detail = detail.objectValue ?? JSONObject()
        detail["jobs"] = StoredText.routedDetail(jobs)["jobs"]
        let note = JSON.object(detail)
        try await transaction { connection in
            guard let found = try await connection.query("SELECT received_at, connector FROM events WHERE id = \(id)", logger: self.logger)
                .collect().first
            else { throw StoreError("there is no event \(id)") }
            let row = found.makeRandomAccess()
            let eventAt = try row["received_at"].decode(Int64.self)
            try await self.insertJobs(connection, jobs, event: id, eventAt: eventAt, connector: try row["connector"].decode(String.self),
                                      at: now, owner: nil)
            try await self.insertHistory(connection, event: id, eventAt: eventAt, at: now, status: status, detail: note)
        }
    }

    public func replay(job id: String, with replacement: NewJob, status: EventStatus, detail: JSON) async throws -> Bool {
        let now = Self.milliseconds(Date())
        var detail = detail.objectValue ?? JSONObject()
        detail["jobs"] = StoredText.routedDetail([replacement])["jobs"]
        let note = JSON.object(detail)
        return try await transaction { connection in
            guard let found = try await connection.query("""
                UPDATE jobs SET state = 'replayed', updated_at = \(now) WHERE id = \(id) AND state IN ('dead', 'quarantined')
                RETURNING event, event_at, connector
                """, logger: self.logger).collect().first
            else { return false }
            let row = found.makeRandomAccess()
            let event = try row["event"].decode(String.self)
            let eventAt = try row["event_at"].decode(Int64.self)
            try await self.insertJobs(connection, [replacement], event: event, eventAt: eventAt,
                                      connector: try row["connector"].decode(String.self), at: now, owner: nil)
            try await self.insertHistory(connection, event: event, eventAt: eventAt, at: now, status: status, detail: note)
            return true
        }
    }

    public func deadLetter(lane: String, reason: String) async throws -> Int {
        let now = Self.milliseconds(Date())
        return try await connection { connection in
            try await connection.query("""
                UPDATE jobs SET state = 'dead', last_error = \(reason), lease_owner = NULL, updated_at = \(now)
                WHERE lane = \(lane) AND state = 'pending' RETURNING seq
                """, logger: self.logger).collect().count
        }
    }

    public func moveJobs(_ ids: [String], from: [JobState], to: JobState) async throws -> [String] {
        try JobState.checkMove(from: from, to: to)
        guard !ids.isEmpty else { return [] }
        let now = Self.milliseconds(Date())
        let states = from.map(\.rawValue)
        let moved = try await connection { connection in
            try await connection.query("""
                UPDATE jobs SET state = \(to.rawValue), updated_at = \(now) WHERE id = ANY(\(ids)) AND state = ANY(\(states)) RETURNING id
                """, logger: self.logger).collect().map { try $0.decode(String.self) }
        }
        let set = Set(moved)
        return ids.filter { set.contains($0) }
    }

    public func keepPlan(version: String, sources: [PlanSource]) async throws {
        let text = JSON.array(sources.map { .object(JSONObject([("path", .string($0.path)), ("text", .string($0.text))])) }).serialized()
        let now = Self.milliseconds(Date())
        try await connection { connection in
            try await connection.query("""
                INSERT INTO plans (version, kept_at, sources) VALUES (\(version), \(now), \(text)) ON CONFLICT (version) DO NOTHING
                """, logger: self.logger)
        }
    }

    public func planSources(version: String) async throws -> [PlanSource]? {
        try await connection { connection in
            guard let text = try await connection.query("SELECT sources FROM plans WHERE version = \(version)", logger: self.logger)
                .collect().first?.decode(String.self),
                let list = (try? JSONParser.parse(text))?.arrayValue
            else { return nil }
            return list.map { PlanSource(path: $0["path"]?.stringValue ?? "", text: $0["text"]?.stringValue ?? "") }
        }
    }

    // MARK: Reading jobs

    static let jobColumns = """
        j.id, j.event, j.connector, j.route, j.target, j.lane, j.plan_version, j.ordering_key, j.trace_id, j.state, j.attempts,
        j.created_at, j.first_attempt_at, j.not_before, j.updated_at, j.last_status, j.last_error, j.replay_of, j.pins_plan, j.flow
        """

    public func jobs(_ query: JobQuery) async throws -> [JobSummary] {
        var sql = SQLText()
        var conditions: [String] = []
        if !query.states.isEmpty { conditions.append("j.state = ANY(\(sql.bind(query.states.map(\.rawValue))))") }
        if let connector = query.connector { conditions.append("j.connector = \(sql.bind(connector))") }
        if let target = query.target { conditions.append("j.target = \(sql.bind(target))") }
        if let endpoint = query.endpoint { conditions.append("right(j.lane, \(sql.bind(endpoint.count + 1))::integer) = \(sql.bind("@" + endpoint))") }
        if let event = query.eventID { conditions.append("j.event = \(sql.bind(event))") }
        if let since = query.since { conditions.append("j.updated_at >= \(sql.bind(Self.milliseconds(since)))") }
        if let until = query.until { conditions.append("j.updated_at < \(sql.bind(Self.milliseconds(until)))") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        sql.text = "SELECT \(Self.jobColumns) FROM jobs j \(filter) ORDER BY j.seq DESC LIMIT \(sql.bind(query.limit))"
        let statement = sql.query
        return try await connection { connection in
            try await connection.query(statement, logger: self.logger).collect().map { try Self.jobSummary($0.makeRandomAccess()) }
        }
    }

    public func jobCounts(states: [JobState]) async throws -> [JobCount] {
        guard !states.isEmpty else { return [] }
        let names = states.map(\.rawValue)
        return try await connection { connection in
            try await connection.query("""
                SELECT connector, target, state, count(*) FROM jobs WHERE state = ANY(\(names))
                GROUP BY connector, target, state ORDER BY connector, target, state
                """, logger: self.logger).collect().compactMap { row in
                let (connector, target, state, count) = try row.decode((String, String, String, Int).self)
                return JobState(rawValue: state).map { JobCount(connector: connector, target: target, state: $0, count: count) }
            }
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await connection { connection in
            guard let found = try await connection.query("SELECT \(unescaped: Self.jobColumns) FROM jobs j WHERE j.id = \(id)",
                                                         logger: self.logger).collect().first
            else { return nil }
            let attempts = try await connection.query("""
                SELECT at, duration_ms, counts, class, request, response_status, response_headers, response_body, error
                FROM job_attempts WHERE job = \(id) ORDER BY seq
                """, logger: self.logger).collect().map { found in
                let row = found.makeRandomAccess()
                return AttemptSummary(
                    at: Self.date(try row["at"].decode(Int64.self)), durationMilliseconds: try row["duration_ms"].decode(Int.self),
                    countsAsAttempt: try row["counts"].decode(Bool.self), errorClass: try row["class"].decode(String.self),
                    request: try row["request"].decode(String?.self).flatMap { try? JSONParser.parse($0) },
                    responseStatus: try row["response_status"].decode(Int?.self),
                    responseHeaders: StoredText.headers(try row["response_headers"].decode(String.self)),
                    responseBody: try row["response_body"].decode(String?.self), error: try row["error"].decode(String?.self))
            }
            return JobRecord(summary: try Self.jobSummary(found.makeRandomAccess()), attempts: attempts)
        }
    }

    /// Jobs by state, for tests and proofs.
    public func jobCounts() async throws -> [JobState: Int] {
        try await connection { connection in
            var counts: [JobState: Int] = [:]
            for row in try await connection.query("SELECT state, count(*) FROM jobs GROUP BY state", logger: self.logger).collect() {
                let (state, count) = try row.decode((String, Int).self)
                if let state = JobState(rawValue: state) { counts[state] = count }
            }
            return counts
        }
    }

    static func jobSummary(_ row: PostgresRandomAccessRow) throws -> JobSummary {
        JobSummary(id: try row["id"].decode(String.self), eventID: try row["event"].decode(String.self),
                   connector: try row["connector"].decode(String.self), route: try row["route"].decode(String.self),
                   target: try row["target"].decode(String.self), lane: try row["lane"].decode(String.self),
                   planVersion: try row["plan_version"].decode(String.self), orderingKey: try row["ordering_key"].decode(String?.self),
                   traceID: try row["trace_id"].decode(String.self),
                   state: JobState(rawValue: try row["state"].decode(String.self)) ?? .pending, attempts: try row["attempts"].decode(Int.self),
                   createdAt: date(try row["created_at"].decode(Int64.self)),
                   firstAttemptAt: try row["first_attempt_at"].decode(Int64?.self).map(date),
                   notBefore: try row["not_before"].decode(Int64?.self).map(date), updatedAt: date(try row["updated_at"].decode(Int64.self)),
                   lastStatus: try row["last_status"].decode(Int?.self), lastError: try row["last_error"].decode(String?.self),
                   replayOf: try row["replay_of"].decode(String?.self), pinsPlan: try row["pins_plan"].decode(Bool.self),
                   flow: try row["flow"].decode(String?.self).flatMap { try? JSONParser.parse($0) })
    }
}
