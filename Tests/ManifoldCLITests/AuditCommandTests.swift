import Foundation
import TestSupport
import Testing

/// `manifold audit` and `manifold alerts export` with the binary, as a reviewer or an on-call team would run them.
@Suite struct AuditCommandTests {
    static let risky = """
        connector: risky
        version: 1
        source:
          webhook:
            path: /hooks/risky
            verify: { scheme: none }
        targets:
          crm:
            base_url: https://api.hubapi.com
            auth:
              bearer: { token: "pat-na1-inline-secret" }
            operations:
              upsert: { method: POST, path: /contacts }
          legacy:
            base_url: http://legacy.internal
            allow_insecure: true
            auth:
              api_key: { header: X-Key, value: "${env:LEGACY_KEY}" }
            retry: { max_attempts: 3 }
            operations:
              post: { method: POST, path: /in }
        routes:
          - { name: contact, call: crm.upsert, body: { id: "{% id %}" } }
          - { name: legacy, call: legacy.post, body: { id: "{% id %}" } }

        """

    @Test func theAuditNamesEveryRiskOfARiskyConnector() async throws {
        try await TemporaryDirectory.withAsync { folder in
            try Self.risky.write(to: folder.appending(path: "risky.yaml"), atomically: true, encoding: .utf8)
            let run = try await EngineEndToEndTests.manifold(["audit", folder.path])
            #expect(run.status == 0, "\(run.error)")
            let report = run.output
            #expect(report.hasPrefix("# Integration audit\n"))
            #expect(report.contains("risks: 3 high, 2 medium, 2 low."), "\(report)")
            #expect(report.contains("- **high** `risky`: webhook `/hooks/risky` is not verified"))
            #expect(report.contains("- **high** `risky`: target `legacy` calls http://legacy.internal over plain http"))
            #expect(report.contains("- **high** `risky`: secret `targets.crm.auth.bearer.token` is written inline ("))
            #expect(report.contains("- **medium** `risky`: target `crm` calls HubSpot (api.hubapi.com), which rate-limits"))
            #expect(report.contains("- **medium** `risky`: no tests: add risky.test.yaml beside it"))
            #expect(report.contains("- **low** `risky`: target `crm` has no retry policy of its own"))
            #expect(report.contains("- **low** `risky`: target `legacy` calls legacy.internal without a `rate_limit`"), "\(report)")
            #expect(report.contains("| `legacy` | http://legacy.internal | api_key in header X-Key | 30s | 4 | none |"), "effective defaults shown")
            #expect(!report.contains("pat-na1-inline-secret"), "the audit never prints a secret")
        }
    }

    /// Any third-party API without a limit is a risk (the known strict ones more so); names with backticks stay
    /// code; --fail-on gates CI on a level.
    @Test func everyUnlimitedVendorIsARiskAndFailOnGates() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let connector = """
                connector: mail
                source:
                  webhook:
                    path: /hooks/mailgun
                    verify: { scheme: hmac, secret: "${env:MAILGUN_KEY}", header: X-Sig }
                    event_id: "`event-data`.id"
                targets:
                  jira:
                    base_url: https://acme.atlassian.net
                    auth: { bearer: { token: "${env:JIRA_TOKEN}" } }
                    retry: { max_attempts: 5 }
                    operations: { create: { method: POST, path: /rest/api/3/issue } }
                  local:
                    base_url: http://127.0.0.1:9000
                    auth: { bearer: { token: "${env:LOCAL_TOKEN}" } }
                    retry: { max_attempts: 5 }
                    operations: { post: { method: POST, path: /in } }
                routes:
                  - { name: issue, when: "`event-data`.event = 'failed'", call: jira.create, body: { id: "{% id %}" } }
                  - { name: local, call: local.post, body: { id: "{% id %}" } }
                """
            try connector.write(to: folder.appending(path: "mail.yaml"), atomically: true, encoding: .utf8)
            let run = try await EngineEndToEndTests.manifold(["audit", folder.path])
            #expect(run.status == 0)
            #expect(run.output.contains("- **low** `mail`: target `jira` calls acme.atlassian.net without a `rate_limit`"), "\(run.output)")
            #expect(!run.output.contains("target `local` calls"), "loopback is not a vendor")
            #expect(run.output.contains("- Deduplication: event id `` `event-data`.id ``"), "\(run.output)")
            #expect(run.output.contains("| `issue` | `` `event-data`.event = 'failed' `` |"), "\(run.output)")
            // Only low and medium risks here (no tests is medium): --fail-on high passes, --fail-on medium fails.
            #expect(try await EngineEndToEndTests.manifold(["audit", folder.path, "--fail-on", "high"]).status == 0)
            let gated = try await EngineEndToEndTests.manifold(["audit", folder.path, "--fail-on", "medium"])
            #expect(gated.status == 1 && gated.output.hasPrefix("# Integration audit"))
        }
    }

    @Test func aTestFileThatDoesNotLoadIsARiskWithItsPlace() async throws {
        try await TemporaryDirectory.withAsync { folder in
            try Self.risky.write(to: folder.appending(path: "risky.yaml"), atomically: true, encoding: .utf8)
            let tests = folder.appending(path: "risky.test.yaml")
            try "connector: risky\ncases:\n  - name: one\n    webhok: {}\n".write(to: tests, atomically: true, encoding: .utf8)
            let report = try await EngineEndToEndTests.manifold(["audit", folder.path]).output
            #expect(report.contains("| **invalid** |"), "\(report)")
            #expect(report.contains("- **medium** `risky`: its test file does not load: \(tests.path):4:5: error: unknown key 'webhok' in cases[0]; did you mean 'webhook'?"), "\(report)")
            #expect(!report.contains("no tests: add"))
        }
    }

    @Test func theExampleConnectorsAuditCleanOfHighRisks() async throws {
        let run = try await EngineEndToEndTests.manifold(["audit", "connectors"])
        #expect(run.status == 0, "\(run.error)")
        let examples = try FileManager.default.contentsOfDirectory(atPath: TestPaths.packageRoot.appending(path: "connectors").path)
            .filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".test.yaml") }.count
        #expect(run.output.contains("\(examples) connectors,") && run.output.contains("risks: 0 high, 0 medium"), "\(run.output.prefix(400))")
        for name in ["app-events-fanout", "github-to-slack", "shopify-to-3pl", "stripe-to-hubspot", "twilio-sms-to-helpdesk",
                     "mailgun-to-airtable", "sendgrid-to-mixpanel", "zoom-to-jira", "customer-webhooks"] {
            #expect(run.output.contains("## `\(name)`"))
            #expect(run.output.contains("- Tests: `connectors/\(name).test.yaml`"))
        }
    }

    @Test func alertRulesExportForPrometheusWithoutTheEnvironment() async throws {
        let run = try await EngineEndToEndTests.manifold(["alerts", "export", "--prometheus", "--config", "manifold.yaml"])
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("groups:\n  - name: manifold\n    rules:\n"))
        for alert in ["ManifoldDeliveryErrors", "ManifoldSlowVendor", "ManifoldQuietSource", "ManifoldBreakerOpen",
                      "ManifoldDeadLetters", "ManifoldStuckEvent", "ManifoldPayloadContract"]
        {
            #expect(run.output.contains("      - alert: \(alert)\n"), "\(alert)")
        }
        #expect(run.output.contains("manifold_lane_oldest_job_age_seconds > 600"))
        // quarantined_events, as manifold.yaml writes it: its window and severity.
        #expect(run.output.contains("expr: 'sum by (connector) (increase(manifold_events_quarantined_total[5m])) > 0'"), "\(run.output)")
        let missing = try await EngineEndToEndTests.manifold(["alerts", "export", "--prometheus", "--config", "connectors/example.env"])
        #expect(missing.status == 1)
    }

    @Test func aBadGlobalConfigurationStopsTheEngineWithItsLocation() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let config = folder.appending(path: "manifold.yaml")
            try """
                version: 1
                alerts:
                  sinks:
                    - { name: ops, type: webhook, url: "http://127.0.0.1:9/alerts" }
                  rules:
                    - { kind: error_rate, above: 0.2, sinks: [opps] }

                """.write(to: config, atomically: true, encoding: .utf8)
            let run = try await EngineEndToEndTests.manifold(["run", "--connectors", "connectors", "--env-file", "connectors/example.env",
                                                        "--store", folder.appending(path: "m.db").path, "--config", config.path])
            #expect(run.status == 1)
            #expect(run.error.contains(config.path + ":6:47: error: no sink is named 'opps' (did you mean 'ops'?)"), "\(run.error)")

            // A sink's secret: unset in the environment, refused at its place; unreadable as a file, refused naming the sink.
            func start(sink url: String) async throws -> ProcessRun {
                try "version: 1\nalerts:\n  sinks:\n    - { name: ops, type: slack, url: \"\(url)\" }\n  rules:\n    - { kind: breaker_open }\n"
                    .write(to: config, atomically: true, encoding: .utf8)
                return try await EngineEndToEndTests.manifold(["run", "--connectors", "connectors", "--env-file", "connectors/example.env",
                                                         "--store", folder.appending(path: "m.db").path, "--config", config.path,
                                                         "--listen", "127.0.0.1:0"])
            }
            let unset = try await start(sink: "${env:SLACK_ALERTS_UNSET}")
            #expect(unset.status == 1)
            #expect(unset.error.contains(config.path + ":4:38: error: environment variable SLACK_ALERTS_UNSET is not set (alerts.sinks[0].url)"),
                    "\(unset.error)")
            let unreadable = try await start(sink: "${file:/nonexistent/slack-url}")
            #expect(unreadable.status == 2)
            #expect(unreadable.error.contains("alert sink 'ops': cannot read the file /nonexistent/slack-url"), "\(unreadable.error)")
            // Exporting the rules needs no secret.
            #expect(try await EngineEndToEndTests.manifold(["alerts", "export", "--prometheus", "--config", config.path]).status == 0)
        }
    }
}
