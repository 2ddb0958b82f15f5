import Foundation
import JSONValue
import ManifoldPostgres
import ManifoldSQLite
import ManifoldStore
import TestSupport
import Testing

/// The store contract, checked of every implementation: each test runs on SQLite, in memory and on PostgreSQL, and
/// asserts what an engine or an operator reads back. A store that passes can replace another.
@Suite(.timeLimit(.minutes(10))) struct StoreConformanceTests {
    /// A fresh, empty store of `kind`, and how to close it.
    static func fresh(_ kind: StoreKind) async throws -> any EngineStore {
        try await kind.make()
    }

    static func event(_ id: String, connector: String = "stripe", body: String = #"{"id":1}"#, at date: Date,
                      status: EventStatus = .received, jobs: [NewJob]? = nil, lease: (owner: String, until: Date)? = nil,
                      planVersion: String = "v1") -> NewEvent
    {
        NewEvent(connector: connector, eventID: id, eventType: "invoice.paid", planVersion: planVersion, receivedAt: date,
                 contentType: "json", headers: [("Content-Type", "application/json"), ("X-Trace", "1")],
                 body: Array(body.utf8), remoteAddress: "127.0.0.1", status: status, detail: nil, jobs: jobs, lease: lease)
    }

    static func job(_ lane: String = "stripe/crm", route: String = "r", ordering: String? = nil) -> NewJob {
        NewJob(route: route, target: String(lane.split(separator: "/").last!.split(separator: "@").first!), lane: lane,
               orderingKey: ordering, traceID: String(repeating: "a", count: 32), planVersion: "v1")
    }

    static func attempt(_ job: String, at: Date, owner: String? = nil, fence: Int? = nil, status: Int? = 200,
                        sent: Bool = true, counts: Bool = true, errorClass: String = "delivered", error: String? = nil) -> AttemptRecord
    {
        var attempt = AttemptRecord(jobID: job, startedAt: at, duration: .milliseconds(42), countsAsAttempt: counts,
                                    errorClass: errorClass, request: sent ? ["method": "POST", "url": "https://crm.test/x"] : nil,
                                    responseStatus: status, responseHeaders: [("Retry-After", "3")], responseBody: "ok", error: error)
        attempt.owner = owner
        attempt.fence = fence
        return attempt
    }

    // MARK: Events

    @Test(arguments: StoreKind.allCases)
    func appendStoresOnceAndRecordsRepeats(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let now = Date()
        let first = try await store.append(Self.event("evt_1", at: now))
        guard case .stored(let id) = first else { Issue.record("not stored: \(first)"); return }
        #expect(id.hasPrefix("ev_") && id.count == 29)
        #expect(try await store.append(Self.event("evt_1", body: #"{"id":2}"#, at: now)) == .duplicate(of: id))
        // Another connector's event with the same id is another event.
        #expect(try await store.append(Self.event("evt_1", connector: "github", at: now)) != .duplicate(of: id))
        // A pull's re-read is a duplicate that the history does not record.
        var reread = Self.event("evt_1", at: now)
        reread.recordsDuplicate = false
        #expect(try await store.append(reread) == .duplicate(of: id))

        let record = try #require(try await store.event(id: id))
        #expect(record.summary.status == .received && record.summary.duplicates == 1)
        #expect(record.history.map(\.status) == [.received, .duplicate])
        #expect(record.history[1].detail?["same_body"] == false)
        #expect(record.history[1].detail?["remote_address"] == "127.0.0.1")
        #expect(String(decoding: record.body, as: UTF8.self) == #"{"id":1}"#)
        #expect(record.headers.map(\.name) == ["Content-Type", "X-Trace"] && record.headers[1].value == "1")
        #expect(record.contentType == "json" && record.remoteAddress == "127.0.0.1")
        #expect(record.summary.eventID == "evt_1" && record.summary.eventType == "invoice.paid" && record.summary.planVersion == "v1")
        #expect(abs(record.summary.receivedAt.timeIntervalSince(now)) < 0.001)
        #expect(try await store.event(id: "ev_none") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchIsAppendedInOrderWithEachOutcome(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let now = Date()
        _ = try await store.append(Self.event("b", at: now))
        let outcomes = try await store.append(all: [Self.event("a", at: now), Self.event("b", at: now), Self.event("c", at: now)])
        #expect(outcomes.count == 3)
        if case .stored = outcomes[0] {} else { Issue.record("a was not stored: \(outcomes)") }
        if case .duplicate = outcomes[1] {} else { Issue.record("b was stored twice: \(outcomes)") }
        #expect(try await store.events(EventQuery()).map(\.eventID) == ["c", "a", "b"])
        #expect(try await store.append(all: []) == [])
    }

    @Test(arguments: StoreKind.allCases)
    func theStatusIsTheLatestRecordOtherThanARepeat(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let id = try await store.append(Self.event("evt_1", at: Date())).id
        try await store.recordStatus(.routed, of: id, detail: ["jobs": []])
        _ = try await store.append(Self.event("evt_1", at: Date()))
        let record = try #require(try await store.event(id: id))
        #expect(record.summary.status == .routed)
        #expect(record.history.map(\.status) == [.received, .routed, .duplicate])
        #expect(record.history[1].detail == ["jobs": []])
        await #expect(throws: StoreError.self) { try await store.recordStatus(.routed, of: "ev_missing", detail: nil) }
    }

    @Test(arguments: StoreKind.allCases)
    func listsFilterByConnectorStatusAndTimeNewestFirst(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<6 {
            _ = try await store.append(Self.event("e\(index)", connector: index % 2 == 0 ? "stripe" : "github",
                                                  at: start + Double(index) * 60,
                                                  status: index == 4 ? .quarantined : .received))
        }
        #expect(try await store.events(EventQuery()).map(\.eventID) == ["e5", "e4", "e3", "e2", "e1", "e0"])
        #expect(try await store.events(EventQuery(connector: "stripe")).map(\.eventID) == ["e4", "e2", "e0"])
        #expect(try await store.events(EventQuery(status: .quarantined)).map(\.eventID) == ["e4"])
        #expect(try await store.events(EventQuery(since: start + 120, until: start + 240)).map(\.eventID) == ["e3", "e2"])
        #expect(try await store.events(EventQuery(limit: 2)).map(\.eventID) == ["e5", "e4"])
    }

    @Test(arguments: StoreKind.allCases)
    func anEventsRoutesMakeItsJobsInTheSameWrite(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let now = Date()
        let jobs = [Self.job(), Self.job("stripe/ledger", route: "book")]
        let id = try await store.append(Self.event("evt_1", at: now, jobs: jobs)).id
        let skipped = try await store.append(Self.event("evt_2", at: now, jobs: [])).id
        let routed = try #require(try await store.event(id: id))
        #expect(routed.summary.status == .routed)
        #expect(routed.history[1].detail?["jobs"]?.arrayValue?.compactMap { $0["job"]?.stringValue } == jobs.map(\.id))
        #expect(try await store.event(id: skipped)?.summary.status == .skipped)
        let listed = try await store.jobs(JobQuery(eventID: id))
        #expect(Set(listed.map(\.id)) == Set(jobs.map(\.id)))
        let first = try #require(listed.first { $0.id == jobs[0].id })
        #expect(first.eventID == id && first.connector == "stripe" && first.state == .pending && first.attempts == 0)
        #expect(first.lane == "stripe/crm" && first.target == "crm" && first.route == "r" && first.planVersion == "v1")
        #expect(first.traceID == jobs[0].traceID && first.firstAttemptAt == nil && first.notBefore == nil)
    }

    // MARK: Claims and leases

    /// A store with one event whose one job is unclaimed.
    static func withOneJob(_ kind: StoreKind, at start: Date) async throws -> (any EngineStore, NewJob) {
        let store = try await fresh(kind)
        let job = job()
        _ = try await store.append(event("evt_1", at: start, jobs: [job]))
        return (store, job)
    }

    @Test(arguments: StoreKind.allCases)
    func aClaimTakesOnlyJobsThatAreDue(kind: StoreKind) async throws {
        let start = Date()
        let (store, job) = try await Self.withOneJob(kind, at: start)
        defer { store.close() }
        let claimed = try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start, limit: 10, lane: nil)
        #expect(claimed.map(\.job.id) == [job.id])
        #expect(claimed.first?.event.summary.eventID == "evt_1")
        #expect(String(decoding: claimed.first?.event.body ?? [], as: UTF8.self) == #"{"id":1}"#)
        try await store.record(Self.attempt(job.id, at: start, status: 503, errorClass: "transient", error: "503"),
                               outcome: .retry(at: start + 30))
        try await store.releaseLeases(owner: "a")
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 60, now: start + 10, limit: 10, lane: nil).isEmpty)
        let due = try await store.claimJobs(owner: "b", leaseUntil: start + 90, now: start + 31, limit: 10, lane: nil)
        #expect(due.map(\.job.id) == [job.id])
        #expect(due.first?.job.attempts == 1 && due.first?.job.lastStatus == 503)
    }

    /// A claim hands the engine the job and its event as stored, every field: the ones a delivery reads (headers,
    /// content type, the plan, the ordering key, a flow's progress) are not the ones the other tests look at.
    @Test(arguments: StoreKind.allCases)
    func aClaimedJobAndItsEventAreTheStoredOnesFieldByField(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date(timeIntervalSince1970: 1_795_430_000.25)
        var job = NewJob(route: "to-crm", target: "crm", lane: "shop/crm", orderingKey: "cus_9",
                         traceID: String(repeating: "7", count: 32), planVersion: "plan-job")
        job.flow = ["step": 2, "results": ["a": "b"]]
        job.pinsPlan = true
        let new = NewEvent(connector: "shop", eventID: "evt_fields", eventType: "order.paid", planVersion: "plan-event",
                           receivedAt: start, contentType: "form",
                           headers: [("Content-Type", "application/x-www-form-urlencoded"), ("X-Shop", "é ü")],
                           body: Array("a=1&b=%C3%A9".utf8), remoteAddress: "10.1.2.3", status: .received, detail: nil,
                           jobs: [job], lease: nil)
        guard case .stored(let id) = try await store.append(new) else { Issue.record("not stored"); return }
        let claimed = try #require(try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start, limit: 10,
                                                             lane: nil).first)
        let stored = try #require(try await store.event(id: id))
        let summary = try #require(try await store.job(id: job.id)).summary
        #expect(claimed.job == summary)
        #expect(try await store.jobs(JobQuery()) == [summary])
        #expect(summary.id == job.id && summary.eventID == id && summary.connector == "shop" && summary.route == "to-crm")
        #expect(summary.target == "crm" && summary.lane == "shop/crm" && summary.planVersion == "plan-job")
        #expect(summary.orderingKey == "cus_9" && summary.traceID == job.traceID && summary.state == .pending)
        #expect(summary.attempts == 0 && summary.createdAt == start && summary.firstAttemptAt == nil && summary.notBefore == nil)
        #expect(summary.pinsPlan && summary.flow == job.flow && summary.lastStatus == nil && summary.replayOf == nil)
        let event = claimed.event
        #expect(event.summary.id == id && event.summary.connector == "shop" && event.summary.eventID == "evt_fields")
        #expect(event.summary.eventType == "order.paid" && event.summary.planVersion == "plan-event")
        #expect(event.summary.receivedAt == start && stored.summary.receivedAt == start)
        #expect(event.contentType == "form" && event.body == new.body && event.remoteAddress == "10.1.2.3")
        #expect(event.headers.map { "\($0.name): \($0.value)" } == stored.headers.map { "\($0.name): \($0.value)" })
        #expect(event.headers.map(\.value) == ["application/x-www-form-urlencoded", "é ü"])
        #expect(claimed.fence == 1)
        // Its outcome, from the claim's holder and fence, lands on this job and this event's history.
        try await store.record(Self.attempt(job.id, at: start + 1, owner: "a", fence: claimed.fence, status: 201),
                               outcome: .delivered)
        let done = try #require(try await store.job(id: job.id))
        #expect(done.summary.state == .delivered && done.summary.lastStatus == 201 && done.attempts.count == 1)
        let history = try #require(try await store.event(id: id)).history
        let last = try #require(history.last)
        #expect(last.status == .delivered)
        #expect(last.detail?["job"] == .string(job.id) && last.detail?["route"] == "to-crm" && last.detail?["target"] == "crm")
        #expect(last.detail?["status"] == 201)
    }

    @Test(arguments: StoreKind.allCases)
    func claimsAreOldestFirstByLaneAndNeverTwiceWhileLeased(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        let lanes = ["shop/crm", "shop/hooks@ep_1", "shop/crm", "shop/hooks@ep_2", "shop/ledger", "shop/hooksx"]
        var ids: [String] = []
        for (index, lane) in lanes.enumerated() {
            let job = Self.job(lane)
            ids.append(job.id)
            _ = try await store.append(Self.event("e\(index)", connector: "shop", at: start, jobs: [job]))
        }
        // One lane; every customer endpoint's lane of one target (a prefix ending in "@").
        #expect(try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start, limit: 10, lane: "shop/crm").map(\.job.id)
                == [ids[0], ids[2]])
        #expect(try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start, limit: 10, lane: "shop/hooks@").map(\.job.id)
                == [ids[1], ids[3]])
        // Held by a live lease: nobody else claims them, nor does the holder twice.
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 600, now: start + 1, limit: 10, lane: nil).map(\.job.id)
                == [ids[4], ids[5]])
        #expect(try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start + 2, limit: 10, lane: nil).isEmpty)
        // Renewed, they stay held past the first lease's end; when the lease runs out, they are claimable.
        try await store.renewLeases(owner: "a", until: start + 120)
        #expect(try await store.claimJobs(owner: "c", leaseUntil: start + 200, now: start + 90, limit: 10, lane: nil).isEmpty)
        let rescued = try await store.claimJobs(owner: "c", leaseUntil: start + 300, now: start + 121, limit: 3, lane: nil)
        #expect(rescued.map(\.job.id) == [ids[0], ids[1], ids[2]])
        // Released at shutdown (b's lease would last until +600): claimable at once.
        try await store.releaseLeases(owner: "b")
        #expect(try await store.claimJobs(owner: "d", leaseUntil: start + 300, now: start + 122, limit: 10, lane: nil).map(\.job.id)
                == [ids[3], ids[4], ids[5]])
    }

    @Test(arguments: StoreKind.allCases)
    func jobsMadeLeasedAreTheirEnginesUntilTheLeaseEnds(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        try await store.renewLeases(owner: "a", until: start + 30)
        let job = Self.job()
        _ = try await store.append(Self.event("e", at: start, jobs: [job], lease: (owner: "a", until: start + 30)))
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 60, now: start + 1, limit: 10, lane: nil).isEmpty)
        // Its engine records under fence 0 (it never claimed the job).
        try await store.record(Self.attempt(job.id, at: start, owner: "a", fence: 0), outcome: .delivered)
        #expect(try await store.job(id: job.id)?.summary.state == .delivered)
    }

    /// Engines claiming at the same time (each its own connection on PostgreSQL) take every job once: none twice,
    /// none left behind.
    @Test(arguments: StoreKind.allCases)
    func concurrentClaimsTakeEachJobOnce(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        var made: [String] = []
        for batch in 0..<10 {
            let jobs = (0..<30).map { _ in Self.job(["shop/crm", "shop/ledger", "shop/hooks@ep_1"][batch % 3]) }
            made += jobs.map(\.id)
            _ = try await store.append(all: jobs.enumerated().map { index, job in
                Self.event("e\(batch)-\(index)", connector: "shop", at: start, jobs: [job])
            })
        }
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            // Eight engines starting at once: each one's first claim also writes its first lease, which the others'
            // claims running meanwhile cannot see yet.
            for engine in 0..<8 {
                group.addTask {
                    var mine: [String] = []
                    for _ in 0..<200 {
                        let batch = try await store.claimJobs(owner: "engine-\(engine)", leaseUntil: start + 600, now: start, limit: 7, lane: nil)
                        if batch.isEmpty { break }
                        mine += batch.map(\.job.id)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == made.count, "\(claimed.count) claims of \(made.count) jobs")
        #expect(Set(claimed) == Set(made))
    }

    /// PostgreSQL only, the mechanism behind the test above: a claim that began before another engine's first lease
    /// was committed reads `engine_leases` without it, so a claim marks its rows held until its own lease's end. Here
    /// that reading is made on purpose (a's lease is set in the past after its claim): b still cannot take a's job
    /// until a's claim runs out.
    @Test func aPostgresClaimHoldsItsRowsUntilItsLeaseEndsWhateverTheEnginesLeaseSays() async throws {
        let store = try await StoreKind.postgres.make()
        defer { store.close() }
        let start = Date()
        let job = Self.job()
        _ = try await store.append(Self.event("evt_1", at: start, jobs: [job]))
        #expect(try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start, limit: 10, lane: nil).map(\.job.id) == [job.id])
        try await store.renewLeases(owner: "a", until: start - 1)
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 120, now: start + 1, limit: 10, lane: nil).isEmpty)
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 120, now: start + 61, limit: 10, lane: nil).map(\.job.id) == [job.id])
    }

    /// The same event received by several engines at once is stored once; the others are repeats of it.
    @Test(arguments: StoreKind.allCases)
    func concurrentAppendsOfOneEventStoreItOnce(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let now = Date()
        let outcomes = try await withThrowingTaskGroup(of: AppendOutcome.self) { group in
            for _ in 0..<12 {
                group.addTask { try await store.append(Self.event("evt_same", at: now, jobs: [Self.job()])) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let stored = outcomes.filter { if case .stored = $0 { true } else { false } }
        #expect(stored.count == 1 && Set(outcomes.map(\.id)).count == 1)
        #expect(try await store.jobs(JobQuery()).count == 1)
        #expect(try await store.event(id: outcomes[0].id)?.summary.duplicates == 11)
    }

    // MARK: Outcomes and fencing

    @Test(arguments: StoreKind.allCases)
    func outcomesAreFencedByHolderClaimAndState(kind: StoreKind) async throws {
        let start = Date()
        let (store, job) = try await Self.withOneJob(kind, at: start)
        defer { store.close() }
        let first = try await store.claimJobs(owner: "a", leaseUntil: start + 10, now: start, limit: 10, lane: nil)
        // Engine a stalls past its lease; b claims the job, then b stalls and a claims it again.
        let second = try await store.claimJobs(owner: "b", leaseUntil: start + 30, now: start + 20, limit: 10, lane: nil)
        let third = try await store.claimJobs(owner: "a", leaseUntil: start + 100, now: start + 40, limit: 10, lane: nil)
        let fences = [first, second, third].map { $0.first?.fence }
        #expect(fences[0] != nil && fences[0]! < fences[1]! && fences[1]! < fences[2]!)
        func refused(_ attempt: AttemptRecord) async {
            await #expect(throws: StoreError.self) { try await store.record(attempt, outcome: .dead(reason: "late")) }
            do { try await store.record(attempt, outcome: .dead(reason: "late")) } catch let error as StoreError {
                #expect(error.isFenced, "\(error)")
            } catch { Issue.record("\(error)") }
        }
        // b's late outcome; a's outcome of its first hold (same engine, older claim).
        await refused(Self.attempt(job.id, at: start, owner: "b", fence: fences[1]))
        await refused(Self.attempt(job.id, at: start, owner: "a", fence: fences[0]))
        try await store.record(Self.attempt(job.id, at: start, owner: "a", fence: fences[2]), outcome: .delivered)
        // Settled: nobody records another outcome.
        await refused(Self.attempt(job.id, at: start, owner: "a", fence: fences[2]))
        let stored = try #require(try await store.job(id: job.id))
        #expect(stored.summary.state == .delivered && stored.attempts.count == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func eachOutcomeIsRecordedWithItsAttemptAndTheEventsHistory(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        let jobs = (0..<4).map { Self.job("stripe/crm", route: "r\($0)") }
        let id = try await store.append(Self.event("e", at: start, jobs: jobs)).id
        _ = try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start, limit: 10, lane: nil)
        // A 429 that does not count, then a delivery.
        try await store.record(Self.attempt(jobs[0].id, at: start, owner: "a", status: 429, counts: false, errorClass: "rate_limited",
                                            error: "429"), outcome: .retry(at: start + 5))
        var retried = try #require(try await store.job(id: jobs[0].id))
        #expect(retried.summary.state == .pending && retried.summary.attempts == 0 && retried.summary.lastStatus == 429)
        #expect(abs((retried.summary.notBefore ?? .distantPast).timeIntervalSince(start + 5)) < 0.001)
        #expect(abs((retried.summary.firstAttemptAt ?? .distantPast).timeIntervalSince(start)) < 0.001)
        try await store.record(Self.attempt(jobs[0].id, at: start + 6, owner: "a"), outcome: .delivered)
        retried = try #require(try await store.job(id: jobs[0].id))
        #expect(retried.summary.state == .delivered && retried.summary.attempts == 1 && retried.summary.notBefore == nil)
        #expect(retried.attempts.map(\.errorClass) == ["rate_limited", "delivered"])
        let attempt = retried.attempts[1]
        #expect(attempt.durationMilliseconds == 42 && attempt.countsAsAttempt && attempt.responseStatus == 200)
        #expect(attempt.request?["method"] == "POST" && attempt.responseBody == "ok")
        #expect(attempt.responseHeaders.first?.name == "Retry-After" && attempt.responseHeaders.first?.value == "3")
        #expect(!retried.attempts[0].countsAsAttempt && retried.attempts[0].error == "429")
        // Failed for good; bad data; a decision without a call leaves the first attempt time unset.
        try await store.record(Self.attempt(jobs[1].id, at: start, owner: "a", status: 400, errorClass: "permanent", error: "400"),
                               outcome: .dead(reason: "the vendor refused it"))
        try await store.record(Self.attempt(jobs[2].id, at: start, owner: "a", status: nil, sent: false, counts: false,
                                            errorClass: "bad_data", error: "no email"), outcome: .quarantined(reason: "no email"))
        let dead = try #require(try await store.job(id: jobs[1].id)).summary
        #expect(dead.state == .dead && dead.lastError == "the vendor refused it" && dead.attempts == 1)
        let bad = try #require(try await store.job(id: jobs[2].id)).summary
        #expect(bad.state == .quarantined && bad.lastError == "no email" && bad.firstAttemptAt == nil && bad.attempts == 0)
        let history = try #require(try await store.event(id: id)).history
        #expect(history.map(\.status) == [.received, .routed, .delivered, .deadLettered, .quarantined])
        #expect(history[2].detail?["job"]?.stringValue == jobs[0].id && history[2].detail?["status"] == 200)
        #expect(history[3].detail?["reason"] == "the vendor refused it" && history[3].detail?["route"] == "r1")
        #expect(try await store.jobCounts(states: [.dead, .quarantined]).map { "\($0.target) \($0.state.rawValue) \($0.count)" }.sorted()
                == ["crm dead 1", "crm quarantined 1"])
    }

    @Test(arguments: StoreKind.allCases)
    func aFlowAdvancesToItsNextLaneAndSpawnsInTheSameWrite(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        var flowJob = Self.job("shop/crm")
        flowJob.flow = ["step": 0]
        _ = try await store.append(Self.event("e", connector: "shop", at: start, jobs: [flowJob]))
        let fence = try #require(try await store.claimJobs(owner: "a", leaseUntil: start + 60, now: start, limit: 10, lane: nil).first?.fence)
        try await store.record(Self.attempt(flowJob.id, at: start, owner: "a", fence: fence, status: 503, errorClass: "transient"),
                               outcome: .retry(at: start))
        var failure = Self.job("shop/pager", route: "r")
        failure.flow = ["failure": true]
        try await store.record(Self.attempt(flowJob.id, at: start + 1, owner: "a", fence: fence, status: 201),
                               outcome: .advance(lane: "shop/ledger", target: "ledger"), flow: ["step": 1], spawn: [failure])
        let moved = try #require(try await store.job(id: flowJob.id)).summary
        #expect(moved.lane == "shop/ledger" && moved.target == "ledger" && moved.attempts == 0 && moved.state == .pending)
        #expect(moved.flow == ["step": 1] && moved.lastStatus == 201 && moved.firstAttemptAt == nil && moved.lastError == nil)
        let spawned = try #require(try await store.job(id: failure.id)).summary
        #expect(spawned.state == .pending && spawned.flow == ["failure": true] && spawned.eventID == moved.eventID)
        // Both are still engine a's: nobody else claims them while its lease lives; its next outcome keeps the fence.
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 60, now: start + 2, limit: 10, lane: nil).isEmpty)
        try await store.record(Self.attempt(flowJob.id, at: start + 2, owner: "a", fence: fence), outcome: .delivered, flow: ["step": 2],
                               spawn: [])
        #expect(try await store.job(id: flowJob.id)?.summary.flow == ["step": 2])
        // A flow element's own dead letter is made dead.
        var element = Self.job("shop/crm")
        element.state = .dead
        element.reason = "element 3 failed"
        try await store.record(Self.attempt(failure.id, at: start + 3, owner: "a", fence: 0), outcome: .delivered, flow: nil, spawn: [element])
        let made = try #require(try await store.job(id: element.id)).summary
        #expect(made.state == .dead && made.lastError == "element 3 failed")
    }

    // MARK: Transitions, replays, dead letters

    @Test(arguments: StoreKind.allCases)
    func jobsMoveOnlyAsTheTableAllows(kind: StoreKind) async throws {
        let start = Date()
        let (store, job) = try await Self.withOneJob(kind, at: start)
        defer { store.close() }
        await #expect(throws: StoreError.self) { try await store.moveJobs([job.id], from: [.delivered], to: .pending) }
        await #expect(throws: StoreError.self) { try await store.moveJobs([job.id], from: [.pending], to: .purged) }
        // Allowed, but the job is not in a state it names: not moved.
        #expect(try await store.moveJobs([job.id], from: [.dead], to: .purged) == [])
        try await store.record(Self.attempt(job.id, at: start, status: 400, errorClass: "permanent"), outcome: .dead(reason: "400"))
        #expect(try await store.moveJobs([job.id, "job_missing"], from: [.dead, .quarantined], to: .purged) == [job.id])
        #expect(try await store.moveJobs([job.id], from: [.dead, .quarantined], to: .purged) == [])
        #expect(try await store.job(id: job.id)?.summary.state == .purged)
        for state in JobState.allCases {
            #expect(state.canMove(to: .pending) == (state == .pending), "\(state)")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aDeadLetterIsReplayedOnceWithItsReplacementInOneWrite(kind: StoreKind) async throws {
        let start = Date()
        let (store, job) = try await Self.withOneJob(kind, at: start)
        defer { store.close() }
        let replacement = NewJob(route: "r", target: "crm", lane: "stripe/crm", orderingKey: nil, traceID: String(repeating: "b", count: 32),
                                 replayOf: job.id, planVersion: "v2", pinsPlan: true)
        // Not a dead letter yet.
        #expect(try await store.replay(job: job.id, with: replacement, status: .replayed, detail: ["by": "ops"]) == false)
        try await store.record(Self.attempt(job.id, at: start, status: 400, errorClass: "permanent"), outcome: .dead(reason: "400"))
        #expect(try await store.replay(job: job.id, with: replacement, status: .replayed, detail: ["by": "ops"]))
        var again = replacement
        again.id = JobIdentifier.make()
        #expect(try await store.replay(job: job.id, with: again, status: .replayed, detail: ["by": "ops"]) == false)
        #expect(try await store.replay(job: "job_missing", with: again, status: .replayed, detail: ["by": "ops"]) == false)
        #expect(try await store.job(id: job.id)?.summary.state == .replayed)
        #expect(try await store.job(id: again.id) == nil)
        let made = try #require(try await store.job(id: replacement.id)).summary
        #expect(made.state == .pending && made.replayOf == job.id && made.pinsPlan && made.planVersion == "v2")
        let event = try #require(try await store.event(id: made.eventID))
        #expect(event.history.last?.status == .replayed && event.history.last?.detail?["by"] == "ops")
        #expect(event.history.last?.detail?["jobs"]?.arrayValue?.first?["job"]?.stringValue == replacement.id)
        // The replacement is claimable by any engine.
        #expect(try await store.claimJobs(owner: "z", leaseUntil: start + 60, now: start, limit: 10, lane: nil).map(\.job.id) == [replacement.id])
    }

    @Test(arguments: StoreKind.allCases)
    func jobsAreAddedToAnEventAndALaneIsDeadLettered(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        let id = try await store.append(Self.event("e", at: start, jobs: [Self.job("stripe/hooks@ep_1")])).id
        let more = [Self.job("stripe/hooks@ep_1"), Self.job("stripe/hooks@ep_2")]
        try await store.addJobs(more, toEvent: id, status: .replayed, detail: ["by": "ops"])
        await #expect(throws: StoreError.self) { try await store.addJobs(more, toEvent: "ev_missing", status: .replayed, detail: [:]) }
        #expect(try await store.event(id: id)?.history.last?.detail?["jobs"]?.arrayValue?.count == 2)
        #expect(try await store.jobs(JobQuery(endpoint: "ep_1")).count == 2)
        #expect(try await store.deadLetter(lane: "stripe/hooks@ep_1", reason: "endpoint ep_1 removed") == 2)
        #expect(try await store.deadLetter(lane: "stripe/hooks@ep_1", reason: "again") == 0)
        let dead = try await store.jobs(JobQuery(states: [.dead]))
        #expect(dead.count == 2 && dead.allSatisfy { $0.lastError == "endpoint ep_1 removed" })
        #expect(try await store.jobs(JobQuery(states: [.pending])).map(\.lane) == ["stripe/hooks@ep_2"])
    }

    @Test(arguments: StoreKind.allCases)
    func jobListsFilterAndCount(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        let a = try await store.append(Self.event("a", connector: "shop", at: start, jobs: [Self.job("shop/crm"), Self.job("shop/ledger")])).id
        _ = try await store.append(Self.event("b", connector: "billing", at: start, jobs: [Self.job("billing/crm")]))
        #expect(try await store.jobs(JobQuery()).map(\.lane) == ["billing/crm", "shop/ledger", "shop/crm"])
        #expect(try await store.jobs(JobQuery(connector: "shop")).count == 2)
        #expect(try await store.jobs(JobQuery(target: "crm")).map(\.connector) == ["billing", "shop"])
        #expect(try await store.jobs(JobQuery(eventID: a)).count == 2)
        #expect(try await store.jobs(JobQuery(limit: 1)).count == 1)
        #expect(try await store.jobs(JobQuery(since: start + 3600)).isEmpty)
        #expect(try await store.jobCounts(states: [.pending]).map { "\($0.connector)/\($0.target) \($0.count)" }.sorted()
                == ["billing/crm 1", "shop/crm 1", "shop/ledger 1"])
        #expect(try await store.jobCounts(states: []).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func aPlansSourcesAreKeptOnceByVersion(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        try await store.keepPlan(version: "v1", sources: [PlanSource(path: "a.yaml", text: "name: a\n")])
        try await store.keepPlan(version: "v1", sources: [PlanSource(path: "b.yaml", text: "name: b\n")])
        #expect(try await store.planSources(version: "v1") == [PlanSource(path: "a.yaml", text: "name: a\n")])
        #expect(try await store.planSources(version: "v2") == nil)
        try await store.recordApplied(version: "v1", trigger: "start", summary: "2 connectors")
        try await store.recordApplied(version: "v2", trigger: "reload", summary: "1 changed")
        let applied = try await store.appliedPlans(limit: 10)
        #expect(applied.map(\.version) == ["v2", "v1"] && applied.map(\.sourcesKept) == [false, true])
        #expect(applied[1].trigger == "start" && applied[1].summary == "2 connectors")
        #expect(try await store.appliedPlans(limit: 1).count == 1)
    }

    // MARK: Endpoints

    @Test(arguments: StoreKind.allCases)
    func endpointsKeepTheirSettingsStateSecretsAndHistory(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let version = try await store.endpointsVersion()
        let endpoint = StoredEndpoint(id: "ep_1", tenant: "acme", url: "https://acme.test/hook", eventTypes: ["order.paid"],
                                      headers: ["X-Team": "ops"], rateLimit: 5, description: "orders", createdAt: start, updatedAt: start)
        try await store.addEndpoint(endpoint, sealedSecret: [1, 2, 3], at: start)
        await #expect(throws: StoreError.self) { try await store.addEndpoint(endpoint, sealedSecret: [9], at: start) }
        var changed = endpoint
        changed.url = "https://acme.test/v2"
        changed.eventTypes = nil
        changed.headers = [:]
        changed.rateLimit = nil
        try await store.updateEndpoint(changed, at: start + 1, note: "url changed")
        try await store.rotateEndpointSecret(id: "ep_1", sealedSecret: [4, 5], previousExpireAt: start + 3600, at: start + 2)
        try await store.recordEndpointAttempt(id: "ep_1", succeeded: false, at: start + 3)
        try await store.recordEndpointAttempt(id: "ep_1", succeeded: false, at: start + 4)
        var stored = try #require(try await store.endpoints(includingRemoved: false).first)
        #expect(stored.url == "https://acme.test/v2" && stored.eventTypes == nil && stored.headers.isEmpty && stored.rateLimit == nil)
        #expect(stored.tenant == "acme" && stored.state == .enabled && stored.failingSince == start + 3)
        #expect(stored.secrets.map(\.sealed) == [[1, 2, 3], [4, 5]])
        #expect(stored.secrets.map(\.expiresAt) == [start + 3600, nil] && stored.secrets[1].createdAt == start + 2)
        #expect(stored.createdAt == start && stored.updatedAt == start + 1)
        try await store.recordEndpointAttempt(id: "ep_1", succeeded: true, at: start + 5)
        try await store.setEndpointState(id: "ep_1", state: .disabled, reason: "failing for 5 days", at: start + 6)
        stored = try #require(try await store.endpoints(includingRemoved: false).first)
        #expect(stored.state == .disabled && stored.stateReason == "failing for 5 days" && stored.failingSince == nil)
        try await store.setEndpointState(id: "ep_1", state: .removed, reason: "by ops", at: start + 7)
        #expect(try await store.endpoints(includingRemoved: false).isEmpty)
        #expect(try await store.endpoints(includingRemoved: true).map(\.id) == ["ep_1"])
        await #expect(throws: StoreError.self) { try await store.updateEndpoint(changed, at: start, note: "x") }
        await #expect(throws: StoreError.self) { try await store.setEndpointState(id: "ep_9", state: .enabled, reason: "", at: start) }
        #expect(try await store.endpointHistory(id: "ep_1").map(\.kind) == ["created", "updated", "rotated", "disabled", "removed"])
        #expect(try await store.endpointHistory(id: "ep_1")[1].detail == "url changed")
        #expect(try await store.endpointsVersion() == version + 5)
    }

    // MARK: Pulls

    @Test(arguments: StoreKind.allCases)
    func aPullsStateIsWrittenWithItsEvents(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        #expect(try await store.pullState("orders") == nil)
        let outcomes = try await store.append(all: [Self.event("o1", connector: "orders", at: Date())], pullState: ["cursor": 41],
                                              of: "orders")
        #expect(outcomes.count == 1)
        try await store.setPullState(["cursor": 7], of: "accounts")
        #expect(try await store.pullState("orders")?.state == ["cursor": 41])
        #expect(try await store.pullStates().map(\.connector) == ["accounts", "orders"])
        try await store.setPullState(nil, of: "orders")
        #expect(try await store.pullState("orders") == nil)
        #expect(try await store.events(EventQuery(connector: "orders")).count == 1)
    }

    // MARK: Rollouts

    @Test(arguments: StoreKind.allCases)
    func rolloutsTheirLogAndShadowCalls(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        func rollout(_ id: String) -> RolloutRecord {
            RolloutRecord(id: id, connector: "shop", mode: .canary, basisPoints: 1_000, stickBy: "$.customer", candidateText: "name: shop",
                          candidatePath: "shop.yaml", candidateVersion: "v2", baseVersion: "v1", startedAt: start, startedBy: "ops")
        }
        try await store.startRollout(rollout("ro_1"), by: "ops")
        try await store.startRollout(rollout("ro_2"), by: "ops")
        #expect(try await store.activeRollouts().map(\.id) == ["ro_2"])
        let ended = try #require(try await store.rollouts().first { $0.id == "ro_1" })
        #expect(ended.status == .rolledBack && ended.endedReason == "replaced by rollout ro_2")
        let changed = try await store.changeRollout("shop", action: "share", by: "ops", detail: ["share": "50%"]) { $0.basisPoints = 5_000 }
        #expect(changed?.basisPoints == 5_000 && changed?.stickBy == "$.customer")
        #expect(try await store.changeRollout("billing", action: "share", by: "ops", detail: nil) { $0.basisPoints = 1 } == nil)
        #expect(try await store.activeRollouts().first?.basisPoints == 5_000)
        #expect(try await store.rolloutLog(connector: "shop").map(\.action) == ["start", "replaced", "start", "share"])
        #expect(try await store.rolloutLog(connector: nil).count == 4)
        #expect(try await store.rolloutLog(connector: "shop").last?.detail == ["share": "50%"])
        let call = ShadowCall(rollout: "ro_2", event: "ev_1", arm: "candidate", route: "r", call: "create", request: ["url": "https://x"])
        try await store.recordShadow([call, ShadowCall(rollout: "ro_9", event: "ev_1", arm: "current", route: "r", call: "c", request: [:])])
        #expect(try await store.shadowCalls(rollout: "ro_2") == [call])
        _ = try await store.append(Self.event("a", connector: "shop", at: start, planVersion: "v1"))
        _ = try await store.append(Self.event("b", connector: "shop", at: start + 10, planVersion: "v2"))
        _ = try await store.append(Self.event("c", connector: "shop", at: start + 20, planVersion: "v2"))
        #expect(try await store.eventCounts(connector: "shop", since: start + 5) == ["v2": 2])
    }

    // MARK: Lane ownership

    @Test(arguments: StoreKind.allCases)
    func aLaneIsHeldByOneEngineAtATimeAndTakingItRaisesItsToken(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let first = try await store.acquireLanes(["shop/crm", "shop/ledger"], owner: "a", until: start + 15, now: start)
        #expect(first.map(\.lane) == ["shop/crm", "shop/ledger"] && first.map(\.token) == [1, 1] && first.allSatisfy { $0.previousEnd == nil })
        // b gets only the lane nobody holds; a renews its own, keeping the token.
        #expect(try await store.acquireLanes(["shop/crm", "shop/erp"], owner: "b", until: start + 15, now: start + 1).map(\.lane) == ["shop/erp"])
        let renewed = try await store.acquireLanes(["shop/crm"], owner: "a", until: start + 20, now: start + 5)
        #expect(renewed.map(\.token) == [1] && renewed.first?.until == start + 20)
        // a's hold runs out: b takes the lane, with a new token, counting a's hold up to its end.
        #expect(try await store.acquireLanes(["shop/crm"], owner: "b", until: start + 40, now: start + 19).isEmpty)
        let taken = try #require(try await store.acquireLanes(["shop/crm"], owner: "b", until: start + 40, now: start + 21).first)
        #expect(taken.token == 2 && taken.owner == "b" && taken.previousEnd == start + 20)
        #expect(try await store.acquireLanes(["shop/crm"], owner: "a", until: start + 50, now: start + 22).isEmpty)
        // b gives it up: a takes it at once, counting b's hold up to the release.
        try await store.releaseLanes(["shop/crm"], owner: "a", at: start + 23)
        try await store.releaseLanes(["shop/crm"], owner: "b", at: start + 24)
        let back = try #require(try await store.acquireLanes(["shop/crm"], owner: "a", until: start + 60, now: start + 25).first)
        #expect(back.token == 3 && back.previousEnd == start + 24)
        let leases = try await store.laneLeases()
        #expect(leases.map { "\($0.lane) \($0.owner ?? "-") \($0.token)" } == ["shop/crm a 3", "shop/erp b 1", "shop/ledger a 1"])
    }

    /// A lane changing engines keeps its order: a claim for one lane stops at the first job another live engine still
    /// holds (the lane's previous engine), until that engine lets it go or its lease runs out.
    @Test(arguments: StoreKind.allCases)
    func aClaimForALaneNeverPassesAJobItsPreviousEngineHolds(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        let jobs = (0..<3).map { _ in Self.job("shop/crm") }
        _ = try await store.append(Self.event("e0", connector: "shop", at: start, jobs: [jobs[0]]))
        #expect(try await store.claimJobs(owner: "a", leaseUntil: start + 10, now: start, limit: 1, lane: "shop/crm").map(\.job.id) == [jobs[0].id])
        _ = try await store.append(Self.event("e1", connector: "shop", at: start, jobs: [jobs[1]]))
        _ = try await store.append(Self.event("e2", connector: "shop", at: start, jobs: [jobs[2]]))
        // b runs the lane now: nothing while a holds the oldest job.
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 60, now: start + 1, limit: 10, lane: "shop/crm").isEmpty)
        // a lets it go: b takes all three, in order.
        try await store.releaseJobs([jobs[0].id], owner: "a")
        #expect(try await store.claimJobs(owner: "b", leaseUntil: start + 60, now: start + 2, limit: 10, lane: "shop/crm").map(\.job.id)
                == jobs.map(\.id))
    }

    @Test(arguments: StoreKind.allCases)
    func aClaimPassesNoJobWhoseKeyHasAnEarlierJobWaitingForItsRetry(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        let first = Self.job("shop/crm", ordering: "cus_1")
        _ = try await store.append(Self.event("e0", connector: "shop", at: start, jobs: [first]))
        _ = try await store.claimJobs(owner: "a", leaseUntil: start + 10, now: start, limit: 10, lane: "shop/crm")
        try await store.record(Self.attempt(first.id, at: start, owner: "a", status: 503, errorClass: "transient", error: "503"),
                               outcome: .retry(at: start + 30))
        let later = [Self.job("shop/crm", ordering: "cus_1"), Self.job("shop/crm", ordering: "cus_2"), Self.job("shop/crm")]
        for (index, job) in later.enumerated() {
            _ = try await store.append(Self.event("e\(index + 1)", connector: "shop", at: start, jobs: [job]))
        }
        // The engine holding the waiting retry has it in memory, behind which it places its key's later job.
        #expect(try await store.claimJobs(owner: "a", leaseUntil: start + 10, now: start + 1, limit: 1, lane: "shop/crm").map(\.job.id)
                == [later[0].id])
        try await store.releaseJobs([later[0].id], owner: "a")
        // a died (its lease ran out): b, on the lane or on all of them, takes the other keys' jobs, not cus_1's.
        for lane in ["shop/crm", nil] {
            let claimed = try await store.claimJobs(owner: "b", leaseUntil: start + 12, now: start + 11, limit: 10, lane: lane)
            #expect(claimed.map(\.job.id) == [later[1].id, later[2].id], "lane \(lane ?? "any")")
            try await store.releaseJobs(claimed.map(\.job.id), owner: "b")
        }
        // Once the retry is due, it comes first, then its key's later job.
        let due = try await store.claimJobs(owner: "b", leaseUntil: start + 60, now: start + 31, limit: 2, lane: "shop/crm")
        #expect(due.map(\.job.id) == [first.id, later[0].id])
    }

    @Test(arguments: StoreKind.allCases)
    func anEngineLetsGoOfJobsAndTheLiveEnginesAreKnown(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let start = Date()
        try await store.renewLeases(owner: "a", until: start + 60)
        try await store.renewLeases(owner: "b", until: start + 5)
        #expect(try await store.liveEngines(now: start + 10) == ["a"])
        #expect(try await store.liveEngines(now: start) == ["a", "b"])
        let jobs = [Self.job("shop/crm"), Self.job("shop/ledger")]
        _ = try await store.append(Self.event("e", connector: "shop", at: start, jobs: jobs, lease: (owner: "a", until: start + 60)))
        #expect(try await store.pendingLanes() == ["shop/crm", "shop/ledger"])
        // Only the holder lets go; then any engine claims them.
        try await store.releaseJobs([jobs[0].id], owner: "b")
        #expect(try await store.claimJobs(owner: "c", leaseUntil: start + 60, now: start, limit: 10, lane: nil).isEmpty)
        try await store.releaseJobs([jobs[0].id], owner: "a")
        #expect(try await store.claimJobs(owner: "c", leaseUntil: start + 60, now: start, limit: 10, lane: nil).map(\.job.id) == [jobs[0].id])
        try await store.record(Self.attempt(jobs[1].id, at: start), outcome: .delivered)
        #expect(try await store.pendingLanes() == ["shop/crm"])
        // Each engine says what it runs; a later record replaces its earlier one.
        try await store.recordEngine(EngineRecord(owner: "b", info: ["plan": "sha256:1"], recordedAt: start))
        try await store.recordEngine(EngineRecord(owner: "a", info: ["plan": "sha256:1"], recordedAt: start))
        try await store.recordEngine(EngineRecord(owner: "a", info: ["plan": "sha256:2", "listen": "127.0.0.1:8080"], recordedAt: start + 1))
        let engines = try await store.engineRecords()
        #expect(engines.map(\.owner) == ["a", "b"] && engines[0].info["plan"] == "sha256:2" && engines[0].info["listen"] == "127.0.0.1:8080")
        #expect(abs(engines[0].recordedAt.timeIntervalSince(start + 1)) < 0.001)
    }

    // MARK: Retention

    /// Pruning removes old events with everything about them, except those with work not done (a pending job, a dead
    /// letter), which stay whole; a removed event's id can come again. On PostgreSQL a day whose events are all
    /// removable goes as a whole partition.
    @Test(arguments: StoreKind.allCases)
    func pruningRemovesOldEventsAndKeepsUnfinishedWork(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        defer { store.close() }
        let now = Date()
        let today = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
        let old = now - 40 * 86_400, yesterday = today - 12 * 3_600
        func event(_ id: String, at: Date, state: JobState?) async throws -> (event: String, job: String?) {
            let job = state.map { _ in Self.job() }
            let stored = try await store.append(Self.event(id, at: at, jobs: job.map { [$0] } ?? []))
            if let job, let state, state != .pending {
                try await store.record(Self.attempt(job.id, at: at, status: state == .delivered ? 200 : 400),
                                       outcome: state == .delivered ? .delivered : .dead(reason: "400"))
            }
            return (stored.id, job?.id)
        }
        let delivered = try await event("old-delivered", at: old, state: .delivered)
        let dead = try await event("old-dead", at: old, state: .dead)
        let pending = try await event("old-pending", at: old, state: .pending)
        let skipped = try await event("old-skipped", at: old, state: nil)
        let lastDay = try await event("yesterday", at: yesterday, state: .delivered)
        let recent = try await event("recent", at: now, state: .delivered)

        let report = try await store.prune(receivedBefore: today)
        #expect(report.events == 3 && report.jobs == 2 && report.keptEvents == 2, "\(report)")
        for gone in [delivered, skipped, lastDay] {
            #expect(try await store.event(id: gone.event) == nil)
            if let job = gone.job { #expect(try await store.job(id: job) == nil) }
        }
        for kept in [dead, pending, recent] {
            let record = try #require(try await store.event(id: kept.event))
            #expect(record.history.count >= 2)
            #expect(try await store.job(id: kept.job!) != nil)
        }
        #expect(try await store.jobs(JobQuery(states: [.dead])).map(\.id) == [dead.job!])
        if kind == .postgres {
            #expect(report.droppedPartitions.contains { $0.hasPrefix("events_p") }, "\(report.droppedPartitions)")
        } else {
            #expect(report.droppedPartitions.isEmpty)
        }
        // Gone from the dedupe too: the same id is a new event; nothing left to prune.
        if case .stored = try await store.append(Self.event("old-delivered", at: now)) {} else { Issue.record("not stored again") }
        let again = try await store.prune(receivedBefore: today)
        #expect(again.events == 0 && again.jobs == 0 && again.keptEvents == 2)
        // What stays is still append-only.
        try await store.recordStatus(.routed, of: recent.event, detail: nil)
    }

    // MARK: Closing

    @Test(arguments: StoreKind.allCases)
    func writesAfterCloseFail(kind: StoreKind) async throws {
        let store = try await Self.fresh(kind)
        try await store.checkWritable()
        store.close()
        await #expect(throws: (any Error).self) { try await store.append(Self.event("late", at: Date())) }
        await #expect(throws: (any Error).self) { try await store.checkWritable() }
    }
}

/// The stores the suite runs on.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case sqlite, memory, postgres

    var testDescription: String { rawValue }

    func make() async throws -> any EngineStore {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appending(path: "manifold-conformance-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try SQLiteEventStore(path: directory.appending(path: "events.db").path)
        case .memory:
            return InMemoryStore()
        case .postgres:
            // A database of its own on the private server, so that tests run side by side.
            return try await PostgresStore.open(url: try await PrivatePostgres.freshDatabase(), connections: 4)
        }
    }
}
