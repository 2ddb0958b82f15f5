import AsyncHTTPClient
import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TestSupport
import Testing

/// Rollouts through the admin API over HTTP: started with a candidate's YAML, its share set, rolled back; each action
/// logged as the admin API's; the candidate's text never served back.
@Suite struct RolloutAdminTests {
    @Test(.timeLimit(.minutes(10)))
    func aRolloutIsStartedSetAndRolledBackThroughTheAPI() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        let plan = try #require(ConnectorCompiler().compile([SourceFile(path: "orders.yaml", text: RolloutTests.current)]).plan)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = try Engine(plan: plan, store: store, resolver: ConfigResolver(environment: [:]), logger: logger,
                                admin: AdminAPI(store: store, token: "s3cret-admin"))
        let server = try await AdminServer.start(engine: engine, logger: logger)
        let port = server.port

        func call(_ method: HTTPMethod, _ path: String, body: JSON? = nil, token: String = "s3cret-admin") async throws -> (Int, JSON?) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            if let body { request.body = .bytes(ByteBuffer(string: body.serialized())) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), try? JSONParser.parse(bytes: Array(bytes.readableBytesView)))
        }

        #expect(try await call(.POST, "/admin/rollouts/orders", body: ["candidate": .string(RolloutTests.candidate)], token: "guess").0 == 401)
        let (started, body) = try await call(.POST, "/admin/rollouts/orders",
                                             body: ["candidate": .string(RolloutTests.candidate), "share": 20, "mode": "shadow"])
        #expect(started == 201, "\(String(describing: body))")
        #expect(body?["share"] == "20%" && body?["mode"] == "shadow" && body?["candidate_text"] == nil)
        #expect(engine.rollouts.running["orders"]?.record.mode == .shadow, "the engine runs it at once")
        let bad = try await call(.POST, "/admin/rollouts/orders", body: ["candidate": "connector: other\n"])
        #expect(bad.0 == 422)
        #expect(try await call(.POST, "/admin/rollouts/orders/share", body: ["share": 150]).0 == 400)
        let share = try await call(.POST, "/admin/rollouts/orders/share", body: ["share": 35])
        #expect(share.0 == 200 && share.1?["share"] == "35%" && engine.rollouts.running["orders"]?.record.basisPoints == 3500)
        let listed = try await call(.GET, "/admin/rollouts")
        #expect(listed.1?["rollouts"]?.arrayValue?.count == 1)
        let rolledBack = try await call(.POST, "/admin/rollouts/orders/rollback", body: ["reason": "not today"])
        #expect(rolledBack.0 == 200 && rolledBack.1?["status"] == "rolled_back" && engine.rollouts.running.isEmpty)
        #expect(try await call(.POST, "/admin/rollouts/orders/share", body: ["share": 5]).0 == 404)
        #expect(try await store.rolloutLog(connector: "orders").map(\.action) == ["start", "set-share", "rollback"])
        #expect(try await store.rolloutLog(connector: "orders").allSatisfy { $0.by == "admin-api" })

        try await server.stop()
        store.close()
    }
}
