public import Foundation
public import Logging
public import ManifoldIngress
public import ManifoldPlan
import ManifoldDiff
public import ManifoldStore
import Synchronization

/// What compiling the connector files gave: a plan to run (with the sources to keep and the resolver for its
/// references), or the errors that refuse it.
public enum PlanCompilation: Sendable {
    case compiled(Plan, sources: [PlanSource], resolver: ConfigResolver)
    case refused(diagnostics: [String])
}

/// Reloads the connectors: compiles every file, and only when all of them compile and every reference resolves
/// swaps the new plan in (`Engine.apply`); otherwise the running plan stays and the reasons are logged, counted and
/// kept for `/readyz` and the admin API. One reload at a time, in the order asked.
public actor ConfigReloader {
    let engine: Engine
    let compile: @Sendable () -> PlanCompilation
    let keepSources: @Sendable (String, [PlanSource]) async throws -> Void
    let logger: Logger
    /// How many reloads have finished, and the last few outcomes, oldest first.
    private nonisolated let history = Mutex<(count: Int, outcomes: [ReloadOutcome])>((0, []))
    /// How many outcomes `recent` keeps.
    static let kept = 16

    /// `compile` reads and compiles the files (and the environment) as they are now; `keepSources` stores a plan's
    /// sources under its version, for replays on the original plan.
    public init(engine: Engine, logger: Logger, compile: @escaping @Sendable () -> PlanCompilation,
                keepSources: @escaping @Sendable (String, [PlanSource]) async throws -> Void = { _, _ in })
    {
        self.engine = engine
        self.compile = compile
        self.keepSources = keepSources
        self.logger = logger
    }

    /// The last reload's outcome, if any.
    public nonisolated var last: ReloadOutcome? { history.withLock { $0.outcomes.last } }

    /// How many reloads have finished, and the last few outcomes (oldest first): reloads that follow each other
    /// closely (two files written in turn) each leave their outcome, where `last` shows only the latest.
    public nonisolated var recent: (count: Int, outcomes: [ReloadOutcome]) { history.withLock { $0 } }

    /// Compiles the files and swaps the plan in if they are all valid.
    @discardableResult
    public func reload(trigger: String) async -> ReloadOutcome {
        let started = ContinuousClock.now
        let running = engine.plan
        var outcome: ReloadOutcome
        switch compile() {
        case .refused(let diagnostics):
            outcome = finished(.rejected, trigger: trigger, started: started, diff: PlanDiff(changes: []), diagnostics: diagnostics)
        case .compiled(let plan, _, _) where plan.connectors.isEmpty && !running.connectors.isEmpty:
            // A directory emptied (a deploy half done, a wrong path) would take every webhook down at once.
            outcome = finished(.rejected, trigger: trigger, started: started, diff: PlanDiff(changes: []), diagnostics: [
                "error: no connector files: every connector would be removed; the running plan stays "
                    + "(remove connectors one at a time, or stop the engine)",
            ])
        case .compiled(let plan, let sources, let resolver):
            do {
                try engine.apply(plan, resolver: resolver)
                let diff = PlanDiff(old: running, new: plan)
                outcome = finished(diff.isEmpty && plan.version == running.version ? .unchanged : .applied, trigger: trigger,
                                   started: started, diff: diff, diagnostics: [])
                if plan.version != running.version, let store = engine.store as? any RolloutStore {
                    do {
                        try await store.recordApplied(version: plan.version, trigger: trigger, summary: diff.summary)
                    } catch {
                        logger.error("recording the applied plan failed", metadata: ["plan": "\(plan.version)", "error": "\(error)"])
                    }
                }
                if !sources.isEmpty, plan.version != running.version {
                    do {
                        try await keepSources(plan.version, sources)
                    } catch {
                        logger.error("keeping the plan's sources failed", metadata: ["plan": "\(plan.version)", "error": "\(error)"])
                    }
                }
            } catch {
                outcome = finished(.rejected, trigger: trigger, started: started, diff: PlanDiff(changes: []),
                                   diagnostics: ["error: \(error)"])
            }
        }
        report(outcome, previous: running.version)
        return outcome
    }

    private func finished(_ result: ReloadOutcome.Result, trigger: String, started: ContinuousClock.Instant,
                          diff: PlanDiff, diagnostics: [String]) -> ReloadOutcome
    {
        let outcome = ReloadOutcome(result: result, trigger: trigger, at: Date(), duration: ContinuousClock.now - started,
                                    running: engine.plan.version, diff: diff, diagnostics: diagnostics,
                                    heldJobs: engine.runtime?.heldJobs ?? [:])
        history.withLock { history in
            history.count += 1
            history.outcomes.append(outcome)
            if history.outcomes.count > Self.kept { history.outcomes.removeFirst(history.outcomes.count - Self.kept) }
        }
        engine.metrics.reloaded(result)
        return outcome
    }

    private func report(_ outcome: ReloadOutcome, previous: String) {
        var metadata: Logger.Metadata = [
            "trigger": "\(outcome.trigger)", "plan": "\(outcome.running)",
            "duration_ms": "\(outcome.duration.milliseconds)",
        ]
        switch outcome.result {
        case .rejected:
            metadata["errors"] = "\(outcome.diagnostics.count)"
            logger.error("reload rejected; the running plan stays", metadata: metadata)
            for line in outcome.diagnostics { logger.error("\(line)", metadata: ["trigger": "\(outcome.trigger)"]) }
        case .unchanged:
            logger.info("reload: no changes in behaviour", metadata: metadata)
        case .applied:
            metadata["previous"] = "\(previous)"
            metadata["changes"] = "\(outcome.diff.summary)"
            logger.notice("plan reloaded", metadata: metadata)
            for change in outcome.diff.changes {
                logger.notice("\(change.severity.rawValue): \(change.connector) \(change.scope) \(change.what())",
                              metadata: ["reason": "\(change.reason)"])
            }
        }
        for (route, count) in outcome.heldJobs.sorted(by: { $0.key < $1.key }) {
            logger.warning("jobs held: the running plan has no such route", metadata: ["route": "\(route)", "jobs": "\(count)"])
        }
    }
}
