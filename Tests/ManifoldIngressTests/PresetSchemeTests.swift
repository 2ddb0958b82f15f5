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

    @Test func everyPresetMatchesTheDocumentedAlgorithmAndRefusesForgeries() throws {
        let run = try ProcessRun.python(["-c", Self.oracle, Self.body, Self.secret, String(Self.now)])
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
