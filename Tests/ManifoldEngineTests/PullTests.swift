import Foundation
import HTTPTypes
import Hummingbird
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// Pulls through the real engine, store and HTTP client against an API on loopback.
@Suite struct PullTests {
    /// Issues over three pages linked by `Link` headers, behind a bearer token; the first request of a run is a 429
    /// (Retry-After: 0) when `limitFirst`, and `/items?page=2` fails with 500 while `failing` holds. Records what it saw.
    final class FakeAPI: HTTPResponder, Sendable {
        let seen = Mutex<[(path: String, query: String, authorization: String, key: String?)]>([])
        let failing = Atomic<Bool>(false)
        let limitFirst = Atomic<Bool>(true)
        let port = Mutex(0)

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            seen.withLock { $0.append((request.uri.path, request.uri.query ?? "", request.headers[.authorization] ?? "",
                                       request.headers[HTTPField.Name("Idempotency-Key")!])) }
            if limitFirst.exchange(false, ordering: .relaxed) {
                return Response(status: .tooManyRequests, headers: [.retryAfter: "0"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
            }
            let page = Int(request.uri.queryParameters["page"].map(String.init) ?? "1") ?? 1
            if page == 2, failing.load(ordering: .relaxed) {
                return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "{}")))
            }
            let items = (0..<3).map { index -> String in
                let n = (page - 1) * 3 + index
                return #"{"id":"i\#(n)","updated":"2024-06-01T0\#(page):0\#(index):00Z"}"#
            }
            var headers: HTTPFields = [.contentType: "application/json"]
            if page < 3 {
                let base = "http://127.0.0.1:\(port.withLock { $0 })"
                headers[HTTPField.Name("Link")!] = "<\(base)/items?page=\(page + 1)>; rel=\"next\", <\(base)/items?page=3>; rel=\"last\""
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "[" + items.joined(separator: ",") + "]")))
        }
    }

    struct Setup {
        let store: SQLiteEventStore
        let engine: Engine
        let puller: Puller
        let runtime: DeliveryRuntime
        let transport: AsyncHTTPTransport

        func close() async {
            store.close()
            await transport.shutdown()
        }
    }

    static func connector(port: Int) -> String {
        """
        connector: issues
        source:
          poll:
            every: 5m
            call: api.list
            query: { since: "{% $cursor %}" }
            records: $
            event_id: id
            paginate: { type: link }
            cursor: { field: updated, start: "2024-01-01T00:00:00Z" }
        targets:
          api:
            base_url: http://127.0.0.1:\(port)
            auth: { bearer: { token: "${env:API_TOKEN}" } }
            retry: { max_attempts: 2, backoff: { initial: 10ms, max: 10ms } }
            rate_limit: { requests: 100, per: 1s }
            operations:
              list: { method: GET, path: /items }
        routes:
          - name: none
            when: id = 'never'
            call: api.list
        """
    }

    /// A connector pulling from `source`, whose one route never matches (the pull is what is tested).
    static func pulled(_ source: String) -> String {
        """
        connector: issues
        source:
          \(source)
        targets:
          api:
            base_url: http://127.0.0.1:9
            operations:
              list: { method: GET, path: /items }
        routes:
          - name: none
            when: id = 'never'
            call: api.list
        """
    }

    static func setup(_ yaml: String, folder: URL, clock: any RuntimeClock = SystemRuntimeClock(),
                      files: URL? = nil) throws -> Setup
    {
        let result = ConnectorCompiler().compile([SourceFile(path: "issues.yaml", text: yaml)])
        let plan = try #require(result.plan, "\(result.diagnostics)")
        let store = try SQLiteEventStore(path: folder.appending(path: "pull.db").path)
        var logger = Logger(label: "pull")
        logger.logLevel = .critical
        let resolver = ConfigResolver(environment: ["API_TOKEN": "t0k"])
        let transport = AsyncHTTPTransport()
        let runtime = DeliveryRuntime(store: store, transport: transport, clock: clock, logger: logger)
        let engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger, runtime: runtime)
        let puller = Puller(engine: engine, fetcher: runtime, clock: clock, logger: logger,
                            locate: { connector, path in
                                if let files { return files }
                                return try Puller.locate(resolver: resolver)(connector, path)
                            })
        return Setup(store: store, engine: engine, puller: puller, runtime: runtime, transport: transport)
    }

    static func serve(_ api: FakeAPI, _ body: (Int) async throws -> Void) async throws {
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "api")
        logger.logLevel = .critical
        let application = Application(responder: api, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                      onServerRunning: { port.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let server = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let bound = try #require(await iterator.next())
        api.port.withLock { $0 = bound }
        do {
            try await body(bound)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await server.value
    }

    @Test(.timeLimit(.minutes(10)))
    func aPollReadsEveryPageOnceWithItsCredentialAndWaitsOutA429() async throws {
        let api = FakeAPI()
        try await Self.serve(api) { port in try await TemporaryDirectory.withAsync { folder in
            let setup = try Self.setup(Self.connector(port: port), folder: folder)
            let first = await setup.puller.run("issues")
            #expect(first.outcome == .finished)
            #expect(first.rateLimited == 1 && first.pages == 3 && first.counts.stored == 9)
            let seen = api.seen.withLock { $0 }
            #expect(seen.count == 4)
            #expect(seen.allSatisfy { $0.authorization == "Bearer t0k" })
            #expect(seen.allSatisfy { $0.key == nil }, "a read sends no idempotency key")
            #expect(seen[0].query == "since=2024-01-01T00%3A00%3A00Z" && seen[1].query == seen[0].query)
            #expect(seen[2].query == "page=2" && seen[3].query == "page=3")
            var state = try #require(try await setup.store.pullState("issues")).state
            #expect(state["cursors"]?[""] == "2024-06-01T03:02:00Z")
            // The run's requests are recorded without the token.
            #expect(first.requests.allSatisfy { !$0.contains("t0k") })

            // The next run asks from the cursor. This API ignores the filter and answers everything again: what is
            // older than the cursor is skipped, the record at the cursor (inclusive) is read again, no new event.
            let second = await setup.puller.run("issues")
            #expect(second.outcome == .finished && second.counts.stored == 0)
            #expect(second.skipped == 8 && second.counts.duplicates == 1)
            #expect(api.seen.withLock { $0[4].query } == "since=2024-06-01T03%3A02%3A00Z")
            state = try #require(try await setup.store.pullState("issues")).state
            #expect(state["stats"]?["runs"] == 2 && state["stats"]?["failing_runs"] == 0)
            #expect(try await setup.store.count() == 9)
            await setup.close()
        } }
    }

    @Test(.timeLimit(.minutes(10)))
    func aRunThatFailsMidwayResumesAtTheFailedPageNotTheFirst() async throws {
        let api = FakeAPI()
        api.limitFirst.store(false, ordering: .relaxed)
        api.failing.store(true, ordering: .relaxed)
        try await Self.serve(api) { port in try await TemporaryDirectory.withAsync { folder in
            let setup = try Self.setup(Self.connector(port: port), folder: folder)
            let failed = await setup.puller.run("issues")
            guard case .failed(let reason) = failed.outcome else { Issue.record("not failed: \(failed.outcome)"); return }
            #expect(reason.contains("page 2 (http://127.0.0.1:\(port)/items?page=2): the target answered 500, 2 attempts"), "\(reason)")
            #expect(failed.summary == "3 stored, 1 page, 1 retry", "\(failed.summary)")
            var state = try #require(try await setup.store.pullState("issues")).state
            #expect(state["stats"]?["failing_runs"] == 1)
            #expect(state["stats"]?["last_error"]?.stringValue == reason)
            #expect(state["run"]?["next_url"] == .string("http://127.0.0.1:\(port)/items?page=2"))
            #expect(try await setup.store.count() == 3)
            // What the pull_failing rule and `manifold_pull_failing_runs` read.
            #expect(setup.engine.metrics.pullHealth["issues"]?.failing == 1)
            #expect(setup.engine.metrics.pullHealth["issues"]?.lastError == reason)

            api.failing.store(false, ordering: .relaxed)
            let before = api.seen.withLock { $0.count }
            let resumed = await setup.puller.run("issues")
            #expect(resumed.outcome == .finished && resumed.counts.stored == 6)
            // Resumed at page 2: page 1 is not asked for again.
            #expect(api.seen.withLock { Array($0[before...]).map(\.query) } == ["page=2", "page=3"])
            state = try #require(try await setup.store.pullState("issues")).state
            #expect(state["stats"]?["failing_runs"] == 0 && state["run"] == .null)
            #expect(setup.engine.metrics.pullHealth["issues"]?.failing == 0)
            #expect(await setup.engine.scrape().contains("manifold_pull_failing_runs{connector=\"issues\"} 0"))
            #expect(try await setup.store.count() == 9)
            await setup.close()
        } }
    }

    /// A clock the test moves by hand; its wall time too, from when it was made.
    final class ManualClock: RuntimeClock {
        let current = Mutex<Duration>(.zero)
        let origin = Date()
        var now: Duration { current.withLock { $0 } }
        var wall: Date { origin.addingTimeInterval(now.timeInterval) }
        func sleep(until deadline: Duration) async throws {
            current.withLock { $0 = max($0, deadline) }
        }
        func advance(_ by: Duration) { current.withLock { $0 += by } }
    }

    /// When the engine's loop runs a pull next: at once when it never ran or a run is under way, else its schedule's
    /// next time after the last run's start (a files connector's `every`).
    @Test func aPullIsDueByItsScheduleAfterTheLastRun() throws {
        let last: Int64 = 1_717_243_200_000   // 2024-06-01T12:00:00Z, a Saturday
        let ran: JSON = ["stats": ["last_run_at": .number(Double(last))]]
        let files = PullSource.files(FilesSource(directory: ConfigString(literal: "in"), format: .csv, eventID: nil, eventType: nil,
                                                 every: .seconds(10), settle: .seconds(2)))
        #expect(Puller.due(files, state: ran, now: last + 1) == last + 10_000)
        #expect(Puller.due(files, state: .null, now: last + 1) == last + 1, "never ran: now")
        let weekly = PullSource.schedule(ScheduleSource(schedule: .cron(try CronSchedule("0 7 * * 1")), event: nil, eventType: "t"))
        #expect(Puller.due(weekly, state: ran, now: last + 1) == 1_717_398_000_000, "Monday 07:00")
        let underWay: JSON = ["run": ["started_at": .number(Double(last)), "page": 3], "stats": ["last_run_at": .number(Double(last))]]
        #expect(Puller.due(files, state: underWay, now: last + 5) == last + 5, "a run cut short resumes at once")
    }

    /// A clock whose sleeps wait until cancelled, remembering each deadline asked for.
    final class HoldingClock: RuntimeClock {
        let deadlines = Mutex<[Duration]>([])
        var now: Duration { .seconds(100) }
        func sleep(until deadline: Duration) async throws {
            deadlines.withLock { $0.append(deadline) }
            try await Task.sleep(for: .seconds(3600))
        }
    }

    /// The engine's loop runs a pull, then sleeps until its schedule's next time, whatever the run came to: a folder
    /// with nothing in it is looked at again in `every`, not at once and again and again.
    @Test(.timeLimit(.minutes(10)))
    func theLoopWaitsForTheScheduleAfterARunThatFoundNothing() async throws { try await TemporaryDirectory.withAsync { folder in
        let clock = HoldingClock()
        let drop = folder.appending(path: "empty")
        try FileManager.default.createDirectory(at: drop, withIntermediateDirectories: true)
        let setup = try Self.setup(Self.pulled("files: { directory: drop, format: jsonl, every: 1h }"), folder: folder, clock: clock, files: drop)
        setup.puller.sync()
        let deadline = ContinuousClock.now + .seconds(300)
        // (`try?`: cancelled, the test still closes what it opened below.)
        while clock.deadlines.withLock({ $0.isEmpty }), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        setup.puller.stop()
        // One run, then one sleep until `every` after that run's start (less the time the run took, however busy the
        // machine: an hour, so that no run outlasts it).
        let deadlines = clock.deadlines.withLock { $0 }
        #expect(deadlines.count == 1 && deadlines[0] > .seconds(100 + 3_600 - 600) && deadlines[0] <= .seconds(100 + 3_600),
                "\(deadlines)")
        // Counted before the loop sleeps; a second run (a schedule outlasted by a starved run) would count 2.
        let idle = #"manifold_pull_runs_total{connector="issues",outcome="idle"} 1"#
        let scraped = await setup.engine.scrape()
        #expect(scraped.contains(idle), "\(scraped.split(separator: "\n").filter { $0.contains("pull_runs") })")
        await setup.close()
    } }

    @Test func aScheduleMakesOneEventPerTickWhateverHowOftenItRuns() async throws { try await TemporaryDirectory.withAsync { folder in
        let clock = ManualClock()
        let setup = try Self.setup(Self.pulled(#"schedule: { every: 1h, event_type: hourly, event: { at: "{% $tick %}" } }"#),
                                   folder: folder, clock: clock)
        let first = await setup.puller.run("issues")
        #expect(first.outcome == .finished && first.counts.stored == 1)
        #expect(await setup.puller.run("issues").outcome == .idle, "the same hour: no second tick")
        clock.advance(.seconds(3600))
        #expect(await setup.puller.run("issues").counts.stored == 1, "the next hour's tick")
        let events = try await setup.store.events(EventQuery(limit: 10))
        #expect(events.count == 2 && events.allSatisfy { $0.eventType == "hourly" && $0.eventID.hasPrefix("tick:") })
        let body = try #require(try await setup.store.event(id: events[0].id)).body
        #expect(String(decoding: body, as: UTF8.self).hasPrefix(#"{"at":""#))
        await setup.close()
    } }

    @Test func aFileStillBeingWrittenIsNotReadUntilItStaysUnchanged() async throws { try await TemporaryDirectory.withAsync { folder in
        let drop = folder.appending(path: "drop")
        try FileManager.default.createDirectory(at: drop, withIntermediateDirectories: true)
        let clock = ManualClock()
        let setup = try Self.setup(Self.pulled("files: { directory: drop, format: jsonl, settle: 2s }"), folder: folder, clock: clock, files: drop)
        let file = drop.appending(path: "rows.jsonl")
        try Data("{\"id\":1}\n".utf8).write(to: file)
        try Data("ignored".utf8).write(to: drop.appending(path: "next.jsonl.part"))
        #expect(await setup.puller.run("issues").outcome == .idle)          // first seen
        clock.advance(.seconds(1))
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"id\":2}\n".utf8))
        try handle.close()
        // Changed since: not read; its two seconds start again.
        clock.advance(.seconds(2))
        #expect(await setup.puller.run("issues").outcome == .idle)
        clock.advance(.seconds(2))
        let read = await setup.puller.run("issues")
        #expect(read.outcome == .finished && read.counts.stored == 2, "\(read)")
        #expect(read.files == ["rows.jsonl -> done/ (2 rows)"])
        #expect(FileManager.default.fileExists(atPath: drop.appending(path: "done/rows.jsonl").path))
        #expect(FileManager.default.fileExists(atPath: drop.appending(path: "next.jsonl.part").path))
        await setup.close()
    } }
}

/// A table read in batches through the real engine and store.
@Suite struct SQLPullTests {
    static func connector(_ database: String, batch: Int, query: String = "SELECT * FROM items WHERE seq > :cursor ORDER BY seq LIMIT :limit") -> String {
        """
        connector: issues
        source:
          sql: { database: "\(database)", query: "\(query)", cursor: { column: seq, start: 0 }, event_id: "$string(id) & '@' & $string(seq)", event_type: "'item'", every: 1m, batch: \(batch) }
        targets:
          api:
            base_url: http://127.0.0.1:9
            operations:
              list: { method: GET, path: /items }
        routes:
          - name: none
            when: id = -1
            call: api.list
        """
    }

    @Test func changedRowsAreNewEventsAndTheCursorMovesBatchByBatch() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let table = folder.appending(path: "t.db").path
            try SQLiteTableReader.prepare(path: table, statements: [
                "CREATE TABLE items (id INTEGER, seq INTEGER)", "INSERT INTO items VALUES (1, 1), (2, 2), (3, 3)",
            ])
            let setup = try PullTests.setup(Self.connector(table, batch: 2), folder: folder)
            let first = await setup.puller.run("issues")
            #expect(first.outcome == .finished && first.counts.stored == 3 && first.pages == 2, "\(first)")
            #expect(try await setup.store.events(EventQuery(limit: 10)).allSatisfy { $0.eventType == "item" })
            #expect(try await setup.store.pullState("issues")?.state["cursors"]?[""] == 3)
            // Item 2 changes (its seq moves on), item 4 arrives: two events; nothing else is read again.
            try SQLiteTableReader.prepare(path: table, statements: ["UPDATE items SET seq = 4 WHERE id = 2", "INSERT INTO items VALUES (4, 5)"])
            let second = await setup.puller.run("issues")
            #expect(second.outcome == .finished && second.counts.stored == 2 && second.counts.duplicates == 0, "\(second)")
            #expect(try await setup.store.pullState("issues")?.state["cursors"]?[""] == 5)
            #expect(try await setup.store.count() == 5)
            await setup.close()
        }
    }

    @Test func aRunStopsAtMaxBatchesAndTheNextContinues() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let table = folder.appending(path: "t.db").path
            try SQLiteTableReader.prepare(path: table, statements: [
                "CREATE TABLE items (id INTEGER, seq INTEGER)", "INSERT INTO items VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)",
            ])
            let setup = try PullTests.setup(Self.connector(table, batch: 2).replacingOccurrences(of: "batch: 2 }", with: "batch: 2, max_batches: 1 }"),
                                            folder: folder)
            let first = await setup.puller.run("issues")
            #expect(first.outcome == .paused && first.counts.stored == 2, "\(first)")
            let second = await setup.puller.run("issues")
            #expect(second.outcome == .paused && second.counts.stored == 2)
            let third = await setup.puller.run("issues")
            #expect(third.outcome == .finished && third.counts.stored == 1)
            #expect(try await setup.store.pullState("issues")?.state["cursors"]?[""] == 5)
            await setup.close()
        }
    }

    @Test func aFullBatchThatCannotMoveTheCursorStopsTheRunSayingWhy() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let table = folder.appending(path: "t.db").path
            try SQLiteTableReader.prepare(path: table, statements: [
                "CREATE TABLE items (id INTEGER, seq INTEGER)", "INSERT INTO items VALUES (1, 7), (2, 7), (3, 7)",
            ])
            let setup = try PullTests.setup(Self.connector(table, batch: 2, query: "SELECT * FROM items WHERE seq >= :cursor ORDER BY seq LIMIT :limit"),
                                            folder: folder)
            // The first batch moves the cursor to 7 (and is stored); the second holds only 7s, full: it cannot move on.
            let run = await setup.puller.run("issues")
            #expect(run.counts.stored == 2)
            guard case .failed(let reason) = run.outcome else { Issue.record("not failed: \(run.outcome)"); await setup.close(); return }
            #expect(reason.contains("batch 2: all 2 rows hold seq = 7: the cursor cannot move past them"), "\(reason)")
            #expect(setup.engine.metrics.pullHealth["issues"]?.failing == 1)
            await setup.close()
        }
    }
}
