/// A vendor's handshake at a webhook path: a challenge the engine answers in the request itself (never stored as a
/// deliverable event, never queued), as a preset or in the generic form.
public struct Handshake: Sendable, Hashable {
    /// The vendors whose handshakes are built in.
    public enum Preset: String, Sendable, Hashable, CaseIterable {
        /// POST `{"type":"url_verification","challenge"}` (signed): the challenge, as text.
        case slack
        /// POST `event: endpoint.url_validation` (signed): `{plainToken, encryptedToken: hex(HMAC-SHA256(secret, plainToken))}`.
        case zoom
        /// GET `?challenge=X`: X, as text, with `X-Content-Type-Options: nosniff`.
        case dropbox
        /// GET `?hub.mode=subscribe&hub.verify_token=V&hub.challenge=C`: C when V is the verify token, else 403.
        case meta
        /// POST `?validationToken=T` (Microsoft Graph): T, URL-decoded, as text.
        case graph
        /// GET `?crc_token=T` (X): `{"response_token": "sha256=" + base64(HMAC-SHA256(secret, T))}`.
        case x
        /// POST with an `X-Hook-Secret` header (Asana): 200 with the same header.
        case asana
        /// POST `{"type": 1}` (Discord's PING, signed): `{"type": 1}`; a bad signature gets 401, as Discord probes.
        case discord
    }

    public var preset: Preset?
    /// Meta's verify token (a secret of the subscription, not the signing secret).
    public var verifyToken: ConfigString?
    /// The generic form: when a request is a handshake, and what to answer.
    public var match: Match?
    public var respond: Respond?

    public init(preset: Preset?, verifyToken: ConfigString?, match: Match?, respond: Respond?) {
        self.preset = preset
        self.verifyToken = verifyToken
        self.match = match
        self.respond = respond
    }

    /// When a request is a handshake: its method, query parameters that must be present, and a condition over
    /// `{method, query, headers, body}`; `verified` when the signature must verify first.
    public struct Match: Sendable, Hashable {
        public var method: String
        public var query: [String]
        public var when: ExpressionSource?
        public var verified: Bool

        public init(method: String, query: [String], when: ExpressionSource?, verified: Bool) {
            self.method = method
            self.query = query
            self.when = when
            self.verified = verified
        }
    }

    /// The answer: a status, a content type, and a body expression over `{method, query, headers, body}` that can
    /// call `$hmac(algorithm, data, encoding)` keyed with the webhook's first secret.
    public struct Respond: Sendable, Hashable {
        public var status: Int
        public var contentType: String
        public var body: ExpressionSource?
        public var headers: [Header]

        public init(status: Int, contentType: String, body: ExpressionSource?, headers: [Header]) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.headers = headers
        }
    }
}
