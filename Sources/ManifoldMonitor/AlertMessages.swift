public import JSONValue
import Foundation
public import ManifoldPlan

extension AlertNotification {
    /// The body a sink gets: the alert as JSON for a webhook, a message for Slack.
    public func body(for kind: AlertSink.Kind, dashboardURL: String?) -> JSON {
        switch kind {
        case .webhook:
            var object: JSONObject = [
                "status": .string(status.rawValue), "rule": .string(rule), "kind": .string(self.kind.rawValue),
                "severity": .string(severity.rawValue), "connector": .string(connector),
            ]
            if let target { object["target"] = .string(target) }
            object["summary"] = .string(summary)
            object["value"] = .number(value)
            object["threshold"] = .number(threshold)
            object["started_at"] = .string(startedAt.ISO8601Format())
            object["at"] = .string(at.ISO8601Format())
            object["fingerprint"] = .string(fingerprint)
            if let dashboardURL { object["dashboard"] = .string(dashboardURL) }
            return .object(object)
        case .slack:
            let icon = status == .firing ? (severity == .critical ? ":rotating_light:" : ":warning:") : ":white_check_mark:"
            var text = "\(icon) *[\(status.rawValue.uppercased())] \(rule)* (\(severity.rawValue)) on `\(subject)`: \(summary)"
            if status == .firing { text += " — since \(startedAt.ISO8601Format())" }
            if let dashboardURL { text += " <\(dashboardURL)|dashboard>" }
            return ["text": .string(text)]
        }
    }
}
