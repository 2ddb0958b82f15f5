import Crypto
import JSONValue
import ManifoldPlan

/// A mapping that cannot make a valid call: the job is quarantined, never sent.
public struct BadData: Error, CustomStringConvertible {
    public var description: String
}

/// A call made from a job: what goes out, and what the record shows (references and credentials hidden).
struct PreparedRequest: Sendable {
    var request: OutboundRequest
    var displayURL: String
    var displayHeaders: [(name: String, value: String)]
    var idempotencyKey: String
    /// A flow step's call: which step (and element, and handler), written into the record.
    var label: JSONObject?

    /// The call as recorded: method, URL and headers with secrets hidden; the body cut to `bodyLimit` bytes, or,
    /// when `keepsBody` is false (a call the vendor accepted), only its SHA-256 and size: the body of a delivered call
    /// can be made again from its event and plan version, and keeping it cost a kilobyte per delivery (a failure keeps
    /// its body, to show what the vendor refused).
    func record(bodyLimit: Int = 4096, keepsBody: Bool = true) -> JSON {
        var object = label ?? JSONObject()
        object["method"] = .string(request.method)
        object["url"] = .string(displayURL)
        object["headers"] = .array(displayHeaders.map { .array([.string($0.name), .string($0.value)]) })
        if let body = request.body {
            if keepsBody {
                object["body"] = .string(String(decoding: body.prefix(bodyLimit), as: UTF8.self))
                if body.count > bodyLimit { object["body_truncated"] = .number(Double(body.count)) }
            } else {
                object["body_sha256"] = .string(Hex.encode(SHA256.hash(data: body)))
                object["body_bytes"] = .number(Double(body.count))
            }
        }
        return .object(object)
    }
}

/// Evaluates a route's mapping into a call: body (checked against the operation's schema), headers, query, path.
enum RequestBuilder {
    /// The call for `job`, signed at `now` (Unix seconds) when its target signs.
    /// A flow's step passes `extra` bindings (`$steps`, `$item`, `$index`, `$failure`) and its own default key.
    static func prepare(job: DeliveryJob, connector: ConnectorProgram, route: RouteProgram, now: Int64,
                        extra: [String: JSON] = [:], defaultKey: String? = nil, sendsKey: Bool = true) throws(BadData) -> PreparedRequest
    {
        guard let target = connector.targets[route.plan.target],
              let operation = target.operations[route.plan.operation]
        else { throw BadData(description: "the plan has no \(route.plan.call)") }
        var bindings = connector.bindings(headers: job.headers)
        for (name, value) in extra { bindings[name] = value }
        let payload = job.payload
        func evaluate(_ template: CompiledTemplate, _ what: String) throws(BadData) -> JSON? {
            do {
                return try template.evaluate(payload, bindings: bindings)
            } catch {
                throw BadData(description: "\(what): \(error)")
            }
        }

        // Path: `{name}` placeholders from the route's path values, each percent-encoded.
        var values: [String: (value: String, shown: String)] = [:]
        for parameter in route.path {
            guard let value = try evaluate(parameter.template, "path value '\(parameter.name)'") else {
                throw BadData(description: "path value '\(parameter.name)' gave nothing")
            }
            let text = CompiledTemplate.text(of: value)
            values[parameter.name] = (text, parameter.display(text, payload: payload, bindings: bindings))
        }
        let (path, displayPath) = try fill(operation.path, with: values)
        let base = target.baseURL.value.hasSuffix("/") ? String(target.baseURL.value.dropLast()) : target.baseURL.value
        let displayBase = target.baseURL.display.hasSuffix("/")
            ? String(target.baseURL.display.dropLast()) : target.baseURL.display

        // Query: the operation's, then the route's, then an API key in the query.
        var query: [(name: String, value: String, shown: String)] = []
        for parameter in operation.query + route.query {
            if let value = try evaluate(parameter.template, "query parameter '\(parameter.name)'") {
                let text = CompiledTemplate.text(of: value)
                query.append((parameter.name, text, parameter.display(text, payload: payload, bindings: bindings)))
            }
        }
        if case .query(let name, let value) = target.auth { query.append((name, value, "[redacted]")) }
        var url = base + path
        var displayURL = displayBase + displayPath
        if !query.isEmpty {
            let separator = url.contains("?") ? "&" : "?"
            url += separator + query.map { "\(PercentEncoding.component($0.name))=\(PercentEncoding.component($0.value))" }
                .joined(separator: "&")
            displayURL += separator + query.map {
                "\(PercentEncoding.component($0.name))=\($0.shown == $0.value ? PercentEncoding.component($0.value) : $0.shown)"
            }.joined(separator: "&")
        }

        // Body: JSON, checked against the operation's schema.
        var body: [UInt8]?
        if let template = route.body {
            let value = try evaluate(template, "body") ?? .null
            if let schema = operation.bodySchema {
                let errors = schema.validate(value)
                if !errors.isEmpty {
                    // Where and why, never what: the body is the customer's data, and reasons reach the dashboard.
                    let list = errors.prefix(3).map(\.redactedDescription)
                    throw BadData(description: "the body fails \(route.plan.call)'s body_schema: " + list.joined(separator: "; "))
                }
            }
            body = Array(value.serialized().utf8)
        }

        // Headers: the target's, the operation's, the route's; then auth, idempotency, trace.
        var headers: [(name: String, value: String)] = []
        var display: [(name: String, value: String)] = []
        for header in target.headers + operation.headers + route.headers {
            guard let value = try evaluate(header.template, "header '\(header.name)'") else { continue }
            let text = CompiledTemplate.text(of: value)
            guard !text.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else {
                throw BadData(description: "header '\(header.name)': the value holds a line break or NUL")
            }
            headers.append((header.name, text))
            display.append((header.name, header.display(text, payload: payload, bindings: bindings)))
        }
        if body != nil, !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            headers.append(("Content-Type", "application/json"))
            display.append(("Content-Type", "application/json"))
        }
        if case .header(let name, let value) = target.auth {
            headers.append((name, value))
            display.append((name, "[redacted]"))
        }
        let key: String
        if let expression = route.idempotencyKey {
            do {
                guard let value = try expression.evaluate(payload, bindings: bindings) else {
                    throw BadData(description: "idempotency_key gave nothing")
                }
                key = CompiledTemplate.text(of: value)
            } catch let error as BadData {
                throw error
            } catch {
                throw BadData(description: "idempotency_key: \(error)")
            }
        } else {
            key = defaultKey ?? "\(job.connector):\(job.vendorEventID):\(job.route)"
        }
        guard !key.utf8.contains(where: { $0 < 32 || $0 == 127 }) else {
            throw BadData(description: "idempotency_key holds a control character")
        }
        // A read (a poll's page) changes nothing: it sends no key.
        if sendsKey {
            headers.append(("Idempotency-Key", key))
            display.append(("Idempotency-Key", key))
        }
        var request = OutboundRequest(method: operation.plan.method.rawValue, url: url, headers: headers, body: body)
        if let signer = target.signer {
            // Signed last, over the body as it goes out; the id is the idempotency key, the same on every retry.
            for header in signer.headers(for: request, messageID: key, now: now) {
                request.headers.append(header)
                let shown = header.name.caseInsensitiveCompare(signer.signatureHeader) == .orderedSame ? "[redacted]" : header.value
                display.append((header.name, shown))
            }
        }
        return PreparedRequest(request: request, displayURL: displayURL, displayHeaders: display, idempotencyKey: key)
    }

    /// Replaces `{name}` placeholders in a path with encoded values.
    private static func fill(_ path: ResolvedString, with values: [String: (value: String, shown: String)]) throws(BadData)
        -> (String, String)
    {
        func substitute(_ text: String, display: Bool) throws(BadData) -> String {
            var out = ""
            var name: String?
            for character in text {
                if character == "{" {
                    name = ""
                } else if character == "}", let placeholder = name {
                    guard let value = values[placeholder] else {
                        throw BadData(description: "no value for the path placeholder {\(placeholder)}")
                    }
                    out += display && value.shown != value.value ? value.shown : PercentEncoding.component(value.value)
                    name = nil
                } else if name != nil {
                    name!.append(character)
                } else {
                    out.append(character)
                }
            }
            return out
        }
        // Placeholders are in the text as written: a `${env:NAME}` part (and the secret it resolves to) is not one.
        var value = "", display = ""
        for part in path.parts {
            value += part.literal ? try substitute(part.value, display: false) : part.value
            display += part.literal ? try substitute(part.display, display: true) : part.display
        }
        return (value, display)
    }
}
