import Foundation
import JSONValue
@testable import ManifoldIngress
import ManifoldPlan
import TestSupport
import Testing

/// The ingress decision for one request: status codes, redaction, event ids, quarantine.
@Suite struct WebhookEndpointTests {
    static func endpoint(_ webhook: String, environment: [String: String] = ["SECRET": "s3cret-value"]) throws
        -> WebhookEndpoint
    {
        let plan = try TestConnector.plan(webhook: webhook)
        return try WebhookEndpoint(connector: plan.connectors[0], resolver: ConfigResolver(environment: environment))
    }

    static let github = """
    path: /hooks/github
    verify: { scheme: github, secret: "${env:SECRET}" }
    event_type: $headers.'x-github-event'
    """

    static func request(_ body: String, headers: HeaderList = ["Content-Type": "application/json"],
                        from address: String = "127.0.0.1") -> WebhookRequest
    {
        WebhookRequest(method: "POST", target: "/hooks/github", headers: headers, body: Array(body.utf8),
                       remoteAddress: address)
    }

    static func signed(_ endpoint: WebhookEndpoint, _ request: WebhookRequest, id: String = "d-1") -> WebhookRequest {
        var request = request
        for (name, value) in endpoint.signature.sign(request, now: 1_700_000_000, deliveryID: id) {
            request.headers.append(name, value)
        }
        return request
    }

    static func status(_ result: Result<AdmittedEvent, WebhookEndpoint.Refusal>) -> Int {
        switch result {
        case .success: 200
        case .failure(let refusal): refusal.status
        }
    }

    @Test func refusalsHaveTheirStatus() throws {
        let endpoint = try Self.endpoint(Self.github + "\nmax_body: 64B\nallow_ips: [10.0.0.0/8, \"::1/128\"]")
        let good = Self.signed(endpoint, Self.request(#"{"a":1}"#, from: "10.1.2.3"))
        #expect(Self.status(endpoint.admit(good, now: 1_700_000_000)) == 200)
        var get = good
        get.method = "GET"
        #expect(Self.status(endpoint.admit(get, now: 0)) == 405)
        var outsider = good
        outsider.remoteAddress = "192.168.1.1"
        #expect(Self.status(endpoint.admit(outsider, now: 0)) == 403)
        outsider.remoteAddress = "::1"
        #expect(Self.status(endpoint.admit(outsider, now: 0)) == 200)
        outsider.remoteAddress = "::ffff:10.9.9.9"
        #expect(Self.status(endpoint.admit(outsider, now: 0)) == 200)
        let large = Self.signed(endpoint, Self.request(String(repeating: "x", count: 65), from: "10.0.0.1"))
        #expect(Self.status(endpoint.admit(large, now: 0)) == 413)
        let text = Self.signed(endpoint, Self.request("{}", headers: ["Content-Type": "text/plain"], from: "10.0.0.1"))
        #expect(Self.status(endpoint.admit(text, now: 0)) == 415)
        let unsigned = Self.request("{}", from: "10.0.0.1")
        guard case .failure(let refusal) = endpoint.admit(unsigned, now: 0) else {
            Issue.record("an unsigned request was admitted")
            return
        }
        #expect(refusal.status == 401)
        #expect(refusal.body == #"{"error":"signature","message":"the X-Hub-Signature-256 header is missing"}"#)
        var forged = good
        forged.body = Array(#"{"a":2}"#.utf8)
        guard case .failure(let forgery) = endpoint.admit(forged, now: 0) else {
            Issue.record("a forged request was admitted")
            return
        }
        #expect(forgery.status == 401)
        #expect(!forgery.body.contains("s3cret"))
    }

    @Test func eventIDsComeFromTheExpressionThenTheDeliveryHeaderThenTheBody() throws {
        let byHeader = try Self.endpoint(Self.github)
        var request = Self.request(#"{"action":"opened"}"#)
        request.headers.append("X-GitHub-Event", "pull_request")
        let admitted = try byHeader.admit(Self.signed(byHeader, request, id: "72d3162e"), now: 0).get()
        #expect(admitted.eventID == "72d3162e")
        #expect(admitted.eventType == "pull_request")
        #expect(admitted.payload?["action"] == "opened")

        let byExpression = try Self.endpoint(Self.github + "\nevent_id: \"'gh-' & number\"")
        let numbered = try byExpression.admit(Self.signed(byExpression, Self.request(#"{"number":7}"#)), now: 0).get()
        #expect(numbered.eventID == "gh-7")

        let none = try Self.endpoint("path: /hooks/x\nverify: { scheme: none }")
        let hashed = try none.admit(Self.request("{}"), now: 0).get()
        #expect(hashed.eventID == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    }

    @Test func signedGarbageIsQuarantinedNotRefused() throws {
        let endpoint = try Self.endpoint(Self.github)
        let admitted = try endpoint.admit(Self.signed(endpoint, Self.request(#"{"unterminated"#), id: "g-1"), now: 0).get()
        #expect(admitted.quarantine?.hasPrefix("the body is not valid JSON") == true)
        #expect(admitted.eventID == "g-1")
        #expect(admitted.payload == nil)
    }

    @Test func aBodyThatDoesNotParseIsKeptWithItsHashAndRedactedHeaders() throws {
        // No delivery header: the quarantined event's id is the body's hash, and its headers are stored redacted.
        let endpoint = try Self.endpoint("path: /hooks/x\nverify: { scheme: none }")
        let request = Self.request("{", headers: ["Content-Type": "application/json", "Authorization": "Bearer abc",
                                                  "User-Agent": "curl/8"])
        let admitted = try endpoint.admit(request, now: 0).get()
        #expect(admitted.quarantine?.hasPrefix("the body is not valid JSON") == true)
        #expect(admitted.eventID == "sha256:021fb596db81e6d02bf3d2586ee3981fe519f275c0ac9ca76bbcf2ebb4097d96")
        #expect(admitted.headers["Authorization"] == "[redacted]")
        #expect(admitted.headers["User-Agent"] == "curl/8")
        #expect(admitted.body == Array("{".utf8))

        // An event id expression that gives nothing falls back to the hash too, quarantined with the reason.
        let byExpression = try Self.endpoint("path: /hooks/x\nverify: { scheme: none }\nevent_id: missing")
        let fallback = try byExpression.admit(Self.request(#"{"a":1}"#), now: 0).get()
        #expect(fallback.eventID == "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862")
        #expect(fallback.quarantine?.hasPrefix("event_id gave nothing") == true)
    }

    @Test func contentTypesAreReadAsHTTPWritesThem() throws {
        let endpoint = try Self.endpoint("path: /hooks/x\nverify: { scheme: none }")
        for accepted in ["application/json", " Application/JSON ; charset=utf-8", "\tapplication/json\t", "application/cloudevents+json",
                         "\u{00A0}application/json\u{2003}; charset=utf-8"] {
            #expect(Self.status(endpoint.admit(Self.request("{}", headers: ["Content-Type": accepted]), now: 0)) == 200,
                    "\(accepted.debugDescription) is JSON")
        }
        for refused in ["text/plain", "application/jsonx", "application /json", "", "application/x-www-form-urlencoded"] {
            #expect(Self.status(endpoint.admit(Self.request("{}", headers: ["Content-Type": refused]), now: 0)) == 415,
                    "\(refused.debugDescription) is not JSON here")
        }
    }

    @Test func formBodiesBecomeObjects() throws {
        let endpoint = try Self.endpoint("""
        path: /hooks/form
        verify: { scheme: none }
        content_types: [form]
        event_id: MessageSid
        """)
        let request = Self.request("MessageSid=SM1&Body=caf%C3%A9+au+lait&To=a&To=b",
                                   headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"])
        let admitted = try endpoint.admit(request, now: 0).get()
        #expect(admitted.eventID == "SM1")
        #expect(admitted.payload?["Body"] == "café au lait")
        #expect(admitted.payload?["To"] == ["a", "b"])
        let json = Self.request("{}")
        #expect(Self.status(endpoint.admit(json, now: 0)) == 415)
    }

    @Test func storedHeadersHoldNoCredential() throws {
        let endpoint = try Self.endpoint(Self.github)
        var request = Self.request("{}", headers: [
            "Content-Type": "application/json", "Authorization": "Bearer abc", "X-Api-Key": "k",
            "Cookie": "session=1", "X-GitHub-Delivery": "d", "User-Agent": "GitHub-Hookshot/1",
        ])
        request = Self.signed(endpoint, request)
        let stored = try endpoint.admit(request, now: 0).get().headers
        #expect(stored["X-Hub-Signature-256"] == "[redacted]")
        #expect(stored["Authorization"] == "[redacted]")
        #expect(stored["X-Api-Key"] == "[redacted]")
        #expect(stored["Cookie"] == "[redacted]")
        #expect(stored["User-Agent"] == "GitHub-Hookshot/1")
        #expect(stored["X-GitHub-Delivery"] == "d")
    }

    @Test func genericHMACFollowsItsSettings() throws {
        let endpoint = try Self.endpoint("""
        path: /hooks/custom
        verify:
          scheme: hmac
          secrets: ["${env:SECRET}", "next"]
          header: X-Signature
          algorithm: sha512
          encoding: base64
          prefix: "sig="
          timestamp_header: X-Timestamp
          string_to_sign: "{timestamp}.{method}.{header:X-Tenant}.{body}"
          tolerance: 1m
        """)
        let request = Self.request(#"{"ok":true}"#, headers: ["Content-Type": "application/json", "X-Tenant": "acme"])
        let signed = Self.signed(endpoint, request)
        #expect(signed.headers["X-Signature"]?.hasPrefix("sig=") == true)
        #expect(Self.status(endpoint.admit(signed, now: 1_700_000_030)) == 200)
        #expect(Self.status(endpoint.admit(signed, now: 1_700_000_061)) == 401)
        var otherTenant = signed
        otherTenant.headers = HeaderList(signed.headers.fields.map { $0.name == "X-Tenant" ? ($0.name, "evil") : $0 })
        #expect(Self.status(endpoint.admit(otherTenant, now: 1_700_000_000)) == 401)
    }

    @Test func aMissingSecretIsNamedNotGuessed() {
        let error = #expect(throws: WebhookEndpoint.SetupError.self) {
            try Self.endpoint(Self.github, environment: [:])
        }
        #expect(error?.description == "connector demo: the environment variable SECRET is not set")
    }
}

/// `trimmingWhitespace` gives what Foundation's `trimmingCharacters(in: .whitespaces)` gives, on any text.
@Suite struct TrimmingWhitespaceTests {
    @Test func itTrimsAsFoundationDoes() {
        let pieces = ["", " ", "\t", "\n", "\r", "a", "Z", "=", "é", "\u{00A0}", "\u{2003}", "\u{3000}", "\u{200B}", "\u{0301}", "\u{7F}",
                      "\u{1F600}", "v1", ";", ","]
        var generator = SeededGenerator(seed: 25)
        var texts = pieces.flatMap { a in pieces.map { b in a + b } }
        for _ in 0..<4_000 {
            texts.append((0..<Int.random(in: 1...6, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined())
        }
        for text in texts {
            #expect(text.trimmingWhitespace == text.trimmingCharacters(in: .whitespaces), "\(text.debugDescription)")
            let sub = Substring(text)
            #expect(sub.trimmingWhitespace == sub.trimmingCharacters(in: .whitespaces), "\(text.debugDescription) as a substring")
        }
    }
}
