import AsyncHTTPClient
import Foundation
import JSONValue
import TestSupport
import Testing

/// A vendor failure, injected at the mock vendor, seen where an on-call engineer looks: `/metrics`, the JSON logs,
/// the dashboard's data and page, and alerts (webhook and Slack sinks, both on the mock vendor) that fire and then
/// resolve. The real binaries, on loopback ports they choose.
@Suite(.serialized) struct ObservabilityEndToEndTests {
    static let secrets = ["ORDERS_SECRET": "orders-signing-secret-4f9a", "MANIFOLD_ADMIN_TOKEN": "admin-token-77c1"]

    /// A running mock vendor and engine, with the orders connector calling the vendor under `/crm`.
    struct Setup {
        var vendor: Process
        var vendorPort: Int
        var engine: Process
        var port: Int
        var log: URL
        var folder: URL

        func stop() {
            for process in [engine, vendor] where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    static let connector = """
        connector: orders
        version: 1
        source:
          webhook:
            path: /hooks/orders
            verify: { scheme: github, secret: "${env:ORDERS_SECRET}" }
            event_id: id
            event_type: action
        targets:
          crm:
            base_url: http://127.0.0.1:${env:VENDOR_PORT}
            allow_insecure: true
            timeout: 2s
            concurrency: 2
            retry: { max_attempts: 2, backoff: { initial: 200ms, max: 1s } }
            circuit_breaker: { failures: 3, open_for: 2s }
            operations:
              upsert: { method: POST, path: /crm/contacts }
        routes:
          - name: contact
            call: crm.upsert
            body: { id: "{% id %}" }

        """

    static let configuration = """
        version: 1
        alerts:
          evaluate_every: 1s
          delivery: { initial_delay: 200ms }
          sinks:
            - { name: ops, type: webhook, url: "http://127.0.0.1:${env:VENDOR_PORT}/alerts" }
            - { name: chat, type: slack, url: "http://127.0.0.1:${env:VENDOR_PORT}/slack" }
          rules:
            - { name: errors, kind: error_rate, above: 0.5, window: 30s, min_attempts: 3, severity: critical }
            - { name: breaker, kind: breaker_open, sinks: [ops] }

        """

    /// `others`: more connector files, by name.
    static func start(in folder: URL, others: [String: String] = [:], engineArguments: [String] = []) async throws -> Setup {
        let (vendor, vendorPort) = try await MockVendorProcess.start(in: folder)
        let connectors = folder.appending(path: "connectors")
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        try connector.write(to: connectors.appending(path: "orders.yaml"), atomically: true, encoding: .utf8)
        for (name, text) in others {
            try text.write(to: connectors.appending(path: name + ".yaml"), atomically: true, encoding: .utf8)
        }
        try configuration.write(to: folder.appending(path: "manifold.yaml"), atomically: true, encoding: .utf8)
        var environment = secrets
        environment["VENDOR_PORT"] = String(vendorPort)
        let engine: (process: Process, port: Int, log: URL)
        do {
            engine = try await EngineEndToEndTests.start(
                store: folder.appending(path: "m.db").path,
                arguments: ["--connectors", connectors.path, "--config", folder.appending(path: "manifold.yaml").path,
                            "--log-format", "json", "--no-watch"] + engineArguments,
                environment: environment)
        } catch {
            vendor.terminate()
            throw error
        }
        return Setup(vendor: vendor, vendorPort: vendorPort, engine: engine.process, port: engine.port, log: engine.log, folder: folder)
    }

    static func post(_ url: String) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        _ = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    }

    /// GETs `url` with the admin token (which also opens the dashboard) as a bearer token in lower case.
    static func get(_ url: String) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "bearer " + secrets["MANIFOLD_ADMIN_TOKEN"]!)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 8 << 20))
    }

    /// Sends a signed order event with `manifold send` (with a caller's `traceparent` when given).
    static func send(_ id: String, setup: Setup, traceparent: String? = nil) async throws {
        let body = setup.folder.appending(path: "\(id).json")
        try #"{"id":"\#(id)","action":"created"}"#.write(to: body, atomically: true, encoding: .utf8)
        var environment = secrets
        environment["VENDOR_PORT"] = String(setup.vendorPort)
        let run = try await EngineEndToEndTests.manifold(
            ["send", "orders", "--connectors", setup.folder.appending(path: "connectors").path, "--body", body.path,
             "--url", "http://127.0.0.1:\(setup.port)"] + (traceparent.map { ["--header", "traceparent: \($0)"] } ?? []),
            environment: environment)
        #expect(run.status == 0, "\(run.output)\(run.error)")
    }

    /// The calls the mock vendor logged, as JSON objects.
    static func calls(_ setup: Setup) async throws -> [JSON] {
        try await get("http://127.0.0.1:\(setup.vendorPort)/_log").split(separator: "\n").map { try JSONParser.parse(String($0)) }
    }

    /// The notifications a sink path took (answered 200), parsed.
    static func notifications(_ setup: Setup, path: String) async throws -> [JSON] {
        try await calls(setup).filter { $0["path"]?.stringValue == path && $0["status"]?.numberValue == 200 }
            .compactMap { try? JSONParser.parse($0["body"]?.stringValue ?? "") }
    }

    @Test func aVendorFailureShowsInMetricsLogsDashboardAndAlerts() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let setup = try await Self.start(in: folder)
            defer { setup.stop() }
            let engine = "http://127.0.0.1:\(setup.port)"
            try await Self.post("http://127.0.0.1:\(setup.vendorPort)/_mode?prefix=/crm&status=503")
            // The webhook sink refuses its first two calls: its notifications are retried until it takes them.
            try await Self.post("http://127.0.0.1:\(setup.vendorPort)/_mode?prefix=/alerts&status=503&calls=2")
            let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            let failedAt = Date()
            for index in 1...6 { try await Self.send("o\(index)", setup: setup, traceparent: index == 1 ? incoming : nil) }

            // Alerts: the error rate and the open breaker, at the webhook sink (the error rate at Slack too), well
            // within the configured window.
            var alerts: [JSON] = []
            let fired = try await Eventually.until(every: .milliseconds(200)) {
                alerts = try await Self.notifications(setup, path: "/alerts")
                return Set(alerts.filter { $0["status"]?.stringValue == "firing" }.compactMap { $0["rule"]?.stringValue }) == ["errors", "breaker"]
            }
            #expect(fired, "alerts at the sink: \(alerts)")
            #expect(Date().timeIntervalSince(failedAt) < 30)
            let refused = try await Self.calls(setup).filter { $0["path"]?.stringValue == "/alerts" && $0["status"]?.numberValue == 503 }
            #expect(!refused.isEmpty, "the sink refused the first tries")
            let errors = try #require(alerts.first { $0["rule"]?.stringValue == "errors" })
            #expect(errors["connector"]?.stringValue == "orders" && errors["target"]?.stringValue == "crm")
            #expect(errors["severity"]?.stringValue == "critical")
            #expect(errors["summary"]?.stringValue?.contains("attempts failed") == true, "\(errors)")
            #expect(errors["dashboard"]?.stringValue == engine + "/")
            let slack = try await Self.notifications(setup, path: "/slack")
            #expect(slack.contains { $0["text"]?.stringValue?.contains("[FIRING] errors") == true }, "\(slack)")
            #expect(!slack.contains { $0["text"]?.stringValue?.contains("breaker") == true }, "the breaker rule names only the ops sink")

            // Metrics: the attempts by class, the open breaker, the dead letters, the events.
            let metrics = try await Self.get(engine + "/metrics")
            #expect(metrics.contains(#"manifold_events_received_total{connector="orders"} 6"#), "\(metrics)")
            #expect(metrics.contains(#"manifold_events_verified_total{connector="orders"} 6"#))
            #expect(metrics.contains(#"manifold_delivery_attempts_total{connector="orders",target="crm",class="transient"}"#))
            // Open, or half-open while its probe (every open_for, 2 s) is out: which of the two at this instant depends
            // on the machine's speed; closed it is not.
            #expect(metrics.contains(#"manifold_circuit_breaker_state{connector="orders",target="crm"} 2.0"#)
                || metrics.contains(#"manifold_circuit_breaker_state{connector="orders",target="crm"} 1.0"#))
            #expect(metrics.contains(#"manifold_delivery_duration_seconds_bucket{connector="orders",target="crm",le="+Inf"}"#))
            #expect(metrics.contains(#"manifold_alert_notifications_total{rule="errors",status="firing"} 1"#))
            #expect(metrics.contains("# HELP manifold_lane_oldest_job_age_seconds"))
            let deadLettered = try await Eventually.until(every: .milliseconds(200)) {
                try await Self.get(engine + "/metrics").contains(#"manifold_jobs_completed_total{connector="orders",target="crm",outcome="dead_lettered"}"#)
            }
            #expect(deadLettered)
            #expect(!metrics.contains("\"ev_") && !metrics.contains("\"job_"), "no event or job ids in labels")

            // The dashboard's data, and its page rendered on the server.
            let data = try JSONParser.parse(try await Self.get(engine + "/dashboard/data"))
            let lane = try #require(data["lanes"]?.arrayValue?.first { $0["lane"]?.stringValue == "orders/crm" })
            #expect(lane["error_rate"]?.numberValue == 1)
            #expect((lane["failed"]?.numberValue ?? 0) >= 3)
            #expect(data["alerts"]?.arrayValue?.count == 2)
            #expect(data["failures"]?.arrayValue?.first?["class"]?.stringValue == "transient")
            let page = try await Self.get(engine + "/")
            #expect(page.contains(#"<tr data-lane="orders/crm">"#))

            // The vendor got the caller's trace, in a new span.
            let first = try #require(try await Self.calls(setup).first { $0["path"]?.stringValue == "/crm/contacts" })
            let traceparent = first["traceparent"]?.stringValue ?? ""
            #expect(traceparent.hasPrefix("00-0af7651916cd43dd8448eb211c80319c-") && !traceparent.contains("b7ad6b7169203331"), "\(traceparent)")

            // Recovery: the vendor answers again, new events are delivered, the breaker closes: the breaker alert
            // resolves once.
            // The events wait in the lane while the breaker is open; its probe after open_for then succeeds.
            try await Self.post("http://127.0.0.1:\(setup.vendorPort)/_mode?prefix=/crm&status=200")
            for index in 7...9 { try await Self.send("o\(index)", setup: setup) }
            let resolved = try await Eventually.until(every: .milliseconds(200)) {
                try await Self.notifications(setup, path: "/alerts").contains {
                    $0["rule"]?.stringValue == "breaker" && $0["status"]?.stringValue == "resolved"
                }
            }
            #expect(resolved)
            let breakerMessages = try await Self.notifications(setup, path: "/alerts").filter { $0["rule"]?.stringValue == "breaker" }
            #expect(breakerMessages.map { $0["status"]?.stringValue ?? "" } == ["firing", "resolved"], "de-duplicated: \(breakerMessages)")
            #expect(Set(breakerMessages.map { $0["fingerprint"]?.stringValue ?? "" }).count == 1)

            // The logs: one JSON object per line, a line per step with the fields an on-call engineer filters on,
            // no secret anywhere.
            setup.stop()
            let log = try String(contentsOf: setup.log, encoding: .utf8)
            let lines = log.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try? JSONParser.parse(String($0)) }
            #expect(!lines.isEmpty && lines.allSatisfy { $0 != nil })
            let objects = lines.compactMap { $0 }
            let retry = try #require(objects.first { $0["msg"]?.stringValue == "will retry" })
            for field in ["connector", "route", "target", "event", "job", "attempt", "class", "status", "duration_ms", "trace_id", "outcome"] {
                #expect(retry[field] != nil, "the retry line has \(field): \(retry)")
            }
            #expect(retry["level"]?.stringValue == "warning")
            #expect(objects.contains { $0["msg"]?.stringValue == "dead-lettered" && $0["level"]?.stringValue == "error" })
            #expect(objects.contains { $0["msg"]?.stringValue == "delivered" && $0["level"]?.stringValue == "info" })
            #expect(objects.contains { $0["msg"]?.stringValue == "event stored" && $0["trace_id"]?.stringValue == "0af7651916cd43dd8448eb211c80319c" })
            #expect(objects.contains { $0["msg"]?.stringValue == "alert firing" && $0["rule"]?.stringValue == "errors" })
            #expect(objects.contains { $0["msg"]?.stringValue == "alert resolved" && $0["rule"]?.stringValue == "breaker" })
            #expect(objects.contains { $0["msg"]?.stringValue == "alert notification failed; will retry" && $0["sink"]?.stringValue == "ops" })
            for secret in Self.secrets.values { #expect(!log.contains(secret), "a secret in the log") }
        }
    }
}
