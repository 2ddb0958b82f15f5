import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import Synchronization
import TestSupport
import Testing

/// `targets.*.sign`: every attempt is signed over the bytes sent, checked at a real receiver on loopback by an
/// independent verifier (the `standardwebhooks` package from PyPI) and by the engine's own inbound schemes.
@Suite struct OutboundSigningTests {
    static let first = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let second = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

    static func connector(port: Int) -> String {
        """
        connector: fanout
        source:
          webhook:
            path: /hooks/app
            verify: { scheme: github, secret: "${env:HOOK_SECRET}" }
            event_id: id
        targets:
          sw:
            base_url: http://127.0.0.1:\(port)
            auth: { bearer: { token: token-0 } }
            sign: { scheme: standard-webhooks, secrets: ["${env:FIRST}", "${env:SECOND}"] }
            retry: { max_attempts: 3, backoff: { initial: 50ms, max: 100ms, jitter: none } }
            operations: { deliver: { method: POST, path: /sw } }
          stripe:
            base_url: http://127.0.0.1:\(port)
            auth: { bearer: { token: token-0 } }
            sign: { scheme: stripe, secret: "${env:STRIPE_SECRET}" }
            operations: { deliver: { method: POST, path: /stripe } }
          generic:
            base_url: http://127.0.0.1:\(port)
            auth: { bearer: { token: token-0 } }
            sign:
              scheme: hmac
              secret: "${env:HMAC_SECRET}"
              header: X-Sig
              prefix: "sha512="
              algorithm: sha512
              encoding: base64
              timestamp_header: X-Sig-Timestamp
              string_to_sign: "{method} {url} {timestamp}.{body}"
            operations: { deliver: { method: PUT, path: "/generic/{id}", query: { v: "2" } } }
          plain:
            base_url: http://127.0.0.1:\(port)
            auth: { bearer: { token: token-0 } }
            operations: { deliver: { method: POST, path: /plain } }
        routes:
          - { name: sw, call: sw.deliver, body: { id: "{% id %}", note: "{% note %}" } }
          - { name: stripe, call: stripe.deliver, body: { id: "{% id %}" } }
          - { name: generic, call: generic.deliver, path: { id: "{% id %}" }, body: { id: "{% id %}" } }
          - { name: plain, call: plain.deliver, body: { id: "{% id %}" } }
        """
    }

    static let environment = ["HOOK_SECRET": "hook", "FIRST": first, "SECOND": second,
                              "STRIPE_SECRET": "sk_sign_test", "HMAC_SECRET": "generic-secret"]

    /// A receiver's scheme, configured as an inbound connector would configure it.
    static func receiver(_ scheme: SignatureScheme, secret: String, hmac: HMACSettings? = nil) -> WebhookSignature {
        WebhookSignature(verification: Verification(scheme: scheme, secrets: [], tolerance: .seconds(300), publicURL: nil,
                                                    idHeader: nil, hmac: hmac),
                         secrets: [secret], publicURL: nil)
    }

    /// The call as a receiver reads it (HTTP types carry `Host` as the authority, so it is put back).
    static func received(_ call: MockVendor.Call, port: Int, body: String? = nil) -> WebhookRequest {
        var headers = HeaderList(call.headers.map { ($0.key, $0.value) })
        if headers["Host"] == nil { headers.append("Host", "127.0.0.1:\(port)") }
        return WebhookRequest(method: call.method, target: call.target, headers: headers,
                              body: Array((body ?? call.body).utf8), remoteAddress: nil)
    }

    @Test func everyAttemptIsSignedAndVerifiesAtTheReceiver() async throws {
        let vendor = try await MockVendor()
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        let result = ConnectorCompiler().compile([SourceFile(path: "fanout.yaml", text: Self.connector(port: vendor.port))])
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        let resolver = ConfigResolver(environment: Self.environment)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let finished = Mutex<[String: JobOutcome]>([:])
        let transport = AsyncHTTPTransport()
        let runtime = DeliveryRuntime(store: store, transport: transport, logger: logger, observer: { job, outcome in
            finished.withLock { $0[job.route] = outcome }
        })
        let engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger, runtime: runtime)
        let endpoint = try WebhookEndpoint(connector: plan.connectors[0], resolver: resolver)
        vendor.answer("/sw", with: [503])

        var request = WebhookRequest(method: "POST", target: "/hooks/app", headers: ["Content-Type": "application/json"],
                                     body: Array(#"{"id":"evt_1","note":"café & co"}"#.utf8), remoteAddress: nil)
        for field in endpoint.signature.sign(request, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
            request.headers.append(field.name, field.value)
        }
        #expect(await engine.receive(request, on: try #require(engine.route(for: "/hooks/app"))).status == 200)
        try await Eventually.until { finished.withLock({ $0.values.filter { $0 == .delivered }.count }) >= 4 }
        await runtime.drain()
        await transport.shutdown()
        try await vendor.stop()
        #expect(finished.withLock { $0 } == ["sw": .delivered, "stripe": .delivered, "generic": .delivered, "plain": .delivered])
        let calls = vendor.calls

        // Standard Webhooks: a 503 and its retry; one webhook-id (the idempotency key) and a timestamp per attempt;
        // both secrets of the rotation sign, and each verifies on its own at an independent verifier.
        let sw = calls.filter { $0.path == "/sw" }
        try #require(sw.count == 2)
        #expect(Set(sw.map { $0.headers["webhook-id"] }) == ["fanout:evt_1:sw"])
        #expect(sw.allSatisfy { $0.headers["webhook-id"] == $0.headers["idempotency-key"] })
        #expect(sw.allSatisfy { ($0.headers["webhook-signature"] ?? "").split(separator: " ").count == 2 })
        var checks: [JSON] = []
        for call in sw {
            for secret in [Self.first, Self.second] {
                checks.append(["secret": .string(secret), "body": .string(call.body), "tamper": false,
                               "headers": .object(JSONObject(call.headers.map { ($0.key, JSON.string($0.value)) }))])
            }
            checks.append(["secret": .string(Self.first), "body": .string(call.body + " "), "tamper": true,
                           "headers": .object(JSONObject(call.headers.map { ($0.key, JSON.string($0.value)) }))])
        }
        let script = """
            import json, sys
            from standardwebhooks.webhooks import Webhook, WebhookVerificationError
            results = []
            for check in json.load(sys.stdin):
                try:
                    Webhook(check["secret"]).verify(check["body"], check["headers"])
                    results.append("verified")
                except WebhookVerificationError as error:
                    results.append("refused")
            print(json.dumps(results))
            """
        let input = FileManager.default.temporaryDirectory.appending(path: "sw-checks-\(UUID().uuidString).json")
        try Data(JSON.array(checks).serialized().utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let python = try await ProcessRun.pythonAsync(["-c", "import sys; sys.stdin = open(sys.argv[1]); exec(sys.argv[2])",
                                            input.path, script])
        #expect(python.status == 0, "\(python.error)")
        #expect(python.output.trimmingCharacters(in: .whitespacesAndNewlines)
            == #"["verified", "verified", "refused", "verified", "verified", "refused"]"#)

        // Round trips through the engine's inbound schemes, as a Manifold receiver would verify them.
        let now = Int64(Date().timeIntervalSince1970)
        for call in sw {
            #expect(throws: Never.self) { try Self.receiver(.standardWebhooks, secret: Self.second).verify(Self.received(call, port: vendor.port), now: now) }
        }
        let stripe = try #require(calls.first { $0.path == "/stripe" })
        #expect(stripe.headers["stripe-signature"]?.hasPrefix("t=") == true)
        #expect(throws: Never.self) { try Self.receiver(.stripe, secret: "sk_sign_test").verify(Self.received(stripe, port: vendor.port), now: now) }
        #expect(throws: SignatureFailure.mismatch) {
            try Self.receiver(.stripe, secret: "sk_sign_test").verify(Self.received(stripe, port: vendor.port, body: "{}"), now: now)
        }
        let generic = try #require(calls.first { $0.path.hasPrefix("/generic/") })
        #expect(generic.target == "/generic/evt_1?v=2")
        let settings = HMACSettings(header: "X-Sig", algorithm: .sha512, encoding: .base64, prefix: "sha512=",
                                    timestampHeader: "X-Sig-Timestamp", stringToSign: "{method} {url} {timestamp}.{body}")
        let genericReceiver = Self.receiver(.hmac, secret: "generic-secret", hmac: settings)
        #expect(throws: Never.self) { try genericReceiver.verify(Self.received(generic, port: vendor.port), now: now) }
        #expect(throws: SignatureFailure.outsideTolerance(seconds: 300)) {
            try genericReceiver.verify(Self.received(generic, port: vendor.port), now: now + 3600)
        }
        #expect(throws: SignatureFailure.mismatch) {
            try Self.receiver(.hmac, secret: "another-secret", hmac: settings).verify(Self.received(generic, port: vendor.port), now: now)
        }
        // A target without `sign:` sends no signature.
        let plain = try #require(calls.first { $0.path == "/plain" })
        #expect(!plain.headers.keys.contains { $0.contains("signature") || $0 == "x-sig" || $0 == "webhook-id" })

        // The attempt record shows the id and timestamp, never the signature.
        let job = try #require(try await store.jobs(JobQuery(limit: 10)).first { $0.route == "sw" })
        let record = try #require(try await store.job(id: job.id))
        let headers = try #require(record.attempts.first?.request?["headers"]?.arrayValue)
        #expect(headers.contains { $0.arrayValue == ["webhook-signature", "[redacted]"] })
        #expect(headers.contains { $0.arrayValue == ["webhook-id", "fanout:evt_1:sw"] })
    }
}
