import AsyncHTTPClient
import Foundation
import JSONValue
import NIOCore
import TestSupport
import Testing

/// The author's loop with the real binary: `manifold run` on the example connectors, `manifold send` of each
/// sample, `manifold events list|show` while the engine runs, then SIGTERM.
@Suite struct EngineEndToEndTests {
    static let connectors = GoldenFile.packageRoot.appending(path: "connectors").path
    static let environment = connectors + "/example.env"

    /// Starts `manifold run` on port 0 and reads the port it prints.
    static func start(store: String, arguments: [String]? = nil, environment: [String: String] = [:]) async throws
        -> (process: Process, port: Int, log: URL)
    {
        let log = FileManager.default.temporaryDirectory.appending(path: "manifold-run-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = TestPaths.manifold
        process.arguments = ["run", "--store", store, "--listen", "127.0.0.1:0"]
            // The examples' polls would call the real vendors: the engines of these tests pull nothing.
            + (arguments ?? ["--connectors", connectors, "--env-file", Self.environment, "--no-pull"])
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // A generous bound: a loaded machine (a compiler and a second test run on two cores) has taken over 30 s to
        // start an engine. The log is read once more after the bound, so a wait that overslept still sees the line.
        let deadline = Date().addingTimeInterval(180)
        while true {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                let port = Int(text[range].split(separator: ":").last!)!
                return (process, port, log)
            }
            if !process.isRunning || Date() >= deadline { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw CocoaError(.fileReadUnknown, userInfo: ["log": (try? String(contentsOf: log, encoding: .utf8)) ?? ""])
    }

    static func manifold(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessRun {
        try await ProcessRun.runAsync(TestPaths.manifold, arguments, in: GoldenFile.packageRoot, environment: environment)
    }

    /// GET `path` on the engine: the status and the body.
    static func get(_ path: String, port: Int) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"),
                                                           timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    /// An operator's reload loop with the real binary: a broken file refused by `manifold reload` (exit 1, with its
    /// location), a fix applied (exit 0, with what changed), SIGHUP, and what /readyz and /metrics then say.
    @Test func reloadARunningEngine() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let base = try String(contentsOf: GoldenFile.folder.appending(path: "Golden/diff/base.yaml"), encoding: .utf8)
            let file = folder.appending(path: "orders.yaml")
            try base.write(to: file, atomically: true, encoding: .utf8)
            let secrets = ["ORDERS_SECRET": "s", "CRM_TOKEN": "t", "MANIFOLD_ADMIN_TOKEN": "admin-token"]
            let (engine, port, log) = try await Self.start(store: folder.appending(path: "m.db").path,
                                                     arguments: ["--connectors", folder.path, "--no-watch"], environment: secrets)
            defer { if engine.isRunning { engine.terminate() } }
            let url = "http://127.0.0.1:\(port)"
            let reload = { () async throws -> ProcessRun in try await Self.manifold(["reload", "--url", url, "--color", "never"], environment: secrets) }

            try "connector: orders\nversion: [\n".write(to: file, atomically: true, encoding: .utf8)
            let refused = try await reload()
            #expect(refused.status == 1, "\(refused.error)")
            #expect(refused.output.hasPrefix("refused: plan sha256:"))
            #expect(refused.output.contains(file.path + ":3:1: error: invalid YAML"), "\(refused.output)")
            let (ready, readiness) = try await Self.get("/readyz", port: port)
            #expect(ready == 200, "a rejected reload leaves the running plan ready")
            #expect(readiness.contains(#""result":"rejected""#) && readiness.contains(":3:1: error:"))

            try base.replacingOccurrences(of: "max_attempts: 8", with: "max_attempts: 3").write(to: file, atomically: true, encoding: .utf8)
            let applied = try await reload()
            #expect(applied.status == 0, "\(applied.error)")
            #expect(applied.output.contains("2 changes in behaviour: 2 risky"))
            #expect(applied.output.contains("risky     target crm  retry.max_attempts: 8 → 3"))

            try base.replacingOccurrences(of: "concurrency: 4", with: "concurrency: 2").write(to: file, atomically: true, encoding: .utf8)
            kill(engine.processIdentifier, SIGHUP)
            var signalled = ""
            try await Eventually.until(every: .milliseconds(50)) {
                signalled = try await Self.get("/readyz", port: port).1
                return signalled.contains(#""trigger":"signal""#)
            }
            #expect(signalled.contains(#""result":"applied","trigger":"signal""#), "\(signalled)")

            let metrics = try await Self.get("/metrics", port: port).1
            #expect(metrics.contains(#"manifold_config_reloads_total{result="rejected"} 1"#))
            #expect(metrics.contains(#"manifold_config_reloads_total{result="applied"} 2"#))
            let wrongToken = try await Self.manifold(["reload", "--url", url], environment: ["MANIFOLD_ADMIN_TOKEN": "nope"])
            #expect(wrongToken.status == 2)
            #expect(wrongToken.error.contains("the engine answered 401"))

            engine.terminate()
            await engine.exited()
            let text = try String(contentsOf: log, encoding: .utf8)
            #expect(text.contains("reload rejected; the running plan stays"))
            #expect(text.contains("risky: orders target crm retry.max_attempts: 8 → 3"))
        }
    }

    static func send(_ connector: String, _ sample: String, port: Int, _ extra: [String] = []) async throws -> ProcessRun {
        try await manifold(["send", connector, "--connectors", connectors, "--env-file", environment,
                      "--body", "connectors/samples/" + sample, "--url", "http://127.0.0.1:\(port)"] + extra)
    }

    @Test func sendEveryExampleThenReadTheStoreWhileTheEngineRuns() async throws {
        let store = FileManager.default.temporaryDirectory.appending(path: "manifold-e2e-\(UUID().uuidString).db").path
        let (engine, port, log) = try await Self.start(store: store)
        defer { if engine.isRunning { engine.terminate() } }

        let samples: [(String, String, [String])] = [
            ("stripe-to-hubspot", "stripe-checkout-completed.json", []),
            ("github-to-slack", "github-pull-request-opened.json", ["--header", "X-GitHub-Event: pull_request"]),
            ("shopify-to-3pl", "shopify-order-paid.json", ["--header", "X-Shopify-Topic: orders/paid", "--header", "X-Shopify-Event-Id: evt-e2e-1"]),
            ("twilio-sms-to-helpdesk", "twilio-sms.form", []),
            ("app-events-fanout", "app-event-invoice-paid.json", []),
            ("mailgun-to-airtable", "mailgun-delivery-failed.json", []),
            ("zoom-to-jira", "zoom-recording-completed.json", []),
        ]
        for (connector, sample, extra) in samples {
            let sent = try await Self.send(connector, sample, port: port, extra)
            #expect(sent.status == 0, "\(connector): \(sent.output)\(sent.error)")
            // One line, as the README shows it.
            #expect(sent.output.hasPrefix("200 {\"status\":\"accepted\",\"id\":\"ev_") && sent.output.filter { $0 == "\n" }.count == 1,
                    "\(connector): \(sent.output)")
        }
        // SendGrid signs with ECDSA: `send` signs with the private key of the demonstration pair in example.env.
        let batch = try await Self.send("sendgrid-to-mixpanel", "sendgrid-events.json", port: port,
                                  ["--signing-key", "connectors/samples/sendgrid-demo-private-key.pem"])
        #expect(batch.status == 0 && batch.output.hasPrefix("200 {\"status\":\"accepted\",\"events\":3,\"stored\":3,"), "\(batch.output)\(batch.error)")
        let keyless = try await Self.send("sendgrid-to-mixpanel", "sendgrid-events.json", port: port)
        #expect(keyless.status == 2 && keyless.error.contains("give --signing-key FILE"), "\(keyless.error)")
        let again = try await Self.send("stripe-to-hubspot", "stripe-checkout-completed.json", port: port)
        #expect(again.status == 0)
        #expect(again.output.contains(#""status":"duplicate""#))
        let unsigned = try await Self.send("stripe-to-hubspot", "stripe-checkout-completed.json", port: port, ["--unsigned"])
        #expect(unsigned.status == 1)
        #expect(unsigned.output == "401 {\"error\":\"signature\",\"message\":\"the Stripe-Signature header is missing\"}\n")

        // Read while the engine runs.
        let list = try await Self.manifold(["events", "list", "--store", store, "--format", "json"])
        #expect(list.status == 0, "\(list.error)")
        let events = try JSONParser.parse(list.output).arrayValue ?? []
        #expect(events.compactMap { $0["connector"]?.stringValue }.sorted()
            == (samples.map(\.0) + Array(repeating: "sendgrid-to-mixpanel", count: 3)).sorted())
        #expect(events.first { $0["connector"] == "github-to-slack" }?["event_type"] == "pull_request")
        #expect(events.first { $0["connector"] == "twilio-sms-to-helpdesk" }?["event_id"] == "SM0123456789abcdef0123456789abcdef")
        let stripe = try #require(events.first { $0["connector"] == "stripe-to-hubspot" })
        #expect(stripe["duplicates"] == 1)

        let filtered = try await Self.manifold(["events", "list", "--store", store, "--connector", "github-to-slack"])
        #expect(filtered.output.split(separator: "\n").count == 2, "\(filtered.output)")
        let show = try await Self.manifold(["events", "show", "--store", store, try #require(stripe["id"]?.stringValue)])
        #expect(show.status == 0)
        #expect(show.output.contains("  Stripe-Signature: [redacted]\n"))
        #expect(show.output.contains("received\n"))
        #expect(show.output.contains("duplicate  same_body=true"))
        #expect(show.output.contains(#""email": "ada@example.com""#))
        #expect(!show.output.contains("whsec_test_example_secret"))
        let missing = try await Self.manifold(["events", "show", "--store", store, "ev_nope"])
        #expect(missing.status == 1)

        // A stored event recorded as a test case, appended to the connector's tests, passes when replayed offline.
        let recorded = try await Self.manifold(["test", "--record", try #require(stripe["id"]?.stringValue), "--store", store])
        #expect(recorded.status == 0, "\(recorded.error)")
        #expect(recorded.output.contains("  - name: \"recorded: checkout.session.completed evt_1QxDemo000000000000001"))
        try await TemporaryDirectory.withAsync { folder in
            try FileManager.default.createDirectory(at: folder.appending(path: "samples"), withIntermediateDirectories: true)
            for name in ["stripe-to-hubspot.yaml", "samples/stripe-checkout-completed.json"] {
                try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.connectors).appending(path: name),
                                                 to: folder.appending(path: name))
            }
            let tests = try String(contentsOf: URL(fileURLWithPath: Self.connectors).appending(path: "stripe-to-hubspot.test.yaml"),
                                   encoding: .utf8)
            try (tests + recorded.output).write(to: folder.appending(path: "stripe-to-hubspot.test.yaml"), atomically: true, encoding: .utf8)
            let replayed = try await Self.manifold(["test", folder.path])
            #expect(replayed.status == 0, "\(replayed.output)\(replayed.error)\n\(recorded.output)")
            #expect(replayed.output.contains("pass  recorded: checkout.session.completed"))
        }

        engine.terminate()   // SIGTERM
        await engine.exited()
        #expect(engine.terminationStatus == 0)
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("manifold: stopped; the event store is closed"))
        #expect(!text.contains("whsec_test_example_secret"))
    }

    @Test func theEngineRefusesToStartWithoutItsSecretsOrItsStore() async throws {
        let noEnvironment = try await Self.manifold(["run", "--connectors", Self.connectors, "--listen", "127.0.0.1:0",
                                               "--store", "/nonexistent/dir/x.db"])
        #expect(noEnvironment.status == 1)
        #expect(noEnvironment.error.contains("stripe-to-hubspot.yaml:"))
        #expect(noEnvironment.error.contains("STRIPE_WEBHOOK_SECRET"))

        let noStore = try await Self.manifold(["run", "--connectors", Self.connectors, "--env-file", Self.environment,
                                         "--listen", "127.0.0.1:0", "--store", "/nonexistent/dir/x.db"])
        #expect(noStore.status == 2)
        #expect(noStore.error.hasPrefix("error: cannot open the event store at /nonexistent/dir/x.db"))

        let badListen = try await Self.manifold(["run", "--listen", "8080"])
        #expect(badListen.status == 2)
        #expect(badListen.error.contains("--listen must be HOST:PORT"))

        let absent = try await Self.manifold(["events", "list", "--store", "/nonexistent/x.db"])
        #expect(absent.status == 2)
        #expect(absent.error == "error: there is no event store at /nonexistent/x.db\n")
    }
}

/// The operator's view of a store that must not be used: `manifold run` refuses it with what was found, and
/// `manifold store check` tells the same.
@Suite struct StoreRefusalTests {
    @Test func aSecondEngineAndAnEmptiedStoreAreRefusedAtStart() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let store = folder.appending(path: "m.db").path
            let (first, _, _) = try await EngineEndToEndTests.start(store: store)
            defer {
                first.terminate()
                first.waitUntilExit()
            }
            let second = try await EngineEndToEndTests.manifold(["run", "--store", store, "--listen", "127.0.0.1:0", "--connectors",
                                                           EngineEndToEndTests.connectors, "--env-file", EngineEndToEndTests.environment])
            #expect(second.status == 2)
            #expect(second.error.contains("another engine (pid \(first.processIdentifier)) is running on the store \(store)"), "\(second.error)")
            let sound = try await EngineEndToEndTests.manifold(["store", "check", "--store", store])
            #expect(sound.status == 0 && sound.output.hasPrefix("\(store): sound (quick_check ok"), "\(sound.output)")
            let full = try await EngineEndToEndTests.manifold(["store", "check", "--store", store, "--full"])
            #expect(full.status == 0 && full.output.hasPrefix("\(store): sound (integrity_check ok"), "\(full.output)")

            let emptied = folder.appending(path: "emptied.db").path
            #expect(FileManager.default.createFile(atPath: emptied, contents: Data()))
            let refused = try await EngineEndToEndTests.manifold(["run", "--store", emptied, "--listen", "127.0.0.1:0", "--connectors",
                                                            EngineEndToEndTests.connectors, "--env-file", EngineEndToEndTests.environment])
            #expect(refused.status == 2)
            #expect(refused.error.contains("is empty (0 bytes)") && refused.error.contains("to recover"), "\(refused.error)")
            let check = try await EngineEndToEndTests.manifold(["store", "check", "--store", emptied])
            #expect(check.status == 1 && check.output.contains("damaged") && check.output.contains(".recover"), "\(check.output)")
        }
    }
}

/// Secrets in an operation's path stay out of the log at every level, spans included.
@Suite struct SecretsInLogsTests {
    @Test func aSecretInAPathIsNeverLoggedEvenAtDebug() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let secret = "s3cr3t-path-\(UUID().uuidString)"
            try """
            connector: paths
            source:
              webhook:
                path: /in
                verify: { scheme: none }
                allow_ips: [127.0.0.1/32]
                event_id: id
            targets:
              hooks:
                base_url: http://127.0.0.1:9
                timeout: 1s
                retry: { max_attempts: 2, backoff: { initial: 100ms, max: 100ms, jitter: none } }
                operations:
                  post: { method: POST, path: "/services/${env:SECRET_PATH}/x" }
            routes:
              - { name: all, call: hooks.post, body: { id: "{% id %}" } }
            """.write(to: folder.appending(path: "paths.yaml"), atomically: true, encoding: .utf8)
            let (engine, port, log) = try await EngineEndToEndTests.start(
                store: folder.appending(path: "m.db").path,
                arguments: ["--connectors", folder.path, "--log-level", "debug", "--log-format", "json"],
                environment: ["SECRET_PATH": secret])
            defer {
                engine.terminate()
                engine.waitUntilExit()
            }
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/in")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"id":"evt_1"}"#))
            let answer = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(answer.status.code == 200)
            // Wait for the dead letter (both attempts refused by the closed port), then read the whole log.
            let deadline = ContinuousClock.now + .seconds(60)
            var text = ""
            while !text.contains(#""msg":"dead-lettered""#), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            }
            #expect(text.contains(#""msg":"dead-lettered""#), "\(text.suffix(2000))")
            #expect(text.contains("span deliver"), "spans are logged at debug")
            #expect(text.contains(#"/services/${env:SECRET_PATH}/x"#), "the URL is shown with the reference")
            #expect(!text.contains(secret), "the resolved secret is in the log")
        }
    }
}

/// `manifold run --target NAME=URL`: a misspelt target is refused before anything starts (it would call the real
/// vendor), and so is a URL that is not one.
@Suite struct TargetOverrideCommandTests {
    @Test func aMisspeltTargetIsRefused() async throws {
        let run = try await EngineEndToEndTests.manifold(["run", "--connectors", EngineEndToEndTests.connectors, "--env-file",
                                                    EngineEndToEndTests.environment, "--listen", "127.0.0.1:0", "--store",
                                                    "/tmp/never-\(UUID().uuidString).db", "--target", "hubspt=http://127.0.0.1:9"])
        #expect(run.status == 2)
        #expect(run.error.contains("--target hubspt: no connector has that target (targets: "), "\(run.error)")
        #expect(run.error.contains("stripe-to-hubspot/hubspot"), "\(run.error)")
        let malformed = try await EngineEndToEndTests.manifold(["run", "--connectors", EngineEndToEndTests.connectors, "--env-file",
                                                          EngineEndToEndTests.environment, "--target", "hubspot"])
        #expect(malformed.status == 2 && malformed.error.contains("is not NAME=URL"), "\(malformed.error)")
    }
}

/// `manifold reload` for a local engine started without an admin token: it signals the engine through the pid its
/// store's lock file names, and prints the outcome the engine reports.
@Suite struct ReloadWithoutTokenTests {
    @Test func aLocalEngineWithoutATokenIsReloadedBySignal() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let store = folder.appending(path: "m.db").path
            let (engine, port, _) = try await EngineEndToEndTests.start(store: store)
            defer {
                engine.terminate()
                engine.waitUntilExit()
            }
            let reload = try await EngineEndToEndTests.manifold(["reload", "--url", "http://127.0.0.1:\(port)", "--store", store,
                                                           "--color", "never"], environment: ["MANIFOLD_ADMIN_TOKEN": ""])
            #expect(reload.status == 0, "\(reload.error)")
            #expect(reload.output.contains("no changes in behaviour"), "\(reload.output)")
            let nothing = try await EngineEndToEndTests.manifold(["reload", "--store", folder.appending(path: "other.db").path],
                                                           environment: ["MANIFOLD_ADMIN_TOKEN": ""])
            #expect(nothing.status == 2 && nothing.error.contains("set MANIFOLD_ADMIN_TOKEN"), "\(nothing.error)")
        }
    }
}

/// Two real engines on one PostgreSQL database, as an operator starts them: each runs a share of the lanes (none
/// twice), says which in /readyz, and `manifold cluster status` lists both with the same plan.
@Suite(.timeLimit(.minutes(10))) struct SharedStoreProcessTests {
    @Test func twoEnginesOnOnePostgresShareTheLanes() async throws {
        let url = try await PrivatePostgres.freshDatabase()
        var engines: [(process: Process, port: Int, log: URL)] = []
        defer {
            for engine in engines {
                engine.process.terminate()
                engine.process.waitUntilExit()
            }
        }
        for _ in 0..<2 {
            engines.append(try await EngineEndToEndTests.start(
                store: url, arguments: ["--connectors", EngineEndToEndTests.connectors, "--env-file",
                                        EngineEndToEndTests.environment, "--no-pull", "--open-dashboard"]))
        }
        // Each holds some lanes, none held by both, once they have shared them out (every lane of the plan, split by
        // fair share). The two answers are read one after the other, so a lane handed over in between may show in
        // both for one reading: the loop waits for the shared-out state, which a lane held twice would never reach.
        var lanes: [[String]] = []
        let deadline = ContinuousClock.now + .seconds(60)
        repeat {
            lanes = []
            for engine in engines {
                let (status, body) = try await EngineEndToEndTests.get("/readyz", port: engine.port)
                #expect(status == 200)
                lanes.append((try JSONParser.parse(body))["lanes"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            }
            if lanes.allSatisfy({ !$0.isEmpty }), Set(lanes[0]).isDisjoint(with: lanes[1]) { break }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        #expect(lanes.allSatisfy { !$0.isEmpty }, "\(lanes)")
        #expect(Set(lanes[0]).isDisjoint(with: lanes[1]), "a lane held by both: \(lanes)")
        let status = try await EngineEndToEndTests.manifold(["cluster", "status", "--store", url])
        #expect(status.status == 0, "\(status.output)")
        #expect(status.output.hasPrefix("2 engines on postgres://127.0.0.1:"), "\(status.output)")
        // The dashboard of either engine shows the cluster: both engines, the same plan, each one's lanes.
        var owners: [String] = []
        for engine in engines {
            owners.append(try JSONParser.parse(try await EngineEndToEndTests.get("/readyz", port: engine.port).1)["engine"]?.stringValue ?? "")
        }
        let (dataStatus, data) = try await EngineEndToEndTests.get("/dashboard/data", port: engines[0].port)
        #expect(dataStatus == 200)
        let cluster = try JSONParser.parse(data)["cluster"]
        let members = cluster?["engines"]?.arrayValue ?? []
        #expect(Set(members.compactMap { $0["engine"]?.stringValue }) == Set(owners), "\(data)")
        #expect(members.first { $0["this"] == true }?["engine"]?.stringValue == owners[0])
        #expect(Set(members.compactMap { $0["plan"]?.stringValue }).count == 1 && cluster?["plans_agree"] == true)
        #expect(members.allSatisfy { !($0["lanes"]?.arrayValue ?? []).isEmpty }, "\(data)")
        let page = try await EngineEndToEndTests.get("/", port: engines[1].port).1
        #expect(page.contains(#"<section id="cluster-section">"#))
    }
}
