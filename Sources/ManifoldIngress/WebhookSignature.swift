import Crypto
import Foundation
import JSONValue
public import ManifoldPlan

/// Why a webhook's signature was refused. The messages name headers and rules, never a secret or a signature.
public enum SignatureFailure: Error, Equatable, Sendable, CustomStringConvertible {
    case missingHeader(String)
    case malformedHeader(String)
    case outsideTolerance(seconds: Int64)
    case bodyHashMismatch
    case mismatch

    public var description: String {
        switch self {
        case .missingHeader(let name): "the \(name) header is missing"
        case .malformedHeader(let name): "the \(name) header is malformed"
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
    /// The HMAC keys of the secrets resolved from the plan's references, in order, derived once.
    private let keys: [SymmetricKey]
    /// The URL the vendor posts to, for schemes that sign it.
    private let publicURL: String?

    public init(verification: Verification, secrets: [String], publicURL: String?) {
        self.verification = verification
        self.keys = secrets.map { SymmetricKey(data: Self.keyBytes($0, scheme: verification.scheme)) }
        self.publicURL = publicURL
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
        case .hmac: verification.hmac.map { [$0.header] } ?? []
        case .none: []
        }
    }

    // MARK: Verifying

    /// Checks `request` at the time `now` (Unix seconds); throws why it is refused.
    public func verify(_ request: WebhookRequest, now: Int64) throws(SignatureFailure) {
        if scheme == .none { return }
        if scheme == .mailgun { return try verifyInBody(request, now: now) }
        let header = try signatureHeader(in: request)
        if let timestamp = header.timestamp {
            try checkTolerance(timestamp, now: now)
        }
        if scheme == .twilio, let bodyHash = twilioBodyHash(request) {
            guard constantTimeEquals(Array(bodyHash.lowercased().utf8), Array(Encoding.hex(SHA256.hash(data: request.body)).utf8))
            else { throw .bodyHashMismatch }
        }
        let message = signedMessage(request, timestamp: header.timestamp)
        for key in keys {
            for signature in header.signatures where isValid(signature, message: message, key: key) {
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
                let key = pair[0].trimmingCharacters(in: .whitespaces)
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
        case .hmac:
            let settings = verification.hmac!
            guard value.hasPrefix(settings.prefix) else { throw .malformedHeader(name) }
            let stamp = try settings.timestampHeader.map { header throws(SignatureFailure) in
                try required(header, in: request)
            }
            return SignatureHeader(signatures: try one(value.dropFirst(settings.prefix.count)), timestamp: stamp)
        case .shopify, .twilio, .square, .dropbox, .asana, .linear:
            return SignatureHeader(signatures: try one(Substring(value.trimmingCharacters(in: .whitespaces))))
        case .none, .mailgun:
            return SignatureHeader(signatures: [])
        }
    }

    private func checkTolerance(_ stamp: String, now: Int64) throws(SignatureFailure) {
        guard var seconds = Int64(stamp.trimmingCharacters(in: .whitespaces)) else {
            throw .malformedHeader(timestampHeaderName)
        }
        if scheme == .hubspotV3 { seconds /= 1000 }   // HubSpot sends milliseconds.
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
        case .hmac: verification.hmac?.timestampHeader ?? signatureHeaders[0]
        case .mailgun: "signature.timestamp (in the body)"
        default: signatureHeaders[0]
        }
    }

    private var encoding: HMACSettings.Encoding {
        switch scheme {
        case .stripe, .github, .slack, .paddle, .zoom, .dropbox, .meta, .asana, .linear, .calendly, .intercom, .mailgun: .hex
        case .hmac: verification.hmac!.encoding
        default: .base64
        }
    }

    private static func keyBytes(_ secret: String, scheme: SignatureScheme) -> [UInt8] {
        guard scheme == .standardWebhooks else { return Array(secret.utf8) }
        // Standard Webhooks: the key is the base64 after `whsec_`; Stripe, by contrast, uses the whole string.
        let encoded = secret.hasPrefix("whsec_") ? secret.dropFirst(6) : Substring(secret)
        return Encoding.fromBase64(encoded) ?? Array(secret.utf8)
    }

    private func isValid(_ signature: [UInt8], message: [UInt8], key: SymmetricKey) -> Bool {
        switch algorithm {
        case .sha1: HMAC<Insecure.SHA1>.isValidAuthenticationCode(signature, authenticating: message, using: key)
        case .sha256: HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: message, using: key)
        case .sha512: HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: message, using: key)
        }
    }

    private var algorithm: HMACSettings.Algorithm {
        switch scheme {
        case .twilio, .intercom: .sha1
        case .hmac: verification.hmac!.algorithm
        default: .sha256
        }
    }

    private func mac(_ message: [UInt8], key: SymmetricKey) -> [UInt8] {
        switch algorithm {
        case .sha1: Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        case .sha256: Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
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
        case .hmac:
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

    /// The generic scheme's string to sign, with `{body}`, `{timestamp}`, `{method}`, `{url}` and `{header:NAME}`.
    private func hmacMessage(_ template: String, request: WebhookRequest, timestamp: String) -> [UInt8] {
        var out: [UInt8] = []
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
        for key in keys where isValid(given, message: message, key: key) { return }
        throw .mismatch
    }

    /// For schemes that sign in the body (Mailgun): the body with its signature fields set, signed at `now`
    /// with the first secret; `nil` for every other scheme, and for a JSON body that is not an object.
    public func signedBody(_ request: WebhookRequest, now: Int64, deliveryID: String) -> [UInt8]? {
        guard scheme == .mailgun, let key = keys.first else { return nil }
        let stamp = String(now)
        let token = Encoding.hex(SHA256.hash(data: Array((deliveryID + stamp).utf8)))
        let signature = Encoding.hex(mac(Array((stamp + token).utf8), key: key))
        if (request.headers["Content-Type"] ?? "").lowercased().hasPrefix("application/x-www-form-urlencoded") {
            let extra = "timestamp=\(stamp)&token=\(token)&signature=\(signature)"
            return request.body.isEmpty ? Array(extra.utf8) : request.body + Array(("&" + extra).utf8)
        }
        guard case .object(var object) = (try? JSONParser.parse(bytes: request.body)) ?? .object(JSONObject()) else { return nil }
        object["signature"] = .object(JSONObject([("timestamp", .string(stamp)), ("token", .string(token)), ("signature", .string(signature))]))
        return Array(JSON.object(object).serialized().utf8)
    }

    // MARK: Signing

    /// The headers a vendor would send with `request` (whose method, target, body and content type are set),
    /// signed at time `now`; `deliveryID` fills the scheme's id header where it has one. With `everySecret`,
    /// schemes whose header carries several signatures (Standard Webhooks, Stripe, Paddle) sign with each secret,
    /// as a sender does during a rotation; otherwise, and for the other schemes, the first secret signs.
    public func sign(_ request: WebhookRequest, now: Int64, deliveryID: String, everySecret: Bool = false) -> HeaderList {
        var request = request
        var added = HeaderList()
        func add(_ name: String, _ value: String) {
            added.append(name, value)
            request.headers.append(name, value)
        }
        // Mailgun signs in the body (`signedBody`), not in headers.
        guard scheme != .none, scheme != .mailgun, let key = keys.first else { return added }
        let stamp = scheme == .hubspotV3 ? String(now * 1000) : String(now)
        switch scheme {
        case .slack: add("X-Slack-Request-Timestamp", stamp)
        case .zoom: add("x-zm-request-timestamp", stamp)
        case .linear: add("Linear-Delivery", deliveryID)
        case .standardWebhooks:
            add("webhook-id", deliveryID)
            add("webhook-timestamp", stamp)
        case .hubspotV3: add("X-HubSpot-Request-Timestamp", stamp)
        case .github: add("X-GitHub-Delivery", deliveryID)
        case .shopify: add("X-Shopify-Webhook-Id", deliveryID)
        case .twilio: add("I-Twilio-Idempotency-Token", deliveryID)
        case .hmac:
            if let header = verification.hmac?.timestampHeader { add(header, stamp) }
        default: break
        }
        if let idHeader = verification.idHeader, request.headers[idHeader] == nil { add(idHeader, deliveryID) }
        let signsTimestamp = scheme.signsTimestamp || verification.hmac?.timestampHeader != nil
        let message = signedMessage(request, timestamp: signsTimestamp ? stamp : nil)
        let signers = everySecret && [.stripe, .paddle, .standardWebhooks, .calendly].contains(scheme) ? keys : [key]
        let codes = signers.map { key in
            let code = mac(message, key: key)
            return encoding == .hex ? Encoding.hex(code) : Encoding.base64(code)
        }
        let encoded = codes[0]
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
        case .hmac: add(name, verification.hmac!.prefix + encoded)
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
