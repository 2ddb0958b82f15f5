import AsyncHTTPClient
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
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// The engine over real HTTP on 127.0.0.1 (a port it picks): what a vendor sees.
@Suite struct EngineHTTPTests {
    static let secret = "whsec_engine_test_secret_value"
    static let webhook = """
    path: /hooks/stripe
    verify: { scheme: stripe, secret: "${env:STRIPE_SECRET}" }
    event_id: id
    event_type: type
    max_body: 2KB
    """
    static let resolver = ConfigResolver(environment: ["STRIPE_SECRET": secret])

    /// A running engine on a free port, stopped by `stop()`.
    final class Running: Sendable {
        let port: Int
        let engine: Engine
        /// The connector's endpoint, to sign requests as the vendor would.
        let vendor: WebhookEndpoint
        let group: ServiceGroup
        let task: Task<Void, any Error>

        init(store: any EventStore, limits: EngineServer.Limits = .init(),
             dashboard: DashboardAccess = DashboardAccess(mode: .tokens([])), source: String? = nil) async throws
        {
            let plan = try source.map { text in
                try #require(ConnectorCompiler().compile([SourceFile(path: "shop.yaml", text: text)]).plan)
            } ?? TestConnector.plan(name: "shop", webhook: EngineHTTPTests.webhook)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            engine = try Engine(plan: plan, store: store, resolver: EngineHTTPTests.resolver, logger: logger)
            vendor = try WebhookEndpoint(connector: plan.connectors[0], resolver: EngineHTTPTests.resolver)
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let services = EngineServer.services(engine: engine, host: "127.0.0.1", port: 0, logger: logger, limits: limits,
                                                 dashboard: dashboard) { port in
                continuation.yield(port)
            }
            group = ServiceGroup(configuration: .init(services: services, logger: logger))
            task = Task { [group] in try await group.run() }
            var iterator = ports.makeAsyncIterator()
            port = try #require(await iterator.next())
        }

        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await task.value
        }

        func post(_ path: String = "/hooks/stripe", body: String, headers: [(String, String)] = [],
                  contentType: String = "application/json", sign: Bool = true,
                  timeout: Int64 = 10) async throws -> (status: Int, body: JSON?)
        {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: contentType)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if sign {
                let webhook = WebhookRequest(method: "POST", target: path, headers: [:], body: Array(body.utf8), remoteAddress: nil)
                for field in vendor.signature.sign(webhook, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
                    request.headers.add(name: field.name, value: field.value)
                }
            }
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
            let bytes = try await response.body.collect(upTo: 1 << 16)
            return (Int(response.status.code), try? JSONParser.parse(bytes: Array(bytes.readableBytesView)))
        }

        func get(_ path: String, headers: [(String, String)] = []) async throws -> (status: Int, body: JSON?) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 16)
            return (Int(response.status.code), try? JSONParser.parse(bytes: Array(bytes.readableBytesView)))
        }
    }

    static func storePath() -> String {
        let directory = FileManager.default.temporaryDirectory.appending(path: "manifold-engine-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appending(path: "events.db").path
    }

    /// Slowloris: headers sent a line at a time, never finished, are cut off at the idle timeout.
    @Test func slowHeadersAreCutOffAtTheIdleTimeout() async throws {
        let running = try await Running(store: try SQLiteEventStore(path: Self.storePath()),
                                        limits: .init(idleTimeout: .seconds(1), bodyTimeout: .seconds(30)))
        let pieces = [(Duration.zero, "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\n")]
            + Array(repeating: (Duration.milliseconds(300), "X-Slow: header\r\n"), count: 200)
        let outcome = await RawConnection.exchange(port: running.port, pieces: pieces)
        #expect(outcome.closedByServer)
        #expect(outcome.piecesWritten < pieces.count, "the server kept reading headers for a minute")
        try await running.stop()
    }

    /// A body trickled a byte at a time is refused with 408 at the body timeout, and the connection closes.
    @Test func aTrickledBodyIsRefusedAtTheBodyTimeout() async throws {
        let running = try await Running(store: try SQLiteEventStore(path: Self.storePath()),
                                        limits: .init(idleTimeout: .seconds(30), bodyTimeout: .seconds(1)))
        let pieces = [(Duration.zero, "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")]
            + Array(repeating: (Duration.milliseconds(200), " "), count: 300)
        let outcome = await RawConnection.exchange(port: running.port, pieces: pieces)
        #expect(outcome.received.hasPrefix("HTTP/1.1 408"), "\(outcome.received)")
        #expect(outcome.received.contains(#""error":"body_timeout""#))
        #expect(outcome.closedByServer && outcome.piecesWritten < pieces.count)
        try await running.stop()
    }

    /// A chunked body past the limit is answered 413 and the connection closes: the rest is not read.
    @Test func aChunkedBodyPastTheLimitIsRefusedAndTheConnectionCloses() async throws {
        let running = try await Running(store: try SQLiteEventStore(path: Self.storePath()))
        let chunk = String(repeating: "a", count: 1024)
        let piece = String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n"
        let pieces = [(Duration.zero, "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")]
            + Array(repeating: (Duration.milliseconds(50), piece), count: 300)
        let outcome = await RawConnection.exchange(port: running.port, pieces: pieces)
        #expect(outcome.received.hasPrefix("HTTP/1.1 413"), "\(outcome.received)")
        #expect(outcome.closedByServer && outcome.piecesWritten < pieces.count, "\(outcome.piecesWritten) pieces written")
        try await running.stop()
    }

    /// A condition whose regular expression backtracks is stopped at the time limit and its event quarantined.
    @Test func aBacktrackingConditionIsStoppedAndItsEventQuarantined() async throws {
        let source = TestConnector.source(name: "shop", webhook: EngineHTTPTests.webhook)
            .replacingOccurrences(of: "    call: sink.post", with: "    when: $match(s, /(.*a){25}$/)\n    call: sink.post")
        let running = try await Running(store: try SQLiteEventStore(path: Self.storePath()), source: source)
        let hostile = #"{"id":"evt_h","type":"x","s":"\#(String(repeating: "a", count: 30))!"}"#
        let answer = try await running.post(body: hostile, timeout: 60)
        #expect(answer.status == 202 && answer.body?["status"]?.stringValue == "quarantined", "\(String(describing: answer.body))")
        try await running.stop()
    }

    /// An event id that gives nothing (`event-data.id` is a subtraction) quarantines the event with the reason: it
    /// used to fall back to the body's hash, and a redelivery with another timestamp was delivered twice.
    @Test func anEventIDThatGivesNothingQuarantines() async throws {
        let plan = try TestConnector.plan(name: "mail", webhook: "path: /in\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]\nevent_id: event-data.id")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = try SQLiteEventStore(path: Self.storePath())
        defer { store.close() }
        let engine = try Engine(plan: plan, store: store, resolver: ConfigResolver(environment: [:]), logger: logger)
        let route = try #require(engine.route(for: "/in"))
        let request = WebhookRequest(method: "POST", target: "/in", headers: ["Content-Type": "application/json"],
                                     body: Array(#"{"event-data":{"id":"m-1","event":"failed"}}"#.utf8), remoteAddress: "127.0.0.1")
        let reply = await engine.receive(request, on: route)
        #expect(reply.status == 202 && reply.body["status"] == "quarantined", "\(reply.body)")
        let stored = try #require(try await store.events(EventQuery()).first)
        let record = try #require(try await store.event(id: stored.id))
        #expect(record.history.first?.detail?["reason"]?.stringValue?.hasPrefix("event_id gave nothing for this payload") == true,
                "\(String(describing: record.history.first?.detail))")
    }

    /// HTTP/1.0 is answered as HTTP/1.0 and the connection closes unless the client asked to keep it; an HTTP/1.1
    /// client that says `Connection: close` has it closed after the answer.
    @Test func eachRequestIsAnsweredInItsVersionAndClosedWhenAsked() async throws {
        let running = try await Running(store: try SQLiteEventStore(path: Self.storePath()))
        let plain = await RawConnection.exchange(port: running.port, pieces: [(.zero, "GET /healthz HTTP/1.0\r\n\r\n")])
        #expect(plain.received.hasPrefix("HTTP/1.0 200 OK\r\n"), "\(plain.received)")
        #expect(plain.closedByServer && plain.received.hasSuffix(#"{"status":"up"}"# + "\n"))

        let kept = await RawConnection.exchange(port: running.port, pieces: [
            (.zero, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            (.milliseconds(200), "GET /healthz HTTP/1.0\r\n\r\n"),
        ])
        #expect(kept.received.components(separatedBy: "HTTP/1.0 200 OK").count == 3, "two answers on one connection: \(kept.received)")
        #expect(kept.received.lowercased().contains("connection: keep-alive"))
        #expect(kept.closedByServer && kept.piecesWritten == 2)

        let closing = await RawConnection.exchange(port: running.port, pieces: [
            (.zero, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ])
        #expect(closing.received.hasPrefix("HTTP/1.1 200 OK\r\n") && closing.closedByServer, "\(closing.received)")
        try await running.stop()
    }

    /// What a vendor is told, in process (router mode: no port).
    @Test func aVendorGetsClearAnswers() async throws {
        let path = Self.storePath()
        let store = try SQLiteEventStore(path: path)
        let version = Mutex("")
        let acceptedID = Mutex("")
        try await InProcessEngine.with(store: store) { running in
            version.withLock { $0 = running.engine.plan.version }
            let event = #"{"id":"evt_1","type":"invoice.paid"}"#

            let accepted = try await running.post(body: event)
            #expect(accepted.status == 200)
            #expect(accepted.body?["status"] == "accepted")
            let id = try #require(accepted.body?["id"]?.stringValue)
            acceptedID.withLock { $0 = id }
            let again = try await running.post(body: event)
            #expect(again.status == 200)
            #expect(again.body?["status"] == "duplicate")
            #expect(again.body?["id"]?.stringValue == id)

            let forged = try await running.post(body: event, headers: [("Stripe-Signature", "t=1,v1=00")], sign: false)
            #expect(forged.status == 401)
            #expect(forged.body?["error"] == "signature")
            let unsigned = try await running.post(body: #"{"id":"evt_2"}"#, sign: false)
            #expect(unsigned.status == 401)
            #expect(unsigned.body?["message"] == "the Stripe-Signature header is missing")
            #expect(try await running.post("/hooks/other", body: event).status == 404)
            #expect(try await running.post(body: String(repeating: " ", count: 2049) + event).status == 413)
            #expect(try await running.post(body: event, contentType: "text/plain").status == 415)
            let garbage = try await running.post(body: #"{"id": "evt_3", "#)
            #expect(garbage.status == 202)
            #expect(garbage.body?["status"] == "quarantined")

            #expect(try await running.get("/healthz").status == 200)
            let ready = try await running.get("/readyz")
            #expect(ready.status == 200)
            #expect(ready.body?["plan"]?.stringValue == running.engine.plan.version)
        }
        let id = acceptedID.withLock { $0 }

        // After shutdown the store is closed: reopen it and read what the vendor was told.
        let reopened = try SQLiteEventStore(path: path, create: false)
        defer { reopened.close() }
        let events = try await reopened.events(EventQuery())
        #expect(events.map(\.status) == [.quarantined, .routed])
        let record = try #require(try await reopened.event(id: id))
        #expect(record.summary.duplicates == 1)
        #expect(record.headers.first { $0.name.lowercased() == "stripe-signature" }?.value == "[redacted]")
        #expect(record.summary.planVersion == version.withLock { $0 })
        // No secret and no signature reached the disk.
        for file in [path, path + "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            #expect(bytes.range(of: Data(Self.secret.utf8)) == nil, "\(file) holds the secret")
            #expect(bytes.range(of: Data("v1=".utf8)) == nil, "\(file) holds a signature")
        }
    }

    /// A store that cannot commit: nothing may be acknowledged.
    final class BrokenStore: EventStore {
        func append(_ event: NewEvent) async throws -> AppendOutcome { throw StoreError("disk I/O error") }
        func append(all events: [NewEvent]) async throws -> [AppendOutcome] { throw StoreError("disk I/O error") }
        func recordStatus(_ status: EventStatus, of id: String, detail: JSON?) async throws { throw StoreError("disk I/O error") }
        func events(_ query: EventQuery) async throws -> [EventSummary] { [] }
        func event(id: String) async throws -> EventRecord? { nil }
        func checkWritable() async throws { throw StoreError("disk I/O error") }
        func close() {}
    }

    @Test func aStoreThatCannotCommitAcknowledgesNothing() async throws {
        try await InProcessEngine.with(store: BrokenStore()) { running in
            let answer = try await running.post(body: #"{"id":"evt_1","type":"x"}"#)
            #expect(answer.status == 503)
            #expect(answer.body?["error"] == "unavailable")
            #expect(try await running.get("/readyz").status == 503)
            #expect(try await running.get("/healthz").status == 200)
        }
    }

    /// A store that takes a quick write but fails appends (a damaged page, a full disk): `/readyz` says so.
    final class FailingAppends: EventStore {
        func append(_ event: NewEvent) async throws -> AppendOutcome { throw StoreError("database disk image is malformed") }
        func append(all events: [NewEvent]) async throws -> [AppendOutcome] { throw StoreError("database disk image is malformed") }
        func recordStatus(_ status: EventStatus, of id: String, detail: JSON?) async throws {}
        func events(_ query: EventQuery) async throws -> [EventSummary] { [] }
        func event(id: String) async throws -> EventRecord? { nil }
        func checkWritable() async throws {}
        func close() {}
    }

    @Test func aStoreThatFailsAppendsIsNotReady() async throws {
        try await InProcessEngine.with(store: FailingAppends()) { running in
            #expect(try await running.get("/readyz").status == 200)
            #expect(try await running.post(body: #"{"id":"evt_1","type":"x"}"#).status == 503)
            let ready = try await running.get("/readyz")
            #expect(ready.status == 503)
            #expect(ready.body?["message"]?.stringValue?.contains("database disk image is malformed") == true, "\(String(describing: ready.body))")
        }
    }

    @Test func shutdownDrainsRequestsInFlight() async throws {
        let path = Self.storePath()
        let running = try await Running(store: try SQLiteEventStore(path: path))
        final class Count: Sendable { let value = Atomic<Int>(0) }
        let answered = Count()
        let acknowledged = await withTaskGroup(of: String?.self) { group in
            for index in 0..<200 {
                group.addTask {
                    // A generous bound, not a window: on a loaded machine 200 posts took longer than 5 s.
                    let answer = try? await running.post(body: #"{"id":"evt_\#(index)","type":"x"}"#, timeout: 60)
                    if answer?.status == 200 { answered.value.add(1, ordering: .relaxed) }
                    return answer?.status == 200 ? answer?.body?["id"]?.stringValue : nil
                }
            }
            // Shut down once some are acknowledged and the rest are still coming (bounded wait, not a window).
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(300)
                while answered.value.load(ordering: .relaxed) < 10, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(1))
                }
                try? await running.stop()
                return nil
            }
            return await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
        }
        let reopened = try SQLiteEventStore(path: path, create: false)
        defer { reopened.close() }
        for id in acknowledged {
            #expect(try await reopened.event(id: id) != nil, "\(id) was acknowledged but is not stored")
        }
        #expect(!acknowledged.isEmpty)
    }
}

extension EngineHTTPTests {
    /// The tests that hold every expression thread, one after the other (each would wait for the other's threads).
    @Suite(.serialized) struct ExpressionThreadTests {
        /// Every expression thread held by the test until it opens the gate (each waits at most 60 s, should a test fail).
        final class ThreadGate: Sendable {
            let held = Mutex(0)
            let open = Mutex(false)
            private let holders = Mutex<Task<Void, Never>?>(nil)

            /// Holds every expression thread; returns once all are held.
            func holdEveryThread() async throws {
                let task = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<ExpressionThreads.threadCount {
                            group.addTask {
                                await ExpressionThreads.run {
                                    self.held.withLock { $0 += 1 }
                                    let limit = ContinuousClock.now + .seconds(300)
                                    while !self.open.withLock({ $0 }), ContinuousClock.now < limit { usleep(1_000) }
                                }
                            }
                        }
                    }
                }
                holders.withLock { $0 = task }
                let deadline = ContinuousClock.now + .seconds(300)
                while held.withLock({ $0 }) < ExpressionThreads.threadCount, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                try #require(held.withLock { $0 } == ExpressionThreads.threadCount)
            }

            func release() async {
                open.withLock { $0 = true }
                await holders.withLock { $0 }?.value
            }
        }

        /// Expressions that may run to their time limit (here a condition with a regular expression, which can
        /// backtrack) hold only the expression threads: with every one of them held, `/healthz` still answers, and a
        /// webhook waits its turn and is then answered. (It waited for them when expressions ran on the threads that
        /// serve HTTP.) The threads are held by the test until health has answered: no timing window.
        @Test func healthAnswersWhileEveryExpressionThreadIsBusy() async throws {
            let source = TestConnector.source(name: "shop", webhook: EngineHTTPTests.webhook)
                .replacingOccurrences(of: "    call: sink.post", with: "    when: $match(type, /x/)\n    call: sink.post")
            let running = try await EngineHTTPTests.Running(store: try SQLiteEventStore(path: EngineHTTPTests.storePath()), source: source)
            let gate = ThreadGate()
            try await gate.holdEveryThread()
            // A webhook now waits for an expression thread.
            let answeredEarly = Mutex(false)
            let waiting = Task {
                let answer = try await running.post(body: #"{"id":"evt_wait","type":"x"}"#, timeout: 120)
                answeredEarly.withLock { $0 = !gate.open.withLock { $0 } }
                return answer
            }
            let health = await RawConnection.exchange(port: running.port, pieces: [
                (.zero, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            ], deadline: .seconds(30))
            let stillHeld = !gate.open.withLock { $0 }
            #expect(health.received.hasPrefix("HTTP/1.1 200"), "health waited for the expression threads: \(health.received)")
            #expect(stillHeld)
            // Its expressions need one of those threads: it is not answered while they are held (given a second to
            // be; this wait can only end early when that is broken).
            let grace = ContinuousClock.now + .seconds(1)
            while !answeredEarly.withLock({ $0 }), ContinuousClock.now < grace { try await Task.sleep(for: .milliseconds(10)) }
            await gate.release()
            #expect(!answeredEarly.withLock { $0 }, "the webhook's expressions did not wait for an expression thread")
            let answered = try await waiting.value
            #expect(answered.status == 200 && answered.body?["status"]?.stringValue == "accepted",
                    "the webhook is answered once a thread is free: \(answered)")
            try await running.stop()
        }

        /// A connector whose expressions all take time bounded by the event's size (plain paths and comparisons) is
        /// admitted on the thread that received the request: answered, and stored, while every expression thread is
        /// held. One over the size admitted there still waits for a thread.
        @Test func aBoundedConnectorIsAdmittedWithoutTheExpressionThreads() async throws {
            let source = TestConnector.source(name: "shop", webhook: EngineHTTPTests.webhook.replacingOccurrences(of: "max_body: 2KB", with: "max_body: 128KB"))
            let running = try await EngineHTTPTests.Running(store: try SQLiteEventStore(path: EngineHTTPTests.storePath()), source: source)
            let gate = ThreadGate()
            try await gate.holdEveryThread()
            let answer = try await running.post(body: #"{"id":"evt_here","type":"x"}"#, timeout: 60)
            let whileHeld = !gate.open.withLock { $0 }
            #expect(whileHeld && answer.status == 200 && answer.body?["status"]?.stringValue == "accepted", "\(answer)")
            // A large body is parsed on an expression thread: it waits.
            let padding = String(repeating: "x", count: Engine.admittedHereUpTo)
            let answeredEarly = Mutex(false)
            let large = Task {
                let answer = try await running.post(body: #"{"id":"evt_large","type":"x","pad":"\#(padding)"}"#, timeout: 120)
                answeredEarly.withLock { $0 = !gate.open.withLock { $0 } }
                return answer
            }
            let grace = ContinuousClock.now + .seconds(1)
            while !answeredEarly.withLock({ $0 }), ContinuousClock.now < grace { try await Task.sleep(for: .milliseconds(10)) }
            await gate.release()
            #expect(!answeredEarly.withLock { $0 }, "a large body was admitted on the receiving thread")
            #expect(try await large.value.status == 200)
            try await running.stop()
        }

        /// A route's mapping that takes time bounded by a small event, with no body schema to check, is mapped where
        /// the attempt runs: the vendor gets the call while every expression thread is held. With a body schema the
        /// mapping waits for a thread.
        @Test func aBoundedMappingIsMadeWithoutTheExpressionThreads() async throws {
            for checksSchema in [false, true] {
                let vendor = try await MockVendor()
                var source = DeliveryTests.connector(port: vendor.port)
                if !checksSchema {
                    source = source.replacingOccurrences(of: """
                                body_schema:
                                  type: object
                                  required: [name]
                                  properties: { name: { type: string } }

                        """, with: "")
                }
                let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
                let plan = try #require(ConnectorCompiler().compile([SourceFile(path: "orders.yaml", text: source)]).plan)
                let resolver = ConfigResolver(environment: ["HOOK_SECRET": "hook-secret", "CRM_SECRET": "crm-secret"])
                var logger = Logger(label: "test")
                logger.logLevel = .critical
                let transport = AsyncHTTPTransport()
                let runtime = DeliveryRuntime(store: store, transport: transport, logger: logger)
                let engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger, runtime: runtime)
                let signer = try WebhookEndpoint(connector: plan.connectors[0], resolver: resolver)
                let gate = ThreadGate()
                try await gate.holdEveryThread()
                var request = WebhookRequest(method: "POST", target: "/hooks/orders", headers: ["Content-Type": "application/json"],
                                             body: Array(#"{"id":"o1","kind":"order","total":1,"customer":{"email":"a@example.com","name":"Ada"}}"#.utf8),
                                             remoteAddress: nil)
                for field in signer.signature.sign(request, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
                    request.headers.append(field.name, field.value)
                }
                #expect(await engine.receive(request, on: try #require(engine.route(for: "/hooks/orders"))).status == 200)
                // Without a schema: the call arrives while the threads are held (a bound on a hang, which ends as soon
                // as it arrives). With one: it does not within a second (this wait can only end early when that is
                // broken).
                try await Eventually.until(within: checksSchema ? .seconds(1) : Eventually.bound) { !vendor.calls.isEmpty }
                let arrivedWhileHeld = !vendor.calls.isEmpty && !gate.open.withLock { $0 }
                #expect(arrivedWhileHeld == !checksSchema, "body schema \(checksSchema): the call arrived while held: \(arrivedWhileHeld)")
                await gate.release()
                try await Eventually.until { !vendor.calls.isEmpty }
                #expect(vendor.calls.count == 1)
                await runtime.drain()
                await transport.shutdown()
                store.close()
            }
        }
    }
}
