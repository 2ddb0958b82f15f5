import Crypto
import Foundation
import JSONValue
public import ManifoldPlan

/// Why a webhook's signature was refused. The messages name headers and rules, never a secret or a signature.
public enum SignatureFailure: Error, Equatable, Sendable, CustomStringConvertible {
    case missingHeader(String)
    case malformedHeader(String)
    case missingField(String)
    case malformedField(String)
    case outsideTolerance(seconds: Int64)
    case bodyHashMismatch
    case mismatch

    public var description: String {
        switch self {
        case .missingHeader(let name): "the \(name) header is missing"
        case .malformedHeader(let name): "the \(name) header is malformed"
        case .missingField(let pointer): "the body has no \(pointer) (the signature's field)"
        case .malformedField(let pointer): "the body's \(pointer) is malformed"
        case .outsideTolerance(let seconds): "the signed timestamp is more than \(seconds) s away from now (a replay?)"
        case .bodyHashMismatch: "the body does not match the bodySHA256 of the signed URL"
        case .mismatch: "the signature does not match"
        }
    }
}

/// One webhook source's signature scheme with its resolved secrets: verifies requests and signs test payloads.
///
/// Verification runs on the raw body before anything parses it; MACs are compared in constant time
/// (`HMAC.isValidAuthenticationCode`); each of several secrets is tried, so a rotation loses nothing.
public struct WebhookSignature: Sendable {
    public let verification: Verification
    /// The HMAC of each secret resolved from the plan's references, in order, keyed once: a request copies it and
    /// hashes only its message.
    private let keys: [PreparedMAC]
    /// The vendor's public keys, for the public-key schemes.
    private let publicKeys: [VerifyingKey]
    /// Private keys that sign as the vendor would (tests and `manifold send`); the first signs.
    private let signingKeys: [SigningKey]
    /// The URL the vendor posts to, for schemes that sign it.
    private let publicURL: String?

    public init(verification: Verification, secrets: [String], publicURL: String?, publicKeys: [VerifyingKey] = [],
                signingKeys: [SigningKey] = [])
    {
        self.verification = verification
        let algorithm = Self.algorithm(of: verification)
        self.keys = secrets.map { PreparedMAC(key: SymmetricKey(data: Self.keyBytes($0, scheme: verification.scheme)),
                                              algorithm: algorithm) }
        self.publicKeys = publicKeys
        self.signingKeys = signingKeys
        self.publicURL = publicURL
    }

    /// Reads the public keys of a public-key scheme (each as the vendor shows it); none for the other schemes.
    public static func publicKeys(_ texts: [String], scheme: SignatureScheme) throws(KeyError) -> [VerifyingKey] {
        guard let algorithm = scheme.keyAlgorithm else { return [] }
        return try texts.enumerated().map { index, text throws(KeyError) in
            do throws(KeyError) {
                return try VerifyingKey(text, algorithm: algorithm)
            } catch {
                throw KeyError(texts.count == 1 ? "public key: \(error)" : "public key \(index + 1): \(error)")
            }
        }
    }

    public var scheme: SignatureScheme { verification.scheme }

    /// The replay window for schemes that sign a timestamp.
    private var toleranceSeconds: Int64 {
        verification.tolerance.map { $0.components.seconds } ?? 300
    }

    /// The header names that carry a signature, redacted before anything is stored.
    public var signatureHeaders: [String] {
        switch scheme {
        case .stripe: ["Stripe-Signature"]
        case .github: ["X-Hub-Signature-256", "X-Hub-Signature"]
        case .shopify: ["X-Shopify-Hmac-Sha256"]
        case .slack: ["X-Slack-Signature"]
        case .standardWebhooks: ["webhook-signature"]
        case .twilio: ["X-Twilio-Signature"]
        case .square: ["x-square-hmacsha256-signature", "x-square-signature"]
        case .hubspotV3: ["X-HubSpot-Signature-v3", "X-HubSpot-Signature"]
        case .paddle: ["Paddle-Signature"]
        case .zoom: ["x-zm-signature"]
        case .dropbox: ["X-Dropbox-Signature"]
        case .meta: ["X-Hub-Signature-256"]
        case .asana: ["X-Hook-Signature"]
        case .linear: ["Linear-Signature"]
        case .calendly: ["Calendly-Webhook-Signature"]
        case .typeform: ["Typeform-Signature"]
        case .x: ["x-twitter-webhooks-signature"]
        case .intercom: ["X-Hub-Signature"]
        case .mailgun: []
        case .box: ["BOX-SIGNATURE-PRIMARY", "BOX-SIGNATURE-SECONDARY"]
        case .sendgrid: ["X-Twilio-Email-Event-Webhook-Signature"]
        case .discord: ["X-Signature-Ed25519"]
        case .hmac, .ed25519, .ecdsaP256: verification.hmac.flatMap { $0.header.isEmpty ? nil : [$0.header] } ?? []
        case .none: []
        }
    }

    // MARK: Verifying

    /// Checks `request` at the time `now` (Unix seconds); throws why it is refused.
    public func verify(_ request: WebhookRequest, now: Int64) throws(SignatureFailure) {
        if scheme == .none { return }
        if scheme == .mailgun { return try verifyInBody(request, now: now) }
        if scheme == .box { return try verifyBox(request, now: now) }
        let header = try signatureHeader(in: request)
        if let timestamp = header.timestamp {
            try checkTolerance(timestamp, now: now)
        }
        if scheme.usesPublicKey {
            let message = signedMessage(request, timestamp: header.timestamp)
            for key in publicKeys {
                for signature in header.signatures where key.isValid(signature, for: message) { return }
            }
            throw .mismatch
        }
        if scheme == .twilio, let bodyHash = twilioBodyHash(request) {
            guard constantTimeEquals(Array(bodyHash.lowercased().utf8), Array(Encoding.hex(SHA256.hash(data: request.body)).utf8))
            else { throw .bodyHashMismatch }
        }
        let message = signedMessage(request, timestamp: header.timestamp)
        for key in keys {
            for signature in header.signatures where key.isValid(signature, for: message) {
                return
            }
        }
        throw .mismatch
    }

    /// What the signature header says: the signatures (decoded) and the signed timestamp, if the scheme has one.
    private struct SignatureHeader {
        var signatures: [[UInt8]]
        var timestamp: String?
    }

    private func required(_ name: String, in request: WebhookRequest) throws(SignatureFailure) -> String {
        guard let value = request.headers[name], !value.isEmpty else { throw .missingHeader(name) }
        return value
    }

    private func signatureHeader(in request: WebhookRequest) throws(SignatureFailure) -> SignatureHeader {
        if scheme.isGeneric { return try genericSignature(in: request) }
        let name = signatureHeaders[0]
        let value = try required(name, in: request)
        func decoded(_ text: Substring) throws(SignatureFailure) -> [UInt8] {
            let bytes = encoding == .hex ? Encoding.fromHex(text) : Encoding.fromBase64(text)
            guard let bytes else { throw .malformedHeader(name) }
            return bytes
        }
        func one(_ text: Substring) throws(SignatureFailure) -> [[UInt8]] { [try decoded(text)] }
        switch scheme {
        case .stripe, .paddle, .calendly:
            // Stripe and Calendly: t=TS,v1=SIG,v1=SIG2 (v0 ignored); Paddle: ts=TS;h1=SIG;h1=SIG2.
            let (separator, stampKey, signatureKey): (Character, Substring, Substring) =
                scheme == .paddle ? (";", "ts", "h1") : (",", "t", "v1")
            var timestamp: String?
            var signatures: [[UInt8]] = []
            for item in value.split(separator: separator) {
                let pair = item.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { throw .malformedHeader(name) }
                let key = pair[0].trimmingWhitespace
                if key == stampKey {
                    timestamp = String(pair[1])
                } else if key == signatureKey, let bytes = Encoding.fromHex(pair[1]) {
                    signatures.append(bytes)
                }
            }
            guard let timestamp, !signatures.isEmpty else { throw .malformedHeader(name) }
            return SignatureHeader(signatures: signatures, timestamp: timestamp)
        case .github, .meta, .typeform, .x:
            guard value.hasPrefix("sha256=") else { throw .malformedHeader(name) }
            return SignatureHeader(signatures: try one(value.dropFirst(7)))
        case .intercom:
            guard value.hasPrefix("sha1=") else { throw .malformedHeader(name) }
            return SignatureHeader(signatures: try one(value.dropFirst(5)))
        case .zoom:
            guard value.hasPrefix("v0=") else { throw .malformedHeader(name) }
            return SignatureHeader(signatures: try one(value.dropFirst(3)),
                                   timestamp: try required("x-zm-request-timestamp", in: request))
        case .slack:
            guard value.hasPrefix("v0=") else { throw .malformedHeader(name) }
            return SignatureHeader(signatures: try one(value.dropFirst(3)),
                                   timestamp: try required("X-Slack-Request-Timestamp", in: request))
        case .standardWebhooks:
            // Space-separated `v1,SIG`; other versions are skipped.
            var signatures: [[UInt8]] = []
            for item in value.split(separator: " ") where item.hasPrefix("v1,") {
                signatures.append(try decoded(item.dropFirst(3)))
            }
            guard !signatures.isEmpty else { throw .malformedHeader(name) }
            _ = try required("webhook-id", in: request)
            return SignatureHeader(signatures: signatures, timestamp: try required("webhook-timestamp", in: request))
        case .hubspotV3:
            return SignatureHeader(signatures: try one(Substring(value)),
                                   timestamp: try required("X-HubSpot-Request-Timestamp", in: request))
        case .sendgrid:
            return SignatureHeader(signatures: try one(Substring(value.trimmingWhitespace)),
                                   timestamp: try required("X-Twilio-Email-Event-Webhook-Timestamp", in: request))
        case .discord:
            return SignatureHeader(signatures: try one(Substring(value.trimmingWhitespace)),
                                   timestamp: try required("X-Signature-Timestamp", in: request))
        case .shopify, .twilio, .square, .dropbox, .asana, .linear:
            return SignatureHeader(signatures: try one(Substring(value.trimmingWhitespace)))
        case .none, .mailgun, .box, .hmac, .ed25519, .ecdsaP256:
            return SignatureHeader(signatures: [])
        }
    }

    /// The generic schemes: the signature in a header or a field of the JSON body, after the prefix; the timestamp
    /// in a header or a field of the body.
    private func genericSignature(in request: WebhookRequest) throws(SignatureFailure) -> SignatureHeader {
        let settings = verification.hmac!
        let text: String, failure: SignatureFailure
        var body: JSON?
        if let field = settings.signatureField {
            body = try? JSONParser.parse(bytes: request.body)
            guard let value = body.flatMap({ JSONPointer(field)?.resolve(in: $0) }) else { throw .missingField(field) }
            guard let string = value.stringValue else { throw .malformedField(field) }
            (text, failure) = (string, .malformedField(field))
        } else {
            (text, failure) = (try required(settings.header, in: request), .malformedHeader(settings.header))
        }
        guard text.hasPrefix(settings.prefix) else { throw failure }
        let encoded = text.dropFirst(settings.prefix.count).trimmingWhitespace
        guard let signature = settings.encoding == .hex ? Encoding.fromHex(Substring(encoded)) : Encoding.fromBase64(Substring(encoded))
        else { throw failure }
        var stamp: String?
        if let header = settings.timestampHeader {
            stamp = try required(header, in: request)
        } else if let field = settings.timestampField {
            if body == nil { body = try? JSONParser.parse(bytes: request.body) }
            guard let value = body.flatMap({ JSONPointer(field)?.resolve(in: $0) }) else { throw .missingField(field) }
            guard let text = Self.text(of: value) else { throw .malformedField(field) }
            stamp = text
        }
        return SignatureHeader(signatures: [signature], timestamp: stamp)
    }

    /// A JSON value as it is signed: a string as it is, a number or another value as JSON.
    private static func text(of value: JSON) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): number.isIntegral && number.magnitude < 1e18 ? String(Int64(number)) : value.serialized()
        default: value.serialized()
        }
    }

    /// Box: either signature header (made with the primary and the secondary key) verified with any key, over the
    /// body followed by `BOX-DELIVERY-TIMESTAMP`.
    private func verifyBox(_ request: WebhookRequest, now: Int64) throws(SignatureFailure) {
        let stamp = try required("BOX-DELIVERY-TIMESTAMP", in: request)
        try checkTolerance(stamp, now: now)
        for (name, expected) in [("BOX-SIGNATURE-VERSION", "1"), ("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")] {
            guard try required(name, in: request) == expected else { throw .malformedHeader(name) }
        }
        let given = signatureHeaders.compactMap { name in request.headers[name].flatMap { $0.isEmpty ? nil : (name, $0) } }
        guard !given.isEmpty else { throw .missingHeader(signatureHeaders[0]) }
        let message = signedMessage(request, timestamp: stamp)
        for (name, value) in given {
            guard let signature = Encoding.fromBase64(Substring(value.trimmingWhitespace)) else {
                throw .malformedHeader(name)
            }
            for key in keys where key.isValid(signature, for: message) { return }
        }
        throw .mismatch
    }

    /// How the scheme writes its signed timestamp: HubSpot in milliseconds, Box in ISO 8601, the others in seconds.
    private var timestampFormat: HMACSettings.TimestampFormat {
        switch scheme {
        case .hubspotV3: .unixMilliseconds
        case .box: .iso8601
        case .hmac, .ed25519, .ecdsaP256: verification.hmac?.timestampFormat ?? .unix
        default: .unix
        }
    }

    /// The signed timestamp as the scheme writes it, at `now` (Unix seconds).
    private func stampText(_ now: Int64) -> String {
        switch timestampFormat {
        case .unix: String(now)
        case .unixMilliseconds: String(now * 1000)
        case .iso8601: Date(timeIntervalSince1970: TimeInterval(now)).formatted(.iso8601)
        }
    }

    /// Unix seconds of a signed timestamp written as the scheme writes it.
    private func seconds(of stamp: String) -> Int64? {
        let text = stamp.trimmingWhitespace
        switch timestampFormat {
        case .unix: return Int64(text)
        case .unixMilliseconds: return Int64(text).map { $0 / 1000 }
        case .iso8601:
            let date = (try? Date(text, strategy: .iso8601))
                ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            guard let date, date.timeIntervalSince1970.isFinite, date.timeIntervalSince1970.magnitude < 1e15 else { return nil }
            return Int64(date.timeIntervalSince1970.rounded(.down))
        }
    }

    private func checkTolerance(_ stamp: String, now: Int64) throws(SignatureFailure) {
        guard let seconds = seconds(of: stamp) else {
            if scheme.isGeneric, let field = verification.hmac?.timestampField { throw .malformedField(field) }
            throw .malformedHeader(timestampHeaderName)
        }
        let (difference, overflow) = now.subtractingReportingOverflow(seconds)
        guard !overflow, difference.magnitude <= UInt64(toleranceSeconds) else {
            throw .outsideTolerance(seconds: toleranceSeconds)
        }
    }

    private var timestampHeaderName: String {
        switch scheme {
        case .slack: "X-Slack-Request-Timestamp"
        case .zoom: "x-zm-request-timestamp"
        case .standardWebhooks: "webhook-timestamp"
        case .hubspotV3: "X-HubSpot-Request-Timestamp"
        case .hmac, .ed25519, .ecdsaP256: verification.hmac?.timestampHeader ?? signatureHeaders.first ?? "timestamp"
        case .mailgun: "signature.timestamp (in the body)"
        case .box: "BOX-DELIVERY-TIMESTAMP"
        case .sendgrid: "X-Twilio-Email-Event-Webhook-Timestamp"
        case .discord: "X-Signature-Timestamp"
        default: signatureHeaders[0]
        }
    }

    private var encoding: HMACSettings.Encoding {
        switch scheme {
        case .stripe, .github, .slack, .paddle, .zoom, .dropbox, .meta, .asana, .linear, .calendly, .intercom, .mailgun, .discord: .hex
        case .hmac, .ed25519, .ecdsaP256: verification.hmac!.encoding
        default: .base64
        }
    }

    private static func keyBytes(_ secret: String, scheme: SignatureScheme) -> [UInt8] {
        guard scheme == .standardWebhooks else { return Array(secret.utf8) }
        // Standard Webhooks: the key is the base64 after `whsec_`; Stripe, by contrast, uses the whole string.
        let encoded = secret.hasPrefix("whsec_") ? secret.dropFirst(6) : Substring(secret)
        return Encoding.fromBase64(encoded) ?? Array(secret.utf8)
    }

    private static func algorithm(of verification: Verification) -> HMACSettings.Algorithm {
        switch verification.scheme {
        case .twilio, .intercom: .sha1
        case .hmac: verification.hmac!.algorithm
        default: .sha256
        }
    }

    // MARK: What is signed

    /// The URL the vendor signed: the configured public URL, with the request's query when it has none of its own;
    /// without one, the URL rebuilt from `Host` (and `X-Forwarded-Proto`).
    public func signedURL(for request: WebhookRequest) -> String {
        if let publicURL, !publicURL.isEmpty {
            let query = request.query
            return publicURL.contains("?") || query.isEmpty ? publicURL : publicURL + "?" + query
        }
        let proto = request.headers["X-Forwarded-Proto"] ?? "http"
        return proto + "://" + (request.headers["Host"] ?? "localhost") + request.target
    }

    /// The request target as the vendor would post `request`: Twilio signs a body that is not a form through the
    /// body's SHA-256 in the URL's query (`bodySHA256`), so it is added there; other schemes post it unchanged.
    public func vendorTarget(for request: WebhookRequest) -> String {
        guard scheme == .twilio, !isForm(request), twilioBodyHash(request) == nil else { return request.target }
        let separator = request.target.contains("?") ? "&" : "?"
        return request.target + separator + "bodySHA256=" + Encoding.hex(SHA256.hash(data: request.body))
    }

    private func twilioBodyHash(_ request: WebhookRequest) -> String? {
        let query = request.query
        for item in query.split(separator: "&") where item.hasPrefix("bodySHA256=") {
            return String(item.dropFirst("bodySHA256=".count))
        }
        return nil
    }

    private func signedMessage(_ request: WebhookRequest, timestamp: String?) -> [UInt8] {
        let body = request.body
        let stamp = timestamp ?? ""
        switch scheme {
        case .stripe, .calendly: return Array((stamp + ".").utf8) + body
        case .zoom: return Array("v0:\(stamp):".utf8) + body
        case .dropbox, .meta, .asana, .linear, .typeform, .x, .intercom: return body
        case .mailgun: return []
        case .sendgrid, .discord: return Array(stamp.utf8) + body
        case .box: return body + Array(stamp.utf8)
        case .paddle: return Array((stamp + ":").utf8) + body
        case .slack: return Array("v0:\(stamp):".utf8) + body
        case .standardWebhooks:
            return Array("\(request.headers["webhook-id"] ?? "").\(stamp).".utf8) + body
        case .github, .shopify: return body
        case .square: return Array(signedURL(for: request).utf8) + body
        case .hubspotV3:
            return Array((request.method + hubspotURI(signedURL(for: request))).utf8) + body + Array(stamp.utf8)
        case .twilio:
            return Array(twilioString(url: signedURL(for: request), body: body, isForm: isForm(request)).utf8)
        case .hmac, .ed25519, .ecdsaP256:
            return hmacMessage(verification.hmac!.stringToSign, request: request, timestamp: stamp)
        case .none: return []
        }
    }

    private func isForm(_ request: WebhookRequest) -> Bool {
        (request.headers["Content-Type"] ?? "").lowercased().hasPrefix("application/x-www-form-urlencoded")
    }

    /// Twilio: the URL, then each POST parameter's name and value sorted by name; a URL with `bodySHA256` alone.
    private func twilioString(url: String, body: [UInt8], isForm: Bool) -> String {
        guard isForm, !url.contains("bodySHA256="), let pairs = Encoding.formPairs(body) else { return url }
        return url + pairs.sorted { ($0.name, $0.value) < ($1.name, $1.value) }.map { $0.name + $0.value }.joined()
    }

    /// HubSpot decodes a few percent-encoded characters of the URI before signing.
    private func hubspotURI(_ url: String) -> String {
        let decoded: [(String, String)] = [
            ("%3A", ":"), ("%2F", "/"), ("%3F", "?"), ("%40", "@"), ("%21", "!"), ("%24", "$"), ("%27", "'"),
            ("%28", "("), ("%29", ")"), ("%2A", "*"), ("%2C", ","), ("%3B", ";"),
        ]
        var uri = url
        for (encoded, character) in decoded {
            uri = uri.replacingOccurrences(of: encoded, with: character, options: .caseInsensitive)
        }
        return uri
    }

    /// The generic scheme's string to sign, with `{body}`, `{timestamp}`, `{method}`, `{url}`, `{header:NAME}` and
    /// `{json:/POINTER}` (a value of the JSON body: a string as it is, anything else as JSON; nothing when absent).
    private func hmacMessage(_ template: String, request: WebhookRequest, timestamp: String) -> [UInt8] {
        var out: [UInt8] = []
        var parsed: JSON??
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            out += Array(rest[..<open].utf8)
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            let name = rest[rest.index(after: open)..<close]
            switch name {
            case "body": out += request.body
            case "timestamp": out += Array(timestamp.utf8)
            case "method": out += Array(request.method.utf8)
            case "url": out += Array(signedURL(for: request).utf8)
            default:
                if name.hasPrefix("header:") {
                    out += Array((request.headers[String(name.dropFirst(7))] ?? "").utf8)
                } else if name.hasPrefix("json:") {
                    if parsed == nil { parsed = .some(try? JSONParser.parse(bytes: request.body)) }
                    if let body = parsed ?? nil, let value = JSONPointer(String(name.dropFirst(5)))?.resolve(in: body),
                       let text = Self.text(of: value)
                    {
                        out += Array(text.utf8)
                    }
                }
            }
            rest = rest[rest.index(after: close)...]
        }
        out += Array(rest.utf8)
        return out
    }

    // MARK: Signatures in the body

    /// Mailgun's fields: `signature.timestamp`, `.token`, `.signature` in a JSON body, or top-level form fields.
    private static func mailgunFields(_ request: WebhookRequest) -> (timestamp: String, token: String, signature: String)? {
        if let form = Encoding.formPairs(request.body), (request.headers["Content-Type"] ?? "").lowercased().hasPrefix("application/x-www-form-urlencoded") {
            let fields = Dictionary(form, uniquingKeysWith: { first, _ in first })
            guard let timestamp = fields["timestamp"], let token = fields["token"], let signature = fields["signature"] else { return nil }
            return (timestamp, token, signature)
        }
        guard let body = try? JSONParser.parse(bytes: request.body), let fields = body["signature"],
              let timestamp = fields["timestamp"].flatMap({ $0.stringValue ?? $0.numberValue.map { String(Int64($0)) } }),
              let token = fields["token"]?.stringValue, let signature = fields["signature"]?.stringValue
        else { return nil }
        return (timestamp, token, signature)
    }

    /// Mailgun: HMAC-SHA256 (hex) of timestamp + token with the webhook signing key, and the replay window.
    private func verifyInBody(_ request: WebhookRequest, now: Int64) throws(SignatureFailure) {
        guard let fields = Self.mailgunFields(request) else { throw .missingHeader("signature (in the body)") }
        try checkTolerance(fields.timestamp, now: now)
        guard let given = Encoding.fromHex(Substring(fields.signature)) else { throw .malformedHeader("signature (in the body)") }
        let message = Array((fields.timestamp + fields.token).utf8)
        for key in keys where key.isValid(given, for: message) { return }
        throw .mismatch
    }

    /// For schemes that sign in the body (Mailgun; the generic schemes with `signature_field` or `timestamp_field`):
    /// the body with its signature fields set, signed at `now` with the first key; `nil` for every other scheme, and
    /// for a JSON body that is not an object.
    public func signedBody(_ request: WebhookRequest, now: Int64, deliveryID: String) -> [UInt8]? {
        if scheme.isGeneric { return signedGenericBody(request, now: now) }
        guard scheme == .mailgun, let key = keys.first else { return nil }
        let stamp = String(now)
        let token = Encoding.hex(SHA256.hash(data: Array((deliveryID + stamp).utf8)))
        let signature = Encoding.hex(key.code(for: Array((stamp + token).utf8)))
        if (request.headers["Content-Type"] ?? "").lowercased().hasPrefix("application/x-www-form-urlencoded") {
            let extra = "timestamp=\(stamp)&token=\(token)&signature=\(signature)"
            return request.body.isEmpty ? Array(extra.utf8) : request.body + Array(("&" + extra).utf8)
        }
        guard case .object(var object) = (try? JSONParser.parse(bytes: request.body)) ?? .object(JSONObject()) else { return nil }
        object["signature"] = .object(JSONObject([("timestamp", .string(stamp)), ("token", .string(token)), ("signature", .string(signature))]))
        return Array(JSON.object(object).serialized().utf8)
    }

    /// The generic schemes' fields in the body: the timestamp (a number for Unix times, unless the body has a string
    /// there), then the signature over the string to sign.
    private func signedGenericBody(_ request: WebhookRequest, now: Int64) -> [UInt8]? {
        let parsed: JSON? = request.body.isEmpty ? .object(JSONObject()) : try? JSONParser.parse(bytes: request.body)
        guard let settings = verification.hmac, settings.signatureField != nil || settings.timestampField != nil,
              var body = parsed
        else { return nil }
        let stamp = stampText(now)
        if let field = settings.timestampField, let pointer = JSONPointer(field) {
            let asText = settings.timestampFormat == .iso8601 || pointer.resolve(in: body)?.stringValue != nil
            guard let updated = pointer.setting(asText ? .string(stamp) : .number(Double(stamp) ?? 0), in: body) else { return nil }
            body = updated
        }
        var signed = request
        signed.body = Array(body.serialized().utf8)
        guard let field = settings.signatureField, let pointer = JSONPointer(field) else { return signed.body }
        guard let code = signature(for: signedMessage(signed, timestamp: settings.signsTimestamp ? stamp : nil)),
              let updated = pointer.setting(.string(settings.prefix + code), in: body)
        else { return nil }
        return Array(updated.serialized().utf8)
    }

    /// The encoded signature of `message` with the first key (a secret, or a private key for public-key schemes).
    private func signature(for message: [UInt8], key index: Int = 0) -> String? {
        let code: [UInt8]
        if scheme.usesPublicKey {
            guard signingKeys.indices.contains(index) else { return nil }
            code = signingKeys[index].signature(for: message)
        } else {
            guard keys.indices.contains(index) else { return nil }
            code = keys[index].code(for: message)
        }
        return encoding == .hex ? Encoding.hex(code) : Encoding.base64(code)
    }

    // MARK: Signing

    /// The headers a vendor would send with `request` (whose method, target, body and content type are set),
    /// signed at time `now`; `deliveryID` fills the scheme's id header where it has one. With `everySecret`,
    /// schemes whose header carries several signatures (Standard Webhooks, Stripe, Paddle) sign with each secret,
    /// as a sender does during a rotation; otherwise, and for the other schemes, the first secret signs. Public-key
    /// schemes sign with the first signing key, and sign nothing without one.
    public func sign(_ request: WebhookRequest, now: Int64, deliveryID: String, everySecret: Bool = false) -> HeaderList {
        var request = request
        var added = HeaderList()
        func add(_ name: String, _ value: String) {
            added.append(name, value)
            request.headers.append(name, value)
        }
        // Mailgun and a generic signature field sign in the body (`signedBody`), not in headers.
        guard scheme != .none, scheme != .mailgun, verification.hmac?.signatureField == nil,
              scheme.usesPublicKey ? !signingKeys.isEmpty : !keys.isEmpty
        else { return added }
        var stamp = stampText(now)
        // A timestamp header the request has already is the one signed (a test that gives its own).
        func stamped(_ name: String) {
            if let given = request.headers[name] { stamp = given } else { add(name, stamp) }
        }
        switch scheme {
        case .slack: stamped("X-Slack-Request-Timestamp")
        case .zoom: stamped("x-zm-request-timestamp")
        case .linear: add("Linear-Delivery", deliveryID)
        case .standardWebhooks:
            if request.headers["webhook-id"] == nil { add("webhook-id", deliveryID) }
            stamped("webhook-timestamp")
        case .hubspotV3: stamped("X-HubSpot-Request-Timestamp")
        case .github: add("X-GitHub-Delivery", deliveryID)
        case .shopify: add("X-Shopify-Webhook-Id", deliveryID)
        case .twilio: add("I-Twilio-Idempotency-Token", deliveryID)
        case .sendgrid: stamped("X-Twilio-Email-Event-Webhook-Timestamp")
        case .discord: stamped("X-Signature-Timestamp")
        case .box:
            stamped("BOX-DELIVERY-TIMESTAMP")
            if request.headers["BOX-SIGNATURE-VERSION"] == nil { add("BOX-SIGNATURE-VERSION", "1") }
            if request.headers["BOX-SIGNATURE-ALGORITHM"] == nil { add("BOX-SIGNATURE-ALGORITHM", "HmacSHA256") }
        case .hmac, .ed25519, .ecdsaP256:
            if let header = verification.hmac?.timestampHeader {
                stamped(header)
            } else if let field = verification.hmac?.timestampField {
                // `signedBody` has set it already.
                stamp = (try? JSONParser.parse(bytes: request.body)).flatMap { JSONPointer(field)?.resolve(in: $0) }.flatMap(Self.text(of:)) ?? stamp
            }
        default: break
        }
        if let idHeader = verification.idHeader, request.headers[idHeader] == nil { add(idHeader, deliveryID) }
        let signsTimestamp = scheme.signsTimestamp || verification.hmac?.signsTimestamp == true
        let message = signedMessage(request, timestamp: signsTimestamp ? stamp : nil)
        let count = everySecret && [.stripe, .paddle, .standardWebhooks, .calendly].contains(scheme) ? keys.count : 1
        let codes = (0..<count).compactMap { signature(for: message, key: $0) }
        guard let encoded = codes.first else { return added }
        let name = signatureHeaders[0]
        switch scheme {
        case .stripe, .calendly: add(name, (["t=\(stamp)"] + codes.map { "v1=" + $0 }).joined(separator: ","))
        case .zoom: add(name, "v0=" + encoded)
        case .meta, .typeform, .x: add(name, "sha256=" + encoded)
        case .intercom: add(name, "sha1=" + encoded)
        case .paddle: add(name, (["ts=\(stamp)"] + codes.map { "h1=" + $0 }).joined(separator: ";"))
        case .github: add(name, "sha256=" + encoded)
        case .slack: add(name, "v0=" + encoded)
        case .standardWebhooks: add(name, codes.map { "v1," + $0 }.joined(separator: " "))
        case .hmac, .ed25519, .ecdsaP256: add(name, verification.hmac!.prefix + encoded)
        case .box:
            add(name, encoded)
            if let secondary = signature(for: message, key: 1) { add(signatureHeaders[1], secondary) }
        default: add(name, encoded)
        }
        return added
    }
}

/// Equality of two byte strings in time that depends only on their lengths.
func constantTimeEquals(_ left: [UInt8], _ right: [UInt8]) -> Bool {
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for index in left.indices { difference |= left[index] ^ right[index] }
    return difference == 0
}

/// An HMAC keyed with one secret, made once per secret. Keying hashes the padded key twice; every request copies
/// this state (its hash contexts are copied on write) and hashes only its message.
private enum PreparedMAC: Sendable {
    case sha1(HMAC<Insecure.SHA1>)
    case sha256(HMAC<SHA256>)
    case sha512(HMAC<SHA512>)

    init(key: SymmetricKey, algorithm: HMACSettings.Algorithm) {
        switch algorithm {
        case .sha1: self = .sha1(HMAC(key: key))
        case .sha256: self = .sha256(HMAC(key: key))
        case .sha512: self = .sha512(HMAC(key: key))
        }
    }

    /// Whether `signature` is the MAC of `message`, compared in constant time (`HashedAuthenticationCode ==`).
    func isValid(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch self {
        case .sha1(let keyed): Self.finish(keyed, message) == signature
        case .sha256(let keyed): Self.finish(keyed, message) == signature
        case .sha512(let keyed): Self.finish(keyed, message) == signature
        }
    }

    func code(for message: [UInt8]) -> [UInt8] {
        switch self {
        case .sha1(let keyed): Array(Self.finish(keyed, message))
        case .sha256(let keyed): Array(Self.finish(keyed, message))
        case .sha512(let keyed): Array(Self.finish(keyed, message))
        }
    }

    private static func finish<H: HashFunction>(_ keyed: HMAC<H>, _ message: [UInt8]) -> HashedAuthenticationCode<H> {
        var copy = keyed
        message.withUnsafeBytes { copy.update(data: $0) }
        return copy.finalize()
    }
}
