import ArgumentParser
import ManifoldCompiler
import ManifoldMonitor

/// `manifold alerts`: the engine's alert rules, for other tools.
struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Work with the alert rules of the engine's configuration.",
        subcommands: [AlertsExportCommand.self]
    )
}

/// `manifold alerts export --prometheus`: the rules as Prometheus alerting rules over the engine's metrics.
struct AlertsExportCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the alert rules as Prometheus alerting rules (YAML, for a rule_files entry).",
        discussion: """
            Each rule becomes an alert over the metrics the engine serves at /metrics, with the same threshold, \
            window, baseline, `for` and severity. Sinks are not exported: route them in Alertmanager. No environment \
            is needed. Exit status: 0 written, 1 the configuration is invalid, 2 usage or I/O error.
            """
    )

    @Flag(help: "Prometheus alerting rules (the only format so far).")
    var prometheus = false

    @Option(help: "The engine's global configuration.")
    var config = "manifold.yaml"

    func validate() throws {
        guard prometheus else { throw ValidationError("choose a format: --prometheus") }
    }

    func perform() -> CommandOutput {
        switch EngineConfigurationFile.load(config, environment: .ignore) {
        case .failure(let failure):
            return failure.output
        case .success(let configuration):
            guard let alerts = configuration.alerts else {
                return CommandOutput(standardError: "\(config) has no alerts section: nothing to export\n", status: 1)
            }
            return CommandOutput(standardOutput: PrometheusRules.export(alerts))
        }
    }
}
