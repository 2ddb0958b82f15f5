import ManifoldPlan

/// A target's policies in words, and what they do when its vendor fails: what the runbook says, derived from the
/// plan and from how the lanes work (a lane waits while its breaker is open; a call not yet tried never ages;
/// a 429 uses no attempt), so the page changes when the file does.
enum PolicyWords {
    static func plural(_ count: Int, _ word: String, _ plural: String? = nil) -> String {
        "\(count) " + (count == 1 ? word : plural ?? word + "s")
    }

    /// `1h 5m` rather than `1h5m`.
    static func duration(_ value: Duration) -> String {
        let text = value.manifoldText
        var output = ""
        var previousWasLetter = false
        for character in text {
            if character.isNumber, previousWasLetter { output += " " }
            output.append(character)
            previousWasLetter = character.isLetter
        }
        return output
    }

    /// "at most 100 calls per 10 s, shared with a/b and c/d (pool hubspot)".
    static func rateLimit(_ target: TargetPlan, connector: String, plan: Plan) -> String {
        guard let limit = target.rateLimit else {
            return "no rate limit of its own: calls go out as fast as \(plural(target.concurrency, "call")) at a time allow"
        }
        var text = "at most \(plural(limit.requests, "call")) per \(duration(limit.per))"
        if let pool = limit.pool {
            let others = sharers(of: pool, plan: plan).filter { $0 != "\(connector)/\(target.name)" }
            text += others.isEmpty ? " (pool `\(pool)`, used by this target only so far)"
                : ", shared with " + others.map { DocText.code($0) }.joined(separator: ", ") + " (pool `\(pool)`)"
        }
        return text
    }

    /// `connector/target` of every target in the pool.
    static func sharers(of pool: String, plan: Plan) -> [String] {
        plan.connectors.flatMap { connector in
            connector.targets.filter { $0.rateLimit?.pool == pool }.map { "\(connector.name)/\($0.name)" }
        }
    }

    static func retry(_ target: TargetPlan) -> String {
        let policy = target.retry
        if policy.maxAttempts <= 1 { return "a failed call is not tried again: it is dead-lettered at once" }
        var text = "a call that fails with a timeout, a refused connection, a 408 or a 5xx is tried again, up to "
            + "\(plural(policy.maxAttempts, "attempt")) in all"
        if let schedule = policy.schedule {
            text += ", waiting " + schedule.map(duration).joined(separator: ", ") + " between them"
        } else {
            text += ", waiting \(duration(policy.initialBackoff)) after the first failure, then "
                + "\(multiplier(policy.multiplier)) times longer each time up to \(duration(policy.maxBackoff))"
            switch policy.jitter {
            case .full: text += " (each wait a random share of that, so that calls do not retry in step)"
            case .equal: text += " (each wait between half of that and all of it)"
            case .none: text += ""
            }
        }
        text += "; a longer `Retry-After` from the vendor wins. It gives up \(duration(policy.maxElapsed)) after the first attempt "
            + "whatever the count: while the breaker lets calls through, a call that keeps failing is dead-lettered at most "
            + "\(duration(target.worstCaseRetryBudget)) after its first attempt."
        return text
    }

    static func breaker(_ target: TargetPlan) -> String {
        let breaker = target.circuitBreaker
        return "after \(plural(breaker.failures, "failure")) in a row the circuit breaker opens: no call to this target is made for "
            + "\(duration(breaker.openFor)), then one call probes; it closes when a probe succeeds and stays open while they fail. "
            + "Calls waiting meanwhile use up no attempts."
    }

    /// Attempts made while the vendor is down for `outage`: the calls running when it failed, the failures that open
    /// the breaker, then one probe per open period.
    static func attemptsDuring(_ outage: Duration, target: TargetPlan) -> Int {
        let probes = Int((outage.milliseconds + target.circuitBreaker.openFor.milliseconds - 1) / max(1, target.circuitBreaker.openFor.milliseconds))
        return target.concurrency + target.circuitBreaker.failures + probes
    }

    /// At most how many calls an outage of `outage` dead-letters: each needs every attempt (or, when the outage
    /// outlasts `max_elapsed`, any call tried during it may give up).
    static func deadLettersDuring(_ outage: Duration, target: TargetPlan) -> Int {
        let attempts = attemptsDuring(outage, target: target)
        let policy = target.retry
        if outage + policy.maximumWait(after: policy.maxAttempts) >= policy.maxElapsed { return attempts }
        return attempts / max(1, policy.maxAttempts)
    }

    /// The outages the runbook works through.
    static let outages: [(label: String, duration: Duration)] = [
        ("5 minutes", .seconds(300)), ("1 hour", .seconds(3600)), ("6 hours", .seconds(6 * 3600)), ("1 day", .seconds(86_400)),
    ]

    /// How long `calls` waiting calls take to go out when the vendor is back: the rate limit, else concurrency and
    /// the timeout's share.
    static func drain(_ calls: Int, target: TargetPlan) -> String {
        guard let limit = target.rateLimit else {
            return "as fast as \(plural(target.concurrency, "call")) at a time go"
        }
        let seconds = Double(calls) / Double(limit.requests) * Double(limit.per.milliseconds) / 1000
        return "at least \(duration(.seconds(Int64(seconds.rounded(.up))))) (the rate limit)"
    }

    private static func multiplier(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
