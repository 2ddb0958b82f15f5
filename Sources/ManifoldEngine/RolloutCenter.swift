public import Foundation
import JSONata
public import JSONValue
import ManifoldCompiler
public import ManifoldDelivery
public import ManifoldIngress
public import ManifoldMonitor
public import ManifoldPlan
public import ManifoldStore
import Synchronization

/// The rollouts the engine runs: for each connector with an active rollout, its candidate compiled beside the current
/// version (its own plan, router and delivery plan, sharing the targets' lanes), which events go to it, what each arm
/// did, and the guard that rolls a failing canary back. The rollouts themselves live in the store, so that every
/// engine on it, the command line and the admin API see the same ones.
public final class RolloutCenter: DeliveryMonitor, Sendable {
    /// A rollout compiled for the running plan.
    public struct Active: Sendable {
        public let record: RolloutRecord
        /// The running plan with this connector's candidate in place of its current version.
        public let plan: Plan
        let router: Router
        let delivery: DeliveryPlan
        let stickBy: JSONataExpression?
        /// The running plan it was compiled against.
        let basePlanVersion: String
    }

    /// Where an event goes.
    public enum Choice: Sendable {
        case current
        /// A canary's event: routed and delivered by the candidate only.
        case candidate(Active)
        /// A shadow's event: routed and delivered by the current version; the candidate's calls are mapped and recorded.
        case shadow(Active)
    }

    private let active = Mutex<[String: Active]>([:])
    private let guards = Mutex<[String: RollbackGuard]>([:])
    /// Per connector and arm: attempts, failures, dead letters and the last latencies, for the dashboard.
    private let figures = Mutex<[String: [RollbackGuard.Arm: ArmFigures]]>([:])
    /// The problems of rollouts that cannot run (a candidate that no longer compiles), by rollout id.
    private let problems = Mutex<[String: String]>([:])

    public struct ArmFigures: Sendable {
        public var events = 0
        public var attempts = 0
        public var failed = 0
        public var deadLettered = 0
        var latencies: [Double] = []

        public func percentile(_ fraction: Double) -> Double? {
            guard !latencies.isEmpty else { return nil }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
        }
    }

    let metrics: EngineMetrics?

    public init(metrics: EngineMetrics? = nil) {
        self.metrics = metrics
    }

    /// The rollouts running now, by connector.
    public var running: [String: Active] { active.withLock { $0 } }

    /// Why a rollout cannot run, by rollout id.
    public var failures: [String: String] { problems.withLock { $0 } }

    // MARK: Setting up

    /// Compiles the active rollouts of `records` against `plan` (a candidate replaces its connector); rollouts that
    /// ended are dropped. A candidate that does not compile, names another connector, or cannot be set up (a secret
    /// that does not resolve) is not run, and its problem is kept for `rollout status`.
    public func install(_ records: [RolloutRecord], plan: Plan, resolver: ConfigResolver, runtime: DeliveryRuntime?) {
        var next: [String: Active] = [:]
        var found: [String: String] = [:]
        let previous = running
        for record in records where record.status == .active {
            // Compiled already against this plan: only its share or log may have changed.
            if let known = previous[record.connector], known.record.id == record.id, known.record.candidateText == record.candidateText,
               known.basePlanVersion == plan.version
            {
                next[record.connector] = Active(record: record, plan: known.plan, router: known.router, delivery: known.delivery,
                                                stickBy: known.stickBy, basePlanVersion: known.basePlanVersion)
                continue
            }
            guard plan.connector(named: record.connector) != nil else {
                found[record.id] = "the running plan has no connector \(record.connector)"
                continue
            }
            let compiled = ConnectorCompiler().compile([SourceFile(path: record.candidatePath, text: record.candidateText)])
            guard let candidate = compiled.plan?.connectors.first else {
                found[record.id] = "the candidate does not compile: "
                    + compiled.diagnostics.filter { $0.severity == .error }.map(\.description).joined(separator: "; ")
                continue
            }
            guard candidate.name == record.connector else {
                found[record.id] = "the candidate is connector \(candidate.name), not \(record.connector)"
                continue
            }
            let candidatePlan = Plan(connectors: plan.connectors.filter { $0.name != record.connector } + [candidate])
            do {
                let delivery = try DeliveryPlan(plan: candidatePlan, resolver: resolver, tokens: runtime?.tokens ?? OAuth2TokenCache())
                let stickBy = try record.stickBy.map { try JSONataExpression($0) }
                next[record.connector] = Active(record: record, plan: candidatePlan, router: try Router(plan: candidatePlan),
                                                delivery: delivery, stickBy: stickBy, basePlanVersion: plan.version)
                runtime?.pin(delivery)
            } catch {
                found[record.id] = "the candidate cannot run: \(error)"
            }
        }
        active.withLock { $0 = next }
        problems.withLock { $0 = found }
        metrics?.rolloutShares(next.mapValues { ($0.record.mode.rawValue, Double($0.record.basisPoints) / 100) })
        guards.withLock { guards in
            guards = guards.filter { next[$0.key]?.record.id != nil }
            for (connector, rollout) in next where rollout.record.mode == .canary && guards[connector] == nil {
                guards[connector] = RollbackGuard(margin: rollout.record.margin, window: rollout.record.window.timeInterval,
                                                  minimum: rollout.record.minimum, onQuarantine: rollout.record.onQuarantine)
            }
        }
        figures.withLock { figures in figures = figures.filter { next[$0.key] != nil } }
    }

    // MARK: Routing

    /// Whether `connector` has a rollout running (its candidate's routes, stick-by and shadow mappings run too).
    public func isRunning(_ connector: String) -> Bool {
        active.withLock { $0[connector] != nil }
    }

    /// Where `connector`'s event goes: the key (its `stick_by` value, else the event id) picks the candidate when its
    /// bucket is under the rollout's share.
    public func choose(_ connector: String, payload: JSON?, eventID: String) -> Choice {
        guard let rollout = active.withLock({ $0[connector] }) else { return .current }
        var key = eventID
        if let stickBy = rollout.stickBy, let payload, let value = (try? stickBy.evaluate(payload)).flatMap({ $0 }) {
            key = CompiledTemplate.text(of: value)
        }
        guard RolloutSplit.toCandidate(key, basisPoints: rollout.record.basisPoints) else {
            count(connector, .current)
            return .current
        }
        count(connector, .candidate)
        return rollout.record.mode == .canary ? .candidate(rollout) : .shadow(rollout)
    }

    private func count(_ connector: String, _ arm: RollbackGuard.Arm) {
        figures.withLock { $0[connector, default: [:]][arm, default: ArmFigures()].events += 1 }
        metrics?.rolloutEvent(connector, version: arm.rawValue)
    }

    /// The candidate quarantined an event (its routes could not be evaluated on it).
    public func candidateQuarantined(_ connector: String, reason: String) {
        guards.withLock { $0[connector]?.candidateQuarantined(reason, at: Date()) }
    }

    /// Which arm made a job of `connector` with this plan version.
    public func arm(connector: String, planVersion: String) -> RollbackGuard.Arm? {
        guard let rollout = active.withLock({ $0[connector] }) else { return nil }
        return rollout.plan.version == planVersion ? .candidate : .current
    }

    // MARK: Watching

    public func attempted(_ report: AttemptReport) {
        guard let arm = arm(connector: report.job.connector, planVersion: report.job.planVersion), report.errorClass != "rate_limited"
        else { return }
        let failed = report.errorClass != "delivered"
        let connector = report.job.connector
        metrics?.rolloutAttempt(connector, version: arm.rawValue, errorClass: report.errorClass)
        figures.withLock { figures in
            var arms = figures[connector, default: [:]]
            var figure = arms[arm, default: ArmFigures()]
            figure.attempts += 1
            if failed { figure.failed += 1 }
            if case .dead = report.outcome { figure.deadLettered += 1 }
            figure.latencies.append(report.duration.timeInterval * 1000)
            if figure.latencies.count > 1000 { figure.latencies.removeFirst(figure.latencies.count - 1000) }
            arms[arm] = figure
            figures[connector] = arms
        }
        guards.withLock { guards in
            guards[connector]?.attempted(arm, failed: failed, at: report.finishedAt)
            if arm == .candidate, report.errorClass == "bad_data" {
                guards[connector]?.candidateQuarantined("a call's mapping made bad data: \(report.reason ?? "")", at: report.finishedAt)
            }
        }
    }

    /// Each arm's figures since the rollout started (or the engine did), by connector.
    public var armFigures: [String: [RollbackGuard.Arm: ArmFigures]] { figures.withLock { $0 } }

    /// The canaries to roll back now, with the reason (each once).
    public func judge(at now: Date) -> [(rollout: Active, reason: String)] {
        let running = self.running
        return guards.withLock { guards in
            guards.keys.sorted().compactMap { connector in
                guard let rollout = running[connector], let reason = guards[connector]?.judge(at: now) else { return nil }
                return (rollout, reason)
            }
        }
    }
}
