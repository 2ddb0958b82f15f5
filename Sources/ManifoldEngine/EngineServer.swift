import Foundation
public import Hummingbird
import JSONValue
public import Logging
import ManifoldIngress
import ManifoldStore
import NIOCore
public import ServiceLifecycle

/// The request context: Hummingbird's core plus the client's address, for IP allowlists.
public struct EngineRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// Routes HTTP requests: `/healthz`, `/readyz`, and every webhook path of the running plan.
struct EngineResponder: HTTPResponder {
    let engine: Engine
    /// The largest body any webhook accepts; a larger one is not even read.
    let bodyLimit: @Sendable (String) -> Int?

    func respond(to request: Request, context: EngineRequestContext) async throws -> Response {
        let path = request.uri.path
        switch (request.method, path) {
        case (.get, "/healthz"):
            return Self.json(200, ["status": "up"])
        case (.get, "/readyz"):
            let reply = await engine.readiness()
            return Self.json(reply.status, reply.body)
        default:
            break
        }
        guard let limit = bodyLimit(path) else {
            return Self.json(404, ["error": "not_found", "message": "no webhook is served at this path"])
        }
        let tooLarge = Self.json(413, ["error": "too_large", "message": .string("the body is larger than \(limit) bytes")])
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            return tooLarge
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            return tooLarge
        }
        var headers = HeaderList()
        for field in request.headers {
            headers.append(field.name.rawName, field.value)
        }
        let webhook = WebhookRequest(method: request.method.rawValue, target: request.uri.string, headers: headers,
                                     body: Array(buffer.readableBytesView), remoteAddress: context.remoteAddress)
        let reply = await engine.receive(webhook, path: path)
        return Self.json(reply.status, reply.body)
    }

    static func json(_ status: Int, _ body: JSON) -> Response {
        var buffer = ByteBuffer(string: body.serialized())
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: .init(code: status), headers: [.contentType: "application/json"],
                         body: .init(byteBuffer: buffer))
    }
}

/// Runs the engine's HTTP server and its store under service lifecycle: SIGTERM or SIGINT stop accepting,
/// let requests in flight finish (and their appends commit), then close the store.
public enum EngineServer {
    /// Serves until a shutdown signal. `onListening` gets the bound port (useful with port 0).
    public static func run(engine: Engine, host: String, port: Int, logger: Logger,
                           onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws
    {
        let group = ServiceGroup(configuration: .init(
            services: services(engine: engine, host: host, port: port, logger: logger, onListening: onListening),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// The services, in start order; they stop in reverse (the server first, then the store).
    public static func services(engine: Engine, host: String, port: Int, logger: Logger,
                                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service]
    {
        let responder = EngineResponder(engine: engine) { path in
            engine.endpoint(at: path)?.endpoint.source.maxBodyBytes
        }
        let application = Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: port), serverName: "manifold", backlog: 1024),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        return [StoreService(store: engine.store), application]
    }
}

/// Keeps the store open while the server runs and closes it after the server has drained.
struct StoreService: Service {
    let store: any EventStore

    func run() async throws {
        try? await gracefulShutdown()
        store.close()
    }
}
