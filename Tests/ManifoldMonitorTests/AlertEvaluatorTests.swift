import Foundation
import ManifoldMonitor
import ManifoldPlan
import Testing

/// Alert rules judged on given figures and instants: when they fire, that they fire once, and that they resolve once.
@Suite struct AlertEvaluatorTests {
    let lane = LaneKey(connector: "orders", target: "crm")
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func plan(_ rules: [AlertRule]) -> AlertPlan {
        var plan = AlertPlan()
        plan.rules = rules
        plan.repeatAfter = .seconds(3600)
        return plan
    }

    func snapshot(_ now: Date, breaker: String = "closed", oldest: Date? = nil) -> MonitorSnapshot {
        MonitorSnapshot(now: now, lanes: [lane: .init(breaker: breaker, queued: oldest == nil ? 0 : 1, oldestQueued: oldest)],
                        connectors: ["orders"])
    }

    @Test func anErrorRateFiresOnceAfterItsHoldAndResolvesOnce() {
        var rule = AlertRule(name: "errors", kind: .errorRate, threshold: 0.5, minimum: 4)
        rule.window = .seconds(60)
        rule.holdFor = .seconds(20)
        var evaluator = AlertEvaluator(plan: plan([rule]))
        let stats = RollingStats()
        for second in 0..<3 {
            stats.recordAttempt(lane, kind: .transient, milliseconds: 5, at: start + Double(second))
        }
        #expect(evaluator.evaluate(snapshot(start + 3), stats: stats).isEmpty, "3 attempts: under min_attempts")
        stats.recordAttempt(lane, kind: .permanent, milliseconds: 5, deadLettered: true, at: start + 4)
        #expect(evaluator.evaluate(snapshot(start + 5), stats: stats).isEmpty, "holding, not yet for 20s")
        let fired = evaluator.evaluate(snapshot(start + 26), stats: stats)
        #expect(fired.map(\.status) == [.firing])
        #expect(fired.first?.summary == "error rate 1.00 > 0.50 over 1m (4 of 4 attempts failed)")
        #expect(fired.first?.startedAt == start + 5)
        #expect(evaluator.evaluate(snapshot(start + 40), stats: stats).isEmpty, "not repeated")
        for second in 41..<60 { stats.recordAttempt(lane, kind: .delivered, milliseconds: 5, at: start + Double(second)) }
        let resolved = evaluator.evaluate(snapshot(start + 60), stats: stats)
        #expect(resolved.map(\.status) == [.resolved])
        #expect(resolved.first?.fingerprint == fired.first?.fingerprint)
        #expect(evaluator.evaluate(snapshot(start + 61), stats: stats).isEmpty)
        #expect(evaluator.active.isEmpty)
    }

    @Test func latencyAndThroughputAreJudgedAgainstTheirOwnBaseline() {
        var latency = AlertRule(name: "slow", kind: .latencyP99, threshold: 2, minimum: 10)
        latency.window = .seconds(60)
        latency.baseline = .seconds(600)
        var quiet = AlertRule(name: "quiet", kind: .throughputDrop, threshold: 0.5, minimum: 20)
        quiet.window = .seconds(60)
        quiet.baseline = .seconds(600)
        var evaluator = AlertEvaluator(plan: plan([latency, quiet]))
        let stats = RollingStats()
        for second in stride(from: 0, to: 600, by: 5) {
            stats.recordAttempt(lane, kind: .delivered, milliseconds: 20, at: start + Double(second))
            stats.recordEvent(connector: "orders", kind: .accepted, at: start + Double(second))
        }
        let now = start + 670
        #expect(evaluator.evaluate(snapshot(now), stats: stats).map(\.rule) == ["quiet"], "no events in the last minute")
        for second in 611..<670 { stats.recordAttempt(lane, kind: .delivered, milliseconds: 400, at: start + Double(second)) }
        for second in 611..<670 { stats.recordEvent(connector: "orders", kind: .accepted, at: start + Double(second)) }
        let next = evaluator.evaluate(snapshot(now + 1), stats: stats)
        #expect(Set(next.map { "\($0.rule) \($0.status.rawValue)" }) == ["slow firing", "quiet resolved"])
    }

    @Test func breakersDeadLettersAndOldQueuedEvents() {
        var old = AlertRule(name: "old", kind: .queuedEvent, threshold: 600)
        old.connector = "orders"
        let rules = [AlertRule(name: "breaker", kind: .breakerOpen, threshold: 0),
                     AlertRule(name: "dlq", kind: .deadLetters, threshold: 0), old]
        var evaluator = AlertEvaluator(plan: plan(rules))
        let stats = RollingStats()
        stats.recordAttempt(lane, kind: .permanent, milliseconds: 5, deadLettered: true, at: start)
        let fired = evaluator.evaluate(snapshot(start + 1, breaker: "open", oldest: start - 601), stats: stats)
        #expect(fired.map(\.rule).sorted() == ["breaker", "dlq", "old"])
        #expect(evaluator.evaluate(snapshot(start + 2, breaker: "half-open", oldest: start - 601), stats: stats).isEmpty)
        let resolved = evaluator.evaluate(snapshot(start + 400, breaker: "closed", oldest: start + 399), stats: stats)
        #expect(resolved.map(\.rule).sorted() == ["breaker", "dlq", "old"])
        #expect(resolved.allSatisfy { $0.status == .resolved })
    }

    /// A vendor changes its format: events quarantined at ingress (no lane, no job) fire the connector's alert within
    /// the window, once, and it resolves once none are quarantined in the window.
    @Test func eventsQuarantinedAtIngressFireAndResolve() {
        var rule = AlertRule(name: "contract", kind: .quarantinedEvents, threshold: 0)
        rule.window = .seconds(60)
        var evaluator = AlertEvaluator(plan: plan([rule]))
        let stats = RollingStats()
        stats.recordEvent(connector: "orders", kind: .accepted, at: start)
        stats.recordEvent(connector: "orders", kind: .duplicate, at: start + 1)
        #expect(evaluator.evaluate(snapshot(start + 2), stats: stats).isEmpty, "nothing quarantined")
        stats.recordEvent(connector: "orders", kind: .quarantined, at: start + 3)
        stats.recordEvent(connector: "orders", kind: .quarantined, at: start + 4)
        let fired = evaluator.evaluate(snapshot(start + 5), stats: stats)
        #expect(fired.map(\.status) == [.firing])
        #expect(fired.first?.connector == "orders" && fired.first?.target == nil && fired.first?.value == 2)
        #expect(fired.first?.summary.hasPrefix("2 events quarantined at ingress over 1m") == true, "\(fired)")
        #expect(evaluator.evaluate(snapshot(start + 30), stats: stats).isEmpty, "not repeated")
        let resolved = evaluator.evaluate(snapshot(start + 130), stats: stats)
        #expect(resolved.map(\.status) == [.resolved])
        // Its Prometheus equivalent counts the same series by connector.
        #expect(PrometheusRules.export(plan([rule])).contains("expr: 'sum by (connector) (increase(manifold_events_quarantined_total[1m])) > 0'"))
    }

    /// A pulled connector failing run after run fires once it has failed `runs` in a row, and resolves at the run that
    /// finishes; a connector that failed fewer times does not fire.
    @Test func aPullFailingRunAfterRunFiresAndResolves() {
        let rule = AlertRule(name: "pull", kind: .pullFailing, threshold: 3)
        var evaluator = AlertEvaluator(plan: plan([rule]))
        let stats = RollingStats()
        func at(_ offset: TimeInterval, failing: Int) -> MonitorSnapshot {
            MonitorSnapshot(now: start + offset, lanes: [:], connectors: ["issues", "charges"],
                            pulls: ["issues": .init(failing: failing, lastError: "page 2: the target answered 401"),
                                    "charges": .init(failing: 1, lastError: "timeout")])
        }
        #expect(evaluator.evaluate(at(1, failing: 2), stats: stats).isEmpty)
        let fired = evaluator.evaluate(at(2, failing: 3), stats: stats)
        #expect(fired.map(\.status) == [.firing] && fired.first?.connector == "issues" && fired.first?.value == 3)
        #expect(fired.first?.summary == "3 runs in a row failed (alert at 3): page 2: the target answered 401; `manifold poll status` shows where it stands")
        #expect(evaluator.evaluate(at(3, failing: 4), stats: stats).isEmpty, "not repeated")
        #expect(evaluator.evaluate(at(4, failing: 0), stats: stats).map(\.status) == [.resolved])
        #expect(PrometheusRules.export(plan([rule])).contains("expr: 'manifold_pull_failing_runs >= 3'"))
    }

    @Test func quantilesComeFromTheLatencyBuckets() {
        let stats = RollingStats()
        for index in 0..<100 { stats.recordAttempt(lane, kind: .delivered, milliseconds: index < 98 ? 3 : 800, at: start) }
        let summary = stats.summary(lane, window: .seconds(60), endingAt: start + 1)
        #expect(summary.attempts == 100 && summary.successRate == 1)
        #expect((2...5).contains(summary.p50 ?? 0))
        #expect((500...1000).contains(summary.p99 ?? 0))
    }

    @Test func rulesExportAsPrometheusAlertingRules() {
        var rule = AlertRule(name: "delivery-errors", kind: .errorRate, threshold: 0.2, minimum: 10)
        rule.connector = "orders"
        rule.holdFor = .seconds(120)
        rule.severity = .critical
        let text = PrometheusRules.export(plan([rule, AlertRule(name: "breaker", kind: .breakerOpen, threshold: 0)]))
        #expect(text.contains("      - alert: ManifoldDeliveryErrors\n"))
        #expect(text.contains(#"increase(manifold_delivery_attempts_total{class=~"transient|permanent|bad_data",connector="orders"}[5m])"#))
        #expect(text.contains("> 0.2 and"))
        #expect(text.contains("        for: 2m\n"))
        #expect(text.contains("          severity: critical\n"))
        #expect(text.contains("expr: 'manifold_circuit_breaker_state > 0'"))
    }
}
