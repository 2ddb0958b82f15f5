public import Foundation
public import JSONValue
public import ManifoldStore

extension JobSummary {
    /// The job as the CLI's `--format json` and the admin API show it.
    public var json: JSON {
        var object = JSONObject()
        object["id"] = .string(id)
        object["event"] = .string(eventID)
        object["connector"] = .string(connector)
        object["route"] = .string(route)
        object["target"] = .string(target)
        object["state"] = .string(state.rawValue)
        object["attempts"] = .number(Double(attempts))
        object["plan_version"] = .string(planVersion)
        object["trace_id"] = .string(traceID)
        object["updated_at"] = .string(JobJSON.time(updatedAt))
        if let lastStatus { object["last_status"] = .number(Double(lastStatus)) }
        if let lastError { object["reason"] = .string(lastError) }
        if let replayOf { object["replay_of"] = .string(replayOf) }
        if let orderingKey { object["ordering_key"] = .string(orderingKey) }
        if let flow { object["flow"] = flow }
        return .object(object)
    }
}

extension JobRecord {
    /// The job with every attempt, request and response.
    public var json: JSON {
        var object = summary.json.objectValue ?? JSONObject()
        object["attempts_detail"] = .array(attempts.map { attempt in
            var item = JSONObject()
            item["at"] = .string(JobJSON.time(attempt.at))
            item["class"] = .string(attempt.errorClass)
            item["counts"] = .bool(attempt.countsAsAttempt)
            item["duration_ms"] = .number(Double(attempt.durationMilliseconds))
            if let status = attempt.responseStatus { item["status"] = .number(Double(status)) }
            if let error = attempt.error { item["error"] = .string(error) }
            if let request = attempt.request { item["request"] = request }
            item["response_headers"] = .array(attempt.responseHeaders.map { .array([.string($0.name), .string($0.value)]) })
            if let body = attempt.responseBody { item["response_body"] = .string(body) }
            return .object(item)
        })
        return .object(object)
    }
}

/// How the JSON the engine serves writes times: ISO 8601 with milliseconds, in UTC.
public enum JobJSON {
    /// `2026-11-28T08:40:00.123Z`: to the nearest millisecond, the date in the proleptic Gregorian calendar. Written
    /// by arithmetic (days to a civil date), not by `ISO8601DateFormatter`, which loads ICU's calendar (several MiB of
    /// an idle engine's memory) and costs microseconds per time on every dashboard row.
    public static func time(_ date: Date) -> String {
        // To the nearest millisecond, as the formatter did (a time stored in milliseconds reads as itself, whatever its
        // binary fraction).
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (days, inDay) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        let (day, ms) = inDay < 0 ? (days - 1, inDay + 86_400_000) : (days, inDay)
        let (year, month, dayOfMonth) = CivilDate.from(daysSince1970: Int(day))
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ value: Int64, _ count: Int) {
            var value = value
            var place = Array(repeating: UInt8(ascii: "0"), count: count)
            for index in stride(from: count - 1, through: 0, by: -1) {
                place[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            out += place
        }
        digits(Int64(year), 4); out.append(UInt8(ascii: "-")); digits(Int64(month), 2); out.append(UInt8(ascii: "-")); digits(Int64(dayOfMonth), 2)
        out.append(UInt8(ascii: "T"))
        digits(ms / 3_600_000, 2); out.append(UInt8(ascii: ":")); digits(ms / 60_000 % 60, 2); out.append(UInt8(ascii: ":"))
        digits(ms / 1_000 % 60, 2); out.append(UInt8(ascii: ".")); digits(ms % 1_000, 3); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
