public import Foundation
public import JSONValue
import Synchronization

/// The whole store contract in memory: events, jobs, endpoints, pulls and rollouts, with the rules the durable
/// stores keep (dedupe, append-only history, due and fenced claims, job transitions), and nothing durable. For tests
/// and for runs that keep nothing (`manifold test`); it passes the same conformance suite as SQLite and PostgreSQL.
///
/// Times are kept to the millisecond, as the durable stores keep them, so that what is read back is the same.
public final class InMemoryStore: EventStore, JobStore, EndpointStore, PullStateStore, RolloutStore, LaneLeaseStore, RetentionStore {
    private let state = Mutex(Contents())

    public init() {}

    // MARK: The contents

    struct StoredEvent {
        var id: String
        var connector: String
        var eventID: String
        var eventType: String?
        var planVersion: String
        var receivedAt: Date
        var contentType: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var remoteAddress: String?
        var history: [StatusRecord] = []

        var summary: EventSummary {
            EventSummary(id: id, connector: connector, eventID: eventID, eventType: eventType, planVersion: planVersion,
                         receivedAt: receivedAt,
                         status: history.last(where: { $0.status != .duplicate })?.status ?? .received,
                         duplicates: history.count(where: { $0.status == .duplicate }))
        }
    }

    struct StoredJob {
        var event: Int
        var summary: JobSummary
        var leaseOwner: String?
        var fence = 0
        var attempts: [AttemptSummary] = []
    }

    struct StoredRollout {
        var connector: String
        var status: String
        var json: JSON
        var updatedAt: Date
        var order: Int
    }

    struct Contents {
        var closed = false
        var events: [StoredEvent] = []
        var eventByKey: [String: Int] = [:]
        var eventByID: [String: Int] = [:]
        var jobs: [StoredJob] = []
        var jobByID: [String: Int] = [:]
        var leases: [String: Date] = [:]
        var plans: [String: [PlanSource]] = [:]
        var endpoints: [StoredEndpoint] = []
        var endpointHistory: [String: [EndpointHistoryEntry]] = [:]
        var endpointsVersion: Int64 = 0
        var pullStates: [String: PullStateRecord] = [:]
        var rollouts: [String: StoredRollout] = [:]
        var rolloutOrder = 0
        var rolloutLog: [RolloutLogEntry] = []
        var shadowCalls: [ShadowCall] = []
        var applied: [(version: String, at: Date, trigger: String, summary: String)] = []
        var readyChecks = 0
        var laneLeases: [String: LaneLease] = [:]
        var engines: [String: EngineRecord] = [:]

        func writable() throws {
            if closed { throw StoreError("the store is closed") }
        }

        mutating func insert(_ event: NewEvent) -> AppendOutcome {
            let key = event.connector + "\u{0}" + event.eventID
            let at = InMemoryStore.rounded(event.receivedAt)
            if let index = eventByKey[key] {
                let original = events[index]
                guard event.recordsDuplicate else { return .duplicate(of: original.id) }
                let note = JSON.object(JSONObject([("same_body", .bool(original.body == event.body)),
                                                   ("remote_address", event.remoteAddress.map(JSON.string) ?? .null)]))
                events[index].history.append(StatusRecord(at: at, status: .duplicate, detail: note))
                return .duplicate(of: original.id)
            }
            let id = EventIdentifier.make(at: event.receivedAt)
            var stored = StoredEvent(id: id, connector: event.connector, eventID: event.eventID, eventType: event.eventType,
                                     planVersion: event.planVersion, receivedAt: at, contentType: event.contentType,
                                     headers: event.headers, body: event.body, remoteAddress: event.remoteAddress)
            stored.history.append(StatusRecord(at: at, status: event.status, detail: event.detail))
            let index = events.count
            events.append(stored)
            eventByKey[key] = index
            eventByID[id] = index
            if let jobs = event.jobs {
                insert(jobs, event: index, at: at, owner: event.lease?.owner)
                events[index].history.append(StatusRecord(at: at, status: jobs.isEmpty ? .skipped : .routed,
                                                          detail: StoredText.routedDetail(jobs)))
            }
            return .stored(id: id)
        }

        mutating func insert(_ made: [NewJob], event: Int, at: Date, owner: String?) {
            for job in made {
                let summary = JobSummary(
                    id: job.id, eventID: events[event].id, connector: events[event].connector, route: job.route, target: job.target,
                    lane: job.lane, planVersion: job.planVersion, orderingKey: job.orderingKey, traceID: job.traceID,
                    state: job.state, attempts: 0, createdAt: at, firstAttemptAt: nil, notBefore: nil, updatedAt: at,
                    lastStatus: nil, lastError: job.reason, replayOf: job.replayOf, pinsPlan: job.pinsPlan, flow: job.flow)
                jobByID[job.id] = jobs.count
                jobs.append(StoredJob(event: event, summary: summary, leaseOwner: job.state == .pending ? owner : nil))
            }
        }

        func liveEndpoint(_ id: String) throws -> Int {
            guard let index = endpoints.firstIndex(where: { $0.id == id }), endpoints[index].state != .removed else {
                throw StoreError("there is no endpoint \(id)")
            }
            return index
        }

        mutating func endpointChanged(_ id: String, _ kind: String, _ detail: String, _ at: Date) {
            endpointHistory[id, default: []].append(EndpointHistoryEntry(at: InMemoryStore.rounded(at), kind: kind, detail: detail))
            endpointsVersion += 1
        }

        mutating func save(_ rollout: RolloutRecord, at: Date) {
            let order = rollouts[rollout.id]?.order ?? { rolloutOrder += 1; return rolloutOrder }()
            rollouts[rollout.id] = StoredRollout(connector: rollout.connector, status: rollout.status.rawValue, json: rollout.json,
                                                 updatedAt: at, order: order)
        }

        mutating func log(_ rollout: RolloutRecord, at: Date, action: String, by: String, detail: JSON?) {
            rolloutLog.append(RolloutLogEntry(connector: rollout.connector, rollout: rollout.id, at: at, action: action, by: by,
                                              detail: detail))
        }
    }

    static func rounded(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    private func write<Result>(_ body: (inout Contents) throws -> Result) throws -> Result {
        try state.withLock { contents in
            try contents.writable()
            return try body(&contents)
        }
    }

    private func read<Result>(_ body: (Contents) throws -> Result) rethrows -> Result {
        try state.withLock { try body($0) }
    }

    // MARK: Events

    public func append(_ event: NewEvent) async throws -> AppendOutcome {
        try write { $0.insert(event) }
    }

    public func append(all events: [NewEvent]) async throws -> [AppendOutcome] {
        try write { contents in events.map { contents.insert($0) } }
    }

    public func recordStatus(_ status: EventStatus, of id: String, detail: JSON?) async throws {
        try write { contents in
            guard let index = contents.eventByID[id] else { throw StoreError("there is no event \(id)") }
            contents.events[index].history.append(StatusRecord(at: Self.rounded(Date()), status: status, detail: detail))
        }
    }

    public func events(_ query: EventQuery) async throws -> [EventSummary] {
        read { contents in
            var found: [EventSummary] = []
            for event in contents.events.reversed() where found.count < query.limit {
                if let connector = query.connector, event.connector != connector { continue }
                if let since = query.since, event.receivedAt < Self.rounded(since) { continue }
                if let until = query.until, event.receivedAt >= Self.rounded(until) { continue }
                let summary = event.summary
                if let status = query.status, summary.status != status { continue }
                found.append(summary)
            }
            return found
        }
    }

    public func event(id: String) async throws -> EventRecord? {
        read { contents in
            contents.eventByID[id].map { index in
                let event = contents.events[index]
                return EventRecord(summary: event.summary, contentType: event.contentType, headers: event.headers, body: event.body,
                                   remoteAddress: event.remoteAddress, history: event.history)
            }
        }
    }

    public func checkWritable() async throws {
        try write { $0.readyChecks += 1 }
    }

    public func close() {
        state.withLock { $0.closed = true }
    }

    // MARK: Jobs

    public func claimJobs(owner: String, leaseUntil: Date, now: Date, limit: Int, lane: String?) async throws -> [ClaimedJob] {
        try write { contents in
            contents.leases[owner] = Self.rounded(leaseUntil)
            let now = Self.rounded(now)
            var claimed: [ClaimedJob] = []
            // One exact lane: never past a job another live engine still holds (a lane's previous engine).
            let live = Set(contents.leases.filter { $0.value >= now }.keys)
            var barrier: Int?
            if let exact = lane, !exact.hasSuffix("@") {
                barrier = contents.jobs.firstIndex { job in
                    job.summary.lane == exact && job.summary.state == .pending
                        && job.leaseOwner.map { $0 != owner && live.contains($0) } == true
                }
            }
            // Ordering keys (by lane) with an earlier job waiting for its retry that this engine does not hold: their
            // later jobs are not claimed, or they would overtake it.
            var waiting: Set<[String]> = []
            for index in contents.jobs.indices where claimed.count < limit && index < (barrier ?? .max) {
                let job = contents.jobs[index]
                guard job.summary.state == .pending else { continue }
                switch lane {
                case nil: break
                case let prefix? where prefix.hasSuffix("@"): guard job.summary.lane.hasPrefix(prefix) else { continue }
                case let exact?: guard job.summary.lane == exact else { continue }
                }
                let key = job.summary.orderingKey.map { [job.summary.lane, $0] }
                if let key, waiting.contains(key) { continue }
                if let due = job.summary.notBefore, due > now {
                    if let key, job.leaseOwner != owner { waiting.insert(key) }
                    continue
                }
                if let holder = job.leaseOwner, let until = contents.leases[holder], until >= now { continue }
                contents.jobs[index].leaseOwner = owner
                contents.jobs[index].fence += 1
                let event = contents.events[job.event]
                var summary = event.summary
                summary.status = .routed
                summary.duplicates = 0
                claimed.append(ClaimedJob(job: job.summary, event: EventRecord(
                    summary: summary, contentType: event.contentType, headers: event.headers, body: event.body,
                    remoteAddress: event.remoteAddress, history: []), fence: contents.jobs[index].fence))
            }
            return claimed
        }
    }

    public func renewLeases(owner: String, until: Date) async throws {
        try write { $0.leases[owner] = Self.rounded(until) }
    }

    public func releaseLeases(owner: String) async throws {
        try write { contents in
            for index in contents.jobs.indices where contents.jobs[index].leaseOwner == owner && contents.jobs[index].summary.state == .pending {
                contents.jobs[index].leaseOwner = nil
            }
            contents.leases[owner] = nil
        }
    }

    public func record(_ attempt: AttemptRecord, outcome: JobOutcome, flow: JSON?, spawn: [NewJob]) async throws {
        let at = Self.rounded(attempt.startedAt)
        let now = Self.rounded(Date())
        try write { contents in
            guard let index = contents.jobByID[attempt.jobID] else { throw StoreError("there is no job \(attempt.jobID)") }
            let job = contents.jobs[index]
            guard job.summary.state == .pending else {
                throw StoreError.fenced("job \(attempt.jobID) is \(job.summary.state.rawValue) already: this outcome is not recorded")
            }
            if let owner = attempt.owner, let holder = job.leaseOwner, holder != owner {
                throw StoreError.fenced("job \(attempt.jobID) is held by another engine (\(holder)): this engine's outcome is not recorded")
            }
            if let fence = attempt.fence, fence != job.fence {
                throw StoreError.fenced("job \(attempt.jobID) was claimed again since this attempt's claim: its outcome is not recorded")
            }
            let milliseconds = attempt.duration.components.seconds * 1000 + attempt.duration.components.attoseconds / 1_000_000_000_000_000
            contents.jobs[index].attempts.append(AttemptSummary(
                at: at, durationMilliseconds: Int(milliseconds), countsAsAttempt: attempt.countsAsAttempt,
                errorClass: attempt.errorClass, request: attempt.request, responseStatus: attempt.responseStatus,
                responseHeaders: attempt.responseHeaders, responseBody: attempt.responseBody, error: attempt.error))
            var summary = job.summary
            if case .some(let progress) = flow { summary.flow = progress }
            summary.updatedAt = now
            summary.lastStatus = attempt.responseStatus
            let eventStatus: EventStatus?
            var reason: String?
            switch outcome {
            case .advance(let lane, let target):
                summary.lane = lane
                summary.target = target
                summary.attempts = 0
                summary.firstAttemptAt = nil
                summary.notBefore = nil
                summary.lastError = nil
                contents.jobs[index].summary = summary
                contents.insert(spawn, event: job.event, at: now, owner: job.leaseOwner)
                return
            case .delivered: summary.state = .delivered; eventStatus = .delivered
            case .retry(let time): summary.state = .pending; summary.notBefore = Self.rounded(time); eventStatus = nil
            case .dead(let why): summary.state = .dead; eventStatus = .deadLettered; reason = why
            case .quarantined(let why): summary.state = .quarantined; eventStatus = .quarantined; reason = why
            }
            if case .retry = outcome {} else { summary.notBefore = nil }
            summary.attempts += attempt.countsAsAttempt ? 1 : 0
            if summary.firstAttemptAt == nil, attempt.request != nil { summary.firstAttemptAt = at }
            summary.lastError = reason ?? attempt.error
            contents.jobs[index].summary = summary
            if summary.state != .pending { contents.jobs[index].leaseOwner = nil }
            contents.insert(spawn, event: job.event, at: now, owner: job.leaseOwner)
            if let eventStatus {
                var detail: [(String, JSON)] = [("job", .string(attempt.jobID)), ("route", .string(job.summary.route)),
                                                ("target", .string(job.summary.target))]
                if let status = attempt.responseStatus { detail.append(("status", .number(Double(status)))) }
                if let reason { detail.append(("reason", .string(reason))) }
                contents.events[job.event].history.append(StatusRecord(at: now, status: eventStatus, detail: .object(JSONObject(detail))))
            }
        }
    }

    public func jobs(_ query: JobQuery) async throws -> [JobSummary] {
        read { contents in
            let event = query.eventID.map { contents.eventByID[$0] ?? -1 }
            var found: [JobSummary] = []
            for job in contents.jobs.reversed() where found.count < query.limit {
                let summary = job.summary
                if !query.states.isEmpty, !query.states.contains(summary.state) { continue }
                if let connector = query.connector, summary.connector != connector { continue }
                if let target = query.target, summary.target != target { continue }
                if let endpoint = query.endpoint, !summary.lane.hasSuffix("@" + endpoint) { continue }
                if let event, job.event != event { continue }
                if let since = query.since, summary.updatedAt < Self.rounded(since) { continue }
                if let until = query.until, summary.updatedAt >= Self.rounded(until) { continue }
                found.append(summary)
            }
            return found
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        read { contents in
            contents.jobByID[id].map { JobRecord(summary: contents.jobs[$0].summary, attempts: contents.jobs[$0].attempts) }
        }
    }

    public func jobCounts(states: [JobState]) async throws -> [JobCount] {
        read { contents in
            var counts: [String: JobCount] = [:]
            for job in contents.jobs where states.contains(job.summary.state) {
                let key = [job.summary.connector, job.summary.target, job.summary.state.rawValue].joined(separator: "\u{0}")
                counts[key, default: JobCount(connector: job.summary.connector, target: job.summary.target,
                                              state: job.summary.state, count: 0)].count += 1
            }
            return counts.sorted { $0.key < $1.key }.map(\.value)
        }
    }

    public func addJobs(_ jobs: [NewJob], toEvent id: String, status: EventStatus, detail: JSON) async throws {
        let now = Self.rounded(Date())
        var detail = detail.objectValue ?? JSONObject()
        detail["jobs"] = StoredText.routedDetail(jobs)["jobs"]
        let note = JSON.object(detail)
        try write { contents in
            guard let event = contents.eventByID[id] else { throw StoreError("there is no event \(id)") }
            contents.insert(jobs, event: event, at: now, owner: nil)
            contents.events[event].history.append(StatusRecord(at: now, status: status, detail: note))
        }
    }

    public func deadLetter(lane: String, reason: String) async throws -> Int {
        let now = Self.rounded(Date())
        return try write { contents in
            var count = 0
            for index in contents.jobs.indices where contents.jobs[index].summary.lane == lane && contents.jobs[index].summary.state == .pending {
                contents.jobs[index].summary.state = .dead
                contents.jobs[index].summary.lastError = reason
                contents.jobs[index].summary.updatedAt = now
                contents.jobs[index].leaseOwner = nil
                count += 1
            }
            return count
        }
    }

    public func moveJobs(_ ids: [String], from: [JobState], to: JobState) async throws -> [String] {
        try JobState.checkMove(from: from, to: to)
        let now = Self.rounded(Date())
        return try write { contents in
            ids.filter { id in
                guard let index = contents.jobByID[id], from.contains(contents.jobs[index].summary.state) else { return false }
                contents.jobs[index].summary.state = to
                contents.jobs[index].summary.updatedAt = now
                return true
            }
        }
    }

    public func replay(job id: String, with replacement: NewJob, status: EventStatus, detail: JSON) async throws -> Bool {
        let now = Self.rounded(Date())
        var detail = detail.objectValue ?? JSONObject()
        detail["jobs"] = StoredText.routedDetail([replacement])["jobs"]
        let note = JSON.object(detail)
        return try write { contents in
            guard let index = contents.jobByID[id], [.dead, .quarantined].contains(contents.jobs[index].summary.state) else {
                return false
            }
            contents.jobs[index].summary.state = .replayed
            contents.jobs[index].summary.updatedAt = now
            let event = contents.jobs[index].event
            contents.insert([replacement], event: event, at: now, owner: nil)
            contents.events[event].history.append(StatusRecord(at: now, status: status, detail: note))
            return true
        }
    }

    public func keepPlan(version: String, sources: [PlanSource]) async throws {
        try write { contents in
            if contents.plans[version] == nil { contents.plans[version] = sources }
        }
    }

    public func planSources(version: String) async throws -> [PlanSource]? {
        read { $0.plans[version] }
    }

    // MARK: Endpoints

    public func addEndpoint(_ endpoint: StoredEndpoint, sealedSecret: [UInt8], at: Date) async throws {
        let at = Self.rounded(at)
        try write { contents in
            guard !contents.endpoints.contains(where: { $0.id == endpoint.id }) else {
                throw StoreError("there is an endpoint \(endpoint.id) already")
            }
            contents.endpoints.append(StoredEndpoint(
                id: endpoint.id, tenant: endpoint.tenant, url: endpoint.url, eventTypes: endpoint.eventTypes, headers: endpoint.headers,
                rateLimit: endpoint.rateLimit, description: endpoint.description, createdAt: at, updatedAt: at,
                secrets: [SealedSecret(sealed: sealedSecret, createdAt: at, expiresAt: nil)]))
            contents.endpointChanged(endpoint.id, "created", "tenant \(endpoint.tenant), \(endpoint.url)", at)
        }
    }

    public func endpoints(includingRemoved: Bool) async throws -> [StoredEndpoint] {
        read { contents in
            contents.endpoints.filter { includingRemoved || $0.state != .removed }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    public func updateEndpoint(_ endpoint: StoredEndpoint, at: Date, note: String) async throws {
        try write { contents in
            let index = try contents.liveEndpoint(endpoint.id)
            contents.endpoints[index].url = endpoint.url
            contents.endpoints[index].eventTypes = endpoint.eventTypes
            contents.endpoints[index].headers = endpoint.headers
            contents.endpoints[index].rateLimit = endpoint.rateLimit
            contents.endpoints[index].description = endpoint.description
            contents.endpoints[index].updatedAt = Self.rounded(at)
            contents.endpointChanged(endpoint.id, "updated", note, at)
        }
    }

    public func setEndpointState(id: String, state: EndpointState, reason: String, at: Date) async throws {
        try write { contents in
            let index = try contents.liveEndpoint(id)
            contents.endpoints[index].state = state
            contents.endpoints[index].stateReason = reason
            contents.endpoints[index].failingSince = nil
            contents.endpoints[index].updatedAt = Self.rounded(at)
            contents.endpointChanged(id, state.rawValue, reason, at)
        }
    }

    public func rotateEndpointSecret(id: String, sealedSecret: [UInt8], previousExpireAt: Date, at: Date) async throws {
        let expiry = Self.rounded(previousExpireAt)
        try write { contents in
            let index = try contents.liveEndpoint(id)
            for secret in contents.endpoints[index].secrets.indices {
                contents.endpoints[index].secrets[secret].expiresAt = min(contents.endpoints[index].secrets[secret].expiresAt ?? expiry, expiry)
            }
            contents.endpoints[index].secrets.append(SealedSecret(sealed: sealedSecret, createdAt: Self.rounded(at), expiresAt: nil))
            contents.endpointChanged(id, "rotated", "the previous secrets sign until \(ISO8601DateFormatter().string(from: previousExpireAt))", at)
        }
    }

    public func recordEndpointAttempt(id: String, succeeded: Bool, at: Date) async throws {
        try write { contents in
            guard let index = contents.endpoints.firstIndex(where: { $0.id == id }) else { return }
            if succeeded {
                contents.endpoints[index].failingSince = nil
            } else if contents.endpoints[index].failingSince == nil {
                contents.endpoints[index].failingSince = Self.rounded(at)
            }
        }
    }

    public func endpointHistory(id: String) async throws -> [EndpointHistoryEntry] {
        read { $0.endpointHistory[id] ?? [] }
    }

    public func endpointsVersion() async throws -> Int64 {
        read { $0.endpointsVersion }
    }

    // MARK: Pulls

    public func pullState(_ connector: String) async throws -> PullStateRecord? {
        read { $0.pullStates[connector] }
    }

    public func pullStates() async throws -> [PullStateRecord] {
        read { $0.pullStates.values.sorted { $0.connector < $1.connector } }
    }

    public func append(all events: [NewEvent], pullState: JSON, of connector: String) async throws -> [AppendOutcome] {
        let at = Self.rounded(Date())
        return try write { contents in
            let outcomes = events.map { contents.insert($0) }
            contents.pullStates[connector] = PullStateRecord(connector: connector, state: pullState, updatedAt: at)
            return outcomes
        }
    }

    public func setPullState(_ state: JSON?, of connector: String) async throws {
        let at = Self.rounded(Date())
        try write { contents in
            if case .some(let state) = state {
                contents.pullStates[connector] = PullStateRecord(connector: connector, state: state, updatedAt: at)
            } else {
                contents.pullStates[connector] = nil
            }
        }
    }

    // MARK: Rollouts

    public func rollouts() async throws -> [RolloutRecord] {
        read { contents in
            contents.rollouts.values.sorted { ($0.connector, -$0.updatedAt.timeIntervalSince1970, $0.order) < ($1.connector, -$1.updatedAt.timeIntervalSince1970, $1.order) }
                .compactMap { RolloutRecord(json: $0.json) }
        }
    }

    public func activeRollouts() async throws -> [RolloutRecord] {
        read { contents in
            contents.rollouts.values.filter { $0.status == RolloutRecord.Status.active.rawValue }
                .sorted { ($0.connector, $0.order) < ($1.connector, $1.order) }
                .compactMap { RolloutRecord(json: $0.json) }
        }
    }

    public func startRollout(_ rollout: RolloutRecord, by: String) async throws {
        let at = Self.rounded(Date())
        try write { contents in
            // One active rollout per connector: a new one ends the last.
            for stored in contents.rollouts.values.sorted(by: { $0.order < $1.order })
            where stored.connector == rollout.connector && stored.status == RolloutRecord.Status.active.rawValue {
                guard var old = RolloutRecord(json: stored.json) else { continue }
                old.status = .rolledBack
                old.endedReason = "replaced by rollout \(rollout.id)"
                contents.save(old, at: at)
                contents.log(old, at: at, action: "replaced", by: by, detail: nil)
            }
            contents.save(rollout, at: at)
            contents.log(rollout, at: at, action: "start", by: by, detail: [
                "mode": .string(rollout.mode.rawValue), "share": .string(rollout.shareText),
                "candidate": .string(rollout.candidateVersion),
            ])
        }
    }

    public func changeRollout(_ connector: String, action: String, by: String, detail: JSON?,
                              _ change: @escaping @Sendable (inout RolloutRecord) -> Void) async throws -> RolloutRecord?
    {
        let at = Self.rounded(Date())
        return try write { contents in
            guard let stored = contents.rollouts.values.first(where: {
                $0.connector == connector && $0.status == RolloutRecord.Status.active.rawValue
            }), var rollout = RolloutRecord(json: stored.json) else { return nil }
            change(&rollout)
            contents.save(rollout, at: at)
            contents.log(rollout, at: at, action: action, by: by, detail: detail)
            // As read back from the store: what a durable store returns is its record, not the caller's value.
            return RolloutRecord(json: rollout.json)
        }
    }

    public func rolloutLog(connector: String?) async throws -> [RolloutLogEntry] {
        read { contents in contents.rolloutLog.filter { connector == nil || $0.connector == connector } }
    }

    public func recordShadow(_ calls: [ShadowCall]) async throws {
        try write { $0.shadowCalls += calls }
    }

    public func shadowCalls(rollout: String) async throws -> [ShadowCall] {
        read { $0.shadowCalls.filter { $0.rollout == rollout } }
    }

    public func recordApplied(version: String, trigger: String, summary: String) async throws {
        let at = Self.rounded(Date())
        try write { $0.applied.append((version, at, trigger, summary)) }
    }

    public func appliedPlans(limit: Int) async throws -> [AppliedPlan] {
        read { contents in
            contents.applied.reversed().prefix(limit).map {
                AppliedPlan(version: $0.version, at: $0.at, trigger: $0.trigger, summary: $0.summary,
                            sourcesKept: contents.plans[$0.version] != nil)
            }
        }
    }

    public func eventCounts(connector: String, since: Date) async throws -> [String: Int] {
        let since = Self.rounded(since)
        return read { contents in
            var counts: [String: Int] = [:]
            for event in contents.events where event.connector == connector && event.receivedAt >= since {
                counts[event.planVersion, default: 0] += 1
            }
            return counts
        }
    }

    // MARK: Lane ownership

    public func acquireLanes(_ lanes: [String], owner: String, until: Date, now: Date) async throws -> [LaneLease] {
        let (until, now) = (Self.rounded(until), Self.rounded(now))
        return try write { contents in
            Set(lanes).sorted().compactMap { lane in
                guard let lease = LaneLease.decide(contents.laneLeases[lane], lane: lane, owner: owner, until: until, now: now) else {
                    return nil
                }
                var kept = lease
                kept.previousEnd = nil
                contents.laneLeases[lane] = kept
                return lease
            }
        }
    }

    public func releaseLanes(_ lanes: [String], owner: String, at: Date) async throws {
        let at = Self.rounded(at)
        try write { contents in
            for lane in lanes where contents.laneLeases[lane]?.owner == owner {
                contents.laneLeases[lane]?.owner = nil
                contents.laneLeases[lane]?.until = at
            }
        }
    }

    public func laneLeases() async throws -> [LaneLease] {
        read { $0.laneLeases.values.sorted { $0.lane < $1.lane } }
    }

    public func liveEngines(now: Date) async throws -> [String] {
        let now = Self.rounded(now)
        return read { $0.leases.filter { $0.value >= now }.map(\.key).sorted() }
    }

    public func releaseJobs(_ ids: [String], owner: String) async throws {
        try write { contents in
            for id in ids {
                guard let index = contents.jobByID[id], contents.jobs[index].leaseOwner == owner,
                      contents.jobs[index].summary.state == .pending
                else { continue }
                contents.jobs[index].leaseOwner = nil
            }
        }
    }

    public func pendingLanes() async throws -> [String] {
        read { Set($0.jobs.filter { $0.summary.state == .pending }.map(\.summary.lane)).sorted() }
    }

    public func recordEngine(_ engine: EngineRecord) async throws {
        var engine = engine
        engine.recordedAt = Self.rounded(engine.recordedAt)
        try write { $0.engines[engine.owner] = engine }
    }

    public func engineRecords() async throws -> [EngineRecord] {
        read { $0.engines.values.sorted { $0.owner < $1.owner } }
    }

    // MARK: Retention

    public func prune(receivedBefore horizon: Date) async throws -> PruneReport {
        let horizon = Self.rounded(horizon)
        return try write { contents in
            var report = PruneReport()
            let unresolved = Set(contents.jobs.filter { [.pending, .dead, .quarantined].contains($0.summary.state) }.map(\.event))
            let old = Set(contents.events.indices.filter { contents.events[$0].receivedAt < horizon })
            let removed = old.subtracting(unresolved)
            report.keptEvents = old.count - removed.count
            report.events = removed.count
            report.jobs = contents.jobs.count { removed.contains($0.event) }
            // Rebuild the arrays and their indexes without the removed events and their jobs.
            var newIndex: [Int: Int] = [:]
            var events: [StoredEvent] = []
            for (index, event) in contents.events.enumerated() where !removed.contains(index) {
                newIndex[index] = events.count
                events.append(event)
            }
            var jobs: [StoredJob] = []
            for var job in contents.jobs where !removed.contains(job.event) {
                job.event = newIndex[job.event]!
                jobs.append(job)
            }
            contents.events = events
            contents.jobs = jobs
            contents.eventByID = Dictionary(uniqueKeysWithValues: events.enumerated().map { ($1.id, $0) })
            contents.eventByKey = Dictionary(uniqueKeysWithValues: events.enumerated().map { ($1.connector + "\u{0}" + $1.eventID, $0) })
            contents.jobByID = Dictionary(uniqueKeysWithValues: jobs.enumerated().map { ($1.summary.id, $0) })
            return report
        }
    }
}
