import JSONValue
import ManifoldPlan

/// Pull sources: an API polled, a schedule, a folder of files. Checked here for what the schema cannot say: one
/// timing, a cron that reads, a call to an operation that exists, pagination settings that fit their kind.
extension ConnectorBuilder {
    mutating func buildPull(at pointer: JSONPointer, targets: [TargetPlan]) -> PullSource? {
        if value(pointer.appending("poll")) != nil {
            return buildPoll(at: pointer.appending("poll"), targets: targets).map(PullSource.poll)
        }
        if value(pointer.appending("schedule")) != nil {
            let at = pointer.appending("schedule")
            let schedule = pullSchedule(at: at)
            let event = value(at.appending("event")).map { template($0, at: at.appending("event")) }
            return schedule.map {
                .schedule(ScheduleSource(schedule: $0, event: event,
                                         eventType: value(at.appending("event_type"))?.stringValue ?? "schedule"))
            }
        }
        if value(pointer.appending("sql")) != nil {
            return buildSQL(at: pointer.appending("sql")).map(PullSource.sql)
        }
        if value(pointer.appending("files")) != nil {
            let at = pointer.appending("files")
            let every = value(at.appending("every")).map { duration($0, at: at.appending("every")) } ?? .seconds(5)
            let settle = value(at.appending("settle")).map { duration($0, at: at.appending("settle")) } ?? .seconds(2)
            let directory = configString(value(at.appending("directory")) ?? "", at: at.appending("directory"))
            return .files(FilesSource(directory: directory,
                                      format: FilesSource.Format(rawValue: value(at.appending("format"))?.stringValue ?? "") ?? .csv,
                                      eventID: expression(at: at.appending("event_id")),
                                      eventType: expression(at: at.appending("event_type")), every: every, settle: settle))
        }
        return nil
    }

    private mutating func buildSQL(at pointer: JSONPointer) -> SQLSource? {
        let schedule = pullSchedule(at: pointer)
        let database = configString(value(pointer.appending("database")) ?? "", at: pointer.appending("database"))
        if case .literal(let text)? = database.parts.first, text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            error("sql.database: a PostgreSQL table cannot be read yet; this source reads SQLite files (poll the data through an API, or export it as files)",
                  at: pointer.appending("database"))
        }
        let query = value(pointer.appending("query"))?.stringValue ?? ""
        if !query.contains(":limit") {
            error("sql.query must read :limit (LIMIT :limit): a run reads the table in batches, each committed with its cursor",
                  at: pointer.appending("query"))
        }
        if !query.contains(":cursor") {
            warning("sql.query does not read :cursor: every run would read the table from the beginning", at: pointer.appending("query"))
        }
        if !query.uppercased().contains("ORDER BY") {
            warning("sql.query has no ORDER BY: the cursor is the last row's value, so the rows must come in cursor order",
                    at: pointer.appending("query"))
        }
        guard let schedule, let eventID = expression(at: pointer.appending("event_id")) else { return nil }
        return SQLSource(database: database, query: query, cursorColumn: value(pointer.appending("cursor").appending("column"))?.stringValue ?? "",
                         start: value(pointer.appending("cursor").appending("start")), eventID: eventID,
                         eventType: expression(at: pointer.appending("event_type")), schedule: schedule,
                         batch: value(pointer.appending("batch"))?.intValue ?? 500,
                         maxBatches: value(pointer.appending("max_batches"))?.intValue ?? 1000)
    }

    /// `every` or `cron`, exactly one.
    private mutating func pullSchedule(at pointer: JSONPointer) -> PullSchedule? {
        let every = value(pointer.appending("every")), cron = value(pointer.appending("cron"))
        switch (every, cron) {
        case (let every?, nil):
            return .every(duration(every, at: pointer.appending("every")))
        case (nil, let cron?):
            do {
                return .cron(try CronSchedule(cron.stringValue ?? ""))
            } catch {
                self.error("cron: \(error.description)", at: pointer.appending("cron"))
                return nil
            }
        case (nil, nil):
            error("\(pointer.dotted) needs a schedule: every (e.g. every: 5m) or cron (e.g. cron: \"0 7 * * 1\")", at: pointer, key: true)
            return nil
        case (_?, _?):
            error("\(pointer.dotted) has both every and cron: give one", at: pointer.appending("cron"), key: true)
            return nil
        }
    }

    private mutating func buildPoll(at pointer: JSONPointer, targets: [TargetPlan]) -> PollSource? {
        let schedule = pullSchedule(at: pointer)
        let request = pollRequest(at: pointer, targets: targets, label: "poll")
        let paginate = pagination(at: pointer.appending("paginate"))
        var cursor: PollCursor?
        if value(pointer.appending("cursor")) != nil {
            let at = pointer.appending("cursor")
            let kind = PollCursor.Kind(rawValue: value(at.appending("type"))?.stringValue ?? "datetime") ?? .datetime
            let format = PollCursor.Format(rawValue: value(at.appending("format"))?.stringValue ?? "iso8601") ?? .iso8601
            let start = value(at.appending("start"))
            if kind == .datetime, let start, PollCursor.milliseconds(of: start, format: format) == nil {
                error("cursor.start \(start) is not a datetime in the cursor's format (\(format.rawValue)) nor ISO 8601", at: at.appending("start"))
            }
            let lookback = value(at.appending("lookback")).map { duration($0, at: at.appending("lookback")) }
            let step = value(at.appending("step")).map { duration($0, at: at.appending("step")) }
            if kind == .id {
                if lookback != nil { error("cursor.lookback is a time: it applies to a datetime cursor, not an id", at: at.appending("lookback")) }
                if step != nil { error("cursor.step is a time window: it applies to a datetime cursor, not an id", at: at.appending("step")) }
                if value(at.appending("format")) != nil { warning("cursor.format has no effect on an id cursor", at: at.appending("format")) }
            }
            if let step, start == nil {
                error("cursor.step reads windows from cursor.start: give start (the first window's beginning, \(step.manifoldText) wide)",
                      at: at.appending("step"))
            }
            cursor = PollCursor(field: expression(at: at.appending("field")) ?? ExpressionSource("null"), kind: kind, format: format,
                                start: start, lookback: lookback, step: step,
                                inclusive: value(at.appending("inclusive"))?.boolValue ?? true)
            if !readsCursor(pointer) {
                warning("the cursor is kept but no query or path value reads $cursor: every run would read everything again",
                        at: at)
            }
        }
        var partitions: Partitions?
        if value(pointer.appending("partitions")) != nil {
            let at = pointer.appending("partitions")
            let parent = pollRequest(at: at, targets: targets, label: "partitions")
            if let parent, let records = expression(at: at.appending("records")), let value = expression(at: at.appending("value")) {
                partitions = Partitions(request: parent, records: records, value: value,
                                        paginate: pagination(at: at.appending("paginate")))
            }
            if !reads("$partition", at: pointer.appending("query")) && !reads("$partition", at: pointer.appending("path")) {
                error("partitions are listed but no query or path value of the request reads $partition: every partition would make the same request",
                      at: at, key: true)
            }
        }
        guard let schedule, let request, let records = expression(at: pointer.appending("records")),
              let eventID = expression(at: pointer.appending("event_id"))
        else { return nil }
        return PollSource(schedule: schedule, request: request, records: records, eventID: eventID,
                          eventType: expression(at: pointer.appending("event_type")), paginate: paginate, cursor: cursor,
                          partitions: partitions,
                          maxPages: value(pointer.appending("max_pages"))?.intValue ?? PollSource.defaultMaxPages)
    }

    private func readsCursor(_ pointer: JSONPointer) -> Bool {
        reads("$cursor", at: pointer.appending("query")) || reads("$cursor", at: pointer.appending("path"))
    }

    private func reads(_ variable: String, at pointer: JSONPointer) -> Bool {
        (value(pointer)?.objectValue ?? JSONObject()).contains { $0.value.stringValue?.contains(variable) == true }
    }

    /// A poll's call, checked against the target's operations, with its query and path values.
    private mutating func pollRequest(at pointer: JSONPointer, targets: [TargetPlan], label: String) -> PollRequestPlan? {
        let call = value(pointer.appending("call"))?.stringValue ?? ""
        let parts = call.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        guard let target = targets.first(where: { $0.name == parts[0] }) else {
            let suggestion = Suggestion.closest(to: parts[0], in: targets.map(\.name))
            error("\(label) calls unknown target '\(parts[0])'"
                  + (suggestion.map { "; did you mean '\($0).\(parts[1])'?" } ?? " (targets: \(targets.map(\.name).joined(separator: ", ")))"),
                  at: pointer.appending("call"))
            return nil
        }
        guard let operation = target.operation(named: parts[1]) else {
            let suggestion = Suggestion.closest(to: parts[1], in: target.operations.map(\.name))
            error("target '\(target.name)' has no operation '\(parts[1])'"
                  + (suggestion.map { "; did you mean '\(target.name).\($0)'?" } ?? ""), at: pointer.appending("call"))
            return nil
        }
        if target.endpoints != nil {
            error("\(label) cannot call an endpoints target (customers' endpoints are sent to, not polled)", at: pointer.appending("call"))
        }
        if operation.method != .GET {
            warning("\(label) calls \(call) with \(operation.method.rawValue): a poll reads, usually with GET", at: pointer.appending("call"))
        }
        let path = headers(at: pointer.appending("path"))
        for missing in operation.pathParameters where !path.contains(where: { $0.name == missing }) {
            error("\(label) calls \(call), whose path \(operation.path) needs a value for {\(missing)}: add path: { \(missing): ... }",
                  at: pointer.appending("call"))
        }
        return PollRequestPlan(target: target.name, operation: operation.name, query: headers(at: pointer.appending("query")),
                               pathParameters: path)
    }

    private mutating func pagination(at pointer: JSONPointer) -> Pagination? {
        guard value(pointer) != nil else { return nil }
        let kind = Pagination.Kind(rawValue: value(pointer.appending("type"))?.stringValue ?? "") ?? .cursor
        let param = value(pointer.appending("param"))?.stringValue
        let valueExpression = expression(at: pointer.appending("value"))
        let size = value(pointer.appending("size"))?.intValue
        switch kind {
        case .cursor:
            if param == nil { error("paginate type cursor sends its token as a query parameter: give param", at: pointer, key: true) }
            if valueExpression == nil { error("paginate type cursor reads the next token from the answer: give value (e.g. $last.id or next_cursor)", at: pointer, key: true) }
        case .nextURL:
            if valueExpression == nil { error("paginate type next_url reads the next URL from the answer: give value (e.g. next or links.next)", at: pointer, key: true) }
        case .link:
            if valueExpression != nil { warning("paginate type link reads the Link header: value has no effect", at: pointer.appending("value")) }
        case .offset, .page:
            if param == nil { error("paginate type \(kind.rawValue) needs param (the query parameter of the \(kind == .page ? "page number" : "offset"))", at: pointer, key: true) }
            if kind == .offset, size == nil { error("paginate type offset advances by size: give size (records per page)", at: pointer, key: true) }
        }
        if value(pointer.appending("size_param")) != nil, size == nil {
            error("paginate.size_param sends size: give size", at: pointer.appending("size_param"))
        }
        return Pagination(kind: kind, param: param, value: valueExpression, stop: expression(at: pointer.appending("stop")),
                          size: size, sizeParam: value(pointer.appending("size_param"))?.stringValue,
                          start: value(pointer.appending("start"))?.intValue ?? 1)
    }
}
