public import Foundation
public import JSONValue

/// Rollouts of candidate connector versions, their log, the calls a shadow candidate would have made, and the history
/// of the plans the engine applied. Every engine sharing the store reads the same rollouts, so the same key always
/// gets the same version.
public protocol RolloutStore: Sendable {
    /// Every rollout, active or ended, newest first per connector.
    func rollouts() async throws -> [RolloutRecord]
    /// The active rollouts only (what an engine runs; read every second).
    func activeRollouts() async throws -> [RolloutRecord]
    /// Starts (or replaces) `connector`'s rollout and logs it.
    func startRollout(_ rollout: RolloutRecord, by: String) async throws
    /// Changes an active rollout (its share, its status) and logs the action; returns the rollout as changed, or `nil`
    /// when `connector` has no active rollout.
    func changeRollout(_ connector: String, action: String, by: String, detail: JSON?,
                       _ change: @escaping @Sendable (inout RolloutRecord) -> Void) async throws -> RolloutRecord?
    /// What was done to rollouts, oldest first.
    func rolloutLog(connector: String?) async throws -> [RolloutLogEntry]
    /// Records the calls the current and the candidate version made (or would have made) for one event.
    func recordShadow(_ calls: [ShadowCall]) async throws
    /// The recorded calls of `rollout`, in order.
    func shadowCalls(rollout: String) async throws -> [ShadowCall]
    /// Records a plan the engine applied: when, by what, and what changed.
    func recordApplied(version: String, trigger: String, summary: String) async throws
    /// The plans applied, newest first.
    func appliedPlans(limit: Int) async throws -> [AppliedPlan]
    /// How many of `connector`'s events since `since` each plan version handled.
    func eventCounts(connector: String, since: Date) async throws -> [String: Int]
}

/// A candidate version of a connector beside the current one.
public struct RolloutRecord: Sendable, Equatable {
    public enum Mode: String, Sendable { case canary, shadow }
    public enum Status: String, Sendable { case active, promoted, rolledBack = "rolled_back" }

    public var id: String
    public var connector: String
    public var mode: Mode
    /// The share of events (by key) that go to the candidate, in hundredths of a percent (0–10,000).
    public var basisPoints: Int
    /// The expression whose value picks the version (`nil`: the event id).
    public var stickBy: String?
    /// The candidate connector's file text, its path as given, and the version of the plan it makes.
    public var candidateText: String
    public var candidatePath: String
    public var candidateVersion: String
    /// The plan version running when the rollout started.
    public var baseVersion: String
    public var status: Status
    public var startedAt: Date
    public var startedBy: String
    /// The automatic rollback: the candidate's failure rate may exceed the current's by `margin` over `window`, judged
    /// from `minimum` attempts; any event it quarantines rolls it back when `onQuarantine`.
    public var margin: Double
    public var window: Duration
    public var minimum: Int
    public var onQuarantine: Bool
    /// Why it ended, when it did.
    public var endedReason: String?

    public init(id: String, connector: String, mode: Mode, basisPoints: Int, stickBy: String?, candidateText: String,
                candidatePath: String, candidateVersion: String, baseVersion: String, status: Status = .active,
                startedAt: Date, startedBy: String, margin: Double = 0.05, window: Duration = .seconds(300), minimum: Int = 20,
                onQuarantine: Bool = true)
    {
        self.id = id
        self.connector = connector
        self.mode = mode
        self.basisPoints = basisPoints
        self.stickBy = stickBy
        self.candidateText = candidateText
        self.candidatePath = candidatePath
        self.candidateVersion = candidateVersion
        self.baseVersion = baseVersion
        self.status = status
        self.startedAt = startedAt
        self.startedBy = startedBy
        self.margin = margin
        self.window = window
        self.minimum = minimum
        self.onQuarantine = onQuarantine
    }

    /// Why a candidate cannot be rolled out beside the current version: its source differs. A rollout splits the
    /// events the current source takes (its webhook, its pull) between the two versions' routes and targets; a change of
    /// the source itself would not run, so it is refused, not ignored (change it with a plain reload).
    public static func sourceProblem(current: JSON?, candidate: JSON?) -> String? {
        guard current != candidate else { return nil }
        return "the candidate changes the connector's source (how its events are taken: the webhook, its verification, or the pull); "
            + "a rollout splits the current source's events between the versions' routes and targets, so a source change is made with a reload, not a rollout"
    }

    /// The share as a person reads it: `10%`, `2.5%`.
    public var shareText: String {
        basisPoints % 100 == 0 ? "\(basisPoints / 100)%" : "\(Double(basisPoints) / 100)%"
    }

    public var json: JSON {
        var object = JSONObject()
        object["id"] = .string(id)
        object["connector"] = .string(connector)
        object["mode"] = .string(mode.rawValue)
        object["basis_points"] = .number(Double(basisPoints))
        object["candidate_text"] = .string(candidateText)
        object["candidate_path"] = .string(candidatePath)
        object["candidate_version"] = .string(candidateVersion)
        object["base_version"] = .string(baseVersion)
        object["status"] = .string(status.rawValue)
        object["started_at"] = .number(Double(Int64(startedAt.timeIntervalSince1970 * 1000)))
        object["started_by"] = .string(startedBy)
        object["margin"] = .number(margin)
        object["window_ms"] = .number(Double(window.components.seconds * 1000))
        object["minimum"] = .number(Double(minimum))
        object["on_quarantine"] = .bool(onQuarantine)
        if let stickBy { object["stick_by"] = .string(stickBy) }
        if let endedReason { object["ended_reason"] = .string(endedReason) }
        return .object(object)
    }

    public init?(json: JSON) {
        guard case .object(let o) = json, let id = o["id"]?.stringValue, let connector = o["connector"]?.stringValue,
              let mode = o["mode"]?.stringValue.flatMap(Mode.init(rawValue:)), let status = o["status"]?.stringValue.flatMap(Status.init(rawValue:))
        else { return nil }
        self.init(id: id, connector: connector, mode: mode, basisPoints: o["basis_points"]?.intValue ?? 0,
                  stickBy: o["stick_by"]?.stringValue, candidateText: o["candidate_text"]?.stringValue ?? "",
                  candidatePath: o["candidate_path"]?.stringValue ?? "", candidateVersion: o["candidate_version"]?.stringValue ?? "",
                  baseVersion: o["base_version"]?.stringValue ?? "", status: status,
                  startedAt: Date(timeIntervalSince1970: (o["started_at"]?.numberValue ?? 0) / 1000),
                  startedBy: o["started_by"]?.stringValue ?? "", margin: o["margin"]?.numberValue ?? 0.05,
                  window: .milliseconds(Int64(o["window_ms"]?.numberValue ?? 300_000)), minimum: o["minimum"]?.intValue ?? 20,
                  onQuarantine: o["on_quarantine"]?.boolValue ?? true)
        endedReason = o["ended_reason"]?.stringValue
    }
}

/// One thing done to a rollout: who, when, what.
public struct RolloutLogEntry: Sendable, Equatable {
    public var connector: String
    public var rollout: String
    public var at: Date
    public var action: String
    public var by: String
    public var detail: JSON?

    public init(connector: String, rollout: String, at: Date, action: String, by: String, detail: JSON?) {
        self.connector = connector
        self.rollout = rollout
        self.at = at
        self.action = action
        self.by = by
        self.detail = detail
    }
}

/// A call one version made, or would have made, for an event of a shadow rollout: its route and request as recorded
/// (credentials hidden).
public struct ShadowCall: Sendable, Equatable {
    public var rollout: String
    public var event: String
    /// `current` or `candidate`.
    public var arm: String
    public var route: String
    public var call: String
    public var request: JSON

    public init(rollout: String, event: String, arm: String, route: String, call: String, request: JSON) {
        self.rollout = rollout
        self.event = event
        self.arm = arm
        self.route = route
        self.call = call
        self.request = request
    }
}

/// A plan the engine applied.
public struct AppliedPlan: Sendable, Equatable {
    public var version: String
    public var at: Date
    /// start, file change, reload, promote, rollback, ...
    public var trigger: String
    public var summary: String
    /// Whether its sources are kept (so that `manifold rollback --to` can restore them).
    public var sourcesKept: Bool

    public init(version: String, at: Date, trigger: String, summary: String, sourcesKept: Bool) {
        self.version = version
        self.at = at
        self.trigger = trigger
        self.summary = summary
        self.sourcesKept = sourcesKept
    }
}
