import Foundation
public import ManifoldPlan

/// Writes alert rules as Prometheus alerting rules over the engine's own metrics, for teams that alert in
/// Prometheus: the same conditions, windows, `for` and severities.
public enum PrometheusRules {
    public static func export(_ plan: AlertPlan) -> String {
        var lines = ["# Prometheus alerting rules equivalent to the engine's alert rules (manifold alerts export --prometheus).",
                     "groups:", "  - name: manifold", "    rules:"]
        for rule in plan.rules {
            lines.append("      - alert: \(alertName(rule.name))")
            lines.append("        expr: \(quoted(expression(rule)))")
            if rule.holdFor > .zero { lines.append("        for: \(rule.holdFor.manifoldText)") }
            lines.append("        labels:")
            lines.append("          severity: \(rule.severity.rawValue)")
            lines.append("          manifold_rule: \(quoted(rule.name))")
            lines.append("        annotations:")
            lines.append("          summary: \(quoted(summary(rule)))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `error-rate` → `ManifoldErrorRate`.
    static func alertName(_ name: String) -> String {
        "Manifold" + name.split(whereSeparator: { $0 == "-" || $0 == "_" }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// The label matchers of the rule's filters, such as `connector="a",target="b"`.
    static func matchers(_ rule: AlertRule, extra: [String] = []) -> String {
        var parts = extra
        if let connector = rule.connector { parts.append("connector=\"\(connector)\"") }
        if let target = rule.target, rule.watchesLanes { parts.append("target=\"\(target)\"") }
        return parts.isEmpty ? "" : "{" + parts.joined(separator: ",") + "}"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func expression(_ rule: AlertRule) -> String {
        let window = rule.window.manifoldText
        let lane = "connector, target"
        switch rule.kind {
        case .errorRate:
            let all = "sum by (\(lane)) (increase(manifold_delivery_attempts_total\(matchers(rule, extra: ["class!=\"rate_limited\""]))[\(window)]))"
            let failed = "sum by (\(lane)) (increase(manifold_delivery_attempts_total\(matchers(rule, extra: ["class=~\"transient|permanent|bad_data\""]))[\(window)]))"
            return "(\(failed) / \(all)) > \(number(rule.threshold)) and \(all) >= \(rule.minimum)"
        case .latencyP99:
            let metric = "manifold_delivery_duration_seconds_bucket\(matchers(rule))"
            return "histogram_quantile(0.99, sum by (\(lane), le) (rate(\(metric)[\(window)]))) > \(number(rule.threshold)) * "
                + "histogram_quantile(0.99, sum by (\(lane), le) (rate(\(metric)[\(rule.baseline.manifoldText)] offset \(window))))"
        case .throughputDrop:
            let metric = "manifold_events_received_total\(matchers(rule))"
            return "sum by (connector) (rate(\(metric)[\(window)])) < \(number(rule.threshold)) * "
                + "sum by (connector) (rate(\(metric)[\(rule.baseline.manifoldText)] offset \(window))) "
                + "and sum by (connector) (increase(\(metric)[\(rule.baseline.manifoldText)] offset \(window))) >= \(rule.minimum)"
        case .breakerOpen:
            return "manifold_circuit_breaker_state\(matchers(rule)) > 0"
        case .deadLetters:
            return "sum by (\(lane)) (increase(manifold_jobs_completed_total\(matchers(rule, extra: ["outcome=~\"dead_lettered|quarantined\""]))[\(window)])) > \(number(rule.threshold))"
        case .queuedEvent:
            return "manifold_lane_oldest_job_age_seconds\(matchers(rule)) > \(number(rule.threshold))"
        case .endpointDisabled:
            return "sum by (connector) (increase(manifold_endpoints_disabled_total\(matchers(rule))[\(window)])) > 0"
        case .quarantinedEvents:
            return "sum by (connector) (increase(manifold_events_quarantined_total\(matchers(rule))[\(window)])) > \(number(rule.threshold))"
        case .pullFailing:
            return "manifold_pull_failing_runs\(matchers(rule)) >= \(number(rule.threshold))"
        case .rolloutRolledBack:
            return "sum by (connector) (increase(manifold_rollout_rollbacks_total\(matchers(rule))[\(window)])) > 0"
        }
    }

    static func summary(_ rule: AlertRule) -> String {
        let subject = rule.watchesLanes ? "{{ $labels.connector }}/{{ $labels.target }}" : "{{ $labels.connector }}"
        let window = rule.window.manifoldText
        return switch rule.kind {
        case .errorRate: "\(subject): error rate above \(number(rule.threshold)) over \(window)"
        case .latencyP99: "\(subject): p99 latency over \(window) above \(number(rule.threshold))x its \(rule.baseline.manifoldText) baseline"
        case .throughputDrop: "\(subject): events over \(window) below \(number(rule.threshold * 100))% of the \(rule.baseline.manifoldText) baseline"
        case .breakerOpen: "\(subject): circuit breaker open"
        case .deadLetters: "\(subject): dead letters growing over \(window)"
        case .queuedEvent: "\(subject): an event queued longer than \(Duration.seconds(Int64(rule.threshold)).manifoldText)"
        case .endpointDisabled: "\(subject): a customer's endpoint was disabled after failing"
        case .quarantinedEvents: "\(subject): events quarantined at ingress over \(window) (a payload that breaks its contract?)"
        case .pullFailing: "\(subject): \(number(rule.threshold)) or more runs in a row failed (manifold poll status)"
        case .rolloutRolledBack: "\(subject): a canary was rolled back by its guard (manifold rollout status)"
        }
    }
}
