import Crypto
public import JSONValue
import JSONata
import JSONSchema
public import ManifoldPlan

/// One connector's webhook, ready to admit requests: secrets resolved, networks parsed, expressions compiled.
///
/// `admit` is the whole ingress decision for one request, without HTTP or storage, in the order that
/// refuses the cheapest way first: method, network, size, content type, signature; then it parses
/// (a verified body that does not parse is kept, quarantined) and finds the event's id and type.
public final class WebhookEndpoint: Sendable {
    public let connector: String
    public let source: WebhookSource
    public let signature: WebhookSignature
    private let networks: [NetworkRange]
    private let eventID: JSONataExpression?
    private let eventType: JSONataExpression?
    /// A batch's elements, for sources that split one request into many events.
    private let split: JSONataExpression?
    /// Whether either expression reads `$headers` (building it costs per request).
    private let readsHeaders: Bool
    /// Lower-case names of the headers always redacted: the scheme's signature headers and the usual credentials.
    private let credentialHeaders: Set<String>
    /// Answers the vendor's handshake, when the connector has one.
    private let handshakeResponder: HandshakeResponder?
    /// The payload contracts: for every event, and by event type.
    private let payloadContract: JSONSchemaValidator?
    private let payloadContracts: [String: JSONSchemaValidator]
    /// Whether admitting a request takes time bounded by its size: its expressions are all bounded
    /// (`JSONataExpression.isBounded`) and no payload contract is checked (a schema's `pattern` is a regular
    /// expression, which can backtrack without bound). The engine admits such requests on the thread that received
    /// them; any other goes to the evaluation threads.
    public let admitsInBoundedTime: Bool

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `signingKeys` sign as the vendor would, for public-key schemes: `manifold test` and `manifold send` use them.
    public init(connector: ConnectorPlan, resolver: ConfigResolver, signingKeys: [SigningKey] = []) throws(SetupError) {
        self.connector = connector.name
        guard let source = connector.source else {
            throw SetupError(description: "connector \(connector.name) has no webhook (it pulls)")
        }
        self.source = source
        let verification = source.verification
        do {
            let secrets = try verification.secrets.map { secret throws(ConfigResolver.Failure) in
                try resolver.resolve(secret)
            }
            let publicURL = try verification.publicURL.map { url throws(ConfigResolver.Failure) in
                try resolver.resolve(url)
            }
            let keyTexts = try verification.publicKeys.map { key throws(ConfigResolver.Failure) in try resolver.resolve(key) }
            let publicKeys: [VerifyingKey]
            do {
                publicKeys = try WebhookSignature.publicKeys(keyTexts, scheme: verification.scheme)
            } catch {
                throw SetupError(description: "connector \(connector.name): verify.\(error)")
            }
            signature = WebhookSignature(verification: verification, secrets: secrets, publicURL: publicURL,
                                         publicKeys: publicKeys, signingKeys: signingKeys)
            let verifyToken = try source.handshake?.verifyToken.map { token throws(ConfigResolver.Failure) in try resolver.resolve(token) }
            do {
                handshakeResponder = try source.handshake.map { try HandshakeResponder($0, secret: secrets.first, verifyToken: verifyToken) }
            } catch {
                throw SetupError(description: "connector \(connector.name): handshake: \(error)")
            }
        } catch let error as SetupError {
            throw error
        } catch {
            throw SetupError(description: "connector \(connector.name): \(error)")
        }
        networks = source.allowedNetworks.compactMap(NetworkRange.init)
        payloadContract = source.payloadSchema.map { JSONSchemaValidator(schema: $0) }
        payloadContracts = source.payloadSchemas.mapValues { JSONSchemaValidator(schema: $0) }
        // The compiler has parsed both expressions already; a failure here would be a compiler bug.
        eventID = source.eventID.flatMap { try? JSONataExpression($0.source) }
        eventType = source.eventType.flatMap { try? JSONataExpression($0.source) }
        split = source.split.flatMap { try? JSONataExpression($0.source) }
        readsHeaders = [source.eventID, source.eventType, source.split].contains { $0?.source.contains("$headers") == true }
        admitsInBoundedTime = [eventID, eventType, split].allSatisfy { $0?.isBounded ?? true } && (handshakeResponder?.isBounded ?? true)
            && payloadContract == nil && payloadContracts.isEmpty
        credentialHeaders = Set(signature.signatureHeaders.map(\.asciiLowercased))
            .union(["authorization", "proxy-authorization", "cookie", "set-cookie", "x-hook-secret"])
    }

    /// Why a request was refused: the HTTP status, a short code and a message that holds no secret.
    public struct Refusal: Error, Equatable, Sendable {
        public var status: Int
        public var code: String
        public var message: String

        public init(status: Int, code: String, message: String) {
            self.status = status
            self.code = code
            self.message = message
        }

        /// The response body: `{"error": code, "message": ...}`.
        public var json: JSON {
            .object(JSONObject([("error", .string(code)), ("message", .string(message))]))
        }

        public var body: String { json.serialized() }

        /// No webhook is served at the path.
        public static let notFound = Refusal(status: 404, code: "not_found", message: "no webhook is served at this path")

        /// The body is over the source's `max_body`.
        public static func tooLarge(limit: Int) -> Refusal {
            Refusal(status: 413, code: "too_large", message: "the body is larger than \(limit) bytes")
        }
    }

    /// Decides on `request` at Unix time `now`: an event to store, or a refusal.
    /// The answer when `request` is the connector's handshake (from an allowed network; signed, where the
    /// vendor signs its handshake); `nil` for every other request, which `admit` then judges.
    public func handshake(_ request: WebhookRequest, now: Int64) -> HandshakeAnswer? {
        guard let handshakeResponder else { return nil }
        if !networks.isEmpty {
            guard let address = request.remoteAddress, networks.contains(where: { $0.contains(address) }) else { return nil }
        }
        guard request.body.count <= source.maxBodyBytes else { return nil }
        return handshakeResponder.answer(request) { (try? signature.verify(request, now: now)) != nil }
    }

    /// Decides on `request` at Unix time `now`: its events to store (one, or a batch's elements), or a refusal.
    public func admitAll(_ request: WebhookRequest, now: Int64) -> Result<[AdmittedEvent], Refusal> {
        switch checked(request, now: now) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let format): return .success(split == nil ? [event(from: request, format: format)] : batch(from: request, format: format))
        }
    }

    public func admit(_ request: WebhookRequest, now: Int64) -> Result<AdmittedEvent, Refusal> {
        checked(request, now: now).map { event(from: request, format: $0) }
    }

    /// The checks before anything is parsed, cheapest first; the body's format when they pass.
    private func checked(_ request: WebhookRequest, now: Int64) -> Result<WebhookSource.ContentType, Refusal> {
        guard request.method == "POST" else {
            return .failure(Refusal(status: 405, code: "method_not_allowed", message: "webhooks are posted (POST)"))
        }
        if !networks.isEmpty {
            guard let address = request.remoteAddress, networks.contains(where: { $0.contains(address) }) else {
                return .failure(Refusal(status: 403, code: "forbidden", message: "this client network may not post here"))
            }
        }
        guard request.body.count <= source.maxBodyBytes else {
            return .failure(.tooLarge(limit: source.maxBodyBytes))
        }
        guard let format = contentType(of: request) else {
            let accepted = source.contentTypes.map { $0 == .json ? "application/json" : "application/x-www-form-urlencoded" }
            return .failure(Refusal(status: 415, code: "unsupported_media_type",
                                    message: "the Content-Type must be " + accepted.joined(separator: " or ")))
        }
        do {
            try signature.verify(request, now: now)
        } catch {
            return .failure(Refusal(status: 401, code: "signature", message: error.description))
        }
        return .success(format)
    }

    private func contentType(of request: WebhookRequest) -> WebhookSource.ContentType? {
        let mediaType = (request.headers["Content-Type"] ?? "")
            .split(separator: ";", maxSplits: 1).first.map { $0.trimmingWhitespace.asciiLowercased } ?? ""
        let format: WebhookSource.ContentType? =
            if mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) {
                .json
            } else if mediaType == "application/x-www-form-urlencoded" {
                .form
            } else {
                nil
            }
        return format.flatMap { source.contentTypes.contains($0) ? $0 : nil }
    }

    /// The request's body parsed, or the event quarantined because it does not parse.
    private enum Parsed {
        case success(JSON)
        case failure(AdmittedEvent)
    }

    private func parsed(_ request: WebhookRequest, format: WebhookSource.ContentType) -> Parsed {
        // The quarantined event (its redacted headers, its id from the delivery header or the body's hash) is made
        // only for a body that does not parse.
        func quarantined(_ reason: String) -> Parsed {
            .failure(AdmittedEvent(connector: connector, eventID: deliveryID(request) ?? bodyHash(request.body), eventType: nil,
                                   contentType: format, headers: redacted(request.headers), body: request.body, payload: nil,
                                   quarantine: reason))
        }
        switch format {
        case .json:
            do {
                return .success(try JSONParser.parse(bytes: request.body))
            } catch {
                return quarantined("the body is not valid JSON (\(error))")
            }
        case .form:
            guard let form = Self.formPayload(request.body) else {
                return quarantined("the body is not valid form-urlencoded UTF-8")
            }
            return .success(form)
        }
    }

    private func bindings(_ headers: HeaderList) -> [String: JSON] {
        readsHeaders ? ["headers": .object(JSONObject(headers.fields.map { ($0.name.asciiLowercased, .string($0.value)) }))] : [:]
    }

    private func event(from request: WebhookRequest, format: WebhookSource.ContentType) -> AdmittedEvent {
        switch parsed(request, format: format) {
        case .failure(let quarantined): return quarantined
        case .success(let payload):
            let headers = redacted(request.headers)
            let event = AdmittedEvent(connector: connector, eventID: "", eventType: nil, contentType: format,
                                      headers: headers, body: request.body, payload: payload, quarantine: nil)
            return identified(event, fallbackID: { self.deliveryID(request) ?? self.bodyHash(request.body) }, bindings: bindings(headers))
        }
    }

    /// A batch: one event per element of what `split` gives (a single value is one element), each with its own id,
    /// type and contract. A batch that cannot be split is kept whole, quarantined with the reason.
    private func batch(from request: WebhookRequest, format: WebhookSource.ContentType) -> [AdmittedEvent] {
        let payload: JSON
        switch parsed(request, format: format) {
        case .failure(let quarantined): return [quarantined]
        case .success(let parsed): payload = parsed
        }
        let headers = redacted(request.headers)
        let bindings = bindings(headers)
        var whole = AdmittedEvent(connector: connector, eventID: deliveryID(request) ?? bodyHash(request.body), eventType: nil,
                                  contentType: format, headers: headers, body: request.body, payload: payload, quarantine: nil)
        let elements: [JSON]
        do {
            switch try split!.evaluate(payload, bindings: bindings) {
            case nil:
                whole.quarantine = "split gave nothing for this payload: no events could be taken from it"
                return [whole]
            case .array(let array)?: elements = array
            case let value?: elements = [value]
            }
        } catch {
            whole.quarantine = "evaluating split failed: \(error)"
            return [whole]
        }
        guard elements.count <= WebhookSource.maximumBatch else {
            whole.quarantine = "the batch has \(elements.count) events, more than \(WebhookSource.maximumBatch)"
            return [whole]
        }
        let delivery = deliveryID(request)
        return elements.enumerated().map { index, element in
            let body = Array(element.serialized().utf8)
            let event = AdmittedEvent(connector: connector, eventID: "", eventType: nil, contentType: .json, headers: headers,
                                      body: body, payload: element, quarantine: nil)
            return identified(event, fallbackID: { delivery.map { "\($0):\(index)" } ?? self.bodyHash(body) }, bindings: bindings)
        }
    }

    /// The event's id and type from its payload, and its contract checked; `fallbackID` (made only then) when there is no
    /// `event_id` or it gives none.
    private func identified(_ admitted: AdmittedEvent, fallbackID: () -> String, bindings: [String: JSON]) -> AdmittedEvent {
        var event = admitted
        let payload = admitted.payload ?? .null
        do {
            if let eventID {
                // An event id that gives nothing would fall back to the body's hash: a redelivery with another
                // timestamp would be stored and delivered again. Quarantined instead, with the reason.
                guard let value = try eventID.evaluate(payload, bindings: bindings) else {
                    event.quarantine = "event_id gave nothing for this payload (a field with a dash needs backticks: `event-data`.id)"
                    event.eventID = fallbackID()
                    return event
                }
                guard let id = Self.text(of: value), !id.isEmpty else {
                    event.quarantine = "event_id gave \(value.typeName == "string" ? "an empty string" : value.typeName), not a string or number"
                    event.eventID = fallbackID()
                    return event
                }
                event.eventID = id
            }
            if let eventType, let value = try eventType.evaluate(payload, bindings: bindings) {
                event.eventType = Self.text(of: value)
            }
        } catch {
            event.quarantine = "evaluating the event id or type failed: \(error)"
        }
        if event.eventID.isEmpty {
            event.eventID = fallbackID()
        }
        // The payload contract: an event that breaks it is kept and quarantined, where and why (never the values).
        if event.quarantine == nil,
           let contract = event.eventType.flatMap({ payloadContracts[$0] }) ?? payloadContract
        {
            let errors = contract.validate(payload)
            if !errors.isEmpty {
                let which = event.eventType.flatMap { payloadContracts[$0] == nil ? nil : "payload_schemas[\($0)]" } ?? "payload_schema"
                event.quarantine = "the payload breaks its contract (\(which)): "
                    + errors.prefix(3).map(\.redactedDescription).joined(separator: "; ")
            }
        }
        return event
    }

    private static func text(of value: JSON) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): JSON.format(number: number)
        default: nil
        }
    }

    /// The vendor's delivery id: the configured `id_header`, else the scheme's.
    private func deliveryID(_ request: WebhookRequest) -> String? {
        let header = source.verification.idHeader ?? source.verification.scheme.deliveryIDHeader
        return header.flatMap { request.headers[$0] }.flatMap { $0.isEmpty ? nil : $0 }
    }

    private func bodyHash(_ body: [UInt8]) -> String {
        "sha256:" + Encoding.hex(SHA256.hash(data: body))
    }

    /// A stored body as expressions see it: JSON parsed, a form as an object of strings; `nil` when it does not parse.
    public static func payload(of body: [UInt8], contentType: String) -> JSON? {
        contentType == WebhookSource.ContentType.form.rawValue ? formPayload(body) : try? JSONParser.parse(bytes: body)
    }

    private static func formPayload(_ body: [UInt8]) -> JSON? {
        Encoding.formPairs(body).map { .object(JSONObject(formObject($0))) }
    }

    /// Form pairs as an object; a repeated name becomes an array of its values.
    private static func formObject(_ pairs: [(name: String, value: String)]) -> [(String, JSON)] {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for pair in pairs {
            if values[pair.name] == nil { order.append(pair.name) }
            values[pair.name, default: []].append(pair.value)
        }
        return order.map { name in
            let list = values[name]!
            return (name, list.count == 1 ? .string(list[0]) : .array(list.map(JSON.string)))
        }
    }

    /// The headers with every credential replaced by `[redacted]`: the scheme's signature headers and any whose
    /// name says it carries one.
    public func redacted(_ headers: HeaderList) -> HeaderList {
        HeaderList(headers.fields.map { field in
            let name = field.name.asciiLowercased
            let secret = credentialHeaders.contains(name) || CredentialName.matches(lowercased: name)
            return secret ? (name: field.name, value: "[redacted]") : field
        })
    }
}

/// Whether a header's (or parameter's) name says it carries a credential: the one rule for what the store, the
/// logs and the attempt records hide, inbound and outbound. `Idempotency-Key` is not one.
public enum CredentialName {
    private static let words = ["signature", "secret", "token", "api-key", "apikey", "api_key", "password", "hmac",
                                "auth", "cookie"].map { Array($0.utf8) }
    private static let idempotency = Array("idempotency".utf8)

    public static func matches(_ name: String) -> Bool {
        matches(lowercased: name.asciiLowercased)
    }

    static func matches(lowercased name: String) -> Bool {
        let bytes = Array(name.utf8)
        return words.contains { occurs($0, in: bytes) } && !occurs(idempotency, in: bytes)
    }

    private static func occurs(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in
            haystack[start..<(start + needle.count)].elementsEqual(needle)
        }
    }
}

/// A request that passed verification: what the store keeps.
public struct AdmittedEvent: Sendable {
    public var connector: String
    /// The deduplication key: from `event_id`, the delivery header, or `sha256:` and the body's hash.
    public var eventID: String
    public var eventType: String?
    public var contentType: WebhookSource.ContentType
    /// The headers, redacted.
    public var headers: HeaderList
    public var body: [UInt8]
    /// The parsed body (form bodies as an object of strings); `nil` when quarantined for not parsing.
    public var payload: JSON?
    /// Why the event is quarantined, if it is.
    public var quarantine: String?
}
