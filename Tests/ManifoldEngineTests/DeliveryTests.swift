import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// A vendor on 127.0.0.1 that records every call and answers from a script per path.
final class MockVendor: Sendable {
    struct Call: Sendable {
        var method: String
        var path: String
        /// The request target as sent: path and query.
        var target: String
        var headers: [String: String]
        var body: String
    }

    final class State: Sendable {
        let calls = Mutex<[Call]>([])
        /// Statuses to answer per path, in order; then 200.
        let script = Mutex<[String: [Int]]>([:])
        let tokens = Mutex(0)
        /// How long to wait before answering, per path.
        let delays = Mutex<[String: Duration]>([:])
        /// Paths of calls received, as they arrive (before any delay).
        let arrivals = Mutex<[String]>([])
        /// Bodies to answer 2xx calls with, per path (otherwise `{"ok":true}`).
        let bodies = Mutex<[String: String]>([:])
    }

    let state = State()
    var calls: [Call] { state.calls.withLock { $0 } }
    var tokens: Int { state.tokens.withLock { $0 } }
    func answer(_ path: String, with statuses: [Int]) { state.script.withLock { $0[path] = statuses } }
    func delay(_ path: String, by duration: Duration?) { state.delays.withLock { $0[path] = duration } }
    func body(_ path: String, _ text: String) { state.bodies.withLock { $0[path] = text } }
    /// Paths of the calls received so far, including those not answered yet.
    var arrivals: [String] { state.arrivals.withLock { $0 } }
    let port: Int
    private let task: Task<Void, any Error>
    private let group: ServiceGroup

    init() async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let state = self.state
        let responder = CallResponder(delay: { path in
            state.arrivals.withLock { $0.append(path) }
            return state.delays.withLock { $0[path] }
        }) { request, body in
            let path = request.uri.path
            if path == "/token" {
                let count = state.tokens.withLock { $0 += 1; return $0 }
                return (200, #"{"access_token":"token-\#(count)","expires_in":3600}"#)
            }
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            state.calls.withLock { $0.append(Call(method: request.method.rawValue, path: path, target: request.uri.description,
                                                            headers: headers, body: body)) }
            if headers["authorization"] != "Bearer token-\(state.tokens.withLock { $0 })" { return (401, "{}") }
            let status = state.script.withLock { script -> Int in
                guard var list = script[path], !list.isEmpty else { return 200 }
                let next = list.removeFirst()
                script[path] = list
                return next
            }
            if status < 300, let text = state.bodies.withLock({ $0[path] }) { return (status, text) }
            return (status, #"{"ok":\#(status < 300)}"#)
        }
        var logger = Logger(label: "vendor")
        logger.logLevel = .critical
        let application = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                      onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
                                      logger: logger)
        group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        task = Task { [group] in try await group.run() }
        var iterator = ports.makeAsyncIterator()
        port = try #require(await iterator.next())
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    struct CallResponder: HTTPResponder {
        /// Told of each call as it arrives; says how long to wait before answering it.
        let delay: @Sendable (String) -> Duration?
        let answer: @Sendable (Request, String) -> (Int, String)

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            let body = try await request.body.collect(upTo: 1 << 20)
            if let delay = delay(request.uri.path) { try await Task.sleep(for: delay) }
            let (status, text) = answer(request, String(buffer: body))
            return Response(status: .init(code: status), headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}

@Suite struct DeliveryTests {
    static func connector(port: Int) -> String {
        """
        connector: orders
        version: 1
        source:
          webhook:
            path: /hooks/orders
            verify: { scheme: github, secret: "${env:HOOK_SECRET}" }
            event_id: id
        targets:
          crm:
            base_url: http://127.0.0.1:\(port)
            auth:
              oauth2:
                grant: client_credentials
                token_url: http://127.0.0.1:\(port)/token
                client_id: manifold
                client_secret: "${env:CRM_SECRET}"
            timeout: 60s
            concurrency: 4
            retry:
              max_attempts: 3
              backoff: { initial: 50ms, max: 200ms, multiplier: 2, jitter: none }
            operations:
              upsert:
                method: PUT
                path: /contacts/{email}
                body_schema:
                  type: object
                  required: [name]
                  properties: { name: { type: string } }
        routes:
          - name: contact
            when: kind = 'order'
            call: crm.upsert
            path: { email: "{% customer.email %}" }
            headers: { X-Order: "{% id %}" }
            body:
              name: "{% customer.name %}"
              total: "{% total %}"
        """
    }

    @Test func eventsAreDeliveredRetriedDeadLetteredOrQuarantinedAndEveryAttemptIsRecorded() async throws {
        let vendor = try await MockVendor()
        let path = EngineHTTPTests.storePath()
        let store = try SQLiteEventStore(path: path)
        let result = ConnectorCompiler().compile([SourceFile(path: "orders.yaml", text: Self.connector(port: vendor.port))])
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        let resolver = ConfigResolver(environment: ["HOOK_SECRET": "hook-secret", "CRM_SECRET": "crm-secret"])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let transport = AsyncHTTPTransport()
        let outcomes = Mutex<[String: JobOutcome]>([:])
        let runtime = DeliveryRuntime(store: store, transport: transport, logger: logger, observer: { job, outcome in
            outcomes.withLock { $0[job.vendorEventID] = outcome }
        })
        let engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger, runtime: runtime)
        let signer = try WebhookEndpoint(connector: plan.connectors[0], resolver: resolver)

        func post(_ body: String) async -> Engine.Reply {
            var request = WebhookRequest(method: "POST", target: "/hooks/orders", headers: ["Content-Type": "application/json"],
                                         body: Array(body.utf8), remoteAddress: nil)
            for field in signer.signature.sign(request, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
                request.headers.append(field.name, field.value)
            }
            return await engine.receive(request, on: try! #require(engine.route(for: "/hooks/orders")))
        }
        vendor.answer("/contacts/flaky%40example.com", with: [503, 503])
        vendor.answer("/contacts/gone%40example.com", with: [400])
        #expect(await post(#"{"id":"o1","kind":"order","total":12.5,"customer":{"email":"a b/c@example.com","name":"Ada"}}"#).status == 200)
        #expect(await post(#"{"id":"o2","kind":"order","total":1,"customer":{"email":"flaky@example.com","name":"Bo"}}"#).status == 200)
        #expect(await post(#"{"id":"o3","kind":"order","total":1,"customer":{"email":"gone@example.com","name":"Cy"}}"#).status == 200)
        #expect(await post(#"{"id":"o4","kind":"order","total":1,"customer":{"email":"bad@example.com","name":42}}"#).status == 200)
        #expect(await post(#"{"id":"o5","kind":"refund"}"#).status == 200)

        let deadline = ContinuousClock.now + .seconds(300)
        func settled() -> Bool {
            outcomes.withLock { outcomes in
                outcomes.count == 4 && !outcomes.values.contains { if case .retry = $0 { true } else { false } }
            }
        }
        while !settled(), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let final = outcomes.withLock { $0 }
        #expect(final["o1"] == .delivered)
        #expect(final["o2"] == .delivered)
        #expect(final["o3"].map { if case .dead = $0 { true } else { false } } == true)
        #expect(final["o4"].map { if case .quarantined = $0 { true } else { false } } == true)
        #expect(final["o5"] == nil)

        // What the vendor saw: mapped path (encoded), body, headers, one token fetched for every call.
        let calls = vendor.calls
        let first = try #require(calls.first { $0.headers["x-order"] == "o1" })
        #expect(first.method == "PUT")
        #expect(first.path == "/contacts/a%20b%2Fc%40example.com")
        #expect(try JSONParser.parse(first.body) == ["name": "Ada", "total": 12.5])
        #expect(first.headers["idempotency-key"] == "orders:o1:contact")
        #expect(first.headers["traceparent"]?.hasPrefix("00-") == true)
        #expect(vendor.tokens == 1)
        #expect(calls.filter { $0.headers["x-order"] == "o2" }.count == 3)
        #expect(calls.filter { $0.headers["x-order"] == "o3" }.count == 1)
        #expect(!calls.contains { $0.headers["x-order"] == "o4" })
        // Retries of one job carry one idempotency key and one trace id.
        let flaky = calls.filter { $0.headers["x-order"] == "o2" }
        #expect(Set(flaky.map { $0.headers["idempotency-key"] ?? "" }).count == 1)
        #expect(Set(flaky.map { String($0.headers["traceparent"]!.split(separator: "-")[1]) }).count == 1)

        // The store: attempts with class, redacted request, response; dead letter and quarantine; event history.
        let dead = try await store.jobs(JobQuery(states: [.dead, .quarantined]))
        #expect(Set(dead.map(\.state)) == [.dead, .quarantined])
        // The reason says where and why, never the payload's value (it reaches the dashboard and the logs).
        let quarantined = try #require(dead.first { $0.state == .quarantined }?.lastError)
        #expect(quarantined == "the body fails crm.upsert's body_schema: /name: must be a string (got a number) [/properties/name/type]",
                "\(quarantined)")
        let flakyJob = try #require(try await store.jobs(JobQuery(states: [.delivered])).first { $0.attempts == 3 })
        let record = try #require(try await store.job(id: flakyJob.id))
        #expect(record.attempts.map(\.errorClass) == ["transient", "transient", "delivered"])
        #expect(record.attempts.map(\.responseStatus) == [503, 503, 200])
        let headers = try #require(record.attempts[0].request?["headers"]?.arrayValue)
        #expect(headers.contains { $0.arrayValue == ["Authorization", "[redacted]"] })
        // A failed call keeps the body it sent; the delivered one only the body's SHA-256 and size.
        let sent = Array(try #require(flaky.last).body.utf8)
        #expect(record.attempts[0].request?["body"]?.stringValue.map { Array($0.utf8) } == sent)
        let delivered = try #require(record.attempts[2].request)
        #expect(delivered["body"] == nil && delivered["method"] == "PUT")
        #expect(delivered["body_sha256"]?.stringValue == SHA256.hash(data: sent).map { String(format: "%02x", $0) }.joined())
        #expect(delivered["body_bytes"] == .number(Double(sent.count)))
        let events = try await store.events(EventQuery())
        let statuses = Dictionary(uniqueKeysWithValues: events.map { ($0.eventID, $0.status) })
        #expect(statuses["o1"] == .delivered)
        #expect(statuses["o3"] == .deadLettered)
        #expect(statuses["o4"] == .quarantined)
        #expect(statuses["o5"] == .skipped)
        // Replaying the dead letter once the vendor is fixed: a new job, claimed by the runtime's sweep and delivered;
        // the dead letter leaves the queue, the event's history says who replayed it.
        let deadLetter = try #require(dead.first { $0.state == .dead })
        let replayer = Replayer(store: store, router: try Router(plan: plan), loadRouter: { _ in nil })
        let report = try await replayer.replay(jobs: [deadLetter], originalPlan: false, by: "test")
        #expect(report.replayed.count == 1 && report.skipped.isEmpty)
        let again = try await replayer.replay(jobs: [deadLetter], originalPlan: false, by: "test")
        #expect(again.skipped.first?.reason == "it is no longer a dead letter (already replayed or purged)")
        #expect(await runtime.sweep() == 1)
        let replayID = try #require(report.replayed.first?.jobs.first)
        while try await store.job(id: replayID)?.summary.state == .pending, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await store.job(id: replayID)?.summary.state == .delivered)
        #expect(try await store.job(id: replayID)?.summary.replayOf == deadLetter.id)
        #expect(try await store.job(id: deadLetter.id)?.summary.state == .replayed)
        let history = try #require(try await store.event(id: deadLetter.eventID)).history.map(\.status)
        #expect(history.suffix(2) == [.replayed, .delivered])

        // No secret reached the store.
        await runtime.drain()
        store.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        for secret in ["crm-secret", "token-1", "hook-secret"] {
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) reached the store")
        }
        await transport.shutdown()
        try await vendor.stop()
    }
}
