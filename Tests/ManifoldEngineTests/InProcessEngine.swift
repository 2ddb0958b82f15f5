import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONValue
import Logging
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import NIOCore
import TestSupport

/// The engine driven in process through Hummingbird's router test mode: requests go to its responder directly, no
/// port, no socket; its services (the store, delivery) run and stop around the test. For tests of what the engine
/// answers; the few that need a real connection (slow clients, HTTP versions, shutdown) use `EngineHTTPTests.Running`.
struct InProcessEngine {
    let engine: Engine
    let vendor: WebhookEndpoint
    let client: any TestClientProtocol

    /// Runs `body` against an engine on `store` with the test connector (or `source`).
    static func with(store: any EventStore, dashboard: DashboardAccess = DashboardAccess(mode: .tokens([])),
                     plan: Plan? = nil, resolver: ConfigResolver = EngineHTTPTests.resolver,
                     _ body: @Sendable (InProcessEngine) async throws -> Void) async throws
    {
        let plan = try plan ?? TestConnector.plan(name: "shop", webhook: EngineHTTPTests.webhook)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger)
        let vendor = try WebhookEndpoint(connector: plan.connectors[0], resolver: resolver)
        let application = EngineServer.application(engine: engine, logger: logger, dashboard: dashboard,
                                                   services: EngineServer.supporting(engine: engine))
        try await application.test(.router) { client in
            try await body(InProcessEngine(engine: engine, vendor: vendor, client: client))
        }
    }

    /// POSTs `body` (signed by the vendor unless `sign` is false): the status and the JSON answer.
    func post(_ path: String = "/hooks/stripe", body: String, headers: [(String, String)] = [],
              contentType: String = "application/json", sign: Bool = true) async throws -> (status: Int, body: JSON?)
    {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        if sign {
            let webhook = WebhookRequest(method: "POST", target: path, headers: [:], body: Array(body.utf8), remoteAddress: nil)
            for field in vendor.signature.sign(webhook, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
                fields[HTTPField.Name(field.name)!] = field.value
            }
        }
        return try await client.execute(uri: path, method: .post, headers: fields, body: ByteBuffer(string: body)) { response in
            (Int(response.status.code), try? JSONParser.parse(bytes: Array(response.body.readableBytesView)))
        }
    }

    /// GETs `path` with `headers`: the status, the JSON answer (if any), the headers and the text.
    func get(_ path: String, headers: [(String, String)] = [], method: HTTPRequest.Method = .get, body: String? = nil) async throws
        -> (status: Int, body: JSON?, headers: HTTPFields, text: String)
    {
        var fields = HTTPFields()
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        return try await client.execute(uri: path, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) }) { response in
            (Int(response.status.code), try? JSONParser.parse(bytes: Array(response.body.readableBytesView)), response.headers,
             String(buffer: response.body))
        }
    }
}
