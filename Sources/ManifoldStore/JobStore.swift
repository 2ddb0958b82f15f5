public import Foundation
public import JSONValue

/// The durable delivery queue: one job per matched route of an event, its attempts, its dead letters.
///
/// Jobs are leased: an engine holds a job (its id on the job) while it delivers or waits to retry it, and renews its
/// own lease (one row per engine); when an engine's lease runs out (it was killed) its jobs are claimable again, so
/// unfinished jobs resume after a restart.
public protocol JobStore: Sendable {
    /// Renews `owner`'s lease, then claims up to `limit` pending jobs held by nobody or by an engine whose lease ran
    /// out, oldest first; of one lane only, when `lane` is given (of every lane it starts, when it ends in `@`: the
    /// lanes of one target's customer endpoints).
    func claimJobs(owner: String, leaseUntil: Date, now: Date, limit: Int, lane: String?) async throws -> [ClaimedJob]
    /// Extends `owner`'s lease, and with it every job it holds.
    func renewLeases(owner: String, until: Date) async throws
    /// Gives up every lease `owner` holds (at shutdown), so that the next engine resumes them at once.
    func releaseLeases(owner: String) async throws
    /// Records an attempt (or a decision without a call) and the job's new state, in one transaction; with `flow`,
    /// the job's flow progress as it now is, and `spawn`, jobs made by the outcome (a flow's failure steps, an
    /// element's own dead letter), in the same transaction.
    func record(_ attempt: AttemptRecord, outcome: JobOutcome, flow: JSON?, spawn: [NewJob]) async throws
    /// Jobs matching `query`, newest first.
    func jobs(_ query: JobQuery) async throws -> [JobSummary]
    /// One job with its attempts, or `nil`.
    func job(id: String) async throws -> JobRecord?
    /// How many jobs are in each of `states`, by connector and target (dead letters and quarantine sizes).
    func jobCounts(states: [JobState]) async throws -> [JobCount]
    /// Adds jobs to a stored event (a replay), recording `status` with `detail` in its history.
    func addJobs(_ jobs: [NewJob], toEvent id: String, status: EventStatus, detail: JSON) async throws
    /// Dead-letters every pending job of `lane` with `reason`, in one transaction (a customer's endpoint disabled or
    /// removed); returns how many.
    func deadLetter(lane: String, reason: String) async throws -> Int
    /// Moves jobs in one of `from` to `to` (a dead letter purged); returns the ids moved. A move that
    /// `JobState.canMove(to:)` does not allow throws, whatever the jobs' states.
    func moveJobs(_ ids: [String], from: [JobState], to: JobState) async throws -> [String]
    /// Replays a dead letter (a job `dead` or `quarantined`): marks it `replayed` and adds `replacement` to its event,
    /// recording `status` with `detail` in the event's history, in one transaction; `false` (and nothing written)
    /// when the job is no longer a dead letter (replayed or purged already, by this caller or another).
    func replay(job id: String, with replacement: NewJob, status: EventStatus, detail: JSON) async throws -> Bool
    /// Keeps a plan's connector sources under its version, for replays on the original plan.
    func keepPlan(version: String, sources: [PlanSource]) async throws
    /// The sources of a kept plan, or `nil`.
    func planSources(version: String) async throws -> [PlanSource]?
}

/// How many jobs of one lane are in one state.
public struct JobCount: Sendable, Equatable {
    public var connector: String
    public var target: String
    public var state: JobState
    public var count: Int

    public init(connector: String, target: String, state: JobState, count: Int) {
        self.connector = connector
        self.target = target
        self.state = state
        self.count = count
    }
}

/// A job to create with its event.
public struct NewJob: Sendable, Equatable {
    public var id: String
    public var route: String
    public var target: String
    /// The lane that delivers it: `connector/target`.
    public var lane: String
    public var orderingKey: String?
    /// The W3C trace id (32 hex digits) carried by every attempt.
    public var traceID: String
    /// The job this one replays.
    public var replayOf: String?
    /// The plan version whose routes made it.
    public var planVersion: String
    /// Deliver it with the mapping of `planVersion` even when another plan runs (a replay on the original plan);
    /// otherwise the running plan's mapping is used.
    public var pinsPlan: Bool
    /// A flow job's progress (which step, which element, the results so far); `nil` for a route's one call.
    public var flow: JSON?
    /// The state it is made in: pending, or dead for a flow element's own dead letter (with `reason`).
    public var state: JobState = .pending
    public var reason: String?

    public init(id: String = JobIdentifier.make(), route: String, target: String, lane: String, orderingKey: String?,
                traceID: String, replayOf: String? = nil, planVersion: String, pinsPlan: Bool = false, flow: JSON? = nil)
    {
        self.flow = flow
        self.pinsPlan = pinsPlan
        self.id = id
        self.route = route
        self.target = target
        self.lane = lane
        self.orderingKey = orderingKey
        self.traceID = traceID
        self.replayOf = replayOf
        self.planVersion = planVersion
    }
}

/// Where a job is in its life.
public enum JobState: String, Sendable, CaseIterable {
    /// Waiting, leased or in flight.
    case pending
    case delivered
    /// Failed for good (a permanent error, or retries exhausted): a dead letter.
    case dead
    /// Bad data (a mapping error, a body that fails the operation's schema): never sent.
    case quarantined
    /// A dead letter that was replayed (the replay is a new job).
    case replayed
    /// A dead letter removed from the queue by an operator.
    case purged

    /// Whether a job in this state may move to `next`: the one table every store enforces. A pending job takes its
    /// outcome (from the engine holding it: see `AttemptRecord.fence`); a dead letter is replayed or purged; nothing
    /// else moves (a delivered job is replayed as its event, never made pending again).
    public func canMove(to next: JobState) -> Bool {
        switch (self, next) {
        case (.pending, .pending), (.pending, .delivered), (.pending, .dead), (.pending, .quarantined): true
        case (.dead, .replayed), (.dead, .purged), (.quarantined, .replayed), (.quarantined, .purged): true
        default: false
        }
    }

    /// Throws unless every state of `from` may move to `to`: a caller asking for a move the table refuses is a
    /// mistake to report, not a no-op.
    public static func checkMove(from: [JobState], to: JobState) throws {
        if let wrong = from.first(where: { !$0.canMove(to: to) }) {
            throw StoreError("a job cannot move from \(wrong.rawValue) to \(to.rawValue)")
        }
    }
}

/// A job claimed by an engine, with the event it delivers.
public struct ClaimedJob: Sendable {
    public var job: JobSummary
    public var event: EventRecord
    /// The claim's fencing token: the job's count of claims, which every claim raises (a job made leased, with its
    /// event, starts at 0). The engine's outcome carries it (`AttemptRecord.fence`) and is refused once the job has
    /// been claimed again, even by the same engine.
    public var fence: Int

    public init(job: JobSummary, event: EventRecord, fence: Int) {
        self.job = job
        self.event = event
        self.fence = fence
    }
}

/// What happened to a job after an attempt.
public enum JobOutcome: Sendable, Equatable {
    case delivered
    /// Try again at this time.
    case retry(at: Date)
    case dead(reason: String)
    case quarantined(reason: String)
    /// A flow moved on to its next call, on `lane` (of `target`): pending again at once, with its attempts counted
    /// afresh for that call.
    case advance(lane: String, target: String)
}

/// One attempt: the call as sent (redacted), the answer, the time it took and its class.
public struct AttemptRecord: Sendable {
    public var jobID: String
    public var startedAt: Date
    public var duration: Duration
    /// Whether the attempt used up one of `max_attempts` (a 429 or our own wait does not).
    public var countsAsAttempt: Bool
    /// `delivered`, `transient`, `rate_limited`, `permanent`, `bad_data`, `circuit_open`.
    public var errorClass: String
    /// Method, URL, headers (credentials redacted) and a truncated body; `nil` when nothing was sent.
    public var request: JSON?
    public var responseStatus: Int?
    public var responseHeaders: [(name: String, value: String)]
    /// The response body, truncated.
    public var responseBody: String?
    public var error: String?
    /// The engine that made the attempt (its lease owner): the outcome is refused when another engine holds the job
    /// (its lease ran out and the job was claimed again), so a late engine cannot overwrite the new holder's record.
    public var owner: String?
    /// The fencing token of the claim the attempt was made under (`ClaimedJob.fence`; 0 for a job made leased): the
    /// outcome is refused when the job was claimed since, so an engine that lost a job and got it back cannot record
    /// an outcome of its earlier hold.
    public var fence: Int?

    public init(jobID: String, startedAt: Date, duration: Duration, countsAsAttempt: Bool, errorClass: String,
                request: JSON?, responseStatus: Int?, responseHeaders: [(name: String, value: String)],
                responseBody: String?, error: String?)
    {
        self.jobID = jobID
        self.startedAt = startedAt
        self.duration = duration
        self.countsAsAttempt = countsAsAttempt
        self.errorClass = errorClass
        self.request = request
        self.responseStatus = responseStatus
        self.responseHeaders = responseHeaders
        self.responseBody = responseBody
        self.error = error
    }
}

/// A filter on the job list.
public struct JobQuery: Sendable {
    public var states: [JobState]
    public var connector: String?
    public var target: String?
    public var eventID: String?
    public var since: Date?
    public var until: Date?
    public var limit: Int
    /// Jobs to one customer's endpoint (lanes `connector/target@endpoint`).
    public var endpoint: String?

    public init(states: [JobState] = [], connector: String? = nil, target: String? = nil, eventID: String? = nil,
                since: Date? = nil, until: Date? = nil, limit: Int = 100, endpoint: String? = nil)
    {
        self.endpoint = endpoint
        self.states = states
        self.connector = connector
        self.target = target
        self.eventID = eventID
        self.since = since
        self.until = until
        self.limit = limit
    }
}

/// A job as lists show it.
public struct JobSummary: Sendable, Equatable {
    public var id: String
    /// The store id of its event (`ev_…`).
    public var eventID: String
    public var connector: String
    public var route: String
    public var target: String
    public var lane: String
    public var planVersion: String
    public var orderingKey: String?
    public var traceID: String
    public var state: JobState
    public var attempts: Int
    public var createdAt: Date
    public var firstAttemptAt: Date?
    public var notBefore: Date?
    public var updatedAt: Date
    public var lastStatus: Int?
    public var lastError: String?
    public var replayOf: String?
    public var pinsPlan: Bool
    /// A flow job's progress.
    public var flow: JSON?

    public init(id: String, eventID: String, connector: String, route: String, target: String, lane: String, planVersion: String, orderingKey: String?, traceID: String, state: JobState, attempts: Int, createdAt: Date, firstAttemptAt: Date?, notBefore: Date?, updatedAt: Date, lastStatus: Int?, lastError: String?, replayOf: String?, pinsPlan: Bool, flow: JSON?) {
        self.id = id
        self.eventID = eventID
        self.connector = connector
        self.route = route
        self.target = target
        self.lane = lane
        self.planVersion = planVersion
        self.orderingKey = orderingKey
        self.traceID = traceID
        self.state = state
        self.attempts = attempts
        self.createdAt = createdAt
        self.firstAttemptAt = firstAttemptAt
        self.notBefore = notBefore
        self.updatedAt = updatedAt
        self.lastStatus = lastStatus
        self.lastError = lastError
        self.replayOf = replayOf
        self.pinsPlan = pinsPlan
        self.flow = flow
    }
}

/// A job with its attempts.
public struct JobRecord: Sendable {
    public var summary: JobSummary
    public var attempts: [AttemptSummary]

    public init(summary: JobSummary, attempts: [AttemptSummary]) {
        self.summary = summary
        self.attempts = attempts
    }
}

/// An attempt as the store keeps it.
public struct AttemptSummary: Sendable {
    public var at: Date
    public var durationMilliseconds: Int
    public var countsAsAttempt: Bool
    public var errorClass: String
    public var request: JSON?
    public var responseStatus: Int?
    public var responseHeaders: [(name: String, value: String)]
    public var responseBody: String?
    public var error: String?

    public init(at: Date, durationMilliseconds: Int, countsAsAttempt: Bool, errorClass: String, request: JSON?, responseStatus: Int?, responseHeaders: [(name: String, value: String)], responseBody: String?, error: String?) {
        self.at = at
        self.durationMilliseconds = durationMilliseconds
        self.countsAsAttempt = countsAsAttempt
        self.errorClass = errorClass
        self.request = request
        self.responseStatus = responseStatus
        self.responseHeaders = responseHeaders
        self.responseBody = responseBody
        self.error = error
    }
}

/// A connector file of a plan, as read.
public struct PlanSource: Sendable, Equatable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// Job ids: `job_` and a ULID, sortable by time.
public enum JobIdentifier {
    public static func make(at date: Date = Date()) -> String {
        "job_" + EventIdentifier.make(at: date).dropFirst(3)
    }
}

extension JobStore {
    /// Records an attempt of a route's one call.
    public func record(_ attempt: AttemptRecord, outcome: JobOutcome) async throws {
        try await record(attempt, outcome: outcome, flow: nil, spawn: [])
    }

    /// Claims pending jobs of every lane.
    public func claimJobs(owner: String, leaseUntil: Date, now: Date, limit: Int) async throws -> [ClaimedJob] {
        try await claimJobs(owner: owner, leaseUntil: leaseUntil, now: now, limit: limit, lane: nil)
    }
}

// MARK: Lane ownership

/// Which engine runs a lane (`connector/target`, or one customer endpoint's lane): one at a time, through a lease, so
/// that the lane's rate limit, concurrency, breaker and order stay exact across engines sharing a store.
public protocol LaneLeaseStore: Sendable {
    /// Renews `owner`'s leases among `lanes` and takes those held by nobody or whose lease ran out (each take raises the
    /// lane's token), until `until`; a lane another engine holds is left to it. Returns the leases `owner` holds now.
    func acquireLanes(_ lanes: [String], owner: String, until: Date, now: Date) async throws -> [LaneLease]
    /// Gives up `owner`'s leases on `lanes` (to another engine, or at shutdown): they end at `at`.
    func releaseLanes(_ lanes: [String], owner: String, at: Date) async throws
    /// Every lane lease, held or ended, by lane.
    func laneLeases() async throws -> [LaneLease]
    /// The engines whose engine lease lives at `now` (the ones sharing the work).
    func liveEngines(now: Date) async throws -> [String]
    /// Lets go of `owner`'s hold on pending jobs `ids` (their lane is another engine's now): any engine may claim them.
    func releaseJobs(_ ids: [String], owner: String) async throws
    /// The lanes with pending jobs.
    func pendingLanes() async throws -> [String]
    /// Records what an engine sharing the store runs (its plan version, Manifold's version, where it listens), at
    /// start and at each plan it applies.
    func recordEngine(_ engine: EngineRecord) async throws
    /// Every engine that recorded itself, by id.
    func engineRecords() async throws -> [EngineRecord]
}

/// An engine as it recorded itself in a shared store.
public struct EngineRecord: Sendable, Equatable {
    public var owner: String
    /// What it runs: `plan`, `manifold`, `listen`, `started_at`, `host`.
    public var info: JSON
    public var recordedAt: Date

    public init(owner: String, info: JSON, recordedAt: Date) {
        self.owner = owner
        self.info = info
        self.recordedAt = recordedAt
    }
}

/// A lane's lease as the store keeps it.
public struct LaneLease: Sendable, Equatable {
    public var lane: String
    /// The engine holding it; `nil` once released.
    public var owner: String?
    /// Raised by every take: a new holder's token is greater than any before it.
    public var token: Int
    /// When the hold ends (or ended).
    public var until: Date
    /// When a take returns it: the end of the previous holder's hold, when that was another engine. Its calls may
    /// have been sent up to then, so a rate limit counts them: the new holder waits one window from that time.
    public var previousEnd: Date?

    public init(lane: String, owner: String?, token: Int, until: Date, previousEnd: Date? = nil) {
        self.lane = lane
        self.owner = owner
        self.token = token
        self.until = until
        self.previousEnd = previousEnd
    }

    /// What an engine asking for a lane gets, given the lease as stored (`nil`: never held): the one rule every store
    /// applies. Its own live lease is renewed (same token); a lane nobody holds, or whose hold ran out, is taken (token
    /// raised, the previous holder's end kept when it was another engine); a lane another engine holds is refused.
    public static func decide(_ current: LaneLease?, lane: String, owner: String, until: Date, now: Date) -> LaneLease? {
        guard let current else { return LaneLease(lane: lane, owner: owner, token: 1, until: until) }
        if current.owner == owner, current.until >= now {
            return LaneLease(lane: lane, owner: owner, token: current.token, until: max(until, current.until))
        }
        if let holder = current.owner, holder != owner, current.until >= now { return nil }
        let previous = current.owner == owner ? nil : current.until
        return LaneLease(lane: lane, owner: owner, token: current.token + 1, until: until, previousEnd: previous)
    }
}

/// A store that tells engines when jobs nobody holds were stored (PostgreSQL's `LISTEN/NOTIFY`): the engine holding
/// their lane claims them at once instead of at its next sweep (which stays, as the fallback).
public protocol JobWakeups: Sendable {
    /// The lanes of jobs stored unleased (or let go), as they are committed, from any engine; it reconnects by itself
    /// and ends when the store closes.
    func jobWakeups() -> AsyncStream<String>
}

/// How the stores write what they keep as text: the same in every store, so that what one writes another reads.
public enum StoredText {
    /// The `jobs` detail of the history record of an event that made `jobs` (`routed`, `replayed`).
    public static func routedDetail(_ jobs: [NewJob]) -> JSON {
        .object(JSONObject([("jobs", .array(jobs.map { job in
            .object(JSONObject([("job", .string(job.id)), ("route", .string(job.route)), ("target", .string(job.target))]))
        }))]))
    }

    /// An outcome's detail in an event's history: `{"job", "route", "target"[, "status"][, "reason"]}`, the text
    /// `JSON.serialized()` gives for that object, written directly (every delivered call records one).
    public static func outcome(job: String, route: String, target: String, status: Int?, reason: String?) -> String {
        var text = "{\"job\":"
        JSON.writeQuoted(job, to: &text)
        text += ",\"route\":"
        JSON.writeQuoted(route, to: &text)
        text += ",\"target\":"
        JSON.writeQuoted(target, to: &text)
        if let status { text += ",\"status\":\(status)" }
        if let reason {
            text += ",\"reason\":"
            JSON.writeQuoted(reason, to: &text)
        }
        return text + "}"
    }

    /// Headers as a JSON array of `[name, value]` pairs, in order: the text `JSON.serialized()` gives for them, written
    /// directly, without the arrays that printing them as JSON would build first (every stored event and attempt has
    /// headers).
    public static func headers(_ headers: [(name: String, value: String)]) -> String {
        var text = "["
        text.reserveCapacity(headers.reduce(2) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 })
        for (position, header) in headers.enumerated() {
            text += position == 0 ? "[" : ",["
            JSON.writeQuoted(header.name, to: &text)
            text += ","
            JSON.writeQuoted(header.value, to: &text)
            text += "]"
        }
        text += "]"
        return text
    }

    /// Headers read back from `headers(_:)`'s text.
    public static func headers(_ text: String) -> [(name: String, value: String)] {
        ((try? JSONParser.parse(text))?.arrayValue ?? []).map { pair in
            (name: pair.arrayValue?.first?.stringValue ?? "", value: pair.arrayValue?.last?.stringValue ?? "")
        }
    }
}
