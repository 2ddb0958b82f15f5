import Foundation
import JSONValue
import ManifoldEngine
import ManifoldStore
import ManifoldSQLite
import Testing

/// Who may read the dashboard: nobody when no token is set (unless the operator opens it), the read or admin
/// token as a bearer token (any case) or through the sign-in cookie; every answer carries headers that keep it
/// out of frames and sniffing. In process (router mode).
@Suite struct DashboardAccessTests {
    static func store() throws -> SQLiteEventStore { try SQLiteEventStore(path: EngineHTTPTests.storePath()) }

    @Test func withoutATokenTheDashboardIsOff() async throws {
        try await InProcessEngine.with(store: try Self.store()) { running in
            for path in ["/", "/dashboard/data", "/dashboard/events/ev_1"] {
                let answer = try await running.get(path)
                #expect(answer.status == 404 && answer.body?["error"] == "dashboard_off", "\(path)")
            }
        }
    }

    @Test func theReadOrAdminTokenOpensItAndNothingElse() async throws {
        let access = DashboardAccess(open: false, tokens: ["read-token-1", "admin-token-2"])
        try await InProcessEngine.with(store: try Self.store(), dashboard: access) { running in
            #expect(try await running.get("/dashboard/data").status == 401)
            #expect(try await running.get("/dashboard/data", headers: [("Authorization", "Bearer wrong")]).status == 401)
            #expect(try await running.get("/dashboard/data", headers: [("Authorization", "Bearer read-token-1")]).status == 200)
            #expect(try await running.get("/dashboard/data", headers: [("Authorization", "BEARER admin-token-2")]).status == 200)
            #expect(try await running.get("/dashboard/events/ev_x", headers: [("Authorization", "bearer read-token-1")]).status == 404)

            // The page: a sign-in form first, then the cookie it sets opens the page and its data.
            let signIn = try await running.get("/")
            #expect(signIn.status == 401)
            #expect(signIn.text.contains(#"<form id="sign-in" method="post" action="/dashboard/login">"#))
            let form = [("Content-Type", "application/x-www-form-urlencoded")]
            let refused = try await running.client.execute(uri: "/dashboard/login", method: .post, headers: [.contentType: form[0].1],
                                                           body: .init(string: "token=nope")) { $0 }
            #expect(refused.status.code == 401 && refused.headers[.setCookie] == nil)
            let accepted = try await running.client.execute(uri: "/dashboard/login", method: .post, headers: [.contentType: form[0].1],
                                                            body: .init(string: "token=read-token-1")) { $0 }
            #expect(accepted.status.code == 303 && accepted.headers[.location] == "/")
            let cookie = try #require(accepted.headers[.setCookie])
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            let pair = String(cookie.split(separator: ";")[0])
            let page = try await running.get("/", headers: [("Cookie", pair)])
            #expect(page.status == 200)
            #expect(page.text.contains(#"<table id="lanes">"#))

            // Headers: a policy that allows only the page's own script and style (by nonce), never framed or sniffed.
            let policy = try #require(page.headers[.contentSecurityPolicy])
            let nonce = try #require(policy.firstRange(of: #/'nonce-([^']+)'/#).map { String(policy[$0]).dropFirst(7).dropLast() })
            #expect(page.text.contains(#"<script nonce="\#(nonce)">"#) && page.text.contains(#"<style nonce="\#(nonce)">"#))
            #expect(policy.contains("frame-ancestors 'none'") && policy.contains("default-src 'none'"))
            #expect(page.headers[.init("X-Frame-Options")!] == "DENY")
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            let data = try await running.get("/dashboard/data", headers: [("Cookie", pair)])
            #expect(data.status == 200 && data.headers[.xContentTypeOptions] == "nosniff")
        }
    }

    @Test func anOpenedDashboardNeedsNoToken() async throws {
        try await InProcessEngine.with(store: try Self.store(), dashboard: DashboardAccess(open: true, tokens: [])) { running async throws in
            #expect(try await running.get("/dashboard/data").status == 200)
        }
    }
}
