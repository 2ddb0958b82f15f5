import Foundation
import JSONValue
import ManifoldIngress
import ManifoldPlan
import TestSupport
import Testing

/// The HMAC presets against an independent implementation of each vendor's documented algorithm (Python's `hmac`,
/// written from the vendors' docs, not from this code), and the refusal battery: a tampered body, another key, a
/// missing or malformed header, a stale timestamp.
@Suite struct PresetSchemeTests {
    static let body = #"{"id":"evt_1","event":"caf\u00e9 & co","amount":4200}"#
    static let secret = "preset-signing-secret-42"
    static let now: Int64 = 1_790_000_000
    /// The presets whose vectors this oracle makes (no vendor SDK on PyPI signs for them).
    static let schemes: [SignatureScheme] = [.zoom, .dropbox, .meta, .asana, .linear, .calendly, .typeform, .x, .intercom]
    /// Presets checked by an oracle in a suite of their own.
    static let elsewhere: [SignatureScheme] = [.mailgun]

    /// Each preset's headers as the vendor's docs say to compute them, by Python.
    static let oracle = """
        import base64, hashlib, hmac, json, sys
        body, secret, ts = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3]
        def mac(message, digest=hashlib.sha256): return hmac.new(secret, message, digest)
        print(json.dumps({
          "zoom": {"x-zm-request-timestamp": ts, "x-zm-signature": "v0=" + mac(b"v0:" + ts.encode() + b":" + body).hexdigest()},
          "dropbox": {"X-Dropbox-Signature": mac(body).hexdigest()},
          "meta": {"X-Hub-Signature-256": "sha256=" + mac(body).hexdigest()},
          "asana": {"X-Hook-Signature": mac(body).hexdigest()},
          "linear": {"Linear-Signature": mac(body).hexdigest()},
          "calendly": {"Calendly-Webhook-Signature": "t=" + ts + ",v1=" + mac(ts.encode() + b"." + body).hexdigest()},
          "typeform": {"Typeform-Signature": "sha256=" + base64.b64encode(mac(body).digest()).decode()},
          "x": {"x-twitter-webhooks-signature": "sha256=" + base64.b64encode(mac(body).digest()).decode()},
          "intercom": {"X-Hub-Signature": "sha1=" + mac(body, hashlib.sha1).hexdigest()},
        }))
        """

    static func signature(_ scheme: SignatureScheme, secret: String = secret) -> WebhookSignature {
        WebhookSignature(verification: Verification(scheme: scheme, secrets: [], tolerance: scheme.signsTimestamp ? .seconds(300) : nil,
                                                    publicURL: nil, idHeader: nil, hmac: nil),
                         secrets: [secret], publicURL: nil)
    }

    static func request(_ headers: [(String, String)], body: String = body) -> WebhookRequest {
        WebhookRequest(method: "POST", target: "/hooks/x", headers: HeaderList([("Content-Type", "application/json")] + headers),
                       body: Array(body.utf8), remoteAddress: nil)
    }

    @Test func everyPresetMatchesTheDocumentedAlgorithmAndRefusesForgeries() async throws {
        let run = try await ProcessRun.pythonAsync(["-c", Self.oracle, Self.body, Self.secret, String(Self.now)])
        try #require(run.status == 0, "\(run.error)")
        let expected = try JSONParser.parse(run.output)
        let schemes = Self.schemes
        #expect(Set(expected.objectValue?.keys ?? []) == Set(schemes.map(\.rawValue)))
        for scheme in schemes {
            let headers = (expected[scheme.rawValue]?.objectValue ?? JSONObject()).map { ($0.key, $0.value.stringValue ?? "") }
            let signer = Self.signature(scheme)
            // The vendor's request verifies.
            #expect(throws: Never.self, "\(scheme)") { try signer.verify(Self.request(headers), now: Self.now) }
            // Signing the same request gives the vendor's headers (so `manifold send` and `manifold test` sign as
            // the vendor does).
            let signed = signer.sign(Self.request([]), now: Self.now, deliveryID: "delivery-1")
            for (name, value) in headers {
                #expect(signed[name] == value, "\(scheme) \(name)")
            }
            // Refusals.
            #expect(throws: SignatureFailure.mismatch, "\(scheme) tampered") {
                try signer.verify(Self.request(headers, body: Self.body + " "), now: Self.now)
            }
            #expect(throws: SignatureFailure.mismatch, "\(scheme) another key") {
                try Self.signature(scheme, secret: "another").verify(Self.request(headers), now: Self.now)
            }
            let name = signer.signatureHeaders[0]
            #expect(throws: SignatureFailure.missingHeader(name), "\(scheme) missing") {
                try signer.verify(Self.request(headers.filter { $0.0.caseInsensitiveCompare(name) != .orderedSame }), now: Self.now)
            }
            let garbled = headers.map { $0.0.caseInsensitiveCompare(name) == .orderedSame ? ($0.0, "zz" + $0.1.dropFirst(2)) : $0 }
            #expect(throws: SignatureFailure.self, "\(scheme) malformed") { try signer.verify(Self.request(garbled), now: Self.now) }
            if scheme.signsTimestamp {
                #expect(throws: SignatureFailure.outsideTolerance(seconds: 300), "\(scheme) stale") {
                    try signer.verify(Self.request(headers), now: Self.now + 3600)
                }
            }
        }
    }
}

/// Mailgun signs in the body: `signature.{timestamp, token, signature}` (JSON) or the same form fields, the hex
/// HMAC-SHA256 of timestamp + token with the webhook signing key (checked by Python's hmac).
@Suite struct MailgunSchemeTests {
    static let key = "key-mailgun-signing-0042"
    static let now: Int64 = 1_790_000_000

    static func request(_ body: String, form: Bool = false) -> WebhookRequest {
        WebhookRequest(method: "POST", target: "/hooks/mailgun",
                       headers: ["Content-Type": form ? "application/x-www-form-urlencoded" : "application/json"],
                       body: Array(body.utf8), remoteAddress: nil)
    }

    static let signature = WebhookSignature(
        verification: Verification(scheme: .mailgun, secrets: [], tolerance: .seconds(300), publicURL: nil, idHeader: nil, hmac: nil),
        secrets: [key], publicURL: nil)

    @Test func bodySignaturesVerifyAndForgeriesAreRefused() async throws {
        let token = "a8ce0edb2dd8301dcc6d4d8f9ef8e5b0cd7bd8f6a6c8f3f2a5"
        let run = try await ProcessRun.pythonAsync(["-c", "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), (sys.argv[2] + sys.argv[3]).encode(), hashlib.sha256).hexdigest())",
                                         Self.key, String(Self.now), token])
        let expected = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let json = #"{"signature":{"timestamp":"\#(Self.now)","token":"\#(token)","signature":"\#(expected)"},"event-data":{"id":"m-1","event":"failed"}}"#
        #expect(throws: Never.self) { try Self.signature.verify(Self.request(json), now: Self.now) }
        let form = "event=failed&timestamp=\(Self.now)&token=\(token)&signature=\(expected)"
        #expect(throws: Never.self) { try Self.signature.verify(Self.request(form, form: true), now: Self.now) }
        #expect(throws: SignatureFailure.mismatch) {
            try Self.signature.verify(Self.request(json.replacingOccurrences(of: token, with: "b" + token.dropFirst())), now: Self.now)
        }
        let other = WebhookSignature(verification: Self.signature.verification, secrets: ["another"], publicURL: nil)
        #expect(throws: SignatureFailure.mismatch) { try other.verify(Self.request(json), now: Self.now) }
        #expect(throws: SignatureFailure.outsideTolerance(seconds: 300)) { try Self.signature.verify(Self.request(json), now: Self.now + 3600) }
        #expect(throws: SignatureFailure.missingHeader("signature (in the body)")) {
            try Self.signature.verify(Self.request(#"{"event-data":{"id":"m-1"}}"#), now: Self.now)
        }
        // Signing sets the body's fields as Mailgun does, and they verify.
        let signed = try #require(Self.signature.signedBody(Self.request(#"{"event-data":{"id":"m-2"}}"#), now: Self.now, deliveryID: "d"))
        #expect(throws: Never.self) { try Self.signature.verify(Self.request(String(decoding: signed, as: UTF8.self)), now: Self.now) }
    }
}

/// One verifier serves every request of its source, concurrently: each secret's HMAC is keyed once and copied per
/// request.
@Suite struct SharedVerifierTests {
    /// Many generated bodies, verified from several tasks at once with each algorithm, against Python's
    /// `hmac`: each vendor's request is accepted and each body changed by one byte is refused, whatever was verified
    /// before or beside it.
    @Test func oneVerifierChecksManyRequestsAtOnceWithEachAlgorithm() async throws {
        var random = SeededGenerator(seed: 23)
        let bodies = (0..<120).map { index in
            let length = Int.random(in: 0...300, using: &random)
            let text = String((0..<length).map { _ in Character(UnicodeScalar(UInt8.random(in: 0x20...0x7e, using: &random))) })
            return #"{"n":\#(index),"t":"\#(text.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: "\"", with: ""))"}"#
        }
        let oracle = """
            import hashlib, hmac, json, sys
            secret, bodies = sys.argv[1].encode(), json.loads(sys.argv[2])
            print(json.dumps({name: [hmac.new(secret, b.encode(), getattr(hashlib, name)).hexdigest() for b in bodies]
                              for name in ["sha1", "sha256", "sha512"]}))
            """
        let run = try await ProcessRun.pythonAsync(["-c", oracle, PresetSchemeTests.secret, JSON.array(bodies.map(JSON.string)).serialized()])
        try #require(run.status == 0, "\(run.error)")
        let macs = try JSONParser.parse(run.output)
        for algorithm in [HMACSettings.Algorithm.sha1, .sha256, .sha512] {
            let settings = HMACSettings(header: "X-Sig", algorithm: algorithm, encoding: .hex, prefix: "", timestampHeader: nil,
                                        stringToSign: "{body}")
            let verifier = WebhookSignature(verification: Verification(scheme: .hmac, secrets: [], tolerance: nil, publicURL: nil,
                                                                       idHeader: nil, hmac: settings),
                                            secrets: ["another-secret", PresetSchemeTests.secret], publicURL: nil)
            let expected = (macs[algorithm.rawValue]?.arrayValue ?? []).compactMap(\.stringValue)
            try #require(expected.count == bodies.count)
            let failures = await withTaskGroup(of: [String].self) { group in
                for lane in 0..<6 {
                    group.addTask {
                        var failures: [String] = []
                        for index in stride(from: lane, to: bodies.count, by: 6) {
                            let good = PresetSchemeTests.request([("X-Sig", expected[index])], body: bodies[index])
                            if (try? verifier.verify(good, now: PresetSchemeTests.now)) == nil { failures.append("body \(index) refused") }
                            let forged = PresetSchemeTests.request([("X-Sig", expected[index])], body: bodies[index] + " ")
                            if (try? verifier.verify(forged, now: PresetSchemeTests.now)) != nil { failures.append("body \(index) + 1 byte accepted") }
                        }
                        return failures
                    }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            #expect(failures.isEmpty, "\(algorithm): \(failures.prefix(5))")
        }
    }
}
