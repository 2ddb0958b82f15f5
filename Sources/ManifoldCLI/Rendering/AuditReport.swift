import Foundation
import ManifoldCompiler
import ManifoldPlan
import ManifoldTestRunner

/// `manifold audit`: the integration audit in Markdown — every connector, its source and verification, its targets
/// with endpoints, auth and effective policies, its routes and tests, and the risks found, most severe first.
struct AuditReport {
    enum Severity: Int, Comparable, CaseIterable {
        case high, medium, low
        static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rawValue < rhs.rawValue }
        var label: String { ["high", "medium", "low"][rawValue] }
    }

    struct Risk {
        var severity: Severity
        var connector: String
        var text: String
    }

    /// API hosts known to enforce rate limits, with the limit they document: a target calling one without a
    /// `rate_limit` will meet 429s (or a ban) under load.
    static let rateLimitedHosts: [(suffix: String, vendor: String, limit: String)] = [
        ("api.hubapi.com", "HubSpot", "100 requests per 10s per app"),
        ("slack.com", "Slack", "about 1 message per second per channel"),
        ("api.github.com", "GitHub", "5,000 requests per hour per token"),
        ("myshopify.com", "Shopify", "2 requests per second (REST, leaky bucket)"),
        ("api.stripe.com", "Stripe", "100 requests per second in live mode"),
        ("zendesk.com", "Zendesk", "200 to 700 requests per minute by plan"),
        ("api.twilio.com", "Twilio", "per-account concurrency limits"),
        ("salesforce.com", "Salesforce", "daily API request allocations"),
        ("api.intercom.io", "Intercom", "1,000 requests per minute"),
        ("api.notion.com", "Notion", "3 requests per second"),
    ]

    let plan: Plan
    let diagnostics: [Diagnostic]
    /// Loopback: plain http there leaves no machine.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    /// Loopback, or a host known only at run time (`${env:}`): not a third-party API the audit can name.
    static func isLocal(_ host: String) -> Bool {
        isLoopback(host) || host.contains("${")
    }

    /// The test file beside a connector file, read as `manifold test` reads it.
    struct TestFile {
        var path: String
        /// Its cases, or nil when it does not load.
        var cases: Int?
        /// Why it does not load: its first error, with its place.
        var problem: String?

        var text: String { cases.map { "\($0) cases" } ?? "**invalid**" }
    }

    /// The test file of each connector file, when there is one beside it.
    let testFiles: [String: TestFile]

    static func testFile(for sourceFile: String) -> TestFile? {
        let stem = sourceFile.hasSuffix(".yaml") ? String(sourceFile.dropLast(5)) : sourceFile.hasSuffix(".yml")
            ? String(sourceFile.dropLast(4)) : sourceFile
        guard let path = [stem + ".test.yaml", stem + ".test.yml"].first(where: FileManager.default.fileExists(atPath:)) else {
            return nil
        }
        switch ConnectorTestSuite.load(path: path) {
        case .success(let suite): return TestFile(path: path, cases: suite.cases.count)
        case .failure(let invalid): return TestFile(path: path, problem: invalid.diagnostics.first.map(\.description) ?? "invalid")
        }
    }

    func risks() -> [Risk] {
        var risks: [Risk] = []
        for connector in plan.connectors {
            let name = connector.name
            if let source = connector.source {
                let verification = source.verification
                if verification.scheme == .none {
                    risks.append(Risk(severity: .high, connector: name,
                                      text: "webhook `\(source.path)` is not verified: anyone who finds the URL can post events"))
                } else if verification.tolerance == nil, verification.scheme.signsTimestamp {
                    risks.append(Risk(severity: .low, connector: name, text: "no replay window (`tolerance`) on a timestamped signature"))
                }
            }
            if case .poll(let poll)? = connector.pull, poll.cursor == nil {
                risks.append(Risk(severity: .low, connector: name,
                                  text: "the poll keeps no cursor: every run reads everything again (each record is still one event)"))
            }
            for target in connector.targets {
                let url = target.baseURL.description
                if url.hasPrefix("http://"), !(Self.host(of: url).map(Self.isLoopback) ?? false) {
                    risks.append(Risk(severity: .high, connector: name,
                                      text: "target `\(target.name)` calls \(url) over plain http: payloads and credentials travel unencrypted"))
                }
                if target.retry == .defaults {
                    risks.append(Risk(severity: .low, connector: name,
                                      text: "target `\(target.name)` has no retry policy of its own: engine defaults apply (\(PlanRenderer.retryText(target.retry)))"))
                }
                if target.rateLimit == nil, let host = Self.host(of: url) {
                    // Every third-party API limits its callers; those whose limits are known and strict, more so.
                    if let known = Self.rateLimitedHosts.first(where: { host == $0.suffix || host.hasSuffix("." + $0.suffix) }) {
                        risks.append(Risk(severity: .medium, connector: name,
                                          text: "target `\(target.name)` calls \(known.vendor) (\(host)), which rate-limits (\(known.limit)), without a `rate_limit`"))
                    } else if !Self.isLocal(host) {
                        risks.append(Risk(severity: .low, connector: name,
                                          text: "target `\(target.name)` calls \(host) without a `rate_limit`: every API limits its callers; set the vendor's documented limit"))
                    }
                }
                let secretInPath = target.operations.contains { $0.path.hasReferences }
                if case .none = target.auth, target.signing == nil, !url.contains("${env:"), !secretInPath {
                    risks.append(Risk(severity: .low, connector: name, text: "target `\(target.name)` sends no credentials (auth none)"))
                }
            }
            if let file = connector.sourceFile {
                if let tests = testFiles[file], let problem = tests.problem {
                    risks.append(Risk(severity: .medium, connector: name, text: "its test file does not load: \(problem)"))
                } else if testFiles[file] == nil {
                    risks.append(Risk(severity: .medium, connector: name,
                                      text: "no tests: add \(URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent).test.yaml beside it (`manifold test`)"))
                }
            }
        }
        for diagnostic in diagnostics where diagnostic.message.contains("is written inline") {
            let connector = plan.connectors.first { $0.sourceFile == diagnostic.location?.file }?.name ?? diagnostic.location?.file ?? "?"
            let place = diagnostic.location.map { "\($0.file):\($0.line):\($0.column)" } ?? ""
            let field = diagnostic.message.components(separatedBy: " is written inline").first ?? ""
            risks.append(Risk(severity: .high, connector: connector,
                              text: "secret `\(field)` is written inline (\(place)): use ${env:NAME} so it stays out of the repository"))
        }
        return risks.sorted { ($0.severity, $0.connector) < ($1.severity, $1.connector) }
    }

    static func host(of url: String) -> String? {
        guard let start = url.range(of: "://")?.upperBound else { return nil }
        let rest = url[start...]
        let host = rest.prefix { $0 != "/" && $0 != ":" && $0 != "?" }
        return host.isEmpty ? nil : host.lowercased()
    }

    func markdown() -> String {
        let risks = self.risks()
        var lines = ["# Integration audit", ""]
        let counts = Severity.allCases.map { severity in "\(risks.filter { $0.severity == severity }.count) \(severity.label)" }
        lines.append("\(plan.connectors.count) connector\(plan.connectors.count == 1 ? "" : "s"), plan `\(plan.version)`; "
                     + "risks: \(counts.joined(separator: ", ")).")
        lines += ["", "## Connectors", "", "| connector | source | verification | targets | routes | tests | risks |",
                  "|---|---|---|---|---|---|---|"]
        for connector in plan.connectors {
            let tests = connector.sourceFile.flatMap { testFiles[$0] }?.text ?? "**none**"
            let mine = risks.filter { $0.connector == connector.name }
            let riskText = mine.isEmpty ? "none" : Severity.allCases.compactMap { severity in
                let count = mine.filter { $0.severity == severity }.count
                return count == 0 ? nil : "\(count) \(severity.label)"
            }.joined(separator: ", ")
            let sourceText = connector.source.map { "webhook `\($0.path)`" } ?? connector.pull.map { "\($0.kind) (\($0.timing.text))" } ?? ""
            lines.append("| `\(connector.name)` | \(sourceText) | \(connector.source?.verification.scheme.rawValue ?? "pulled") | "
                         + "\(connector.targets.map { "`\($0.name)`" }.joined(separator: ", ")) | \(connector.routes.count) | \(tests) | \(riskText) |")
        }
        lines += ["", "## Risks", ""]
        if risks.isEmpty { lines.append("None found.") }
        for risk in risks { lines.append("- **\(risk.severity.label)** `\(risk.connector)`: \(risk.text)") }
        for connector in plan.connectors { lines += [""] + section(connector) }
        return lines.joined(separator: "\n") + "\n"
    }

    private func section(_ connector: ConnectorPlan) -> [String] {
        var lines = ["## `\(connector.name)` (v\(connector.version))", ""]
        if let description = connector.description { lines += [description, ""] }
        if let file = connector.sourceFile { lines.append("- File: `\(file)`") }
        if let pull = connector.pull {
            lines.append("- Source: pulled (\(pull.kind))")
            for (label, text) in pull.describedLines { lines.append("  - \(label): `\(text)`") }
        }
        if let source = connector.source { lines += webhookLines(source) }
        if let file = connector.sourceFile, let tests = testFiles[file] {
            lines.append("- Tests: `\(tests.path)` (\(tests.text))")
        } else {
            lines.append("- Tests: none")
        }
        return lines + targetLines(connector)
    }

    private func webhookLines(_ source: WebhookSource) -> [String] {
        var lines: [String] = []
        let verification = source.verification
        var verify = verification.scheme.rawValue
        if verification.scheme != .none {
            verify += ", \(verification.secrets.count) secret\(verification.secrets.count == 1 ? "" : "s")"
            verify += verification.secrets.contains { $0.hasReferences } ? " from the environment" : " (inline)"
        }
        if let tolerance = verification.tolerance { verify += ", replay window \(tolerance.manifoldText)" }
        lines.append("- Source: webhook `POST \(source.path)`, up to \(PlanRenderer.byteText(source.maxBodyBytes)), "
                     + source.contentTypes.map(\.rawValue).joined(separator: ", ")
                     + (source.allowedNetworks.isEmpty ? "" : ", only from \(source.allowedNetworks.joined(separator: ", "))"))
        lines.append("- Verification: \(verify)")
        lines.append("- Deduplication: " + PlanRenderer.eventIDText(source))
        return lines
    }

    private func targetLines(_ connector: ConnectorPlan) -> [String] {
        var lines: [String] = []
        lines += ["", "| target | endpoint | auth | timeout | concurrency | rate limit | retry | circuit breaker | retry budget |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for target in connector.targets {
            lines.append("| `\(target.name)` | \(PlanRenderer.destinationText(target)) | \(PlanRenderer.authText(target.auth)) | \(target.timeout.manifoldText) | "
                         + "\(target.concurrency) | \(PlanRenderer.rateLimitText(target.rateLimit)) | \(PlanRenderer.retryText(target.retry)) | "
                         + "\(PlanRenderer.breakerText(target.circuitBreaker)) | \(target.worstCaseRetryBudget.manifoldText) |")
        }
        lines += ["", "| route | when | call |", "|---|---|---|"]
        for route in connector.routes {
            var call = "`\(route.call)`"
            if let target = connector.target(named: route.target), let operation = target.operation(named: route.operation) {
                call += " \(operation.method.rawValue) \(PlanRenderer.destinationText(target))\(operation.path)"
            }
            let condition = route.condition.map { Markdown.code($0.source) } ?? "always"
            lines.append("| `\(route.name)` | \(condition) | \(call) |")
        }
        return lines
    }
}
