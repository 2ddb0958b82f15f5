public import Prometheus

/// The engine's Prometheus metrics, served at `/metrics`: one registry per engine (so tests see only their own).
public final class EngineMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let reloads: [ReloadOutcome.Result: Counter]
    private let lastReloadSucceeded: Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var reloads: [ReloadOutcome.Result: Counter] = [:]
        for result in ReloadOutcome.Result.allCases {
            reloads[result] = registry.makeCounter(
                name: "manifold_config_reloads_total", labels: [("result", result.rawValue)],
                help: "Connector reloads by result: applied (a new plan runs), unchanged, rejected (the plan stays).")
        }
        self.reloads = reloads
        lastReloadSucceeded = registry.makeGauge(
            name: "manifold_config_last_reload_successful",
            help: "1 when the last reload was applied or unchanged, 0 when it was rejected and the files on disk are not running.")
        lastReloadSucceeded.set(to: 1.0)
    }

    func reloaded(_ result: ReloadOutcome.Result) {
        reloads[result]?.increment()
        lastReloadSucceeded.set(to: result == .rejected ? 0.0 : 1.0)
    }

    /// The Prometheus text exposition.
    public var exposition: String { registry.emitToString() }
}
