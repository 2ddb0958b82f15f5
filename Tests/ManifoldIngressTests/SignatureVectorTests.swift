import Foundation
import JSONValue
import ManifoldIngress
import ManifoldPlan
import TestSupport
import Testing

/// The presets against published vectors: the vendors' docs and official SDK tests (`../shared`), and the
/// vectors our `scripts/sdk-signature-vectors` made with the vendors' own SDKs (`Fixtures/sdk-vectors.json`).
@Suite struct SignatureVectorTests {
    struct Vector {
        var label: String
        var scheme: SignatureScheme
        var secret: String
        var request: WebhookRequest
        var publicURL: String?
        var expected: [(String, String)]
        var now: Int64
        /// Public-key schemes: the vendor's public key and the private key that made the vector.
        var publicKey: String?
        var privateKey: String?
        /// The generic schemes' settings; Box's secondary key.
        var settings: HMACSettings?
        var secondary: String?
    }

    static func vectors(in file: URL, label: String) throws -> [Vector] {
        let json = try JSONParser.parse(bytes: Array(try Data(contentsOf: file)))
        return try (json["cases"]?.arrayValue ?? []).enumerated().map { index, item in
            let scheme = try #require(SignatureScheme(rawValue: item["scheme"]?.stringValue ?? ""))
            var headers = HeaderList()
            for (name, value) in item["headers"]?.objectValue ?? JSONObject() {
                headers.append(name, value.stringValue ?? "")
            }
            var body = Array((item["body"]?.stringValue ?? "").utf8)
            if let form = item["form"]?.objectValue {
                body = Array(form.map { "\(formEncode($0.key))=\(formEncode($0.value.stringValue ?? ""))" }
                    .joined(separator: "&").utf8)
                headers.append("Content-Type", "application/x-www-form-urlencoded")
            } else {
                headers.append("Content-Type", item["content_type"]?.stringValue ?? "application/json")
            }
            let url = item["url"]?.stringValue
            let target = url.map { url in
                let components = URLComponents(string: url)!
                return components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
            } ?? "/hooks/test"
            let expected = (item["expected"]?.objectValue ?? JSONObject()).map { ($0.key, $0.value.stringValue ?? "") }
            let stamp = headers.fields.first { $0.name.lowercased().hasSuffix("timestamp") }?.value
            let now = item["now"]?.intValue.map(Int64.init)
                ?? stamp.flatMap { Int64($0) }.map { scheme == .hubspotV3 ? $0 / 1000 : $0 } ?? 0
            return Vector(label: "\(label) #\(index) \(scheme.rawValue)", scheme: scheme,
                          secret: item["secret"]?.stringValue ?? "",
                          request: WebhookRequest(method: item["method"]?.stringValue ?? "POST", target: target,
                                                  headers: headers, body: body, remoteAddress: nil),
                          publicURL: url, expected: expected, now: now, publicKey: item["public_key"]?.stringValue,
                          privateKey: item["private_key"]?.stringValue, settings: item["settings"].map(Self.settings),
                          secondary: item["secondary"]?.stringValue)
        }
    }

    static func formEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? text
    }

    static func settings(_ json: JSON) -> HMACSettings {
        HMACSettings(header: json["header"]?.stringValue ?? "", algorithm: .sha256,
                     encoding: HMACSettings.Encoding(rawValue: json["encoding"]?.stringValue ?? "hex") ?? .hex,
                     prefix: json["prefix"]?.stringValue ?? "", timestampHeader: json["timestamp_header"]?.stringValue,
                     stringToSign: json["string_to_sign"]?.stringValue ?? "{body}")
    }

    /// The vector's scheme with its secrets (for a public-key scheme: its public key; `secrets` replaces them, and
    /// `publicKeys` replaces the public key).
    static func signature(_ vector: Vector, secrets: [String]? = nil, publicKeys: [String]? = nil, tolerance: Duration? = nil)
        -> WebhookSignature
    {
        let verification = Verification(scheme: vector.scheme, secrets: [], tolerance: tolerance, publicURL: nil,
                                        idHeader: nil, hmac: vector.settings)
        let algorithm = vector.scheme.keyAlgorithm ?? .ed25519
        let keys = (publicKeys ?? vector.publicKey.map { [$0] } ?? []).compactMap { text in try? VerifyingKey(text, algorithm: algorithm) }
        let signing = vector.privateKey.flatMap { text in try? SigningKey(text, algorithm: algorithm) }
        return WebhookSignature(verification: verification, secrets: secrets ?? ([vector.secret] + (vector.secondary.map { [$0] } ?? [])),
                                publicURL: vector.publicURL, publicKeys: keys, signingKeys: signing.map { [$0] } ?? [])
    }

    /// Another key's public key, of the vector's algorithm, as text.
    static func anotherPublicKey(_ vector: Vector) -> String? {
        vector.scheme.keyAlgorithm.map { SigningKey.generate($0).verifyingKey.text }
    }

    static let published = TestPaths.shared.appending(path: "conformance/webhook-signatures/vectors.json")
    static let sdk = TestPaths.packageRoot.appending(path: "Tests/ManifoldIngressTests/Fixtures/sdk-vectors.json")

    static func all() throws -> [Vector] {
        try vectors(in: published, label: "published") + vectors(in: sdk, label: "sdk")
    }

    @Test func everyPresetHasVectors() throws {
        let covered = Set(try Self.all().map(\.scheme)).union(PresetSchemeTests.schemes).union(PresetSchemeTests.elsewhere)
        let presets = Set(SignatureScheme.allCases).subtracting([.hmac, .none])
        #expect(try Self.all().filter { $0.scheme.usesPublicKey }.allSatisfy { $0.publicKey != nil && $0.privateKey != nil })
        #expect(presets.subtracting(covered).isEmpty, "presets without a vector: \(presets.subtracting(covered))")
    }

    @Test func vectorsVerify() throws {
        for vector in try Self.all() {
            var request = vector.request
            for (name, value) in vector.expected { request.headers.append(name, value) }
            #expect(throws: Never.self, "\(vector.label)") {
                try Self.signature(vector).verify(request, now: vector.now)
            }
            // The same request with one byte of the body changed, or under another secret, is refused.
            var forged = request
            forged.body = forged.body.isEmpty ? [0x20] : [forged.body[0] ^ 0x01] + forged.body.dropFirst()
            #expect(throws: SignatureFailure.self, "\(vector.label) forged body") {
                try Self.signature(vector).verify(forged, now: vector.now)
            }
            if let publicKey = vector.publicKey, let other = Self.anotherPublicKey(vector) {
                #expect(throws: SignatureFailure.mismatch, "\(vector.label) wrong key") {
                    try Self.signature(vector, publicKeys: [other]).verify(request, now: vector.now)
                }
                #expect(throws: Never.self, "\(vector.label) rotation") {
                    try Self.signature(vector, publicKeys: [other, publicKey]).verify(request, now: vector.now)
                }
                continue
            }
            #expect(throws: SignatureFailure.mismatch, "\(vector.label) wrong secret") {
                try Self.signature(vector, secrets: [vector.secret + "x"]).verify(request, now: vector.now)
            }
            // Rotation: a list with the right secret anywhere in it verifies.
            #expect(throws: Never.self, "\(vector.label) rotation") {
                try Self.signature(vector, secrets: ["old-secret", vector.secret]).verify(request, now: vector.now)
            }
        }
    }

    @Test func signingReproducesTheVectors() throws {
        for vector in try Self.all() {
            let deliveryID = vector.request.headers["webhook-id"] ?? "unused"
            let signed = Self.signature(vector).sign(vector.request, now: vector.now, deliveryID: deliveryID)
            // ECDSA signatures are randomised: another signature of the same message, which verifies.
            if vector.scheme.keyAlgorithm == .ecdsaP256 {
                var request = vector.request
                for field in signed.fields where request.headers[field.name] == nil { request.headers.append(field.name, field.value) }
                #expect(signed[vector.expected[0].0] != nil && signed[vector.expected[0].0] != vector.expected[0].1, "\(vector.label)")
                #expect(throws: Never.self, "\(vector.label): signed anew") { try Self.signature(vector).verify(request, now: vector.now) }
                continue
            }
            for (name, value) in vector.expected {
                #expect(signed[name] == value, "\(vector.label): \(name)")
            }
        }
    }

    @Test func twilioJSONBodiesAreSignedThroughTheirHashInTheURL() throws {
        let vectors = try Self.all().filter { $0.scheme == .twilio && $0.request.target.contains("bodySHA256=") }
        #expect(vectors.count >= 2)
        for vector in vectors {
            var unhashed = vector.request
            // The vectors carry bodySHA256 as the last query parameter, where Twilio puts it.
            unhashed.target = vector.request.target.replacingOccurrences(
                of: "[?&]bodySHA256=[0-9a-f]+$", with: "", options: .regularExpression)
            #expect(unhashed.target != vector.request.target)
            #expect(Self.signature(vector).vendorTarget(for: unhashed) == vector.request.target, "\(vector.label)")
            #expect(Self.signature(vector).vendorTarget(for: vector.request) == vector.request.target)
        }
    }

    @Test func timestampsOutsideTheToleranceAreReplays() throws {
        for vector in try Self.all() where vector.scheme.signsTimestamp {
            var request = vector.request
            for (name, value) in vector.expected { request.headers.append(name, value) }
            let signature = Self.signature(vector, tolerance: .seconds(300))
            #expect(throws: Never.self) { try signature.verify(request, now: vector.now + 300) }
            #expect(throws: SignatureFailure.outsideTolerance(seconds: 300), "\(vector.label) late") {
                try signature.verify(request, now: vector.now + 301)
            }
            #expect(throws: SignatureFailure.outsideTolerance(seconds: 300), "\(vector.label) early") {
                try signature.verify(request, now: vector.now - 301)
            }
        }
    }
}
