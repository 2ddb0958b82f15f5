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

    public init(path: String, verification: Verification, eventID: ExpressionSource?, eventType: ExpressionSource?,
                maxBodyBytes: Int, allowedNetworks: [String], contentTypes: [ContentType], handshake: Handshake? = nil,
                payloadSchema: JSON? = nil, payloadSchemas: [String: JSON] = [:])
    {
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
    /// The settings of the generic `hmac` scheme.
    public var hmac: HMACSettings?

    public init(scheme: SignatureScheme, secrets: [ConfigString], tolerance: Duration?, publicURL: ConfigString?,
                idHeader: String?, hmac: HMACSettings?)
    {
        self.scheme = scheme
        self.secrets = secrets
        self.tolerance = tolerance
        self.publicURL = publicURL
        self.idHeader = idHeader
        self.hmac = hmac
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
    case hmac, none

    /// Whether the scheme signs a timestamp, so that a replay window applies.
    public var signsTimestamp: Bool {
        switch self {
        case .stripe, .slack, .standardWebhooks, .hubspotV3, .paddle, .zoom, .calendly, .mailgun: true
        default: false
        }
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

/// The generic `hmac` scheme's settings.
public struct HMACSettings: Sendable, Hashable {
    public enum Algorithm: String, Sendable, Hashable { case sha1, sha256, sha512 }
    public enum Encoding: String, Sendable, Hashable { case hex, base64 }

    public var header: String
    public var algorithm: Algorithm
    public var encoding: Encoding
    public var prefix: String
    public var timestampHeader: String?
    public var stringToSign: String

    public init(header: String, algorithm: Algorithm, encoding: Encoding, prefix: String, timestampHeader: String?,
                stringToSign: String)
    {
        self.header = header
        self.algorithm = algorithm
        self.encoding = encoding
        self.prefix = prefix
        self.timestampHeader = timestampHeader
        self.stringToSign = stringToSign
    }
}
