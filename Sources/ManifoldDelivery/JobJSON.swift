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
    public static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
