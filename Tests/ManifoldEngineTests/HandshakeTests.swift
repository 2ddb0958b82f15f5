import Foundation
import HTTPTypes
import JSONValue
import ManifoldCompiler
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import TestSupport
import Testing

/// Vendors' handshakes, answered in the request exactly as their docs require (the HMAC answers computed by an
/// independent implementation, Python's hmac), recorded as handshakes, never routed or delivered. In process.
@Suite struct HandshakeTests {
    static let secret = "handshake-secret-7d1"

    static func plan(_ webhook: String) throws -> Plan {
        try TestConnector.plan(name: "vendor", webhook: webhook)
    }

    static func python(_ expression: String) async throws -> String {
        let run = try await ProcessRun.pythonAsync(["-c", "import base64, hashlib, hmac, sys; s = sys.argv[1].encode(); print(\(expression))", secret])
        try #require(run.status == 0, "\(run.error)")
        return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let resolver = ConfigResolver(environment: ["SECRET": secret, "META_TOKEN": "meta-verify-token"])

    /// Signs `body` as the connector's vendor would.
    static func signed(_ running: InProcessEngine, path: String, body: String) -> [(String, String)] {
        let request = WebhookRequest(method: "POST", target: path, headers: ["Content-Type": "application/json"], body: Array(body.utf8),
                                     remoteAddress: nil)
        return running.vendor.signature.sign(request, now: Int64(Date().timeIntervalSince1970), deliveryID: "d-1").fields
            .map { ($0.name, $0.value) } + [("Content-Type", "application/json")]
    }

    @Test func zoomsValidationIsAnsweredWithTheHMACOfItsToken() async throws {
        let plan = try Self.plan("path: /zoom\nverify: { scheme: zoom, secret: \"${env:SECRET}\" }\nhandshake: { preset: zoom }")
        let expected = try await Self.python("hmac.new(s, b'qgg8vlvZRS6UYooatFL8Aw', hashlib.sha256).hexdigest()")
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        try await InProcessEngine.with(store: store, plan: plan, resolver: Self.resolver) { running in
            let body = #"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#
            let answer = try await running.get("/zoom", headers: Self.signed(running, path: "/zoom", body: body), method: .post, body: body)
            #expect(answer.status == 200 && answer.headers[.contentType] == "application/json")
            #expect(answer.text == #"{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"\#(expected)"}"#)
            // Unsigned, it is no handshake: refused as any unsigned post.
            let forged = try await running.get("/zoom", headers: [("Content-Type", "application/json")], method: .post, body: body)
            #expect(forged.status == 401)
            // Recorded as a handshake, never routed.
            let events = try await store.events(EventQuery())
            #expect(events.map(\.status) == [.handshake])
            #expect(events.first?.eventType == "handshake:zoom")
            #expect(try await store.jobs(JobQuery()).isEmpty)
        }
    }

    @Test func slackDropboxMetaGraphXAndAsanaAnswerAsTheirDocsSay() async throws {
        let store = { try SQLiteEventStore(path: EngineHTTPTests.storePath()) }
        try await InProcessEngine.with(store: try store(), plan: try Self.plan("path: /slack\nverify: { scheme: slack, secret: \"${env:SECRET}\" }\nhandshake: { preset: slack }"),
                                       resolver: Self.resolver) { running in
            let body = #"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#
            let answer = try await running.get("/slack", headers: Self.signed(running, path: "/slack", body: body), method: .post, body: body)
            #expect(answer.status == 200 && answer.text == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
            #expect(answer.headers[.contentType]?.hasPrefix("text/plain") == true)
            // An ordinary event is no handshake: stored and acknowledged as any other.
            let event = #"{"type":"event_callback","event_id":"Ev1","event":{"type":"message"}}"#
            let accepted = try await running.get("/slack", headers: Self.signed(running, path: "/slack", body: event), method: .post, body: event)
            #expect(accepted.status == 200 && accepted.body?["status"] == "accepted", "\(accepted.text)")
        }
        try await InProcessEngine.with(store: try store(), plan: try Self.plan("path: /dropbox\nverify: { scheme: dropbox, secret: \"${env:SECRET}\" }\nhandshake: { preset: dropbox }"),
                                       resolver: Self.resolver) { running in
            let answer = try await running.get("/dropbox?challenge=e3f1a9c2")
            #expect(answer.status == 200 && answer.text == "e3f1a9c2" && answer.headers[.xContentTypeOptions] == "nosniff")
        }
        try await InProcessEngine.with(store: try store(), plan: try Self.plan("path: /meta\nverify: { scheme: meta, secret: \"${env:SECRET}\" }\nhandshake: { preset: meta, verify_token: \"${env:META_TOKEN}\" }"),
                                       resolver: Self.resolver) { running in
            let good = try await running.get("/meta?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=1158201444")
            #expect(good.status == 200 && good.text == "1158201444")
            let bad = try await running.get("/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444")
            #expect(bad.status == 403 && !bad.text.contains("1158201444"))
        }
        try await InProcessEngine.with(store: try store(), plan: try Self.plan("path: /graph\nverify: { scheme: none }\nallow_ips: [127.0.0.1/32]\nhandshake: { preset: graph }"),
                                       resolver: Self.resolver) { running in
            // Router mode has no client address: the allowlist refuses it, as it would any other network.
            let refused = try await running.get("/graph?validationToken=Validation%3A%20Testing%20client", method: .post)
            #expect(refused.status == 403)
        }
        try await InProcessEngine.with(store: try store(), plan: try Self.plan("path: /graph\nverify: { scheme: hmac, secret: \"${env:SECRET}\", header: X-Sig }\nhandshake: { preset: graph }"),
                                       resolver: Self.resolver) { running in
            let answer = try await running.get("/graph?validationToken=Validation%3A%20Testing%20client", method: .post)
            #expect(answer.status == 200 && answer.text == "Validation: Testing client")
        }
        let crc = try await Self.python("'sha256=' + base64.b64encode(hmac.new(s, b'crc-token-42', hashlib.sha256).digest()).decode()")
        try await InProcessEngine.with(store: try store(), plan: try Self.plan("path: /x\nverify: { scheme: x, secret: \"${env:SECRET}\" }\nhandshake: { preset: x }"),
                                       resolver: Self.resolver) { running in
            let answer = try await running.get("/x?crc_token=crc-token-42")
            #expect(answer.status == 200 && answer.text == #"{"response_token":"\#(crc)"}"#)
        }
        let asanaStore = try store()
        try await InProcessEngine.with(store: asanaStore, plan: try Self.plan("path: /asana\nverify: { scheme: asana, secret: \"${env:SECRET}\" }\nhandshake: { preset: asana }"),
                                       resolver: Self.resolver) { running in
            let answer = try await running.get("/asana", headers: [("X-Hook-Secret", "b537207f20cbfa02357cf448134da559")], method: .post, body: "")
            #expect(answer.status == 200 && answer.headers[HTTPField.Name("X-Hook-Secret")!] == "b537207f20cbfa02357cf448134da559")
            // The record keeps no secret.
            let event = try #require(try await asanaStore.events(EventQuery()).first)
            let record = try #require(try await asanaStore.event(id: event.id))
            #expect(record.headers.first { $0.name.lowercased() == "x-hook-secret" }?.value == "[redacted]")
        }
    }

    @Test func theGenericFormMatchesAndAnswersWithExpressions() async throws {
        let plan = try Self.plan("""
            path: /custom
            verify: { scheme: hmac, secret: "${env:SECRET}", header: X-Sig }
            handshake:
              match: { method: GET, query: [check], when: "query.mode = 'verify'" }
              respond: { body: "{ 'echo': query.check, 'proof': $hmac('sha256', query.check, 'base64') }", headers: { X-Echo: "query.check" } }
            """)
        let proof = try await Self.python("base64.b64encode(hmac.new(s, b'abc', hashlib.sha256).digest()).decode()")
        try await InProcessEngine.with(store: try SQLiteEventStore(path: EngineHTTPTests.storePath()), plan: plan, resolver: Self.resolver) { running in
            let answer = try await running.get("/custom?check=abc&mode=verify")
            #expect(answer.status == 200 && answer.text == #"{"echo":"abc","proof":"\#(proof)"}"#)
            #expect(answer.headers[HTTPField.Name("X-Echo")!] == "abc")
            // Not the handshake (the condition is false, or a required query parameter is missing): an ordinary GET,
            // refused.
            #expect(try await running.get("/custom?check=abc&mode=other").status == 405)
            #expect(try await running.get("/custom?mode=verify").status == 405)
        }
    }

    /// A POST handshake is checked for its signature first (`verified`, the default for POST), and `status` and
    /// `content_type` shape the answer.
    @Test func aSignedGenericHandshakeAnswersWithItsStatusAndType() async throws {
        let plan = try Self.plan("""
            path: /signed
            verify: { scheme: github, secret: "${env:SECRET}" }
            handshake:
              match: { method: POST, when: "body.kind = 'ping'" }
              respond: { status: 202, content_type: application/vnd.pong+json, body: "{ 'pong': body.nonce }" }
            """)
        try await InProcessEngine.with(store: try SQLiteEventStore(path: EngineHTTPTests.storePath()), plan: plan, resolver: Self.resolver) { running in
            let body = #"{"kind":"ping","nonce":"n-1"}"#
            let answer = try await running.get("/signed", headers: Self.signed(running, path: "/signed", body: body), method: .post, body: body)
            #expect(answer.status == 202 && answer.headers[.contentType] == "application/vnd.pong+json" && answer.text == #"{"pong":"n-1"}"#)
            let unsigned = try await running.get("/signed", headers: [("Content-Type", "application/json")], method: .post, body: body)
            #expect(unsigned.status == 401, "an unsigned ping is no handshake")
        }
    }
}
