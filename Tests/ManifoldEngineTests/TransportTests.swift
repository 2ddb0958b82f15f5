import Foundation
import Hummingbird
import Logging
import ManifoldDelivery
import NIOCore
import ServiceLifecycle
import Testing

/// The outbound transport against a vendor on loopback that misbehaves on the wire.
@Suite struct TransportTests {
    /// A vendor that answers `/stall` with its head and the first bytes of a body, then sends nothing more (until
    /// the test ends), and `/fine` at once.
    struct StallingVendor: HTTPResponder {
        let release: AsyncStream<Void>

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            guard request.uri.path == "/stall" else {
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
        let (release, releasing) = AsyncStream.makeStream(of: Void.self)
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "vendor")
        logger.logLevel = .critical
        let application = Application(responder: StallingVendor(release: release),
                                      configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                      onServerRunning: { port.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let server = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let bound = try #require(await iterator.next())
        let transport = AsyncHTTPTransport()

        let outcome: Result<InboundResponse, TransportError>
        do {
            outcome = .success(try await transport.execute(
                OutboundRequest(method: "GET", url: "http://127.0.0.1:\(bound)/stall", headers: [], body: nil), timeout: .milliseconds(300)))
        } catch {
            outcome = .failure(error)
        }
        #expect(throws: TransportError.timeout(.milliseconds(300))) { try outcome.get() }
        // The transport is still usable.
        let fine = try await transport.execute(
            OutboundRequest(method: "GET", url: "http://127.0.0.1:\(bound)/fine", headers: [], body: nil), timeout: .seconds(30))
        #expect(fine.status == 200 && fine.body == Array("{}".utf8))

        releasing.finish()
        await transport.shutdown()
        await group.triggerGracefulShutdown()
        try await server.value
    }
}
