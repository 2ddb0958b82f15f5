import Foundation
import GRDB
import JSONValue
@testable import ManifoldStore
import ManifoldSQLite
import TestSupport
import Testing

@Suite struct SQLiteEventStoreTests {
    static func temporaryPath() -> String {
        let directory = FileManager.default.temporaryDirectory.appending(path: "manifold-store-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appending(path: "events.db").path
    }

    static func event(_ id: String, connector: String = "stripe", body: String = #"{"id":1}"#,
                      at date: Date = Date(), status: EventStatus = .received) -> NewEvent
    {
        NewEvent(connector: connector, eventID: id, eventType: "checkout.session.completed", planVersion: "sha256:abc",
                 receivedAt: date, contentType: "json", headers: [("Content-Type", "application/json")],
                 body: Array(body.utf8), remoteAddress: "127.0.0.1", status: status, detail: nil)
    }

    @Test func appendsOnceAndRecordsDuplicates() async throws {
        let store = try SQLiteEventStore(path: Self.temporaryPath())
        defer { store.close() }
        let first = try await store.append(Self.event("evt_1"))
        guard case .stored(let id) = first else {
            Issue.record("the first delivery was not stored: \(first)")
            return
        }
        #expect(id.hasPrefix("ev_") && id.count == 29)
        #expect(try await store.append(Self.event("evt_1", body: #"{"id":1,"again":true}"#)) == .duplicate(of: id))
        #expect(try await store.append(Self.event("evt_1", connector: "github")) != .duplicate(of: id))
        #expect(try await store.count() == 2)

        let record = try #require(try await store.event(id: id))
        #expect(record.summary.status == .received)
        #expect(record.summary.duplicates == 1)
        #expect(record.history.map(\.status) == [.received, .duplicate])
        #expect(record.history[1].detail?["same_body"] == false)
        #expect(String(decoding: record.body, as: UTF8.self) == #"{"id":1}"#)
        #expect(record.headers.first?.name == "Content-Type")
    }

    @Test func concurrentAppendsShareCommits() async throws {
        let store = try SQLiteEventStore(path: Self.temporaryPath())
        defer { store.close() }
        let outcomes = try await withThrowingTaskGroup(of: AppendOutcome.self) { group in
            for index in 0..<400 {
                group.addTask { try await store.append(Self.event("evt_\(index % 300)")) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { if case .stored = $0 { true } else { false } }.count == 300)
        #expect(outcomes.filter { if case .duplicate = $0 { true } else { false } }.count == 100)
        #expect(try await store.count() == 300)
        let statistics = store.commitStatistics
        #expect(statistics.writes == 400)
        #expect(statistics.batches < 400, "no write shared a commit: \(statistics)")
    }

    @Test func aFailingWriteFailsAloneInItsBatch() async throws {
        let store = try SQLiteEventStore(path: Self.temporaryPath())
        defer { store.close() }
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    if index % 50 == 25 {   // a status for an event that does not exist: fails
                        return (try? await store.recordStatus("routed", of: "ev_missing_\(index)", detail: nil)) != nil
                    }
                    return (try? await store.append(Self.event("evt_\(index)"))) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 196)
        #expect(try await store.count() == 196)
        #expect(store.commitStatistics.batches < 200, "no write shared a commit: \(store.commitStatistics)")
    }

    @Test func historyIsAppendOnlyAndTheStatusIsTheLatestRecord() async throws {
        let path = Self.temporaryPath()
        let store = try SQLiteEventStore(path: path)
        let id = try await store.append(Self.event("evt_q", status: .quarantined)).id
        try await store.recordStatus("routed", of: id, detail: ["routes": 2])
        #expect(try await store.event(id: id)?.summary.status == "routed")
        await #expect(throws: StoreError.self) { try await store.recordStatus("routed", of: "ev_missing", detail: nil) }
        store.close()

        let raw = try DatabaseQueue(path: path)
        await #expect(throws: DatabaseError.self) {
            try await raw.write { try $0.execute(sql: "UPDATE events SET body = x'00'") }
        }
        await #expect(throws: DatabaseError.self) { try await raw.write { try $0.execute(sql: "DELETE FROM event_history") } }
        #expect(try await raw.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
    }

    /// A prune lifts the append-only guards for its own transaction only: afterwards every append-only table refuses
    /// DELETE again.
    @Test func aPruneLeavesTheTablesAppendOnly() async throws {
        let path = Self.temporaryPath()
        let store = try SQLiteEventStore(path: path)
        _ = try await store.append(Self.event("old", at: Date() - 86_400 * 40))
        // The recent event keeps a job with an attempt, so that every table has a row to refuse to delete.
        var recent = Self.event("new")
        let job = NewJob(route: "r", target: "crm", lane: "stripe/crm", orderingKey: nil, traceID: "t", planVersion: "v")
        recent.jobs = [job]
        _ = try await store.append(recent)
        try await store.record(AttemptRecord(jobID: job.id, startedAt: Date(), duration: .zero, countsAsAttempt: true, errorClass: "delivered",
                                             request: nil, responseStatus: 200, responseHeaders: [], responseBody: nil, error: nil),
                               outcome: .delivered)
        #expect(try await store.prune(receivedBefore: Date() - 86_400).events == 1)
        store.close()
        let raw = try DatabaseQueue(path: path)
        for table in ["events", "event_history", "job_attempts"] {
            // Refused by its guard, not by a foreign key that happens to hold.
            do {
                try await raw.write { try $0.execute(sql: "DELETE FROM \(table)") }
                Issue.record("\(table) took a DELETE after the prune")
            } catch {
                #expect("\(error)".contains("append-only"), "\(table): \(error)")
            }
        }
        #expect(try await raw.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") } == 1)
    }

    @Test func listsFilterByConnectorStatusAndTime() async throws {
        let store = try SQLiteEventStore(path: Self.temporaryPath())
        defer { store.close() }
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        _ = try await store.append(Self.event("a", at: old))
        _ = try await store.append(Self.event("b", connector: "github"))
        _ = try await store.append(Self.event("c", status: .quarantined))
        #expect(try await store.events(EventQuery()).map(\.eventID) == ["c", "b", "a"])
        #expect(try await store.events(EventQuery(connector: "github")).map(\.eventID) == ["b"])
        #expect(try await store.events(EventQuery(status: .quarantined)).map(\.eventID) == ["c"])
        #expect(try await store.events(EventQuery(since: old.addingTimeInterval(1))).map(\.eventID) == ["c", "b"])
        #expect(try await store.events(EventQuery(limit: 1)).map(\.eventID) == ["c"])
        // `until` is applied before the limit: the newest events after it do not crowd out the ones before it.
        #expect(try await store.events(EventQuery(until: old.addingTimeInterval(1), limit: 1)).map(\.eventID) == ["a"])
    }

    @Test func reopeningKeepsEverythingAndMigratesOnce() async throws {
        let path = Self.temporaryPath()
        var store = try SQLiteEventStore(path: path)
        let id = try await store.append(Self.event("keep")).id
        store.close()
        store = try SQLiteEventStore(path: path)
        defer { store.close() }
        #expect(try await store.event(id: id)?.summary.eventID == "keep")
        let migrations = try await DatabaseQueue(path: path).read {
            try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations")
        }
        #expect(migrations == ["1 events and their history", "2 delivery jobs, attempts and kept plans", "3 pending jobs by lane", "4 customers' webhook endpoints", "5 flow progress", "6 pull sources' state", "7 rollouts and applied plans", "8 claim fences", "9 lane leases", "10 engines", "11 pending jobs by ordering key"])
        #expect(throws: StoreError.self) { try SQLiteEventStore(path: path + ".absent", create: false) }
    }

    #if os(Linux)
    /// The store's threads are named as `top -H` and profiles show them. A name set before the thread started, or longer
    /// than the kernel's 15 characters, was never shown.
    @Test func theStoresThreadsCarryTheirNames() async throws {
        let store = try SQLiteEventStore(path: Self.temporaryPath())
        defer { store.close() }
        func names() -> Set<String> {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return Set(tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
                .map { $0.trimmingCharacters(in: .newlines) })
        }
        // Each thread names itself as it starts: wait for that (the deadline only bounds a failure).
        let deadline = ContinuousClock.now + .seconds(60)
        while !names().isSuperset(of: ["store-writer", "store-checkpt"]), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(names().isSuperset(of: ["store-writer", "store-checkpt"]), "\(names().sorted())")
    }
    #endif

    @Test func writesAfterCloseFailInsteadOfHanging() async throws {
        let store = try SQLiteEventStore(path: Self.temporaryPath())
        store.close()
        await #expect(throws: StoreError.self) { try await store.append(Self.event("late")) }
    }

    @Test func identifiersSortByTime() {
        var generator = SeededGenerator(seed: 7)
        let ids = [1_000, 1_001, 99_999_999_999].map {
            EventIdentifier.make(milliseconds: UInt64($0), using: &generator)
        }
        #expect(ids == ids.sorted())
        #expect(Set(ids.map(\.count)) == [29])
    }
}
