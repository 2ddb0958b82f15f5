public import JSONValue
public import ManifoldPlan

/// What changed in behaviour between two plans: connectors, webhooks, targets, operations and routes compared
/// by name, each setting by its effective value (defaults filled in), each change classified.
///
/// Plans, not text, are compared: reformatting, comments, key order, file names and the order of routes never
/// appear as changes.
///
///     let diff = PlanDiff(old: try compile("main"), new: try compile("HEAD"))
///     if diff.highestSeverity == .breaking { ... }
public struct PlanDiff: Sendable, Equatable {
    /// The changes, by connector name, then webhook, targets (their operations), routes.
    public let changes: [PlanChange]

    public init(changes: [PlanChange]) {
        self.changes = changes
    }

    public init(old: Plan, new: Plan) {
        var changes: [PlanChange] = []
        let names = Set(old.connectors.map(\.name)).union(new.connectors.map(\.name)).sorted()
        for name in names {
            switch (old.connector(named: name), new.connector(named: name)) {
            case (nil, let added?):
                changes.append(PlanChange(severity: .safe, connector: name, scope: "connector", field: nil, before: nil,
                                          after: added.source?.path ?? added.pull.map { "\($0.kind) \($0.timing.text)" },
                                          reason: added.source == nil ? "a new pull runs" : "a new webhook path is served"))
            case (let removed?, nil):
                changes.append(PlanChange(severity: .breaking, connector: name, scope: "connector", field: nil,
                                          before: removed.source?.path ?? removed.pull?.kind, after: nil,
                                          reason: removed.source == nil
                                              ? "it is no longer pulled (its cursor is kept); its queued jobs are kept, not delivered"
                                              : "its webhook path answers 404; its queued jobs are kept, not delivered"))
            case (let before?, let after?):
                var comparison = ConnectorComparison(name: name)
                comparison.compare(before, after)
                changes += comparison.changes
            case (nil, nil):
                break
            }
        }
        self.changes = changes
    }

    /// Whether the plans behave the same.
    public var isEmpty: Bool { changes.isEmpty }

    /// The most severe change, if any.
    public var highestSeverity: PlanChange.Severity? { changes.map(\.severity).max() }

    /// How many changes have `severity`.
    public func count(_ severity: PlanChange.Severity) -> Int {
        changes.count { $0.severity == severity }
    }

    /// `{"changes": [...], "summary": {"breaking": n, "risky": n, "safe": n}}`.
    public var json: JSON {
        let summary = JSONObject(PlanChange.Severity.allCases.reversed().map { ($0.rawValue, JSON.number(Double(count($0)))) })
        return ["changes": .array(changes.map(\.json)), "summary": .object(summary)]
    }

    /// Reads a diff back from its JSON.
    public init?(json: JSON) {
        guard let items = json["changes"]?.arrayValue else { return nil }
        let changes = items.compactMap(PlanChange.init(json:))
        guard changes.count == items.count else { return nil }
        self.init(changes: changes)
    }
}

/// Compares one connector present on both sides.
struct ConnectorComparison {
    let name: String
    var changes: [PlanChange] = []

    init(name: String) {
        self.name = name
    }

    mutating func compare(_ old: ConnectorPlan, _ new: ConnectorPlan) {
        if old.version != new.version {
            add(.safe, "connector", "version", "\(old.version)", "\(new.version)", "the connector's own version number")
        }
        switch (old.source, new.source) {
        case (let before?, let after?):
            // Verification turned off says it all: the secrets and tolerance it drops are not changes of their own.
            let verificationRemoved = after.verification.scheme == .none && before.verification.scheme != .none
            for (field, was, now) in Self.leafChanges(before.json, after.json, units: Rules.webhookUnits)
                where !(verificationRemoved && field.hasPrefix("verify.") && field != "verify.scheme")
            {
                let (severity, reason) = Rules.webhook(field, before, after)
                add(severity, "webhook", field, Rules.display(field, was), Rules.display(field, now), reason)
            }
        case (nil, nil):
            for (field, was, now) in Self.leafChanges(old.pull?.json ?? .null, new.pull?.json ?? .null) {
                let (severity, reason) = Rules.pull(field)
                add(severity, "source", field, Rules.display(field, was), Rules.display(field, now), reason)
            }
        default:
            add(.breaking, "source", nil, old.source.map { "webhook \($0.path)" } ?? old.pull?.kind,
                new.source.map { "webhook \($0.path)" } ?? new.pull?.kind,
                "the connector changes between receiving webhooks and pulling: what fed it stops")
        }
        compareTargets(old, new)
        compareRoutes(old, new)
    }

    private mutating func compareTargets(_ old: ConnectorPlan, _ new: ConnectorPlan) {
        for name in Self.names(old.targets.map(\.name), new.targets.map(\.name)) {
            let scope = "target \(name)"
            switch (old.target(named: name), new.target(named: name)) {
            case (nil, let added?):
                add(.safe, scope, nil, nil, added.baseURL.description, "a new target; routes may call it")
            case (let removed?, nil):
                add(.breaking, scope, nil, removed.baseURL.description, nil, "calls to it stop")
            case (let before?, let after?):
                for (field, was, now) in Self.leafChanges(before.json, after.json, units: Rules.targetUnits,
                                                          skipping: ["operations"])
                {
                    let (severity, reason) = Rules.target(field, before, after)
                    add(severity, scope, field, Rules.display(field, was), Rules.display(field, now), reason)
                }
                compareOperations(target: name, before, after)
            case (nil, nil):
                break
            }
        }
    }

    private mutating func compareOperations(target: String, _ old: TargetPlan, _ new: TargetPlan) {
        for name in Self.names(old.operations.map(\.name), new.operations.map(\.name)) {
            let scope = "operation \(target).\(name)"
            switch (old.operation(named: name), new.operation(named: name)) {
            case (nil, let added?):
                add(.safe, scope, nil, nil, "\(added.method.rawValue) \(added.path)", "a new operation routes may call")
            case (let removed?, nil):
                add(.safe, scope, nil, "\(removed.method.rawValue) \(removed.path)", nil, "no route calls it")
            case (let before?, let after?):
                for (field, was, now) in Self.leafChanges(before.json, after.json, units: ["body_schema"]) {
                    let (severity, reason) = Rules.operation(field)
                    add(severity, scope, field, Rules.display(field, was), Rules.display(field, now), reason)
                }
            case (nil, nil):
                break
            }
        }
    }

    private mutating func compareRoutes(_ old: ConnectorPlan, _ new: ConnectorPlan) {
        for name in Self.names(old.routes.map(\.name), new.routes.map(\.name)) {
            let scope = "route \(name)"
            let before = old.routes.first { $0.name == name }, after = new.routes.first { $0.name == name }
            switch (before, after) {
            case (nil, let added?):
                add(.safe, scope, nil, nil, added.call, "matching events are delivered to \(added.call)")
            case (let removed?, nil):
                add(.breaking, scope, nil, removed.call, nil, "matching events are no longer delivered to \(removed.call)")
            case (let before?, let after?) where before.isFlow || after.isFlow:
                compareFlows(before, after, scope: scope)
            case (let before?, let after?):
                for (field, was, now) in Self.leafChanges(before.json, after.json) {
                    let (severity, reason) = Rules.route(field, before, after)
                    add(severity, scope, field, Rules.display(field, was), Rules.display(field, now), reason)
                }
            case (nil, nil):
                break
            }
        }
    }

    /// Flows are compared step by step, by name: a step removed, or moved to another target, is breaking; steps
    /// reordered, a list, an idempotency key or a mapping that a later step reads changed are risky; a step added, a
    /// condition or a mapping nobody reads changed are safe.
    private mutating func compareFlows(_ old: RoutePlan, _ new: RoutePlan, scope: String) {
        if old.isFlow != new.isFlow {
            add(.risky, scope, "steps", old.isFlow ? "\(old.steps.count) steps" : old.call, new.isFlow ? "\(new.steps.count) steps" : new.call,
                old.isFlow ? "the flow becomes one call: its other steps are no longer made" : "the call becomes a flow of steps")
            return
        }
        for (field, was, now) in Self.leafChanges(old.json, new.json, skipping: ["steps", "on_failure"]) {
            let (severity, reason) = Rules.route(field, old, new)
            add(severity, scope, field, Rules.display(field, was), Rules.display(field, now), reason)
        }
        for (list, label) in [(\RoutePlan.steps, "step"), (\RoutePlan.onFailure, "failure step")] {
            let before = old[keyPath: list], after = new[keyPath: list]
            let readers = Dictionary(grouping: after.enumerated().flatMap { index, step in
                step.reads.map { ($0, step.name) }
            }, by: \.0).mapValues { $0.map(\.1) }
            for name in Self.names(before.map(\.name), after.map(\.name)) {
                let stepScope = "\(scope) \(label) \(name)"
                let was = before.first { $0.name == name }, now = after.first { $0.name == name }
                switch (was, now) {
                case (nil, let added?):
                    add(.safe, stepScope, nil, nil, added.call?.call ?? "computes values", "a new \(label) of the flow")
                case (let removed?, nil):
                    add(list == \RoutePlan.steps ? .breaking : .risky, stepScope, nil, removed.call?.call ?? "computes values", nil,
                        list == \RoutePlan.steps ? "the flow no longer makes this call" + (readers[name].map { "; \($0.joined(separator: ", ")) read its result" } ?? "")
                            : "failures are no longer handled by this step")
                case (let was?, let now?):
                    for (field, before, after) in Self.leafChanges(was.json, now.json) {
                        let readBy = readers[name] ?? []
                        let (severity, reason): (PlanChange.Severity, String) = switch field {
                        case "call":
                            was.call?.target != now.call?.target ? (.breaking, "the step calls another target")
                                : (.risky, "the step calls another operation")
                        case "when": (.safe, "the step runs for another set of events")
                        case "for_each": (.risky, "the step makes another number of calls")
                        case "max_items": (.safe, "lists of another size are refused")
                        case "on_element_failure": (.risky, "a failing element now \(now.onElementFailure == .continue ? "lets the flow go on" : "ends the flow")")
                        case "idempotency_key": (.risky, "the vendor cannot recognise a retry across the change as a duplicate")
                        default:
                            readBy.isEmpty ? (.safe, "the step's request is mapped differently")
                                : (.risky, "\(readBy.joined(separator: ", ")) read\(readBy.count == 1 ? "s" : "") this step's result, which may now differ")
                        }
                        add(severity, stepScope, field, Rules.display(field, before), Rules.display(field, after), reason)
                    }
                case (nil, nil):
                    break
                }
            }
            // The order of the steps both sides have.
            let common = before.map(\.name).filter { name in after.contains { $0.name == name } }
            let reordered = after.map(\.name).filter { common.contains($0) }
            if common != reordered {
                add(.risky, "\(scope) \(label)s", "order", common.joined(separator: " → "), reordered.joined(separator: " → "),
                    "the steps run in another order: a step may read a result that is not there yet")
            }
        }
    }

    private mutating func add(_ severity: PlanChange.Severity, _ scope: String, _ field: String?, _ before: String?,
                              _ after: String?, _ reason: String)
    {
        changes.append(PlanChange(severity: severity, connector: name, scope: scope, field: field, before: before,
                                  after: after, reason: reason))
    }

    /// Names on either side: the old order, then names only the new side has.
    static func names(_ old: [String], _ new: [String]) -> [String] {
        old + new.filter { !old.contains($0) }
    }

    /// The settings that differ, as dotted paths with their values on each side (`nil`: not set there). Objects
    /// are compared member by member, so key order never counts; lists of mappings element by element; other lists
    /// and the `units` whole.
    static func leafChanges(_ old: JSON, _ new: JSON, units: Set<String> = [], skipping: Set<String> = [])
        -> [(field: String, before: JSON?, after: JSON?)]
    {
        let before = leaves(old, units: units, skipping: skipping)
        let after = leaves(new, units: units, skipping: skipping)
        let afterByPath = Dictionary(after, uniquingKeysWith: { first, _ in first })
        let beforePaths = Set(before.map(\.0))
        var changes: [(String, JSON?, JSON?)] = []
        for (path, value) in before where afterByPath[path] != value {
            changes.append((path, value, afterByPath[path]))
        }
        for (path, value) in after where !beforePaths.contains(path) {
            changes.append((path, nil, value))
        }
        return changes
    }

    private static func leaves(_ json: JSON, prefix: String = "", units: Set<String>, skipping: Set<String>)
        -> [(String, JSON)]
    {
        if case .array(let items) = json, !units.contains(prefix), items.contains(where: { $0.objectValue != nil || $0.arrayValue != nil }) {
            // A list of mappings (a templated body's): element by element, so one changed field is one line.
            return items.enumerated().flatMap { index, item in
                leaves(item, prefix: "\(prefix)[\(index)]", units: units, skipping: skipping)
            }
        }
        guard case .object(let object) = json, !units.contains(prefix) else { return [(prefix, json)] }
        var result: [(String, JSON)] = []
        for (key, value) in object where !(prefix.isEmpty && (skipping.contains(key) || key == "name")) {
            result += leaves(value, prefix: prefix.isEmpty ? key : prefix + "." + key, units: units, skipping: skipping)
        }
        return result
    }
}
