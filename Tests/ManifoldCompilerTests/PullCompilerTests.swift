import Foundation
@testable import ManifoldCompiler
import ManifoldPlan
import Testing

/// `validate` on pull sources: one schedule, a cron that reads, a call that exists, pagination that fits its kind,
/// a cursor that is read and a partition that is used, each said at its place.
@Suite struct PullCompilerTests {
    static func connector(_ source: String) -> String {
        """
        connector: pulled
        version: 1
        source:
        \(source.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
        targets:
          api:
            base_url: https://api.example.com
            operations:
              list: { method: GET, path: /items }
              child: { method: GET, path: "/parents/{id}/items" }
              create: { method: POST, path: /items }
        routes:
          - name: all
            call: api.create
        """
    }

    static func messages(_ source: String) -> [String] {
        Fixtures.compile(["f.yaml": connector(source)]).diagnostics.map(\.description)
    }

    @Test func aPollCompilesWithEveryPartAndItsDefaults() throws {
        let result = Fixtures.compile(["f.yaml": Self.connector("""
            poll:
              cron: "*/5 * * * *"
              call: api.child
              path: { id: "{% $partition %}" }
              query: { since: "{% $cursor %}" }
              records: data
              event_id: id
              paginate: { type: offset, param: offset, size: 50, size_param: limit }
              cursor: { field: updated_at, lookback: 1h }
              partitions: { call: api.list, records: $, value: id, paginate: { type: link } }
            """)])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let pulled = try #require(result.plan?.connectors.first)
        #expect(pulled.source == nil)
        guard case .poll(let poll)? = pulled.pull else { Issue.record("no poll"); return }
        #expect(poll.schedule == .cron(try CronSchedule("*/5 * * * *")))
        #expect(poll.request.call == "api.child" && poll.maxPages == PollSource.defaultMaxPages)
        #expect(poll.paginate?.kind == .offset && poll.paginate?.size == 50)
        #expect(poll.cursor?.kind == .datetime && poll.cursor?.format == .iso8601 && poll.cursor?.inclusive == true)
        #expect(poll.cursor?.lookback == .seconds(3600))
        #expect(poll.partitions?.request.call == "api.list" && poll.partitions?.paginate?.kind == .link)
    }

    @Test func oneScheduleExactly() {
        #expect(Self.messages("poll: { call: api.list, records: $, event_id: id }")
            .contains { $0.contains("source.poll needs a schedule: every (e.g. every: 5m) or cron") })
        #expect(Self.messages("poll: { every: 5m, cron: \"0 * * * *\", call: api.list, records: $, event_id: id }")
            .contains { $0.contains("has both every and cron: give one") })
        let bad = Self.messages("poll: { cron: \"0 25 * * *\", call: api.list, records: $, event_id: id }")
        #expect(bad.contains { $0.hasPrefix("f.yaml:4:") && $0.contains("cron: the hour field '25' is outside 0-23") }, "\(bad)")
    }

    @Test func theCallMustExistAndReadNotWrite() {
        let typo = Self.messages("poll: { every: 5m, call: api.lst, records: $, event_id: id }")
        #expect(typo.contains { $0.contains("target 'api' has no operation 'lst'; did you mean 'api.list'?") }, "\(typo)")
        let target = Self.messages("poll: { every: 5m, call: apy.list, records: $, event_id: id }")
        #expect(target.contains { $0.contains("poll calls unknown target 'apy'; did you mean 'api.list'?") }, "\(target)")
        let post = Self.messages("poll: { every: 5m, call: api.create, records: $, event_id: id }")
        #expect(post.contains { $0.contains("warning: poll calls api.create with POST: a poll reads, usually with GET") }, "\(post)")
        let path = Self.messages("poll: { every: 5m, call: api.child, records: $, event_id: id }")
        #expect(path.contains { $0.contains("whose path /parents/{id}/items needs a value for {id}") }, "\(path)")
    }

    @Test func paginationSettingsFitTheirKind() {
        let cursor = Self.messages("poll: { every: 5m, call: api.list, records: $, event_id: id, paginate: { type: cursor } }")
        #expect(cursor.contains { $0.contains("paginate type cursor sends its token as a query parameter: give param") }, "\(cursor)")
        #expect(cursor.contains { $0.contains("paginate type cursor reads the next token from the answer: give value") })
        let offset = Self.messages("poll: { every: 5m, call: api.list, records: $, event_id: id, paginate: { type: offset, param: o } }")
        #expect(offset.contains { $0.contains("paginate type offset advances by size: give size") }, "\(offset)")
        let next = Self.messages("poll: { every: 5m, call: api.list, records: $, event_id: id, paginate: { type: next_url } }")
        #expect(next.contains { $0.contains("paginate type next_url reads the next URL from the answer: give value") })
        let link = Self.messages("poll: { every: 5m, call: api.list, records: $, event_id: id, paginate: { type: link, value: next } }")
        #expect(link.contains { $0.contains("warning: paginate type link reads the Link header: value has no effect") })
        let kind = Self.messages("poll: { every: 5m, call: api.list, records: $, event_id: id, paginate: { type: pages } }")
        #expect(kind.contains { $0.contains("paginate.type") }, "\(kind)")
    }

    @Test func aCursorMustBeReadAndFitItsType() {
        let unread = Self.messages("poll: { every: 5m, call: api.list, records: $, event_id: id, cursor: { field: at } }")
        #expect(unread.contains { $0.contains("warning: the cursor is kept but no query or path value reads $cursor") }, "\(unread)")
        let id = Self.messages("poll: { every: 5m, call: api.list, query: { after: \"{% $cursor %}\" }, records: $, event_id: id, cursor: { field: n, type: id, lookback: 1h } }")
        #expect(id.contains { $0.contains("cursor.lookback is a time: it applies to a datetime cursor, not an id") }, "\(id)")
        let step = Self.messages("poll: { every: 5m, call: api.list, query: { after: \"{% $cursor %}\" }, records: $, event_id: id, cursor: { field: at, step: 1d } }")
        #expect(step.contains { $0.contains("cursor.step reads windows from cursor.start: give start") }, "\(step)")
        let start = Self.messages("poll: { every: 5m, call: api.list, query: { after: \"{% $cursor %}\" }, records: $, event_id: id, cursor: { field: at, start: soon } }")
        #expect(start.contains { $0.contains("cursor.start \"soon\" is not a datetime") }, "\(start)")
    }

    @Test func partitionsMustBeReadByTheRequest() {
        let unread = Self.messages("poll: { every: 5m, call: api.list, records: $, event_id: id, partitions: { call: api.list, records: $, value: id } }")
        #expect(unread.contains { $0.contains("partitions are listed but no query or path value of the request reads $partition") }, "\(unread)")
    }

    @Test func aTableIsReadInBatchesFromAnSQLiteFile() {
        let postgres = Self.messages("sql: { database: \"postgres://db/shop\", query: \"SELECT * FROM t WHERE u > :cursor ORDER BY u LIMIT :limit\", cursor: { column: u }, event_id: id, every: 1m }")
        #expect(postgres.contains { $0.contains("sql.database: a PostgreSQL table cannot be read yet; this source reads SQLite files") }, "\(postgres)")
        let unbounded = Self.messages("sql: { database: shop.db, query: \"SELECT * FROM t\", cursor: { column: u }, event_id: id, every: 1m }")
        #expect(unbounded.contains { $0.contains("error: sql.query must read :limit") }, "\(unbounded)")
        #expect(unbounded.contains { $0.contains("warning: sql.query does not read :cursor") })
        #expect(unbounded.contains { $0.contains("warning: sql.query has no ORDER BY") })
        let good = Fixtures.compile(["f.yaml": Self.connector("sql: { database: shop.db, query: \"SELECT * FROM t WHERE u > :cursor ORDER BY u LIMIT :limit\", cursor: { column: u, start: 0 }, event_id: id, cron: \"* * * * *\" }")])
        guard case .sql(let sql)? = good.plan?.connectors.first?.pull else { Issue.record("\(good.diagnostics)"); return }
        #expect(sql.batch == 500 && sql.maxBatches == 1000 && sql.cursorColumn == "u" && sql.start == 0)
    }

    @Test func exactlyOneSourceAndTheOthersKinds() {
        let both = Self.messages("""
            webhook: { path: /in, verify: { scheme: none }, event_id: id }
            schedule: { every: 1h }
            """)
        #expect(both.contains { $0.contains("source") }, "\(both)")
        let files = Fixtures.compile(["f.yaml": Self.connector("files: { directory: \"${env:DROP}\", format: jsonl }")])
        guard case .files(let source)? = files.plan?.connectors.first?.pull else { Issue.record("\(files.diagnostics)"); return }
        #expect(source.directory.description == "${env:DROP}" && source.every == .seconds(5) && source.settle == .seconds(2))
        let schedule = Fixtures.compile(["f.yaml": Self.connector("schedule: { cron: \"0 7 * * 1\" }")])
        guard case .schedule(let tick)? = schedule.plan?.connectors.first?.pull else { Issue.record("\(schedule.diagnostics)"); return }
        #expect(tick.eventType == "schedule")
    }
}
