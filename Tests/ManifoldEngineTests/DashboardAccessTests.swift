import AsyncHTTPClient
import Foundation
import JSONValue
import ManifoldEngine
import ManifoldStore
import NIOCore
import NIOHTTP1
import Testing

/// Who may read the dashboard: nobody when no token is set (unless the operator opens it), the read or admin
/// token as a bearer token (any case) or through the sign-in cookie; every answer carries headers that keep it
/// out of frames and sniffing.
@Suite struct DashboardAccessTests {
    typealias Running = EngineHTTPTests.Running

    static func raw(_ running: Running, _ path: String, method: HTTPMethod = .GET, headers: [(String, String)] = [],
                    body: String? = nil) async throws -> HTTPClientResponse
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(running.port)\(path)")
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        // Redirects are answers to look at, not to follow.
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            var kept = HTTPClientResponse(status: response.status, headers: response.headers)
            kept.body = .bytes(body)
            return kept
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test func withoutATokenTheDashboardIsOff() async throws {
        let running = try await Running(store: try SQLiteEventStore(path: EngineHTTPTests.storePath()))
        for path in ["/", "/dashboard/data", "/dashboard/events/ev_1"] {
            let answer = try await running.get(path)
            #expect(answer.status == 404 && answer.body?["error"] == "dashboard_off", "\(path)")
        }
        try await running.stop()
    }

    @Test func theReadOrAdminTokenOpensItAndNothingElse() async throws {
        let access = DashboardAccess(open: false, tokens: ["read-token-1", "admin-token-2"])
        let running = try await Running(store: try SQLiteEventStore(path: EngineHTTPTests.storePath()), dashboard: access)
        #expect(try await running.get("/dashboard/data").status == 401)
        #expect(try await running.get("/dashboard/data", headers: [("Authorization", "Bearer wrong")]).status == 401)
        #expect(try await running.get("/dashboard/data", headers: [("Authorization", "Bearer read-token-1")]).status == 200)
        #expect(try await running.get("/dashboard/data", headers: [("Authorization", "BEARER admin-token-2")]).status == 200)
        #expect(try await running.get("/dashboard/events/ev_x", headers: [("Authorization", "bearer read-token-1")]).status == 404)

        // The page: a sign-in form first, then the cookie it sets opens the page and its data.
        let signIn = try await Self.raw(running, "/")
        #expect(signIn.status == .unauthorized)
        let form = String(buffer: try await signIn.body.collect(upTo: 1 << 20))
        #expect(form.contains(#"<form id="sign-in" method="post" action="/dashboard/login">"#))
        let refused = try await Self.raw(running, "/dashboard/login", method: .POST,
                                         headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "token=nope")
        #expect(refused.status == .unauthorized && refused.headers["set-cookie"].isEmpty)
        let accepted = try await Self.raw(running, "/dashboard/login", method: .POST,
                                          headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "token=read-token-1")
        #expect(accepted.status == .seeOther && accepted.headers["location"].first == "/")
        let cookie = try #require(accepted.headers["set-cookie"].first)
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        let pair = String(cookie.split(separator: ";")[0])
        let page = try await Self.raw(running, "/", headers: [("Cookie", pair)])
        #expect(page.status == .ok)
        let html = String(buffer: try await page.body.collect(upTo: 1 << 20))
        #expect(html.contains(#"<table id="lanes">"#))

        // Headers: a policy that allows only the page's own script and style (by nonce), never framed or sniffed.
        let policy = try #require(page.headers["content-security-policy"].first)
        let nonce = try #require(policy.firstRange(of: #/'nonce-([^']+)'/#).map { String(policy[$0]).dropFirst(7).dropLast() })
        #expect(html.contains(#"<script nonce="\#(nonce)">"#) && html.contains(#"<style nonce="\#(nonce)">"#))
        #expect(policy.contains("frame-ancestors 'none'") && policy.contains("default-src 'none'"))
        #expect(page.headers["x-frame-options"].first == "DENY")
        #expect(page.headers["x-content-type-options"].first == "nosniff")
        let data = try await Self.raw(running, "/dashboard/data", headers: [("Cookie", pair)])
        #expect(data.status == .ok && data.headers["x-content-type-options"].first == "nosniff")
        try await running.stop()
    }

    @Test func anOpenedDashboardNeedsNoToken() async throws {
        let running = try await Running(store: try SQLiteEventStore(path: EngineHTTPTests.storePath()),
                                        dashboard: DashboardAccess(open: true, tokens: []))
        #expect(try await running.get("/dashboard/data").status == 200)
        try await running.stop()
    }
}
