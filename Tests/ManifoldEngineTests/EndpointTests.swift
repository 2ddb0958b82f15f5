import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
@testable import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import Synchronization
import TestSupport
import Testing

/// Sending a product's events to its customers' endpoints: a registry in the store, one lane per endpoint, Standard
/// Webhooks signatures with each endpoint's secrets (checked by the `standardwebhooks` package), tenants kept apart,
/// failing endpoints disabled, rotation, removal, and addresses an endpoint may not have.
@Suite struct EndpointTests {
    static func connector(autoDisable: String = "5d") -> String {
        """
        connector: app
        source:
          webhook:
            path: /hooks/app
            verify: { scheme: github, secret: "${env:HOOK_SECRET}" }
            event_id: id
            event_type: type
        targets:
          customers:
            endpoints: { tenant: customer, event_type: type, auto_disable_after: \(autoDisable), allow_private_networks: true, allow_insecure: true }
            retry: { schedule: [20ms, 20ms] }
            circuit_breaker: { failures: 100, open_for: 1s }
        routes:
          - { name: notify, call: customers.send, body: { type: "{% type %}", data: "{% data %}" } }
        """
    }

    /// An engine with a runtime and an endpoint registry on a fresh store, and the admin that manages endpoints.
    final class Recorder: Sendable {
        let finished = Mutex<[(lane: String, outcome: JobOutcome)]>([])
        let disabled = Mutex<[String]>([])
    }

    final class Setup: Sendable {
        let store: SQLiteEventStore
        let box: SecretBox
        let registry: EndpointRegistry
        let admin: EndpointAdmin
        let runtime: DeliveryRuntime
        let engine: Engine
        let endpoint: WebhookEndpoint
        let transport: AsyncHTTPTransport
        let recorder = Recorder()

        init(autoDisable: String = "5d") throws {
            store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
            box = try #require(SecretBox(base64: SecretBox.newKey()))
            let recorder = self.recorder
            registry = EndpointRegistry(store: store, box: box) { event in recorder.disabled.withLock { $0.append(event.endpoint) } }
            admin = EndpointAdmin(store: store, box: box, policy: EndpointNetworkPolicy(allowPrivateNetworks: true, allowInsecure: true))
            let result = ConnectorCompiler().compile([SourceFile(path: "app.yaml", text: EndpointTests.connector(autoDisable: autoDisable))])
            let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
            let resolver = ConfigResolver(environment: ["HOOK_SECRET": "hook"])
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            transport = AsyncHTTPTransport()
            runtime = DeliveryRuntime(store: store, transport: transport, logger: logger, observer: { job, outcome in
                recorder.finished.withLock { $0.append((job.lane, outcome)) }
            }, endpoints: registry)
            engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger, runtime: runtime)
            endpoint = try WebhookEndpoint(connector: plan.connectors[0], resolver: resolver)
        }

        func post(_ body: String) async throws -> Engine.Reply {
            var request = WebhookRequest(method: "POST", target: "/hooks/app", headers: ["Content-Type": "application/json"],
                                         body: Array(body.utf8), remoteAddress: nil)
            for field in endpoint.signature.sign(request, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
                request.headers.append(field.name, field.value)
            }
            return await engine.receive(request, on: try #require(engine.route(for: "/hooks/app")))
        }

        /// Waits (60 s at most) until `count` jobs have a final outcome.
        func settled(_ count: Int) async throws {
            try await Eventually.until(every: .milliseconds(5)) {
                recorder.finished.withLock({ $0.filter { !$0.outcome.isRetry }.count }) >= count
            }
        }

        func stop() async {
            await runtime.drain()
            await transport.shutdown()
            store.close()
        }
    }

    /// Verifies each call at an independent verifier: `standardwebhooks` with `secret`; returns "verified" or the error.
    static func verify(_ checks: [(call: MockVendor.Call, secret: String)]) async throws -> [String] {
        let input = JSON.array(checks.map { check in
            ["secret": .string(check.secret), "body": .string(check.call.body),
             "headers": .object(JSONObject(check.call.headers.map { ($0.key, JSON.string($0.value)) }))]
        })
        let script = """
            import json, sys
            from standardwebhooks.webhooks import Webhook, WebhookVerificationError
            out = []
            for check in json.loads(sys.argv[1]):
                try:
                    Webhook(check["secret"]).verify(check["body"], check["headers"])
                    out.append("verified")
                except WebhookVerificationError as error:
                    out.append(str(error))
            print(json.dumps(out))
            """
        let run = try await ProcessRun.pythonAsync(["-c", script, input.serialized()])
        try #require(run.status == 0, "\(run.error)")
        return try JSONParser.parse(run.output).arrayValue?.compactMap(\.stringValue) ?? []
    }

    @Test func eventsGoToTheirTenantsEndpointsOnlySignedWithEachEndpointsSecret() async throws {
        let vendor = try await MockVendor()
        let setup = try Setup()
        let base = "http://127.0.0.1:\(vendor.port)"
        let auth = ["Authorization": "Bearer token-0"]
        let (a1, a1Secret) = try await setup.admin.add(tenant: "acme", .init(url: base + "/acme/all", headers: auth))
        let (a2, a2Secret) = try await setup.admin.add(tenant: "acme", .init(url: base + "/acme/invoices", eventTypes: ["invoice.*"], headers: auth))
        let (g1, g1Secret) = try await setup.admin.add(tenant: "globex", .init(url: base + "/globex", headers: auth))
        try await setup.registry.refresh()

        #expect(try await setup.post(#"{"id":"e1","customer":"acme","type":"invoice.paid","data":{"n":1}}"#).status == 200)
        #expect(try await setup.post(#"{"id":"e2","customer":"acme","type":"user.created","data":{"n":2}}"#).status == 200)
        #expect(try await setup.post(#"{"id":"e3","customer":"globex","type":"invoice.paid","data":{"n":3}}"#).status == 200)
        #expect(try await setup.post(#"{"id":"e4","customer":"initech","type":"invoice.paid","data":{"n":4}}"#).status == 200,
                "a tenant without endpoints: stored, sent nowhere")
        let noTenant = try await setup.post(#"{"id":"e5","type":"invoice.paid"}"#)
        #expect(noTenant.status == 202 && noTenant.body["status"] == "quarantined", "no tenant: quarantined, never guessed")
        try await setup.settled(4)
        // The dashboard shows each endpoint with its latest deliveries, and no secret.
        let overview = try await DashboardData(engine: setup.engine, alerts: nil).overview()
        let shown = overview["endpoints"]?.arrayValue ?? []
        #expect(shown.count == 3)
        #expect(shown.first { $0["id"]?.stringValue == a1.id }?["deliveries"]?.arrayValue?.compactMap { $0["state"]?.stringValue } == ["delivered", "delivered"])
        for secret in [a1Secret, a2Secret, g1Secret] { #expect(!overview.serialized().contains(secret.dropFirst(6))) }
        await setup.stop()
        try await vendor.stop()

        // Only the endpoints' paths: a port the system hands out again may still get a stray request from an earlier
        // test's client (a dashboard page polling its engine's old port was seen on CI).
        let calls = vendor.calls.filter { ["/acme/all", "/acme/invoices", "/globex"].contains($0.path) }
        #expect(calls.filter { $0.path == "/acme/all" }.compactMap { try? JSONParser.parse($0.body)["data"]?["n"]?.intValue }.sorted() == [1, 2])
        #expect(calls.filter { $0.path == "/acme/invoices" }.compactMap { try? JSONParser.parse($0.body)["data"]?["n"]?.intValue }.sorted() == [1])
        #expect(calls.filter { $0.path == "/globex" }.compactMap { try? JSONParser.parse($0.body)["data"]?["n"]?.intValue }.sorted() == [3])
        #expect(calls.count == 4, "\(calls.map(\.path))")
        // Each lane is the endpoint's own.
        #expect(Set(setup.recorder.finished.withLock { $0.map(\.lane) }) == ["app/customers@\(a1.id)", "app/customers@\(a2.id)", "app/customers@\(g1.id)"])
        // Every call verifies with its endpoint's secret, and with no other tenant's.
        let secrets = ["/acme/all": a1Secret, "/acme/invoices": a2Secret, "/globex": g1Secret]
        let verdicts = try await Self.verify(calls.map { ($0, secrets[$0.path]!) })
        #expect(verdicts == Array(repeating: "verified", count: calls.count), "\(verdicts)")
        let crossed = try await Self.verify(calls.filter { $0.path == "/globex" }.map { ($0, a1Secret) })
        #expect(crossed.allSatisfy { $0 != "verified" })
        // The store never holds a secret in the clear.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: setup.store.path))
            + ((try? Data(contentsOf: URL(fileURLWithPath: setup.store.path + "-wal"))) ?? Data())
        for secret in [a1Secret, a2Secret, g1Secret] {
            #expect(bytes.range(of: Data(secret.utf8)) == nil)
            #expect(bytes.range(of: Data(secret.dropFirst(6).utf8)) == nil)
        }
    }

    @Test func aFailingEndpointIsDisabledDelaysNoOtherAndIsReplayedWhenEnabled() async throws {
        let vendor = try await MockVendor()
        let setup = try Setup(autoDisable: "1ms")
        let base = "http://127.0.0.1:\(vendor.port)"
        let auth = ["Authorization": "Bearer token-0"]
        let (dead, _) = try await setup.admin.add(tenant: "acme", .init(url: base + "/dead", headers: auth))
        let (live, _) = try await setup.admin.add(tenant: "acme", .init(url: base + "/live", headers: auth))
        try await setup.registry.refresh()
        vendor.answer("/dead", with: Array(repeating: 503, count: 100))
        vendor.delay("/dead", by: .milliseconds(200))

        for index in 0..<5 {
            #expect(try await setup.post(#"{"id":"e\#(index)","customer":"acme","type":"x","data":\#(index)}"#).status == 200)
        }
        try await setup.settled(10)
        let outcomes = setup.recorder.finished.withLock { $0 }
        #expect(outcomes.filter { $0.lane.hasSuffix(live.id) && $0.outcome == .delivered }.count == 5)
        #expect(outcomes.filter { $0.lane.hasSuffix(dead.id) && $0.outcome.isDead }.count == 5)
        // Disabled after its span of failure (1ms: at its second failure), with the engine told, and in its history.
        #expect(setup.recorder.disabled.withLock { $0 } == [dead.id])
        let stored = try await setup.admin.endpoint(dead.id)
        #expect(stored.state == .disabled && stored.stateReason?.hasPrefix("every attempt failed for") == true, "\(stored)")
        #expect(try await setup.admin.history(dead.id).map(\.kind) == ["created", "disabled"])
        // Once the registry has it disabled, new events make no job for it and it gets no call; the live one still does.
        try await Eventually.until(every: .milliseconds(5)) { setup.registry.endpoint(dead.id)?.stored.state == .disabled }
        let callsWhenDisabled = vendor.calls.filter { $0.path == "/dead" }.count
        for index in 5..<7 {
            #expect(try await setup.post(#"{"id":"e\#(index)","customer":"acme","type":"x","data":\#(index)}"#).status == 200)
        }
        try await setup.settled(12)
        #expect(vendor.calls.filter { $0.path == "/dead" }.count == callsWhenDisabled)
        #expect(setup.recorder.finished.withLock { $0 }.filter { $0.lane.hasSuffix(live.id) && $0.outcome == .delivered }.count == 7)
        // Fixed and enabled with replay: what failed is delivered.
        vendor.answer("/dead", with: [])
        vendor.delay("/dead", by: nil)
        let router = try Router(plan: setup.engine.plan)
        let replayed = try await setup.admin.enable(dead.id, replay: true, router: router, by: "test")
        #expect(replayed == 5)
        try await setup.registry.refresh()
        await setup.runtime.sweep()
        try await setup.settled(17)
        let jobs = try await setup.store.jobs(JobQuery(limit: 100, endpoint: dead.id))
        #expect(setup.recorder.finished.withLock { $0 }.filter { $0.lane.hasSuffix(dead.id) && $0.outcome == .delivered }.count == 5,
                "\(jobs.map { "\($0.id) \($0.state) \($0.lastError ?? "-") replay_of=\($0.replayOf ?? "-")" })")
        await setup.stop()
        try await vendor.stop()
    }

    @Test func aRotationSignsWithBothSecretsUntilItsOverlapEndsAndARemovedEndpointGetsNothing() async throws {
        let vendor = try await MockVendor()
        let setup = try Setup()
        let base = "http://127.0.0.1:\(vendor.port)"
        let (endpoint, old) = try await setup.admin.add(tenant: "acme", .init(url: base + "/rotating", headers: ["Authorization": "Bearer token-0"]))
        let new = try await setup.admin.rotate(endpoint.id, overlap: .seconds(3600))
        try await setup.registry.refresh()
        #expect(try await setup.post(#"{"id":"r1","customer":"acme","type":"x"}"#).status == 200)
        try await setup.settled(1)
        let call = try #require(vendor.calls.first { $0.path == "/rotating" })
        #expect((call.headers["webhook-signature"] ?? "").split(separator: " ").count == 2)
        #expect(try await Self.verify([(call, old), (call, new)]) == ["verified", "verified"], "receivers knowing either secret accept it")
        // The overlap over: only the new secret signs.
        _ = try await setup.admin.rotate(endpoint.id, overlap: .zero)
        let newest = try await setup.admin.endpoint(endpoint.id).secrets.count
        #expect(newest == 3)
        // Removed: no job is made for it, and nothing reaches it.
        try await setup.admin.remove(endpoint.id, by: "test")
        try await setup.registry.refresh()
        #expect(try await setup.post(#"{"id":"r2","customer":"acme","type":"x"}"#).status == 200)
        await setup.runtime.sweep()
        #expect(try await setup.admin.history(endpoint.id).map(\.kind) == ["created", "rotated", "rotated", "removed"])
        await setup.stop()
        try await vendor.stop()
        #expect(vendor.calls.filter { $0.path == "/rotating" }.count == 1)
    }

    /// Addresses an endpoint may not have, without private networks allowed, each refused with the reason.
    @Test func privateAndMetadataAddressesAreRefused() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        defer { store.close() }
        let box = try #require(SecretBox(base64: SecretBox.newKey()))
        let admin = EndpointAdmin(store: store, box: box, policy: EndpointNetworkPolicy(allowPrivateNetworks: false, allowInsecure: false))
        let refused: [(String, String)] = [
            ("https://127.0.0.1/hook", "resolves to 127.0.0.1, a loopback, private, link-local or metadata address"),
            ("https://10.1.2.3/hook", "resolves to 10.1.2.3"),
            ("https://169.254.169.254/latest/meta-data", "resolves to 169.254.169.254"),
            ("https://[::1]/hook", "resolves to ::1"),
            ("https://[fd00:ec2::254]/", "resolves to fd00:ec2::254"),
            ("https://localhost/hook", "localhost resolves to"),
            ("http://hooks.example.com/x", "endpoint URLs must be https"),
            ("https://user:pass@hooks.example.com/x", "may not carry credentials"),
            ("not a url", "is not an absolute URL"),
        ]
        for (url, reason) in refused {
            do {
                _ = try await admin.add(tenant: "acme", .init(url: url))
                Issue.record("\(url) was accepted")
            } catch let error as EndpointError {
                #expect(error.description.contains(reason), "\(url): \(error.description)")
            }
        }
        #expect(try await store.endpoints(includingRemoved: true).isEmpty)
        #expect(EndpointNetworkPolicy.isForbidden("::ffff:10.0.0.1"), "an IPv4-mapped private address")
        #expect(!EndpointNetworkPolicy.isForbidden("93.184.216.34"))
    }

    /// Secrets are sealed with the key: without it the engine refuses to start, and another key cannot open them.
    @Test func secretsNeedTheirKey() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        defer { store.close() }
        let box = try #require(SecretBox(base64: SecretBox.newKey()))
        let admin = EndpointAdmin(store: store, box: box, policy: EndpointNetworkPolicy(allowPrivateNetworks: true, allowInsecure: true))
        _ = try await admin.add(tenant: "acme", .init(url: "https://hooks.example.com/x"))
        do {
            try await EndpointRegistry(store: store, box: nil).refresh()
            Issue.record("loaded without a key")
        } catch {
            #expect("\(error)".contains("MANIFOLD_ENDPOINT_KEY is not set"))
        }
        do {
            try await EndpointRegistry(store: store, box: SecretBox(base64: SecretBox.newKey())).refresh()
            Issue.record("opened with another key")
        } catch {
            #expect("\(error)".contains("the key is not the one that sealed it"))
        }
        #expect(throws: EndpointError.self) { try EndpointRegistry.box(environment: ["MANIFOLD_ENDPOINT_KEY": "short"]) }
        #expect(try await EndpointRegistry(store: store, box: box).refresh())
    }

    /// The span of failure survives a restart: an engine started later disables the endpoint at the first failure
    /// past the span that began before it started.
    @Test func aSpanOfFailureSurvivesARestart() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        defer { store.close() }
        let box = try #require(SecretBox(base64: SecretBox.newKey()))
        let admin = EndpointAdmin(store: store, box: box, policy: EndpointNetworkPolicy(allowPrivateNetworks: true, allowInsecure: true))
        let (endpoint, _) = try await admin.add(tenant: "acme", .init(url: "https://hooks.acme.example/in"))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let before = EndpointRegistry(store: store, box: box)
        try await before.refresh()
        await before.attempted(endpoint.id, succeeded: false, at: start, autoDisableAfter: .seconds(3600))
        #expect(try await admin.endpoint(endpoint.id).failingSince == start)
        let after = EndpointRegistry(store: store, box: box)
        try await after.refresh()
        await after.attempted(endpoint.id, succeeded: false, at: start + 3600, autoDisableAfter: .seconds(3600))
        #expect(try await admin.endpoint(endpoint.id).state == .disabled)
    }

    /// The health state machine on given instants: the span starts at the first failure, a success ends it, and the
    /// endpoint is disabled once when the span reaches `autoDisableAfter`.
    @Test func healthDisablesOnceAfterAnUninterruptedSpanOfFailure() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var health = EndpointHealth(state: .healthy, autoDisableAfter: .seconds(3600))
        #expect(health.attempted(succeeded: true, at: start) == EndpointHealth.Action.none)
        #expect(health.attempted(succeeded: false, at: start + 10) == .startFailing(start + 10))
        #expect(health.attempted(succeeded: false, at: start + 1000) == EndpointHealth.Action.none)
        #expect(health.attempted(succeeded: true, at: start + 2000) == .recovered, "a success ends the span")
        #expect(health.attempted(succeeded: false, at: start + 3000) == .startFailing(start + 3000))
        #expect(health.attempted(succeeded: false, at: start + 6599) == EndpointHealth.Action.none)
        #expect(health.attempted(succeeded: false, at: start + 6600) == .disable(span: .seconds(3600)))
        #expect(health.state == .disabled)
        #expect(health.attempted(succeeded: false, at: start + 9000) == EndpointHealth.Action.none, "disabled once")
        // Without attempts (an open breaker), the clock ends the span.
        var quiet = EndpointHealth(state: .healthy, autoDisableAfter: .seconds(60))
        #expect(quiet.attempted(succeeded: false, at: start) == .startFailing(start))
        #expect(quiet.elapsed(at: start + 59) == EndpointHealth.Action.none)
        #expect(quiet.elapsed(at: start + 60) == .disable(span: .seconds(60)))
        #expect(quiet.elapsed(at: start + 61) == EndpointHealth.Action.none)
        var healthy = EndpointHealth(state: .healthy, autoDisableAfter: .seconds(60))
        #expect(healthy.elapsed(at: start + 1000) == EndpointHealth.Action.none, "a healthy endpoint is never disabled by time")
    }
}

extension JobOutcome {
    var isRetry: Bool { if case .retry = self { true } else { false } }
    var isDead: Bool { if case .dead = self { true } else { false } }
}

/// `/admin/endpoints`: the registry as an operator's tool sees it; every change applies to the engine at once.
@Suite struct EndpointAdminAPITests {
    @Test func endpointsAreManagedThroughTheAdminAPI() async throws {
        let setup = try EndpointTests.Setup()
        let api = AdminAPI(store: setup.store, token: "admin", endpoints: (setup.store, setup.box))
        func call(_ method: String, _ path: String, _ body: JSON? = nil, query: [String: String] = [:]) async -> Engine.Reply {
            await api.handle(method: method, path: path, query: query, body: Array((body?.serialized() ?? "").utf8), engine: setup.engine)
        }
        let made = await call("POST", "/admin/endpoints", ["tenant": "acme", "url": "http://127.0.0.1:9/in", "event_types": ["invoice.*"]])
        #expect(made.status == 201, "\(made.body)")
        let id = try #require(made.body["endpoint"]?["id"]?.stringValue)
        let secret = try #require(made.body["secret"]?.stringValue)
        #expect(secret.hasPrefix("whsec_"))
        // The engine's registry has it at once: an acme invoice goes to it, another type does not.
        #expect(setup.registry.endpoints(tenant: "acme", eventType: "invoice.paid") == [id])
        #expect(setup.registry.endpoints(tenant: "acme", eventType: "user.created").isEmpty)
        let listed = await call("GET", "/admin/endpoints", query: ["tenant": "acme"])
        #expect(listed.body["endpoints"]?.arrayValue?.count == 1 && !listed.body.serialized().contains(secret.dropFirst(6)))
        #expect(await call("PATCH", "/admin/endpoints/\(id)", ["event_types": .null]).status == 200)
        #expect(setup.registry.endpoints(tenant: "acme", eventType: "user.created") == [id])
        let rotated = await call("POST", "/admin/endpoints/\(id)/rotate", ["overlap": "1h"])
        #expect(rotated.body["secret"]?.stringValue?.hasPrefix("whsec_") == true && rotated.body["secret"]?.stringValue != secret)
        #expect(setup.registry.endpoint(id)?.signingSecrets(at: Date()).count == 2)
        #expect(await call("POST", "/admin/endpoints/\(id)/disable", ["reason": "maintenance"]).status == 200)
        #expect(setup.registry.endpoints(tenant: "acme", eventType: "x").isEmpty)
        #expect(await call("POST", "/admin/endpoints/\(id)/enable").body["enabled"]?.stringValue == id)
        // An event routed again through the admin API goes to the endpoint, like the first time.
        let posted = try await setup.post(#"{"id":"rp1","customer":"acme","type":"invoice.paid","data":1}"#)
        let event = try #require(posted.body["id"]?.stringValue)
        let before = try await setup.store.jobs(JobQuery(limit: 100, endpoint: id)).count
        let replay = await call("POST", "/admin/replay", ["events": [.string(event)]])
        #expect(replay.status == 200 && replay.body["replayed"]?.arrayValue?.first?["jobs"]?.arrayValue?.count == 1, "\(replay.body)")
        #expect(try await setup.store.jobs(JobQuery(limit: 100, endpoint: id)).count == before + 1)
        let shown = await call("GET", "/admin/endpoints/\(id)")
        #expect(shown.body["history"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } == ["created", "updated", "rotated", "disabled", "enabled"])
        #expect(await call("DELETE", "/admin/endpoints/\(id)").status == 200)
        #expect(setup.registry.endpoint(id) == nil)
        // Refusals say why: credentials in the URL, an unknown endpoint, a bad body. (This plan allows private
        // networks and http, as tests need; EndpointTests.privateAndMetadataAddressesAreRefused checks the rest.)
        let refused = await call("POST", "/admin/endpoints", ["tenant": "acme", "url": "https://user:pass@hooks.acme.example/"])
        #expect(refused.status == 422 && refused.body["message"]?.stringValue?.contains("may not carry credentials") == true, "\(refused.body)")
        #expect(await call("GET", "/admin/endpoints/ep_nope").status == 404)
        #expect(await call("POST", "/admin/endpoints", ["url": "https://x.example"]).status == 400)
        await setup.stop()
    }
}
