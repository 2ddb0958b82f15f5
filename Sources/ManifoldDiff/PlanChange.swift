public import JSONValue

/// One change in behaviour between two plans: where, what it was and is, how much it matters and why.
public struct PlanChange: Sendable, Equatable {
    /// How much a change can hurt a running integration.
    public enum Severity: String, Sendable, Comparable, CaseIterable {
        /// Changes behaviour as intended, with nothing to watch for.
        case safe
        /// Weakens a guarantee: verification, the retry budget, rate limits, transport security.
        case risky
        /// Stops something that worked: a removed route or connector, another host, another auth method.
        case breaking

        public static func < (lhs: Severity, rhs: Severity) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    public var severity: Severity
    public var connector: String
    /// What in the connector: `connector`, `webhook`, `target hubspot`, `operation hubspot.create`, `route notify`.
    public var scope: String
    /// The setting within the scope, such as `retry.max_attempts`; `nil` when the whole scope was added or removed.
    public var field: String?
    /// The effective value before and after, as text (secrets written inline are never shown).
    public var before: String?
    public var after: String?
    /// What the change does, in a sentence a reviewer reads.
    public var reason: String

    public init(severity: Severity, connector: String, scope: String, field: String?, before: String?, after: String?,
                reason: String)
    {
        self.severity = severity
        self.connector = connector
        self.scope = scope
        self.field = field
        self.before = before
        self.after = after
        self.reason = reason
    }

    /// The change as JSON, for `--format json` and the admin API.
    public var json: JSON {
        var object: JSONObject = ["severity": .string(severity.rawValue), "connector": .string(connector),
                                  "scope": .string(scope)]
        if let field { object["field"] = .string(field) }
        if let before { object["before"] = .string(before) }
        if let after { object["after"] = .string(after) }
        object["reason"] = .string(reason)
        return .object(object)
    }

    /// Reads a change back from its JSON (a reload's answer).
    public init?(json: JSON) {
        guard let severity = json["severity"]?.stringValue.flatMap(Severity.init(rawValue:)),
              let connector = json["connector"]?.stringValue, let scope = json["scope"]?.stringValue,
              let reason = json["reason"]?.stringValue
        else { return nil }
        self.init(severity: severity, connector: connector, scope: scope, field: json["field"]?.stringValue,
                  before: json["before"]?.stringValue, after: json["after"]?.stringValue, reason: reason)
    }
}
