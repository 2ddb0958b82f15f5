import JSONValue
public import ManifoldPlan

/// Compiles the engine's global configuration (`manifold.yaml`, `schemas/manifold.schema.json`): the model, or
/// diagnostics at `file:line:col` (schema errors with "did you mean", rules naming sinks that do not exist,
/// duplicate names, malformed references, and — as `environment` asks, like connectors — `${env:}` references
/// that are not set). References stay in the model and resolve when the engine starts.
public enum EngineConfigurationCompiler {

    /// Why a configuration cannot be used: its diagnostics.
    public struct Invalid: Error {
        public var diagnostics: [Diagnostic]
    }

    public static func compile(_ file: SourceFile, environment: ConnectorCompiler.EnvironmentCheck = .ignore)
        -> Result<EngineConfiguration, Invalid>
    {
        let (loaded, errors) = SchemaCatalog.load(file, validator: SchemaCatalog.manifoldValidator)
        guard let document = loaded, errors.isEmpty else { return .failure(Invalid(diagnostics: errors)) }
        var reader = ConfigurationReader(document: document)
        let configuration = reader.configuration()
        reader.diagnostics += environment.diagnostics(for: document)
        return !reader.diagnostics.contains(where: { $0.severity == .error }) ? .success(configuration) : .failure(Invalid(diagnostics: reader.diagnostics))
    }
}

private struct ConfigurationReader {
    let document: LocatedDocument
    var diagnostics: [Diagnostic] = []

    func at(_ tokens: [String]) -> SourceLocation { document.location(of: JSONPointer(tokens: tokens)) }

    mutating func configuration() -> EngineConfiguration {
        let root = document.value
        var configuration = EngineConfiguration(dashboardURL: root["dashboard_url"]?.stringValue)
        if let alerts = root["alerts"] { configuration.alerts = plan(alerts) }
        return configuration
    }

    private mutating func plan(_ json: JSON) -> AlertPlan {
        var plan = AlertPlan()
        if let every = duration(json["evaluate_every"]) { plan.evaluateEvery = every }
        if let repeatAfter = duration(json["repeat_after"]) { plan.repeatAfter = repeatAfter }
        if let delivery = json["delivery"] {
            if let attempts = delivery["max_attempts"]?.numberValue { plan.delivery.retry.maxAttempts = Int(attempts) }
            if let delay = duration(delivery["initial_delay"]) { plan.delivery.retry.initialBackoff = delay }
            if let delay = duration(delivery["max_delay"]) { plan.delivery.retry.maxBackoff = delay }
            if let timeout = duration(delivery["timeout"]) { plan.delivery.timeout = timeout }
        }
        for (index, item) in (json["sinks"]?.arrayValue ?? []).enumerated() {
            let base = ["alerts", "sinks", String(index)]
            let name = item["name"]?.stringValue ?? ""
            if plan.sinks.contains(where: { $0.name == name }) {
                diagnostics.append(.error("a sink named '\(name)' is already defined", at: at(base + ["name"])))
            }
            let url = configString(item["url"], at: base + ["url"])
            let headers = (item["headers"]?.objectValue ?? [:]).map { member in
                (name: member.key, value: configString(member.value, at: base + ["headers", member.key]))
            }
            plan.sinks.append(AlertSink(name: name, kind: AlertSink.Kind(rawValue: item["type"]?.stringValue ?? "") ?? .webhook,
                                        url: url, headers: headers))
        }
        for (index, item) in (json["rules"]?.arrayValue ?? []).enumerated() {
            let base = ["alerts", "rules", String(index)]
            guard let rule = rule(item, sinks: plan.sinks, at: base) else { continue }
            if plan.rules.contains(where: { $0.name == rule.name }) {
                diagnostics.append(.error("two rules are named '\(rule.name)': give each a `name` of its own",
                                          at: at(base + (item["name"] == nil ? ["kind"] : ["name"]))))
            }
            plan.rules.append(rule)
        }
        return plan
    }

    private mutating func rule(_ item: JSON, sinks: [AlertSink], at base: [String]) -> AlertRule? {
        guard let kind = item["kind"]?.stringValue.flatMap(AlertRule.Kind.init(rawValue:)) else { return nil }
        let (threshold, minimum): (Double, Int) = switch kind {
        case .errorRate: (item["above"]?.numberValue ?? 0, Int(item["min_attempts"]?.numberValue ?? 10))
        case .latencyP99: (item["factor"]?.numberValue ?? 2, Int(item["min_attempts"]?.numberValue ?? 20))
        case .throughputDrop: (item["below"]?.numberValue ?? 0.5, Int(item["min_events"]?.numberValue ?? 20))
        case .breakerOpen: (0, 0)
        case .deadLetters: (item["above"]?.numberValue ?? 0, 0)
        case .queuedEvent: (duration(item["older_than"])?.timeInterval ?? 600, 0)
        case .quarantinedEvents: (item["above"]?.numberValue ?? 0, 0)
        case .endpointDisabled: (0, 0)
        case .pullFailing: (item["runs"]?.numberValue ?? 3, 0)
        case .rolloutRolledBack: (0, 0)
        }
        var rule = AlertRule(name: item["name"]?.stringValue ?? kind.rawValue, kind: kind, threshold: threshold, minimum: minimum)
        rule.connector = item["connector"]?.stringValue
        rule.target = item["target"]?.stringValue
        rule.severity = item["severity"]?.stringValue.flatMap(AlertRule.Severity.init(rawValue:)) ?? .warning
        if let hold = duration(item["for"]) { rule.holdFor = hold }
        if let window = duration(item["window"]) { rule.window = window }
        if let baseline = duration(item["baseline"]) { rule.baseline = baseline }
        if let names = item["sinks"]?.arrayValue?.compactMap(\.stringValue) {
            for (index, name) in names.enumerated() where !sinks.contains(where: { $0.name == name }) {
                let known = sinks.map(\.name)
                let hint = Suggestion.closest(to: name, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                diagnostics.append(.error("no sink is named '\(name)'\(hint); sinks: \(known.joined(separator: ", "))",
                                          at: at(base + ["sinks", String(index)])))
            }
            rule.sinks = names
        }
        return rule
    }

    private func duration(_ json: JSON?) -> Duration? {
        json?.stringValue.flatMap(StringSyntax.duration)
    }

    /// A string that may hold `${env:NAME}` or `${file:PATH}`, parsed as a connector's are.
    private mutating func configString(_ json: JSON?, at tokens: [String]) -> ConfigString {
        do {
            return try StringSyntax.configString(json?.stringValue ?? "")
        } catch {
            diagnostics.append(.error("\(JSONPointer(tokens: tokens).dotted): \(error.message)", at: at(tokens)))
            return ConfigString(literal: "")
        }
    }
}
