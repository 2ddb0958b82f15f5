import Foundation
public import Hummingbird
import HTTPTypes
import HummingbirdCore
import JSONValue
public import Logging
import ManifoldIngress
import ManifoldStore
import ManifoldDelivery
import NIOCore
import Synchronization
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

/// Routes HTTP requests: `/healthz`, `/readyz`, `/metrics`, the admin API, and every webhook path of the running plan.
struct EngineResponder: HTTPResponder {
    let engine: Engine
    let reloader: ConfigReloader?
    var alerts: AlertCenter?
    var dashboardRefresh = 2
    var limits = EngineServer.Limits()
    var dashboardAccess = DashboardAccess(mode: .tokens([]))

    func respond(to request: Request, context: EngineRequestContext) async throws -> Response {
        let path = request.uri.path
        switch (request.method, path) {
        case (.get, "/healthz"):
            return Self.json(200, ["status": "up"])
        case (.get, "/readyz"):
            var reply = await engine.readiness()
            // The plan running is what readiness is about; a rejected reload is shown, and does not make it unready.
            if let last = reloader?.last, case .object(var body) = reply.body {
                body["last_reload"] = last.json
                reply.body = .object(body)
            }
            return Self.json(reply)
        case (.get, "/"), (.get, "/dashboard/data"), (.get, _) where path.hasPrefix("/dashboard/events/"):
            guard dashboardAccess.isOn else {
                return Self.json(404, ["error": "dashboard_off",
                                       "message": "the dashboard is off: set MANIFOLD_DASHBOARD_TOKEN (or MANIFOLD_ADMIN_TOKEN), or start the engine with --open-dashboard"])
            }
            guard dashboardAccess.allows(authorization: request.headers[.authorization], cookie: request.headers[.cookie]) else {
                if path == "/" { return Self.page(status: .unauthorized) { DashboardPage.signIn(nonce: $0, refused: false) } }
                return Self.secured(Self.json(401, ["error": "unauthorized",
                                                    "message": "send Authorization: Bearer <dashboard or admin token>, or sign in at /"]))
            }
            return await dashboard(path)
        case (.post, "/dashboard/login"):
            let form = try await request.body.collect(upTo: 4096)
            let token = String(buffer: form).split(separator: "&").lazy.compactMap { pair -> String? in
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == "token" else { return nil }
                return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }.first
            guard dashboardAccess.isOn, case .tokens = dashboardAccess.mode, let token, dashboardAccess.accepts(token) else {
                return Self.page(status: .unauthorized) { DashboardPage.signIn(nonce: $0, refused: true) }
            }
            var response = Response(status: .seeOther, headers: [.location: "/"])
            let value = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            response.headers[.setCookie] = "\(DashboardAccess.cookie)=\(value); Path=/; HttpOnly; SameSite=Strict"
            return Self.secured(response)
        case (.get, "/metrics"):
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: await engine.scrape())))
        default:
            break
        }
        if path.hasPrefix("/admin/") {
            guard let admin = engine.admin else {
                return Self.json(404, ["error": "not_found", "message": "the admin API is off: set MANIFOLD_ADMIN_TOKEN"])
            }
            guard admin.authorized(request.headers[.authorization]) else {
                return Self.json(401, ["error": "unauthorized", "message": "send Authorization: Bearer <admin token>"])
            }
            let body = try await request.body.collect(upTo: 1 << 20)
            var query: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
            return Self.json(await admin.handle(method: request.method.rawValue, path: path, query: query,
                                                body: Array(body.readableBytesView), engine: engine, reloader: reloader))
        }
        guard let route = engine.route(for: path) else {
            return Self.json(Engine.Reply(.notFound))
        }
        // A body over the limit is not read: refused from its Content-Length, or when collecting passes the limit;
        // a body that does not arrive within the body timeout is refused too. Either way the rest of the body is
        // never read: the connection closes after the answer.
        let limit = route.endpoint.source.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            return Self.closing(Self.json(Engine.Reply(.tooLarge(limit: limit))))
        }
        // A body that does not arrive within the body timeout is answered 408 by BodyTimeoutHandler, on the
        // connection's event loop, which then closes it (and this read with it).
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            return Self.closing(Self.json(Engine.Reply(.tooLarge(limit: limit))))
        }
        var headers = HeaderList()
        for field in request.headers {
            headers.append(field.name.rawName, field.value)
        }
        let webhook = WebhookRequest(method: request.method.rawValue, target: request.uri.string, headers: headers,
                                     body: Array(buffer.readableBytesView), remoteAddress: context.remoteAddress)
        return Self.json(await engine.receive(webhook, on: route))
    }

    /// The dashboard's page and data; a store that cannot be read answers 500 and is logged.
    private func dashboard(_ path: String) async -> Response {
        let data = DashboardData(engine: engine, alerts: alerts)
        do {
            if path == "/" {
                let overview = try await data.overview()
                return Self.page(status: .ok) { DashboardPage.html(overview, refreshSeconds: dashboardRefresh, nonce: $0) }
            }
            if path == "/dashboard/data" { return Self.secured(Self.json(200, try await data.overview())) }
            let id = String(path.dropFirst("/dashboard/events/".count)).removingPercentEncoding ?? ""
            return Self.secured(Self.json(try await data.timeline(eventID: id)))
        } catch {
            engine.logger.error("the dashboard could not read the store", metadata: ["path": "\(path)", "error": "\(error)"])
            return Self.json(Engine.Reply.error(500, "store_unavailable", "the event store could not be read: \(error)"))
        }
    }

    /// A dashboard page with its Content-Security-Policy: only its own style and script (by a nonce made for
    /// this answer) and requests to this origin; never framed.
    static func page(status: HTTPResponse.Status, _ html: (String) -> String) -> Response {
        let nonce = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var response = Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                                body: .init(byteBuffer: ByteBuffer(string: html(nonce))))
        response.headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'nonce-\(nonce)'; style-src 'nonce-\(nonce)'; "
            + "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        return secured(response)
    }

    /// The headers every dashboard answer carries: not framed, not sniffed, not cached, no referrer.
    static func secured(_ response: Response) -> Response {
        var response = response
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// `response` with `Connection: close`: `HTTPVersionHandler` closes the connection once it is written, so the
    /// client's unread body is not drained (a 413 on a chunked body used to read it all).
    static func closing(_ response: Response) -> Response {
        var response = response
        response.headers[.connection] = "close"
        return response
    }

    static func json(_ reply: Engine.Reply) -> Response {
        if let answer = reply.handshake {
            // A handshake's answer goes out as the vendor requires it: its content type, headers and bytes.
            var response = Response(status: .init(code: answer.status), headers: [.contentType: answer.contentType],
                                    body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
            for (name, value) in answer.headerPairs {
                if let field = HTTPField.Name(name) { response.headers[field] = value }
            }
            return response
        }
        return json(reply.status, reply.body)
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
    public static func run(engine: Engine, host: String, port: Int, logger: Logger, reloading: Reloading? = nil,
                           alerts: AlertCenter? = nil, dashboard: DashboardAccess,
                           onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws
    {
        let group = ServiceGroup(configuration: .init(
            services: services(engine: engine, host: host, port: port, logger: logger, reloading: reloading,
                               alerts: alerts, dashboard: dashboard, onListening: onListening),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// How the engine reloads its connectors: the reloader, and the path to watch (none: only on SIGHUP and
    /// `POST /admin/reload`).
    public struct Reloading: Sendable {
        public var reloader: ConfigReloader
        public var watch: String?

        public init(reloader: ConfigReloader, watch: String?) {
            self.reloader = reloader
            self.watch = watch
        }
    }

    /// How long a client may take: a connection with no complete request part for `idleTimeout` is closed
    /// (slowloris: headers sent a byte at a time), and a webhook body must arrive within `bodyTimeout` (else 408).
    public struct Limits: Sendable {
        public var idleTimeout: Duration
        public var bodyTimeout: Duration

        public init(idleTimeout: Duration = .seconds(30), bodyTimeout: Duration = .seconds(30)) {
            self.idleTimeout = idleTimeout
            self.bodyTimeout = bodyTimeout
        }
    }

    /// The services, in start order; they stop in reverse (the server first, then the store).
    public static func services(engine: Engine, host: String, port: Int, logger: Logger, reloading: Reloading? = nil,
                                alerts: AlertCenter? = nil, limits: Limits = Limits(),
                                dashboard: DashboardAccess = DashboardAccess(mode: .tokens([])),
                                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service]
    {
        let application = self.application(engine: engine, host: host, port: port, logger: logger, reloading: reloading,
                                            alerts: alerts, limits: limits, dashboard: dashboard, onListening: onListening)
        return supporting(engine: engine, reloading: reloading, alerts: alerts) + [application]
    }

    /// The engine as one Hummingbird application: its HTTP server, with the store, delivery, alerts and reload as
    /// services of it. Tests drive it in process (`app.test(.router)`), without a port.
    public static func application(engine: Engine, host: String = "127.0.0.1", port: Int = 0, logger: Logger,
                                   reloading: Reloading? = nil, alerts: AlertCenter? = nil, limits: Limits = Limits(),
                                   dashboard: DashboardAccess = DashboardAccess(mode: .tokens([])),
                                   services: [any Service] = [],
                                   onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol
    {
        let responder = EngineResponder(engine: engine, reloader: reloading?.reloader, alerts: alerts, limits: limits,
                                        dashboardAccess: dashboard)
        func amount(_ duration: Duration) -> TimeAmount {
            .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        }
        let (idle, body) = (amount(limits.idleTimeout), amount(limits.bodyTimeout))
        return Application(
            responder: responder,
            server: HTTPServerBuilder { responder in
                EngineHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: idle)), bodyTimeout: body)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "manifold", backlog: 1024),
            services: services,
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// The services beside the HTTP server, in start order: the store first (it closes last), delivery, alerts,
    /// reload.
    public static func supporting(engine: Engine, reloading: Reloading? = nil, alerts: AlertCenter? = nil) -> [any Service] {
        var services: [any Service] = [StoreService(store: engine.store)]
        if let runtime = engine.runtime { services.append(DeliveryService(runtime: runtime)) }
        if let alerts { services.append(alerts) }
        if let reloading {
            services.append(ReloadSignalService(reloader: reloading.reloader))
            if let path = reloading.watch { services.append(ConnectorWatcher(path: path, reloader: reloading.reloader)) }
        }
        return services
    }
}

/// Runs deliveries: sweeps and lease renewals until shutdown, then drains calls in flight and releases leases.
/// Stops after the HTTP server (no new events) and before the store closes.
struct DeliveryService: Service {
    let runtime: DeliveryRuntime

    func run() async throws {
        let stop = StopFlag()
        await withGracefulShutdownHandler {
            await runtime.run(until: { stop.isSet })
        } onGracefulShutdown: {
            stop.set()
        }
    }
}

/// A flag set once, read from any task.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// Keeps the store open while the server runs and closes it after the server has drained.
struct StoreService: Service {
    let store: any EventStore

    func run() async throws {
        try? await gracefulShutdown()
        store.close()
    }
}
