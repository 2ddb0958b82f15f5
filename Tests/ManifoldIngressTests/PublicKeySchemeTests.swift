import Foundation
import JSONValue
import ManifoldIngress
import ManifoldPlan
import TestSupport
import Testing

/// The public-key schemes (SendGrid, Discord, generic Ed25519 and ECDSA P-256) and Box, beyond their vectors: the
/// refusal battery (tampered body, another key, missing and malformed headers, stale timestamps), keys as vendors
/// hand them out, and malformed keys.
@Suite struct PublicKeySchemeTests {
    static let now: Int64 = 1_790_000_000
    static let body = #"[{"email":"ada@example.com","event":"delivered","sg_event_id":"sg-1"}]"#

    static func signature(_ scheme: SignatureScheme, key: SigningKey, settings: HMACSettings? = nil) -> WebhookSignature {
        WebhookSignature(verification: Verification(scheme: scheme, secrets: [], tolerance: .seconds(300), publicURL: nil,
                                                    idHeader: nil, hmac: settings),
                         secrets: [], publicURL: nil, publicKeys: [key.verifyingKey], signingKeys: [key])
    }

    static func request(_ headers: HeaderList = [:], body: String = body) -> WebhookRequest {
        var all: HeaderList = ["Content-Type": "application/json"]
        for field in headers.fields { all.append(field.name, field.value) }
        return WebhookRequest(method: "POST", target: "/hooks/x", headers: all, body: Array(body.utf8), remoteAddress: nil)
    }

    static let generic = HMACSettings(header: "X-Sig", algorithm: .sha256, encoding: .base64, prefix: "v1=", timestampHeader: "X-Ts",
                                      stringToSign: "{timestamp}.{body}")

    @Test(arguments: [SignatureScheme.sendgrid, .discord, .ed25519, .ecdsaP256])
    func refusalBattery(scheme: SignatureScheme) throws {
        let algorithm = try #require(scheme.keyAlgorithm)
        let key = SigningKey.generate(algorithm)
        let signer = Self.signature(scheme, key: key, settings: scheme.isGeneric ? Self.generic : nil)
        let headers = signer.sign(Self.request(), now: Self.now, deliveryID: "d-1")
        let signed = Self.request(headers)
        #expect(throws: Never.self) { try signer.verify(signed, now: Self.now) }
        // A body changed after signing, or a signature of another key pair.
        #expect(throws: SignatureFailure.mismatch) { try signer.verify(Self.request(headers, body: Self.body + " "), now: Self.now) }
        let other = Self.signature(scheme, key: SigningKey.generate(algorithm), settings: signer.verification.hmac)
        #expect(throws: SignatureFailure.mismatch) { try other.verify(signed, now: Self.now) }
        // Missing or malformed signature, missing timestamp, stale timestamp.
        let name = signer.signatureHeaders[0]
        let without = HeaderList(headers.fields.filter { $0.name != name })
        #expect(throws: SignatureFailure.missingHeader(name)) { try signer.verify(Self.request(without), now: Self.now) }
        var garbled = without
        garbled.append(name, (scheme.isGeneric ? "v1=" : "") + "not!base64-or-hex")
        #expect(throws: SignatureFailure.malformedHeader(name)) { try signer.verify(Self.request(garbled), now: Self.now) }
        let stampName = headers.fields.first { $0.name != name }!.name
        #expect(throws: SignatureFailure.missingHeader(stampName)) {
            try signer.verify(Self.request(HeaderList(headers.fields.filter { $0.name != stampName })), now: Self.now)
        }
        #expect(throws: SignatureFailure.outsideTolerance(seconds: 300)) { try signer.verify(signed, now: Self.now + 301) }
        // Another timestamp than the one signed.
        var moved = HeaderList(headers.fields.filter { $0.name != stampName })
        moved.append(stampName, String(Self.now + 1))
        #expect(throws: SignatureFailure.mismatch) { try signer.verify(Self.request(moved), now: Self.now) }
        // No key configured: nothing verifies.
        let keyless = WebhookSignature(verification: signer.verification, secrets: [], publicURL: nil)
        #expect(throws: SignatureFailure.mismatch) { try keyless.verify(signed, now: Self.now) }
    }

    /// Keys as vendors show them: Discord's hex, SendGrid's base64 DER, PEM; and what is not a key.
    @Test func keysAreReadInTheFormsVendorsUseAndMalformedOnesAreRefused() throws {
        let ed = SigningKey.generate(.ed25519), p256 = SigningKey.generate(.ecdsaP256)
        let message = Array("1790000000{}".utf8)
        for text in [ed.verifyingKey.text, Data(try #require(Hex.decode(ed.verifyingKey.text))).base64EncodedString()] {
            #expect(try VerifyingKey(text, algorithm: .ed25519).isValid(ed.signature(for: message), for: message))
        }
        for text in [p256.verifyingKey.text, p256.verifyingKey.compactText] {
            #expect(try VerifyingKey(text, algorithm: .ecdsaP256).isValid(p256.signature(for: message), for: message))
        }
        // A private key read back signs as the original.
        #expect(try SigningKey(ed.text, algorithm: .ed25519).signature(for: message) == ed.signature(for: message))
        #expect(try VerifyingKey(p256.verifyingKey.text, algorithm: .ecdsaP256)
            .isValid(SigningKey(p256.text, algorithm: .ecdsaP256).signature(for: message), for: message))
        for (text, algorithm) in [("", KeyAlgorithm.ed25519), ("abcd", .ed25519), ("not a key at all!", .ecdsaP256),
                                  (ed.verifyingKey.text, .ecdsaP256), (p256.verifyingKey.compactText, .ed25519),
                                  ("-----BEGIN PUBLIC KEY-----\n%%%\n-----END PUBLIC KEY-----", .ecdsaP256)] {
            #expect(throws: KeyError.self, "\(text) as \(algorithm)") { try VerifyingKey(text, algorithm: algorithm) }
        }
        // The error never repeats the key.
        do {
            _ = try VerifyingKey("c2VjcmV0LWxvb2tpbmcta2V5LW1hdGVyaWFs", algorithm: .ed25519)
            Issue.record("accepted")
        } catch {
            #expect(!error.description.contains("c2VjcmV0"))
        }
    }

    /// `public_keys` as a connector writes them (a rotation): each key verifies its own signatures; a malformed key
    /// written in the file is an error at its place.
    @Test func publicKeysOfAConnectorRotate() throws {
        let old = SigningKey.generate(.ed25519), new = SigningKey.generate(.ed25519)
        let plan = try TestConnector.plan(name: "discord", webhook: """
            path: /hooks/discord
            verify: { scheme: discord, public_keys: ["\(old.verifyingKey.text)", "\(new.verifyingKey.text)"] }
            event_id: id
            """)
        #expect(plan.connectors[0].source!.verification.publicKeys.count == 2)
        let endpoint = try WebhookEndpoint(connector: plan.connectors[0], resolver: ConfigResolver(environment: [:]))
        for key in [old, new] {
            let signer = Self.signature(.discord, key: key)
            let headers = signer.sign(Self.request(), now: Self.now, deliveryID: "d")
            #expect(throws: Never.self) { try endpoint.signature.verify(Self.request(headers), now: Self.now) }
        }
        let stranger = Self.signature(.discord, key: SigningKey.generate(.ed25519))
        #expect(throws: SignatureFailure.mismatch) {
            try endpoint.signature.verify(Self.request(stranger.sign(Self.request(), now: Self.now, deliveryID: "d")), now: Self.now)
        }
        #expect(throws: TestConnector.CompileFailure.self) {
            try TestConnector.plan(name: "discord", webhook: "path: /in\nverify: { scheme: discord, public_key: abcd }\nevent_id: id")
        }
    }

    /// A generic scheme that signs in the body (like Mailgun): the signature and the timestamp are fields of the JSON
    /// body and the string to sign takes body values, checked by Python's hmac written from the settings.
    @Test func aGenericHMACInTheBodyMatchesAnIndependentImplementation() async throws {
        let settings = HMACSettings(header: "", algorithm: .sha256, encoding: .hex, prefix: "", timestampHeader: nil,
                                    stringToSign: "{json:/auth/ts}:{json:/auth/nonce}:{json:/event/id}",
                                    signatureField: "/auth/sig", timestampField: "/auth/ts", timestampFormat: .unixMilliseconds)
        let secret = "body-signing-secret"
        let signer = WebhookSignature(verification: Verification(scheme: .hmac, secrets: [], tolerance: .seconds(300), publicURL: nil,
                                                                 idHeader: nil, hmac: settings),
                                      secrets: [secret], publicURL: nil)
        let stamp = String(Self.now * 1000)
        let run = try await ProcessRun.pythonAsync(["-c", "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
                                         secret, "\(stamp):n-42:evt-7"])
        let mac = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let body = #"{"event":{"id":"evt-7"},"auth":{"ts":\#(stamp),"nonce":"n-42","sig":"\#(mac)"}}"#
        #expect(throws: Never.self) { try signer.verify(Self.request(body: body), now: Self.now) }
        #expect(throws: SignatureFailure.mismatch) {
            try signer.verify(Self.request(body: body.replacingOccurrences(of: "evt-7", with: "evt-8")), now: Self.now)
        }
        #expect(throws: SignatureFailure.outsideTolerance(seconds: 300)) { try signer.verify(Self.request(body: body), now: Self.now + 600) }
        #expect(throws: SignatureFailure.missingField("/auth/sig")) {
            try signer.verify(Self.request(body: #"{"event":{"id":"evt-7"},"auth":{"ts":\#(stamp)}}"#), now: Self.now)
        }
        #expect(throws: SignatureFailure.malformedField("/auth/ts")) {
            try signer.verify(Self.request(body: body.replacingOccurrences(of: "\"ts\":\(stamp)", with: "\"ts\":\"soon\"")), now: Self.now)
        }
        // Signing fills both fields, as the vendor would, and the result verifies.
        let unsigned = Self.request(body: #"{"event":{"id":"evt-9"},"auth":{"nonce":"n-1"}}"#)
        let signedBody = try #require(signer.signedBody(unsigned, now: Self.now, deliveryID: "d"))
        let parsed = try JSONParser.parse(bytes: signedBody)
        #expect(parsed["auth"]?["ts"]?.numberValue == Double(Self.now * 1000))
        #expect(throws: Never.self) { try signer.verify(Self.request(body: String(decoding: signedBody, as: UTF8.self)), now: Self.now) }
    }

    /// Box: either header verifies with either key; the version and algorithm headers are required; its ISO 8601
    /// timestamp has a 10-minute window.
    @Test func boxChecksBothKeysAndItsTimestamp() throws {
        let verification = Verification(scheme: .box, secrets: [], tolerance: SignatureScheme.box.defaultTolerance, publicURL: nil,
                                         idHeader: nil, hmac: nil)
        let both = WebhookSignature(verification: verification, secrets: ["primary", "secondary"], publicURL: nil)
        let headers = both.sign(Self.request(), now: Self.now, deliveryID: "d")
        #expect(headers["BOX-DELIVERY-TIMESTAMP"] == "2026-09-21T14:13:20Z")
        #expect(throws: Never.self) { try both.verify(Self.request(headers), now: Self.now + 599) }
        #expect(throws: SignatureFailure.outsideTolerance(seconds: 600)) { try both.verify(Self.request(headers), now: Self.now + 601) }
        // Only the secondary key configured (the primary being rotated): the secondary header verifies.
        let secondary = WebhookSignature(verification: verification, secrets: ["secondary"], publicURL: nil)
        #expect(throws: Never.self) { try secondary.verify(Self.request(headers), now: Self.now) }
        let neither = WebhookSignature(verification: verification, secrets: ["another"], publicURL: nil)
        #expect(throws: SignatureFailure.mismatch) { try neither.verify(Self.request(headers), now: Self.now) }
        for name in ["BOX-SIGNATURE-VERSION", "BOX-SIGNATURE-ALGORITHM", "BOX-DELIVERY-TIMESTAMP"] {
            #expect(throws: SignatureFailure.missingHeader(name)) {
                try both.verify(Self.request(HeaderList(headers.fields.filter { $0.name != name })), now: Self.now)
            }
        }
        var sha1 = HeaderList(headers.fields.filter { $0.name != "BOX-SIGNATURE-ALGORITHM" })
        sha1.append("BOX-SIGNATURE-ALGORITHM", "HmacSHA1")
        #expect(throws: SignatureFailure.malformedHeader("BOX-SIGNATURE-ALGORITHM")) { try both.verify(Self.request(sha1), now: Self.now) }
        // A timestamp with an offset, as Box sends it, is read as the same instant.
        var offset = HeaderList(headers.fields.filter { $0.name != "BOX-DELIVERY-TIMESTAMP" })
        offset.append("BOX-DELIVERY-TIMESTAMP", "2026-09-21T07:13:20-07:00")
        #expect(throws: SignatureFailure.mismatch) { try both.verify(Self.request(offset), now: Self.now) }
        let unsigned = HeaderList(offset.fields.filter { !$0.name.hasPrefix("BOX-SIGNATURE-P") && !$0.name.hasPrefix("BOX-SIGNATURE-S") })
        let resigned = both.sign(Self.request(unsigned), now: Self.now, deliveryID: "d")
        var offsetSigned = unsigned
        for field in resigned.fields { offsetSigned.append(field.name, field.value) }
        #expect(throws: Never.self) { try both.verify(Self.request(offsetSigned), now: Self.now + 60) }
    }
}
