import ManifoldPlan

/// Prints a plan for people: per connector its webhook, routes and targets with effective policies.
enum PlanRenderer {
    /// The generic HMAC scheme in full, as a reviewer checks it: header and prefix, algorithm and encoding, what is
    /// signed, and the timestamp header.
    static func hmacText(_ hmac: HMACSettings, scheme: SignatureScheme = .hmac) -> String {
        (scheme == .hmac ? "\(hmac.algorithm.rawValue) " : "") + "\(hmac.encoding.rawValue) in "
            + (hmac.signatureField.map { "body field \($0)" } ?? hmac.header)
            + (hmac.prefix.isEmpty ? "" : " after prefix '\(hmac.prefix)'")
            + " of '\(hmac.stringToSign)'"
            + (hmac.timestampHeader.map { ", timestamp in \($0)" } ?? "")
            + (hmac.timestampField.map { ", timestamp in body field \($0)" } ?? "")
            + (hmac.signsTimestamp && hmac.timestampFormat != .unix ? " (\(hmac.timestampFormat.rawValue))" : "")
    }

    /// `?name=value&…` with each value as written (templates with `{% %}`), or nothing.
    static func queryText(_ query: [Header]) -> String {
        guard !query.isEmpty else { return "" }
        return "?" + query.map { parameter in
            let value = parameter.value.json.stringValue ?? parameter.value.json.serialized()
            return "\(parameter.name)=\(value)"
        }.joined(separator: "&")
    }

    static func text(_ plan: Plan) -> String {
        var lines = ["plan \(plan.version): \(plan.connectors.count) connector\(plan.connectors.count == 1 ? "" : "s")"]
        for connector in plan.connectors {
            lines.append("")
            lines += self.lines(for: connector)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func lines(for connector: ConnectorPlan) -> [String] {
        var lines = ["connector \(connector.name) v\(connector.version)" + (connector.sourceFile.map { "  (\($0))" } ?? "")]
        if let description = connector.description { lines.append("  \(description)") }
        if let pull = connector.pull {
            lines.append("  pulls (\(pull.kind))")
            for (label, text) in pull.describedLines {
                lines.append("    " + label.padding(toLength: 11, withPad: " ", startingAt: 0) + " " + text)
            }
        }
        if let source = connector.source { lines += webhookLines(source) }
        lines += routeLines(connector)
        return lines
    }

    private static func webhookLines(_ source: WebhookSource) -> [String] {
        var lines: [String] = []
        let verification = source.verification
        lines.append("  webhook POST \(source.path)")
        var verify = "    verify      \(verification.scheme.rawValue)"
        if verification.scheme.usesPublicKey {
            verify += ", \(verification.publicKeys.count) public key\(verification.publicKeys.count == 1 ? "" : "s")"
        } else if verification.scheme != .none {
            verify += ", \(verification.secrets.count) secret\(verification.secrets.count == 1 ? "" : "s")"
        }
        if let tolerance = verification.tolerance { verify += ", replay window \(tolerance.manifoldText)" }
        if let url = verification.publicURL { verify += ", public URL \(url)" }
        if let hmac = verification.hmac { verify += ", " + hmacText(hmac, scheme: verification.scheme) }
        lines.append(verify)
        if let handshake = source.handshake {
            let text = handshake.preset.map { "\($0.rawValue) (answered in the request)" }
                ?? handshake.match.map { "\($0.method)" + ($0.query.isEmpty ? "" : " with ?\($0.query.joined(separator: "&"))")
                    + ($0.when.map { " when \($0.source)" } ?? "") + ($0.verified ? ", signed" : "") } ?? "custom"
            lines.append("    handshake   \(text)")
        }
        lines.append("    event id    \(eventIDText(source, markdown: false, expressionLabel: ""))")
        if let type = source.eventType { lines.append("    event type  \(type)") }
        lines.append("    accepts     \(source.contentTypes.map(\.rawValue).joined(separator: ", ")), up to \(byteText(source.maxBodyBytes))"
                     + (source.allowedNetworks.isEmpty ? "" : ", from \(source.allowedNetworks.joined(separator: ", "))"))
        return lines
    }

    private static func routeLines(_ connector: ConnectorPlan) -> [String] {
        var lines: [String] = []
        lines.append("  routes")
        for route in connector.routes {
            lines.append("    \(route.name)")
            lines.append("      when      \(route.condition.map(\.source) ?? "always")")
            if route.isFlow {
                lines += flowLines(route, connector: connector)
                continue
            }
            var call = "      call      \(route.call)"
            if let target = connector.target(named: route.target), let operation = target.operation(named: route.operation) {
                call += "  \(operation.method.rawValue) \(destinationText(target))\(operation.path)" + queryText(operation.query + route.query)
            }
            lines.append(call)
            if let key = route.idempotencyKey { lines.append("      idempotency key  \(key)") }
            if let key = route.orderingKey { lines.append("      ordering key     \(key)") }
        }
        lines.append("  targets")
        for target in connector.targets {
            lines.append("    \(target.name)  \(destinationText(target))" + (target.allowInsecure ? "  (insecure http allowed)" : ""))
            if let endpoints = target.endpoints {
                lines.append("      endpoints        event type \(endpoints.eventType?.source ?? "(none: only endpoints without a filter)"), "
                             + "disabled after failing \(endpoints.autoDisableAfter.manifoldText)"
                             + (endpoints.allowPrivateNetworks ? ", private networks allowed" : "") + (endpoints.allowInsecure ? ", http allowed" : ""))
            }
            lines.append("      auth             \(authText(target.auth))")
            lines.append("      timeout          \(target.timeout.manifoldText)")
            lines.append("      concurrency      \(target.concurrency)")
            lines.append("      rate limit       " + rateLimitText(target.rateLimit))
            lines.append("      retry            " + retryText(target.retry))
            lines.append("      circuit breaker  " + breakerText(target.circuitBreaker))
            lines.append("      retry budget     at most \(target.worstCaseRetryBudget.manifoldText) from first attempt to giving up")
            if let signing = target.signing {
                var text = signing.scheme.rawValue + (target.endpoints != nil ? ", each endpoint's own secrets"
                    : ", \(signing.secrets.count) secret\(signing.secrets.count == 1 ? "" : "s")")
                if let hmac = signing.hmac { text += ", " + hmacText(hmac) }
                lines.append("      signs calls      \(text)")
            }
            for operation in target.operations where target.endpoints == nil {
                lines.append("      operation \(operation.name): \(operation.method.rawValue) \(operation.path)"
                             + (operation.bodySchema == nil ? "" : "  (body checked against a schema)"))
            }
        }
        return lines
    }

    /// What an event is told apart by: its id expression (after `expressionLabel`), a delivery-id header, or the
    /// hash of its body; names in `code` quotes.
    /// A flow as a graph in text: each step in order with what it calls (or computes), its condition and list, and
    /// the failure steps below; `→` marks the order the results feed.
    static func flowLines(_ route: RoutePlan, connector: ConnectorPlan) -> [String] {
        var lines = ["      flow      \(route.steps.count) step\(route.steps.count == 1 ? "" : "s"), each call on its target's lane, "
                     + "its result stored before the next"]
        func step(_ step: StepPlan, _ index: Int, arrow: String) -> [String] {
            var text = "      \(arrow) \(index + 1). \(step.name)"
            if let call = step.call {
                text += "  \(call.call)"
                if let target = connector.target(named: call.target), let operation = target.operation(named: call.operation) {
                    text += "  \(operation.method.rawValue) \(operation.path)"
                }
            } else {
                text += "  computes values"
            }
            var result = [text]
            if let condition = step.condition { result.append("           when \(condition.source)") }
            if let list = step.forEach {
                result.append("           for each of \(list.source) (at most \(step.maxItems); a failing element "
                              + (step.onElementFailure == .continue ? "is dead-lettered alone, the flow goes on)" : "ends the flow)"))
            }
            if let key = step.call?.idempotencyKey { result.append("           idempotency key \(key.source)") }
            return result
        }
        for (index, item) in route.steps.enumerated() { lines += step(item, index, arrow: index == 0 ? "→" : "↓") }
        if !route.onFailure.isEmpty {
            lines.append("      on failure (reads $failure)")
            for (index, item) in route.onFailure.enumerated() { lines += step(item, index, arrow: "!") }
        }
        return lines
    }

    /// What tells events apart; `markdown` writes names and expressions as code spans.
    static func eventIDText(_ source: WebhookSource, markdown: Bool = true, expressionLabel: String = "event id ") -> String {
        let verification = source.verification
        func code(_ text: String) -> String { markdown ? Markdown.code(text) : text }
        return source.eventID.map { "\(expressionLabel)\(code($0.source))" }
            ?? (verification.idHeader ?? verification.scheme.deliveryIDHeader).map { "header \(code($0))" }
            ?? "hash of the body"
    }

    static func rateLimitText(_ limit: RateLimit?) -> String {
        limit.map { "\($0.requests) per \($0.per.manifoldText)" + ($0.pool.map { " (pool \($0))" } ?? "") } ?? "none"
    }

    /// Where a target's calls go: its base URL, or its customers' endpoints.
    static func destinationText(_ target: TargetPlan) -> String {
        target.endpoints.map { "each endpoint of tenant \($0.tenant.source)" } ?? target.baseURL.description
    }

    static func retryText(_ retry: RetryPolicy) -> String {
        if let schedule = retry.schedule {
            return "\(retry.maxAttempts) attempt\(retry.maxAttempts == 1 ? "" : "s"), waits "
                + schedule.map(\.manifoldText).joined(separator: ", ") + ", give up after \(retry.maxElapsed.manifoldText)"
        }
        return "\(retry.maxAttempts) attempt\(retry.maxAttempts == 1 ? "" : "s"), backoff \(retry.initialBackoff.manifoldText) "
            + "x\(multiplierText(retry.multiplier)) up to \(retry.maxBackoff.manifoldText), \(retry.jitter.rawValue) jitter, "
            + "give up after \(retry.maxElapsed.manifoldText)"
    }

    static func breakerText(_ breaker: CircuitBreakerPolicy) -> String {
        "opens after \(breaker.failures) consecutive failures, for \(breaker.openFor.manifoldText)"
    }

    static func authText(_ auth: AuthMethod) -> String {
        switch auth {
        case .none: "none"
        case .apiKey(.header(let name), _): "api_key in header \(name)"
        case .apiKey(.query(let name), _): "api_key in query parameter \(name)"
        case .bearer: "bearer token"
        case .basic(let username, _): "basic (user \(username))"
        case .oauth2(let settings): "oauth2 \(settings.grant.rawValue) (token from \(settings.tokenURL))"
        }
    }

    static func byteText(_ bytes: Int) -> String {
        if bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    private static func multiplierText(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
