import Crypto
import Foundation
public import JSONValue
import JSONata
import ManifoldPlan

/// The answer to a vendor's handshake, given in the request itself.
public struct HandshakeAnswer: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var headers: [String]
    public var body: [UInt8]
    /// What the handshake was (`zoom`, `meta`, `generic`), for the record.
    public var kind: String

    /// `headers` as name/value pairs (`[name, value, name, value, ...]` keeps the type Equatable).
    public var headerPairs: [(name: String, value: String)] {
        stride(from: 0, to: headers.count - 1, by: 2).map { (headers[$0], headers[$0 + 1]) }
    }
}

/// Recognises a connector's handshake requests and answers them: a preset's exact answer, or the generic form's
/// expressions (which can call `$hmac(algorithm, data, encoding)` keyed with the webhook's first secret).
struct HandshakeResponder: Sendable {
    let handshake: Handshake
    let key: [UInt8]?
    let verifyToken: String?
    let when: JSONataExpression?
    let body: JSONataExpression?
    let headers: [(name: String, expression: JSONataExpression)]

    /// Whether its expressions all take time bounded by their input (`JSONataExpression.isBounded`).
    var isBounded: Bool {
        [when, body].allSatisfy { $0?.isBounded ?? true } && headers.allSatisfy(\.expression.isBounded)
    }

    init(_ handshake: Handshake, secret: String?, verifyToken: String?) throws {
        self.handshake = handshake
        key = secret.map { Array($0.utf8) }
        self.verifyToken = verifyToken
        when = try handshake.match?.when.map { try JSONataExpression($0.source) }
        body = try handshake.respond?.body.map { try JSONataExpression($0.source) }
        headers = try (handshake.respond?.headers ?? []).compactMap { header in
            guard case .expression(let source) = header.value else { return nil }
            return (header.name, try JSONataExpression(source.source))
        }
    }

    /// The answer when `request` is the handshake; `verified` checks the request's signature.
    func answer(_ request: WebhookRequest, verified: () -> Bool) -> HandshakeAnswer? {
        let query = Dictionary(Encoding.formPairs(Array(request.query.utf8)) ?? [], uniquingKeysWith: { first, _ in first })
        if let preset = handshake.preset { return answer(preset, request, query: query, verified: verified) }
        return generic(request, query: query, verified: verified)
    }

    private func text(_ status: Int, _ body: String, headers: [String] = [], kind: String) -> HandshakeAnswer {
        HandshakeAnswer(status: status, contentType: "text/plain; charset=utf-8", headers: headers, body: Array(body.utf8), kind: kind)
    }

    private func json(_ value: JSON, kind: String) -> HandshakeAnswer {
        HandshakeAnswer(status: 200, contentType: "application/json", headers: [], body: Array(value.serialized().utf8), kind: kind)
    }

    private func hmac(_ data: String, base64: Bool) -> String? {
        guard let key else { return nil }
        let code = Array(HMAC<SHA256>.authenticationCode(for: Array(data.utf8), using: SymmetricKey(data: key)))
        return base64 ? Encoding.base64(code) : Encoding.hex(code)
    }

    private func answer(_ preset: Handshake.Preset, _ request: WebhookRequest, query: [String: String], verified: () -> Bool)
        -> HandshakeAnswer?
    {
        let kind = preset.rawValue
        switch preset {
        case .slack:
            // Every Slack event comes here first: only a body that names the handshake is parsed (once more).
            guard request.method == "POST", Self.mentions(request.body, "url_verification"),
                  let body = try? JSONParser.parse(bytes: request.body), body["type"]?.stringValue == "url_verification", let challenge = body["challenge"]?.stringValue, verified()
            else { return nil }
            return text(200, challenge, kind: kind)
        case .zoom:
            guard request.method == "POST", Self.mentions(request.body, "endpoint.url_validation"),
                  let body = try? JSONParser.parse(bytes: request.body), body["event"]?.stringValue == "endpoint.url_validation", let token = body["payload"]?["plainToken"]?.stringValue,
                  verified(), let encrypted = hmac(token, base64: false)
            else { return nil }
            return json(.object(JSONObject([("plainToken", .string(token)), ("encryptedToken", .string(encrypted))])), kind: kind)
        case .dropbox:
            guard request.method == "GET", let challenge = query["challenge"] else { return nil }
            return text(200, challenge, headers: ["X-Content-Type-Options", "nosniff"], kind: kind)
        case .meta:
            guard request.method == "GET", query["hub.mode"] == "subscribe", let challenge = query["hub.challenge"] else { return nil }
            guard let expected = verifyToken, let given = query["hub.verify_token"],
                  constantTimeEquals(Array(given.utf8), Array(expected.utf8))
            else { return text(403, "the verify token does not match", kind: kind) }
            return text(200, challenge, kind: kind)
        case .graph:
            guard let token = query["validationToken"] else { return nil }
            return text(200, token, kind: kind)
        case .x:
            guard request.method == "GET", let token = query["crc_token"], let code = hmac(token, base64: true) else { return nil }
            return json(.object(JSONObject([("response_token", .string("sha256=" + code))])), kind: kind)
        case .discord:
            // Every interaction comes here first: only a body that could be a PING is parsed (once more).
            guard request.method == "POST", request.body.count < 4096, Self.mentions(request.body, "\"type\""),
                  let body = try? JSONParser.parse(bytes: request.body), body["type"]?.numberValue == 1, verified()
            else { return nil }
            return json(.object(JSONObject([("type", .number(1))])), kind: kind)
        case .asana:
            guard request.method == "POST", let secret = request.headers["X-Hook-Secret"], !secret.isEmpty else { return nil }
            return HandshakeAnswer(status: 200, contentType: "text/plain; charset=utf-8", headers: ["X-Hook-Secret", secret],
                                   body: [], kind: kind)
        }
    }

    /// Whether `body` holds `marker`'s bytes: a cheap test that keeps ordinary events from being parsed twice.
    static func mentions(_ body: [UInt8], _ marker: String) -> Bool {
        let needle = Array(marker.utf8)
        guard let first = needle.first, body.count >= needle.count else { return false }
        var index = 0
        while index <= body.count - needle.count {
            if body[index] == first, body[index..<index + needle.count].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    /// The generic form: the method, the query names and `when` decide; `respond` answers.
    private func generic(_ request: WebhookRequest, query: [String: String], verified: () -> Bool) -> HandshakeAnswer? {
        guard let match = handshake.match, let respond = handshake.respond, request.method == match.method,
              match.query.allSatisfy({ query[$0] != nil })
        else { return nil }
        let text = String(decoding: request.body, as: UTF8.self)
        let input: JSON = [
            "method": .string(request.method),
            "query": .object(JSONObject(query.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })),
            "headers": .object(JSONObject(request.headers.fields.map { ($0.name.lowercased(), JSON.string($0.value)) })),
            "body": (try? JSONParser.parse(bytes: request.body)) ?? (text.isEmpty ? .null : .string(text)),
        ]
        let functions = ["hmac": hmacFunction]
        if let when, (try? when.evaluate(input, functions: functions)) != .bool(true) { return nil }
        if match.verified, !verified() { return nil }
        var value: JSON?
        if let body, let result = try? body.evaluate(input, functions: functions) { value = result }
        var answer: HandshakeAnswer
        switch value {
        case .string(let string)?:
            answer = self.text(respond.status, string, kind: "generic")
        case let value?:
            answer = json(value, kind: "generic")
            answer.status = respond.status
        case nil:
            answer = self.text(respond.status, "", kind: "generic")
        }
        if !respond.contentType.isEmpty { answer.contentType = respond.contentType }
        for header in headers {
            if let result = try? header.expression.evaluate(input, functions: functions), case .string(let value) = result {
                answer.headers += [header.name, value]
            }
        }
        return answer
    }

    /// `$hmac(algorithm, data, encoding)`: the HMAC of `data` keyed with the webhook's first secret.
    private var hmacFunction: HostFunction {
        let key = self.key
        return HostFunction(signature: "<ss?s?:s>") { arguments in
            guard let key else { return nil }
            let algorithm = arguments.first??.stringValue ?? "sha256"
            let data = Array((arguments.count > 1 ? arguments[1]?.stringValue ?? "" : "").utf8)
            let encoding = arguments.count > 2 ? arguments[2]?.stringValue ?? "hex" : "hex"
            let symmetric = SymmetricKey(data: key)
            let code: [UInt8] = switch algorithm {
            case "sha1": Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: symmetric))
            case "sha512": Array(HMAC<SHA512>.authenticationCode(for: data, using: symmetric))
            default: Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetric))
            }
            return .string(encoding == "base64" ? Encoding.base64(code) : Encoding.hex(code))
        }
    }
}
