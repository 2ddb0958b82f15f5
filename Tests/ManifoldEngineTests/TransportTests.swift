import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ManifoldDelivery
import NIOCore
import ServiceLifecycle
import Testing

/// The outbound transport against a vendor on loopback that misbehaves on the wire.
@Suite struct TransportTests {
    /// A vendor that answers `/stall` with its head and the first bytes of a body, then sends nothing more (until
    /// the test ends); `/echo` with what it received; `/big` with 300 KB; `/moved` with a redirect; anything else
    /// (`/fine`) at once.
    struct StallingVendor: HTTPResponder {
        let release: AsyncStream<Void>
        /// Told of each `/stall` request as it arrives.
        var arrived: AsyncStream<Void>.Continuation?

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            switch request.uri.path {
            case "/stall": arrived?.yield()
            case "/echo":
                // What arrived: the method, every header as sent (repeats included), the body; answered 429 with
                // repeated headers of its own.
                let body = try await request.body.collect(upTo: 1 << 20)
                var text = "\(request.method.rawValue)\n"
                for field in request.headers where field.name.canonicalName.hasPrefix("x-") {
                    text += "\(field.name.canonicalName): \(field.value)\n"
                }
                text += String(buffer: body)
                return Response(status: .tooManyRequests,
                                headers: [.retryAfter: "7", HTTPField.Name("X-Seen")!: "one", HTTPField.Name("X-Seen")!: "two"],
                                body: .init(byteBuffer: ByteBuffer(string: text)))
            case "/big":
                // 300 KB in 3 KB parts: more than the transport keeps.
                return Response(status: .ok, body: ResponseBody { writer in
                    for part in 0..<100 {
                        try await writer.write(ByteBuffer(string: String(repeating: String(part % 10), count: 3_000)))
                    }
                    try await writer.finish(nil)
                })
            case "/moved":
                return Response(status: .found, headers: [.location: "/fine"], body: .init(byteBuffer: ByteBuffer(string: "moved")))
            default:
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "{}")))
            }
            let release = self.release
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: #"{"partial":"#))
                for await _ in release { break }
                try await writer.finish(nil)
            })
        }
    }

    /// `timeout` bounds the whole exchange: a head followed by a stalled body ends as a timeout (a transient
    /// failure), where the call used to stay in flight forever.
    @Test(.timeLimit(.minutes(10)))
    func aStalledBodyEndsAtTheTimeout() async throws {
        let vendor = try await RunningVendor.start()
        let transport = AsyncHTTPTransport()

        let outcome: Result<InboundResponse, TransportError>
        do {
            outcome = .success(try await transport.execute(
                OutboundRequest(method: "GET", url: "http://127.0.0.1:\(vendor.port)/stall", headers: [], body: nil), timeout: .milliseconds(300)))
        } catch {
            outcome = .failure(error)
        }
        #expect(throws: TransportError.timeout(.milliseconds(300))) { try outcome.get() }
        // The transport is still usable.
        let fine = try await transport.execute(
            OutboundRequest(method: "GET", url: "http://127.0.0.1:\(vendor.port)/fine", headers: [], body: nil), timeout: .seconds(30))
        #expect(fine.status == 200 && fine.body == Array("{}".utf8))

        await transport.shutdown()
        try await vendor.stop()
    }

    /// A running `StallingVendor` on a port of its own, and how to stop it.
    struct RunningVendor {
        let port: Int
        let release: AsyncStream<Void>.Continuation
        let arrivals: AsyncStream<Void>
        let group: ServiceGroup
        let server: Task<Void, any Error>

        static func start() async throws -> RunningVendor {
            let (release, releasing) = AsyncStream.makeStream(of: Void.self)
            let (arrivals, arrived) = AsyncStream.makeStream(of: Void.self)
            let (ports, port) = AsyncStream.makeStream(of: Int.self)
            var logger = Logger(label: "vendor")
            logger.logLevel = .critical
            let application = Application(responder: StallingVendor(release: release, arrived: arrived),
                                          configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                          onServerRunning: { port.yield($0.localAddress?.port ?? 0) }, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
            let server = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let bound = try #require(await iterator.next())
            return RunningVendor(port: bound, release: releasing, arrivals: arrivals, group: group, server: server)
        }

        func stop() async throws {
            release.finish()
            await group.triggerGracefulShutdown()
            try await server.value
        }
    }

    /// The call goes out as made (method, every header in order, repeats included, the body) and its answer comes
    /// back whole: status, headers in order with their repeats, body.
    @Test(.timeLimit(.minutes(10)))
    func aCallGoesOutAsMadeAndItsAnswerComesBackWhole() async throws {
        let vendor = try await RunningVendor.start()
        let transport = AsyncHTTPTransport()
        let body = Array(#"{"amount":1250,"name":"Zoë"}"#.utf8)
        let answer = try await transport.execute(
            OutboundRequest(method: "PATCH", url: "http://127.0.0.1:\(vendor.port)/echo",
                            headers: [("X-One", "1"), ("X-Two", "a"), ("X-Two", "b"), ("Content-Type", "application/json")],
                            body: body),
            timeout: .seconds(60))
        #expect(answer.status == 429)
        #expect(answer.header("retry-after") == "7")
        #expect(answer.headers.filter { $0.name.lowercased() == "x-seen" }.map(\.value) == ["one", "two"])
        #expect(String(decoding: answer.body, as: UTF8.self)
                == "PATCH\nx-one: 1\nx-two: a\nx-two: b\n" + #"{"amount":1250,"name":"Zoë"}"#)
        // A redirect is an answer like any other, classed by its status: not followed.
        let moved = try await transport.execute(
            OutboundRequest(method: "POST", url: "http://127.0.0.1:\(vendor.port)/moved", headers: [], body: Array("{}".utf8)),
            timeout: .seconds(60))
        #expect(moved.status == 302 && moved.header("location") == "/fine" && moved.body == Array("moved".utf8))
        await transport.shutdown()
        try await vendor.stop()
    }

    /// A body longer than the transport keeps is cut at its limit, read to its end, and the next call is answered.
    @Test(.timeLimit(.minutes(10)))
    func aLongBodyIsCutAtTheLimitAndTheNextCallIsAnswered() async throws {
        let vendor = try await RunningVendor.start()
        let transport = AsyncHTTPTransport(bodyLimit: 10_000)
        for _ in 0..<3 {
            let big = try await transport.execute(
                OutboundRequest(method: "GET", url: "http://127.0.0.1:\(vendor.port)/big", headers: [], body: nil),
                timeout: .seconds(60))
            #expect(big.status == 200 && big.body.count == 10_000)
            #expect(big.body == Array((String(repeating: "0", count: 3_000) + String(repeating: "1", count: 3_000)
                                       + String(repeating: "2", count: 3_000) + String(repeating: "3", count: 1_000)).utf8))
            let fine = try await transport.execute(
                OutboundRequest(method: "GET", url: "http://127.0.0.1:\(vendor.port)/fine", headers: [], body: nil),
                timeout: .seconds(60))
            #expect(fine.status == 200 && fine.body == Array("{}".utf8))
        }
        await transport.shutdown()
        try await vendor.stop()
    }

    /// Cancelling the caller ends a call the vendor never answers (the lane is stopping, the engine shutting down);
    /// a URL the client cannot read is `invalidURL`, never the URL itself (it may hold a secret).
    @Test(.timeLimit(.minutes(10)))
    func aCancelledCallEndsAndABadURLIsNamedWithoutItsText() async throws {
        let vendor = try await RunningVendor.start()
        let transport = AsyncHTTPTransport()
        let call = Task {
            try await transport.execute(
                OutboundRequest(method: "GET", url: "http://127.0.0.1:\(vendor.port)/stall", headers: [], body: nil),
                timeout: .seconds(3_600))
        }
        // In flight: the vendor has the request (it answers with a head and the first bytes of a body, then nothing).
        var arrivals = vendor.arrivals.makeAsyncIterator()
        _ = await arrivals.next()
        call.cancel()
        let ended = await call.result
        #expect(throws: TransportError.self) { try ended.get() }
        await #expect(throws: TransportError.invalidURL) {
            try await transport.execute(OutboundRequest(method: "GET", url: "http://exa mple.test/sk_live_1", headers: [], body: nil),
                                        timeout: .seconds(5))
        }
        await transport.shutdown()
        try await vendor.stop()
    }
}
