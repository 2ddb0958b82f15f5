import Foundation
import JSONValue
@testable import ManifoldCompiler
import ManifoldPlan
import TestSupport
import Testing

@Suite struct ConnectorCompilerTests {
    @Test func exampleConnectorsCompileCleanly() throws {
        let files = try Fixtures.exampleConnectors()
        #expect(files.count >= 5)
        // Every variable the examples read is in connectors/example.env (a new example without its values fails here).
        let lines = try String(contentsOf: Fixtures.packageRoot.appending(path: "connectors/example.env"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("=") }
        let environment = Dictionary(lines.map { line in
            (String(line.prefix { $0 != "=" }), String(line.drop { $0 != "=" }.dropFirst()))
        }, uniquingKeysWith: { _, last in last })
        let result = ConnectorCompiler(environment: .require(environment)).compile(files)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let plan = try #require(result.plan)
        #expect(plan.connectors.map(\.name) == [
            "app-events-fanout", "app-to-paypal", "calendly-to-notion", "customer-webhooks", "github-issues-poll",
            "github-to-jira", "github-to-slack", "intercom-to-zendesk", "mailgun-to-airtable", "orders-table-sql", "paddle-to-sendgrid",
            "sendgrid-to-mixpanel", "sentry-to-linear", "shopify-lines-flow", "shopify-to-3pl",
            "shopify-to-mailchimp", "stripe-charges-poll", "stripe-checkout-flow", "stripe-to-hubspot", "stripe-to-intercom",
            "stripe-to-mixpanel", "twilio-sms-to-helpdesk", "typeform-to-salesforce", "warehouse-returns-files", "weekly-balance-report", "zoom-to-jira",
        ])
        let stripe = try #require(plan.connector(named: "stripe-to-hubspot"))
        #expect(stripe.source!.verification.scheme == .stripe)
        #expect(stripe.routes.map(\.call) == ["hubspot.upsert_contact", "slack.notify"])
    }

    @Test func unsetEnvironmentIsAnErrorForTheEngine() {
        let result = Fixtures.compile(["a.yaml": Fixtures.connector()], environment: .require([:]))
        #expect(result.plan == nil)
        #expect(result.diagnostics.map(\.description) == [
            "a.yaml:5:39: error: environment variable DEMO_SECRET is not set (source.webhook.verify.secret)",
        ])
        let warned = Fixtures.compile(["a.yaml": Fixtures.connector()], environment: .warn([:]))
        #expect(warned.plan != nil)
        #expect(warned.diagnostics.map(\.severity) == [.warning])
    }

    @Test func defaultsAreFilledIn() throws {
        let plan = try #require(Fixtures.compile(["a.yaml": Fixtures.connector()]).plan)
        let target = try #require(plan.connectors.first?.target(named: "api"))
        #expect(target.timeout == .seconds(30))
        #expect(target.concurrency == 4)
        #expect(target.retry == RetryPolicy.defaults)
        #expect(target.circuitBreaker == CircuitBreakerPolicy.defaults)
        #expect(target.auth == .none)
        #expect(target.rateLimit == nil)
        #expect(plan.connectors.first?.source!.maxBodyBytes == 1 << 20)
        #expect(plan.connectors.first?.source!.contentTypes == [.json])
    }

    @Test func retryBudgetIsTheWorstCase() throws {
        let plan = try #require(Fixtures.compile(["a.yaml": Fixtures.connector(target: """
            timeout: 10s
            retry: { max_attempts: 4, backoff: { initial: 1s, max: 3s, multiplier: 2 } }
            """)]).plan)
        let target = try #require(plan.connectors.first?.target(named: "api"))
        // Four attempts of 10 s, and waits of 1 s, 2 s and 3 s (4 s capped at 3 s).
        #expect(target.worstCaseRetryBudget == .seconds(46))
        let capped = RetryPolicy(maxAttempts: 50, maxElapsed: .seconds(3600), initialBackoff: .seconds(1),
                                 maxBackoff: .seconds(600), multiplier: 2, jitter: .full)
        #expect(capped.worstCaseBudget(timeout: .seconds(30)) == .seconds(3600))
    }

    @Test func planVersionDependsOnContentNotLayout() throws {
        let a = Fixtures.connector(name: "alpha", path: "/hooks/a")
        let b = Fixtures.connector(name: "beta", path: "/hooks/b")
        let one = try #require(Fixtures.compile(["1.yaml": a, "2.yaml": b]).plan)
        let two = try #require(Fixtures.compile(["x/b.yaml": b, "y/a.yaml": "# a comment moves every line\n\n" + a]).plan)
        #expect(one.version == two.version)
        #expect(one == two)
        let changed = try #require(Fixtures.compile(["1.yaml": a, "2.yaml": b.replacingOccurrences(of: "/events", with: "/events2")]).plan)
        #expect(changed.version != one.version)
        #expect(one.version.hasPrefix("sha256:") && one.version.count == 23)
    }

    @Test func planHoldsReferencesNeverSecretValues() throws {
        let result = Fixtures.compile(["a.yaml": Fixtures.connector()], environment: .require(["DEMO_SECRET": "s3cr3t-value"]))
        let plan = try #require(result.plan)
        let text = plan.json.serialized()
        #expect(text.contains("${env:DEMO_SECRET}"))
        #expect(!text.contains("s3cr3t-value"))
    }

    @Test func templatesAreParsed() throws {
        let plan = try #require(Fixtures.compile(["a.yaml": Fixtures.connector(routes: """
              - name: forward
                call: api.get
                path: { id: "{% id %}" }
                headers: { X-Trace: "run-{% $string(n) %}-${env:REGION}" }
                body:
                  whole: "{% amount / 100 %}"
                  text: "plain text, 100% literal"
                  nested: [1, "{% a %}"]
            """)]).plan)
        let route = try #require(plan.connectors.first?.routes.first)
        #expect(route.pathParameters == [Header(name: "id", value: .expression(ExpressionSource("id")))])
        #expect(route.headers.first?.value == .interpolated([.text("run-"), .expression(ExpressionSource("$string(n)")), .text("-"), .environment("REGION")]))
        guard case .object(let members)? = route.body else { Issue.record("body is not an object"); return }
        #expect(members.map(\.key) == ["whole", "text", "nested"])
        #expect(members[0].value == .expression(ExpressionSource("amount / 100")))
        #expect(members[1].value == .literal("plain text, 100% literal"))
        #expect(members[2].value == .array([.literal(1), .expression(ExpressionSource("a"))]))
    }

    @Test(arguments: [
        ("http://api.example.com", "targets.api.base_url uses plain http to api.example.com: use https, or set allow_insecure: true if the network is trusted"),
        ("ftp://api.example.com", "targets.api.base_url must be an absolute https:// URL (got \"ftp://api.example.com\")"),
    ])
    func insecureURLsAreRefused(url: String, message: String) {
        let text = Fixtures.connector().replacingOccurrences(of: "https://api.example.com", with: url)
        #expect(Fixtures.compile(["a.yaml": text]).diagnostics.map(\.message) == [message])
    }

    @Test func insecureURLsAreAllowedForLoopbackOrExplicitly() {
        for (url, extra) in [("http://127.0.0.1:8080", ""), ("http://localhost", ""), ("http://internal.example", "allow_insecure: true")] {
            let text = Fixtures.connector(target: extra).replacingOccurrences(of: "https://api.example.com", with: url)
            let result = Fixtures.compile(["a.yaml": text])
            #expect(result.plan != nil, "\(url): \(result.diagnostics)")
        }
    }

    @Test func everyErrorOfAFileIsReportedInFileOrder() {
        let text = Fixtures.connector(target: "timeout: soon\nconcurrency: 0", routes: "  - name: a\n    call: nope.post\n  - name: b\n    call: api.gett")
        let lines = Fixtures.compile(["a.yaml": text]).diagnostics.map { $0.location!.line }
        #expect(lines.count == 4)
        #expect(lines == lines.sorted())
    }
}

/// `manifold run --target NAME=URL`: a target's base URL for one run.
@Suite struct TargetOverrideTests {
    static let plan = Plan(connectors: [
        try! TestConnector.plan(name: "a", webhook: "path: /a\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]").connectors[0],
        try! TestConnector.plan(name: "b", webhook: "path: /b\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]").connectors[0],
    ])

    @Test func aTargetNameOrConnectorSlashTargetSetsTheBaseURL() throws {
        let all = try Self.plan.overriding([TargetOverride(parsing: "sink=http://127.0.0.1:9000")])
        #expect(all.connectors.map { $0.targets[0].baseURL.description } == ["http://127.0.0.1:9000", "http://127.0.0.1:9000"])
        let one = try Self.plan.overriding([TargetOverride(parsing: "b/sink=https://staging.example")])
        #expect(one.connectors.map { $0.targets[0].baseURL.description } == ["https://example.com", "https://staging.example"])
        #expect(one.connectors[0] == Self.plan.connectors[0])
    }

    @Test func anOAuthTokenEndpointOnTheVendorsHostMovesWithIt() throws {
        let source = """
            connector: crm
            source: { webhook: { path: /in, verify: { scheme: none }, allow_ips: [127.0.0.1/32] } }
            targets:
              hubspot:
                base_url: https://api.hubapi.com
                auth: { oauth2: { grant: client_credentials, token_url: https://api.hubapi.com/oauth/v1/token, client_id: a, client_secret: "${env:S}" } }
                operations: { up: { method: POST, path: /up } }
            routes: [{ name: up, call: hubspot.up }]
            """
        let plan = try #require(ConnectorCompiler().compile([SourceFile(path: "crm.yaml", text: source)]).plan)
        let local = try plan.overriding([TargetOverride(parsing: "hubspot=http://127.0.0.1:9000")])
        guard case .oauth2(let settings) = local.connectors[0].targets[0].auth else { Issue.record("auth changed kind"); return }
        #expect(settings.tokenURL.description == "http://127.0.0.1:9000/oauth/v1/token")
    }

    @Test func aTypoOrAMalformedOverrideIsAnError() throws {
        let typo = try #require(throws: TargetOverride.Failure.self) {
            try Self.plan.overriding([TargetOverride(parsing: "snik=http://127.0.0.1:9000")])
        }
        #expect(typo.description.contains("no connector has that target (targets: a/sink, b/sink)"))
        #expect(throws: TargetOverride.Failure.self) { try TargetOverride(parsing: "sink") }
        #expect(throws: TargetOverride.Failure.self) { try TargetOverride(parsing: "sink=ftp://x") }
    }
}

/// `event-data.id` is a subtraction in JSONata: the compiler says so, with the backtick fix.
@Suite struct DashedNameTests {
    @Test func bareDashedNamesAreFoundAndMeantMinusesAreNot() {
        #expect(DashedNames.find(in: "event-data.id") == ["event-data"])
        #expect(DashedNames.find(in: "payload.user-agent & '-' & x-request-id") == ["user-agent", "x-request-id"])
        #expect(DashedNames.find(in: "total - discount").isEmpty)
        #expect(DashedNames.find(in: "n-1").isEmpty)
        #expect(DashedNames.find(in: "$count-1").isEmpty)
        #expect(DashedNames.find(in: "$a-b").isEmpty)
        #expect(DashedNames.find(in: "'event-data' & \"x-y\"").isEmpty)
        #expect(DashedNames.find(in: "`event-data`.id").isEmpty)
    }

    @Test func theCompilerWarnsWithTheFix() throws {
        let source = """
            connector: mailgun
            source:
              webhook:
                path: /in
                verify: { scheme: none }
                allow_ips: [127.0.0.1/32]
                event_id: event-data.id
            targets:
              api:
                base_url: https://api.example.com
                operations: { post: { method: POST, path: /x } }
            routes:
              - { name: all, when: "`event-data`.event = 'failed'", call: api.post }
            """
        let result = ConnectorCompiler().compile([SourceFile(path: "mailgun.yaml", text: source)])
        let warnings = result.diagnostics.filter { $0.severity == .warning }.map(\.message)
        #expect(warnings.contains("source.webhook.event_id: 'event-data' reads as event minus data in JSONata; for the field 'event-data' write `event-data` (in backticks)"),
                "\(warnings)")
        #expect(!warnings.contains { $0.contains("routes") }, "the backticked name is meant")
    }
}

@Suite struct ContentTypeDefaultTests {
    /// Twilio posts forms: without `content_types` a twilio connector accepts them (it answered them 415).
    @Test func twilioAcceptsFormsByDefault() throws {
        let twilio = try TestConnector.plan(name: "sms", webhook: "path: /sms\nverify: { scheme: twilio, secret: \"${env:T}\", public_url: \"https://example.com/sms\" }")
        #expect(twilio.connectors[0].source!.contentTypes == [.form, .json])
        let other = try TestConnector.plan(name: "gh", webhook: "path: /gh\nverify: { scheme: github, secret: \"${env:G}\" }")
        #expect(other.connectors[0].source!.contentTypes == [.json])
    }
}
