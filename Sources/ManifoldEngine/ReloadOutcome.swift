public import Foundation
public import JSONValue
public import ManifoldDiff
import ManifoldDelivery
import ManifoldPlan

/// What one reload did: applied a new plan, found nothing to change, or was rejected (the running plan stays).
public struct ReloadOutcome: Sendable {
    public enum Result: String, Sendable, CaseIterable {
        case applied, unchanged, rejected
    }

    public var result: Result
    /// What asked for it: `watch`, `signal`, `admin` or `start`.
    public var trigger: String
    /// When it finished: for `applied`, the moment the new plan went live.
    public var at: Date
    /// Compiling and swapping.
    public var duration: Duration
    /// The plan version running afterwards.
    public var running: String
    /// What changed in behaviour (empty unless applied).
    public var diff: PlanDiff
    /// Why it was rejected: `file:line:col: error: message`, one per error.
    public var diagnostics: [String]
    /// Jobs kept for routes the running plan does not have, by `connector/route`.
    public var heldJobs: [String: Int]

    public init(result: Result, trigger: String, at: Date, duration: Duration, running: String, diff: PlanDiff,
                diagnostics: [String], heldJobs: [String: Int])
    {
        self.result = result
        self.trigger = trigger
        self.at = at
        self.duration = duration
        self.running = running
        self.diff = diff
        self.diagnostics = diagnostics
        self.heldJobs = heldJobs
    }

    public var json: JSON {
        var object: JSONObject = [
            "result": .string(result.rawValue), "trigger": .string(trigger),
            "at": .string(JobJSON.time(at)),
            "at_unix_ms": .number((at.timeIntervalSince1970 * 1000).rounded()),
            "duration_ms": .number((duration.timeInterval * 1_000_000).rounded() / 1000),
            "plan": .string(running),
        ]
        if result == .applied { object["diff"] = diff.json }
        if !diagnostics.isEmpty { object["diagnostics"] = .array(diagnostics.map(JSON.string)) }
        if !heldJobs.isEmpty { object["held_jobs"] = Self.json(heldJobs: heldJobs) }
        return .object(object)
    }

    /// Held job counts by route, sorted.
    static func json(heldJobs: [String: Int]) -> JSON {
        .object(JSONObject(heldJobs.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) }))
    }

    /// Reads an outcome back from its JSON (the answer of `POST /admin/reload`).
    public init?(json: JSON) {
        guard let result = json["result"]?.stringValue.flatMap(Result.init(rawValue:)),
              let running = json["plan"]?.stringValue
        else { return nil }
        let milliseconds = json["duration_ms"]?.numberValue ?? 0
        self.init(result: result, trigger: json["trigger"]?.stringValue ?? "",
                  at: Date(timeIntervalSince1970: (json["at_unix_ms"]?.numberValue ?? 0) / 1000),
                  duration: .microseconds(Int64(milliseconds * 1000)), running: running,
                  diff: json["diff"].flatMap(PlanDiff.init(json:)) ?? PlanDiff(changes: []),
                  diagnostics: json["diagnostics"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                  heldJobs: (json["held_jobs"]?.objectValue).map { object in
                      Dictionary(uniqueKeysWithValues: object.map { ($0.key, Int($0.value.numberValue ?? 0)) })
                  } ?? [:])
    }
}
