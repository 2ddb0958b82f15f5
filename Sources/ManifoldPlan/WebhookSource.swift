public import JSONValue
/// An incoming webhook: its path, how it is verified, and how events are identified.
public struct WebhookSource: Sendable, Hashable {
    public var path: String
    public var verification: Verification
    public var eventID: ExpressionSource?
    public var eventType: ExpressionSource?
    /// The largest body accepted, in bytes.
    public var maxBodyBytes: Int
    /// Client networks (CIDR) allowed to post; empty means any.
    public var allowedNetworks: [String]
    public var contentTypes: [ContentType]
    /// The vendor's handshake, answered in the request.
    public var handshake: Handshake?
    /// The payload contract for every event, and contracts by event type (which take precedence).
    public var payloadSchema: JSON?
    public var payloadSchemas: [String: JSON]
    /// For a request that carries many events (a batch): the expression that gives them, one event per element.
    public var split: ExpressionSource?

    /// The most events one batch request may carry.
    public static let maximumBatch = 10_000

    public init(path: String, verification: Verification, eventID: ExpressionSource?, eventType: ExpressionSource?,
                maxBodyBytes: Int, allowedNetworks: [String], contentTypes: [ContentType], handshake: Handshake? = nil,
                payloadSchema: JSON? = nil, payloadSchemas: [String: JSON] = [:], split: ExpressionSource? = nil)
    {
        self.split = split
        self.path = path
        self.verification = verification
        self.eventID = eventID
        self.eventType = eventType
        self.maxBodyBytes = maxBodyBytes
        self.allowedNetworks = allowedNetworks
        self.contentTypes = contentTypes
        self.handshake = handshake
        self.payloadSchema = payloadSchema
        self.payloadSchemas = payloadSchemas
    }

    /// A body format a webhook accepts.
    public enum ContentType: String, Sendable, Hashable, CaseIterable {
        case json
        case form
    }
}

/// How a webhook's signature is checked.
public struct Verification: Sendable, Hashable {
    public var scheme: SignatureScheme
    /// The accepted secrets (several during a rotation).
    public var secrets: [ConfigString]
    /// How old a signed timestamp may be; `nil` for schemes that sign none.
    public var tolerance: Duration?
    /// The URL as the vendor sees it, for schemes that sign it.
    public var publicURL: ConfigString?
    /// The header carrying the vendor's delivery id.
    public var idHeader: String?
    /// The settings of the generic schemes (`hmac`, `ed25519`, `ecdsa-p256`).
    public var hmac: HMACSettings?
    /// The vendor's public keys, for the public-key schemes (several during a rotation).
    public var publicKeys: [ConfigString]

    public init(scheme: SignatureScheme, secrets: [ConfigString], tolerance: Duration?, publicURL: ConfigString?,
                idHeader: String?, hmac: HMACSettings?, publicKeys: [ConfigString] = [])
    {
        self.scheme = scheme
        self.secrets = secrets
        self.tolerance = tolerance
        self.publicURL = publicURL
        self.idHeader = idHeader
        self.hmac = hmac
        self.publicKeys = publicKeys
    }
}

/// A webhook signature scheme: a vendor preset, a generic HMAC, or none.
public enum SignatureScheme: String, Sendable, Hashable, CaseIterable {
    case stripe, github, shopify, slack
    case standardWebhooks = "standard-webhooks"
    case twilio, square
    case hubspotV3 = "hubspot-v3"
    case paddle
    case zoom, dropbox, meta, asana, linear, calendly, typeform, x, intercom
    /// Mailgun signs in the body: `signature.{timestamp, token, signature}` (JSON) or the same form fields.
    case mailgun
    /// Box: two keys, `BOX-SIGNATURE-PRIMARY`/`-SECONDARY` over the body and `BOX-DELIVERY-TIMESTAMP` (ISO 8601).
    case box
    /// SendGrid's event webhook: ECDSA P-256 over timestamp + body, verified with the account's public key.
    case sendgrid
    /// Discord interactions: Ed25519 over timestamp + body, verified with the application's public key.
    case discord
    case hmac
    /// Generic public-key schemes, configured like `hmac` and verified with `public_key`.
    case ed25519
    case ecdsaP256 = "ecdsa-p256"
    case none

    /// Whether the scheme signs a timestamp, so that a replay window applies.
    public var signsTimestamp: Bool {
        switch self {
        case .stripe, .slack, .standardWebhooks, .hubspotV3, .paddle, .zoom, .calendly, .mailgun, .box, .sendgrid, .discord: true
        default: false
        }
    }

    /// Whether the scheme verifies with the vendor's public keys (`public_key`) rather than a shared secret.
    public var usesPublicKey: Bool {
        switch self {
        case .sendgrid, .discord, .ed25519, .ecdsaP256: true
        default: false
        }
    }

    /// Whether the scheme is configured with the generic settings (header, encoding, string to sign, ...).
    public var isGeneric: Bool {
        switch self {
        case .hmac, .ed25519, .ecdsaP256: true
        default: false
        }
    }

    /// The default replay window of a scheme that signs a timestamp: Box says 10 minutes, the others 5.
    public var defaultTolerance: Duration? {
        guard signsTimestamp else { return nil }
        return self == .box ? .seconds(600) : .seconds(300)
    }

    /// The header in which the vendor sends a delivery id, if it has one.
    public var deliveryIDHeader: String? {
        switch self {
        case .github: "X-GitHub-Delivery"
        case .shopify: "X-Shopify-Webhook-Id"
        case .standardWebhooks: "webhook-id"
        case .twilio: "I-Twilio-Idempotency-Token"
        case .linear: "Linear-Delivery"
        default: nil
        }
    }
}

/// The generic schemes' settings (`hmac`, `ed25519`, `ecdsa-p256`; `algorithm` is the HMAC's hash).
public struct HMACSettings: Sendable, Hashable {
    public enum Algorithm: String, Sendable, Hashable { case sha1, sha256, sha512 }
    public enum Encoding: String, Sendable, Hashable { case hex, base64 }
    /// How a signed timestamp is written: Unix seconds, Unix milliseconds, or ISO 8601.
    public enum TimestampFormat: String, Sendable, Hashable { case unix, unixMilliseconds = "unix_ms", iso8601 }

    /// The header that carries the signature; empty when it is in the body (`signatureField`).
    public var header: String
    public var algorithm: Algorithm
    public var encoding: Encoding
    public var prefix: String
    public var timestampHeader: String?
    public var stringToSign: String
    /// A JSON Pointer to the signature in a JSON body, instead of a header.
    public var signatureField: String?
    /// A JSON Pointer to the signed timestamp in a JSON body, instead of a header.
    public var timestampField: String?
    public var timestampFormat: TimestampFormat

    public init(header: String, algorithm: Algorithm, encoding: Encoding, prefix: String, timestampHeader: String?,
                stringToSign: String, signatureField: String? = nil, timestampField: String? = nil,
                timestampFormat: TimestampFormat = .unix)
    {
        self.header = header
        self.algorithm = algorithm
        self.encoding = encoding
        self.prefix = prefix
        self.timestampHeader = timestampHeader
        self.stringToSign = stringToSign
        self.signatureField = signatureField
        self.timestampField = timestampField
        self.timestampFormat = timestampFormat
    }

    /// Whether a timestamp is signed (in a header or in the body), so that the replay window applies.
    public var signsTimestamp: Bool { timestampHeader != nil || timestampField != nil }
}
