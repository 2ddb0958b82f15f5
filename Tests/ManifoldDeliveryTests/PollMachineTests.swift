import JSONValue
import ManifoldCompiler
@testable import ManifoldDelivery
import ManifoldPlan
import Testing

/// The poll's state machine on its own: pages in, records and progress out, no I/O. The progress is JSON that a new
/// machine resumes from, as the engine does after a crash.
@Suite struct PollMachineTests {
    /// 2024-06-01T12:00:00Z in Unix milliseconds: the run's start.
    static let now: Int64 = 1_717_243_200_000

    static func program(_ poll: String) throws -> PollProgram {
        let yaml = """
            connector: polled
            source:
              poll:
            \(poll.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            targets:
              api:
                base_url: https://api.example.com
                operations:
                  list: { method: GET, path: /items }
                  children: { method: GET, path: "/parents/{id}/items" }
            routes:
              - name: all
                call: api.list
            """
        let result = ConnectorCompiler().compile([SourceFile(path: "polled.yaml", text: yaml)])
        let plan = try #require(result.plan, "\(result.diagnostics)")
        guard case .poll(let source)? = plan.connectors[0].pull else { throw Failure("not a poll") }
        return try PollProgram(connector: "polled", source: source)
    }

    struct Failure: Error { var text: String; init(_ text: String) { self.text = text } }

    static let stripeLike = """
        every: 5m
        call: api.list
        query: { since: "{% $cursor %}" }
        records: data
        event_id: id
        paginate: { type: cursor, param: after, value: $last.id, stop: "$not($response.has_more)" }
        cursor: { field: created, format: unix, start: 1717200000, lookback: 10m }
        """

    static func page(_ ids: [(String, Int)], more: Bool) -> JSON {
        ["data": .array(ids.map { ["id": .string($0.0), "created": .number(Double($0.1))] }), "has_more": .bool(more)]
    }

    @Test func pagesUntilTheStopThenCommitsTheHighestCursor() throws {
        var machine = PollMachine(program: try Self.program(Self.stripeLike), stored: nil, now: Self.now)
        let first = try #require(machine.nextFetch())
        #expect(first.bindings["cursor"] == .number(1_717_199_400))   // the start less the lookback
        #expect(first.query.isEmpty && first.page == 1)
        let one = machine.receive(body: Self.page([("c3", 1_717_240_000), ("c2", 1_717_230_000)], more: true), headers: [], requestURL: "u1")
        #expect(one.records.count == 2)
        #expect(machine.state == .ready)
        // The run's place is in the progress: the next page's token.
        #expect(one.progress["run"]?["next_value"] == "c2")
        #expect(one.progress["cursors"]?[""] == nil)
        let second = try #require(machine.nextFetch())
        #expect(second.query == [.init(name: "after", value: "c2")])
        let two = machine.receive(body: Self.page([("c1", 1_717_210_000)], more: false), headers: [], requestURL: "u2")
        #expect(machine.state == .finished)
        #expect(machine.nextFetch() == nil)
        // Newest first, the highest value wins; the run is over.
        #expect(two.progress["cursors"]?[""] == .number(1_717_240_000))
        #expect(two.progress["run"] == .null)
    }

    @Test func aNewMachineResumesFromTheCommittedPageAndKeepsTheRunsStart() throws {
        let program = try Self.program(Self.stripeLike)
        var machine = PollMachine(program: program, stored: nil, now: Self.now)
        _ = machine.nextFetch()
        let committed = machine.receive(body: Self.page([("c9", 1_717_240_000)], more: true), headers: [], requestURL: "u1").progress
        // The engine dies here; the next one starts an hour later from what was committed.
        var resumed = PollMachine(program: program, stored: committed, now: Self.now + 3_600_000)
        #expect(resumed.runStartedAt == Self.now)
        let fetch = try #require(resumed.nextFetch())
        #expect(fetch.query == [.init(name: "after", value: "c9")] && fetch.page == 2)
        let end = resumed.receive(body: Self.page([("c8", 1_717_230_000)], more: false), headers: [], requestURL: "u2")
        // The highest value of the whole run, both machines' pages: the first's was carried in the progress.
        #expect(end.progress["cursors"]?[""] == .number(1_717_240_000))
    }

    @Test func theCursorNeverPassesTheRunsStart() throws {
        var machine = PollMachine(program: try Self.program(Self.stripeLike), stored: nil, now: Self.now)
        _ = machine.nextFetch()
        let page = machine.receive(body: Self.page([("late", 1_717_250_000)], more: false), headers: [], requestURL: "u")
        #expect(page.records.count == 1)
        #expect(page.progress["cursors"]?[""] == .number(1_717_243_200))
    }

    @Test func recordsOlderThanTheCursorLessTheLookbackAreSkippedAndTheBoundaryKept() throws {
        let stored: JSON = ["cursors": ["": .number(1_717_240_000)]]
        var machine = PollMachine(program: try Self.program(Self.stripeLike), stored: stored, now: Self.now)
        #expect(machine.nextFetch()?.bindings["cursor"] == .number(1_717_239_400))
        let page = machine.receive(body: Self.page([("new", 1_717_242_000), ("edge", 1_717_239_400), ("old", 1_717_239_399)], more: false),
                                   headers: [], requestURL: "u")
        #expect(page.records.compactMap { $0["id"]?.stringValue } == ["new", "edge"])
        #expect(page.skipped == 1)
    }

    @Test func anExclusiveCursorSkipsTheRecordAtTheCursor() throws {
        let program = try Self.program("""
            every: 5m
            call: api.list
            query: { after_id: "{% $cursor %}" }
            records: $
            event_id: $string(id)
            cursor: { field: id, type: id, inclusive: false }
            """)
        var machine = PollMachine(program: program, stored: ["cursors": ["": 7]], now: Self.now)
        #expect(machine.nextFetch()?.bindings["cursor"] == 7)
        let page = machine.receive(body: [["id": 7], ["id": 9], ["id": 8]], headers: [], requestURL: "u")
        #expect(page.records.compactMap { $0["id"]?.numberValue } == [9, 8])
        #expect(page.progress["cursors"]?[""] == 9)
    }

    @Test func aPageRepeatedRecordForRecordStopsTheRunNamingIt() throws {
        let program = try Self.program("""
            every: 5m
            call: api.list
            records: items
            event_id: id
            paginate: { type: page, param: p, start: 1 }
            """)
        var machine = PollMachine(program: program, stored: nil, now: Self.now)
        #expect(machine.nextFetch()?.query == [.init(name: "p", value: "1")])
        _ = machine.receive(body: ["items": [["id": "a"]]], headers: [], requestURL: "u?p=1")
        #expect(machine.nextFetch()?.query == [.init(name: "p", value: "2")])
        _ = machine.receive(body: ["items": [["id": "b"]]], headers: [], requestURL: "u?p=2")
        let repeated = machine.receive(body: ["items": [["id": "b"]]], headers: [], requestURL: "u?p=3")
        #expect(repeated.records.isEmpty)
        #expect(machine.state == .failed("page 3 (u?p=3) repeats page 2 record for record: the API repeats a page, so the run stops here and keeps its place"))
        #expect(machine.nextFetch() == nil)
        // Its place is kept: the page after the last good one.
        #expect(repeated.progress["run"]?["next_value"] == "3")
    }

    @Test func aTokenSeenBeforeInTheRunStopsIt() throws {
        let program = try Self.program("""
            every: 5m
            call: api.list
            records: data
            event_id: id
            paginate: { type: cursor, param: cursor, value: next }
            """)
        var machine = PollMachine(program: program, stored: nil, now: Self.now)
        _ = machine.nextFetch()
        _ = machine.receive(body: ["data": [["id": "a"]], "next": "t1"], headers: [], requestURL: "u1")
        _ = machine.nextFetch()
        _ = machine.receive(body: ["data": [["id": "b"]], "next": "t2"], headers: [], requestURL: "u2")
        _ = machine.nextFetch()
        let page = machine.receive(body: ["data": [["id": "c"]], "next": "t1"], headers: [], requestURL: "u3")
        // The records of the page are kept; the run stops before asking for t1 again.
        #expect(page.records.count == 1)
        guard case .failed(let reason) = machine.state else { Issue.record("not failed: \(machine.state)"); return }
        #expect(reason.contains("page 3 (u3) points to the page 2 was read from (cursor=t1)"))
    }

    @Test func linkHeadersOffsetsAndAnEmptyPageEndTheChain() throws {
        let link = try Self.program("""
            every: 5m
            call: api.list
            records: $
            event_id: id
            paginate: { type: link }
            """)
        var machine = PollMachine(program: link, stored: nil, now: Self.now)
        _ = machine.nextFetch()
        _ = machine.receive(body: [["id": "a"]], headers: [("Link", #"<https://api.example.com/items?page=2>; rel="next", <https://api.example.com/items?page=9>; rel="last""#)],
                            requestURL: "u1")
        #expect(machine.nextFetch()?.url == "https://api.example.com/items?page=2")
        _ = machine.receive(body: [["id": "b"]], headers: [("link", #"<https://api.example.com/items?page=1>; rel="prev""#)], requestURL: "u2")
        #expect(machine.state == .finished)

        let offset = try Self.program("""
            every: 5m
            call: api.list
            records: rows
            event_id: id
            paginate: { type: offset, param: offset, size: 2, size_param: limit }
            """)
        var paging = PollMachine(program: offset, stored: nil, now: Self.now)
        #expect(paging.nextFetch()?.query == [.init(name: "limit", value: "2"), .init(name: "offset", value: "0")])
        // A short page does not end it (an API may give fewer than asked before the end): only an empty one does.
        _ = paging.receive(body: ["rows": [["id": "a"]]], headers: [], requestURL: "u1")
        #expect(paging.nextFetch()?.query == [.init(name: "limit", value: "2"), .init(name: "offset", value: "1")])
        _ = paging.receive(body: ["rows": []], headers: [], requestURL: "u2")
        #expect(paging.state == .finished)
    }

    @Test func aNextURLFromTheBodyIsFollowedUntilThereIsNone() throws {
        let program = try Self.program("""
            every: 5m
            call: api.list
            records: results
            event_id: id
            paginate: { type: next_url, value: links.next }
            """)
        var machine = PollMachine(program: program, stored: nil, now: Self.now)
        _ = machine.nextFetch()
        _ = machine.receive(body: ["results": [["id": "a"]], "links": ["next": "/items?cursor=Zm9v"]], headers: [], requestURL: "u1")
        // As given: the runtime resolves it against the request and keeps it on the target's origin.
        #expect(machine.nextFetch()?.url == "/items?cursor=Zm9v")
        _ = machine.receive(body: ["results": [["id": "b"]], "links": ["next": .null]], headers: [], requestURL: "u2")
        #expect(machine.state == .finished)
    }

    @Test func thePageLimitPausesTheRunAtItsPlace() throws {
        let program = try Self.program("""
            every: 5m
            call: api.list
            records: data
            event_id: id
            paginate: { type: page, param: page }
            max_pages: 2
            """)
        var machine = PollMachine(program: program, stored: nil, now: Self.now)
        _ = machine.nextFetch()
        _ = machine.receive(body: ["data": [["id": "1"]]], headers: [], requestURL: "u1")
        _ = machine.nextFetch()
        let second = machine.receive(body: ["data": [["id": "2"]]], headers: [], requestURL: "u2")
        #expect(machine.state == .paused)
        var next = PollMachine(program: program, stored: second.progress, now: Self.now + 300_000)
        #expect(next.nextFetch()?.query == [.init(name: "page", value: "3")])
        _ = next.receive(body: ["data": []], headers: [], requestURL: "u3")
        #expect(next.state == .finished)
    }

    @Test func windowsWalkFromTheCursorToTheRunsStartCommittingEachEnd() throws {
        let program = try Self.program("""
            every: 1h
            call: api.list
            query: { from: "{% $cursor %}", to: "{% $cursor_end %}" }
            records: data
            event_id: id
            cursor: { field: at, start: "2024-06-01T00:00:00Z", step: 5h }
            """)
        var machine = PollMachine(program: program, stored: nil, now: Self.now)
        var windows: [(JSON?, JSON?)] = []
        var progress: JSON = .null
        while let fetch = machine.nextFetch() {
            windows.append((fetch.bindings["cursor"], fetch.bindings["cursor_end"]))
            progress = machine.receive(body: ["data": []], headers: [], requestURL: "u").progress
            if windows.count == 1 { #expect(progress["cursors"]?[""] == "2024-06-01T05:00:00Z") }
        }
        #expect(windows.map { $0.0?.stringValue ?? "" } == ["2024-06-01T00:00:00Z", "2024-06-01T05:00:00Z", "2024-06-01T10:00:00Z"])
        #expect(windows.map { $0.1?.stringValue ?? "" } == ["2024-06-01T05:00:00Z", "2024-06-01T10:00:00Z", "2024-06-01T12:00:00Z"])
        #expect(progress["cursors"]?[""] == "2024-06-01T12:00:00Z")
    }

    @Test func partitionsAreListedThenEachReadWithItsOwnCursor() throws {
        let program = try Self.program("""
            every: 1h
            call: api.children
            path: { id: "{% $partition %}" }
            query: { since: "{% $cursor %}" }
            records: items
            event_id: id
            cursor: { field: n, type: id }
            partitions: { call: api.list, records: parents, value: id, paginate: { type: cursor, param: after, value: next } }
            """)
        var machine = PollMachine(program: program, stored: ["cursors": ["p1": 4]], now: Self.now)
        let list = try #require(machine.nextFetch())
        #expect(list.parent && list.bindings.isEmpty)
        // The parents come over two pages of their own pagination.
        let listed = machine.receive(body: ["parents": [["id": "p1"]], "next": "x"], headers: [], requestURL: "parents")
        #expect(listed.records.isEmpty)
        let more = try #require(machine.nextFetch())
        #expect(more.parent && more.query == [.init(name: "after", value: "x")])
        _ = machine.receive(body: ["parents": [["id": "p2"]]], headers: [], requestURL: "parents?after=x")
        let first = try #require(machine.nextFetch())
        #expect(!first.parent && first.bindings["partition"] == "p1" && first.bindings["cursor"] == 4)
        _ = machine.receive(body: ["items": [["id": "x", "n": 6]]], headers: [], requestURL: "p1")
        let second = try #require(machine.nextFetch())
        #expect(second.bindings["partition"] == "p2" && second.bindings["cursor"] == nil)
        let end = machine.receive(body: ["items": [["id": "y", "n": 2]]], headers: [], requestURL: "p2")
        #expect(machine.state == .finished)
        #expect(end.progress["cursors"] == ["p1": 6, "p2": 2])
    }

    @Test func anExpressionThatFailsStopsTheRunWithWhere() throws {
        let program = try Self.program("""
            every: 5m
            call: api.list
            records: $number(data)
            event_id: id
            """)
        var machine = PollMachine(program: program, stored: nil, now: Self.now)
        _ = machine.nextFetch()
        _ = machine.receive(body: ["data": "not a number"], headers: [], requestURL: "u")
        guard case .failed(let reason) = machine.state else { Issue.record("not failed"); return }
        #expect(reason.hasPrefix("page 1: records ($number(data)) failed"))
    }
}

/// Five-field cron in UTC: the next time after a given one.
@Suite struct CronScheduleTests {
    static func unix(_ text: String) -> Int64 { PollCursor.milliseconds(of: .string(text), format: .iso8601)! / 1000 }
    static func text(_ seconds: Int64) -> String { PollCursor.written(seconds * 1000, format: .iso8601).stringValue! }

    @Test func nextTimes() throws {
        let weekly = try CronSchedule("0 7 * * 1")
        #expect(Self.text(weekly.next(after: Self.unix("2024-06-01T12:00:00Z"))) == "2024-06-03T07:00:00Z")
        #expect(Self.text(weekly.next(after: Self.unix("2024-06-03T07:00:00Z"))) == "2024-06-10T07:00:00Z")
        let steps = try CronSchedule("*/15 9-17 * * 1-5")
        #expect(Self.text(steps.next(after: Self.unix("2024-06-07T17:50:00Z"))) == "2024-06-10T09:00:00Z")
        #expect(Self.text(steps.next(after: Self.unix("2024-06-10T09:00:00Z"))) == "2024-06-10T09:15:00Z")
        // Both day fields restricted: either matches (the 1st of the month, or a Sunday).
        let either = try CronSchedule("0 0 1 * 0")
        #expect(Self.text(either.next(after: Self.unix("2024-06-01T00:00:00Z"))) == "2024-06-02T00:00:00Z")
        #expect(Self.text(either.next(after: Self.unix("2024-06-30T00:00:00Z"))) == "2024-07-01T00:00:00Z")
        let leap = try CronSchedule("30 6 29 2 *")
        #expect(Self.text(leap.next(after: Self.unix("2024-03-01T00:00:00Z"))) == "2028-02-29T06:30:00Z")
        #expect(Self.text(try CronSchedule("0 0 * * 7").next(after: Self.unix("2024-06-01T00:00:00Z"))) == "2024-06-02T00:00:00Z")
    }

    @Test func malformedExpressionsSayWhy() {
        #expect(throws: CronSchedule.Invalid.self) { try CronSchedule("0 7 * *") }
        for (text, reason) in [("60 * * * *", "minute field '60' is outside 0-59"), ("* * * 13 *", "month field '13' is outside 1-12"),
                               ("*/0 * * * *", "not a positive number"), ("a * * * *", "not a number, range or list")] {
            do {
                _ = try CronSchedule(text)
                Issue.record("\(text) accepted")
            } catch {
                #expect(error.description.contains(reason), "\(text): \(error.description)")
            }
        }
    }

    @Test func isoTimesReadAndWritten() {
        #expect(PollCursor.milliseconds(of: "2024-06-01T12:00:00.250+02:00", format: .iso8601) == 1_717_236_000_250)
        #expect(PollCursor.milliseconds(of: "2024-06-01", format: .iso8601) == 1_717_200_000_000)
        #expect(PollCursor.milliseconds(of: 1_717_200_000, format: .unix) == 1_717_200_000_000)
        #expect(PollCursor.milliseconds(of: "yesterday", format: .iso8601) == nil)
        #expect(PollCursor.written(1_717_236_000_250, format: .iso8601) == "2024-06-01T10:00:00.250Z")
        #expect(PollCursor.written(1_717_236_000_250, format: .unixMilliseconds) == 1_717_236_000_250)
    }
}
