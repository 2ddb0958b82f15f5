public import Foundation
public import JSONValue
public import ManifoldCompiler

/// A connector's test file (`<connector>.test.yaml`), read and checked: the connector it tests, the fake environment
/// its secrets come from, and its cases. Every expectation keeps where it is written, for the failure report.
public struct ConnectorTestSuite: Sendable {
    public var path: String
    public var connector: String
    public var environment: [String: String]
    public var cases: [Case]

    /// A value with the place it is written.
    public struct Located<Value: Sendable>: Sendable {
        public var value: Value
        public var location: SourceLocation
    }

    /// One case: a webhook in, scripted answers, expectations.
    public struct Case: Sendable {
        public var name: String
        public var location: SourceLocation
        public var webhook: Webhook
        /// By target name, its answers in order.
        public var responses: [String: [ScriptedResponse]]
        public var expect: Expectations
    }

    public struct Webhook: Sendable {
        public enum Signature: String, Sendable { case valid, none, forged }

        public var body: [UInt8]
        public var contentType: String
        public var headers: [(name: String, value: String)]
        public var signature: Signature
        public var deliveries: Int
    }

    /// One answer of a target.
    public enum ScriptedResponse: Sendable {
        case answer(status: Int, headers: [(name: String, value: String)], body: [UInt8])
        case timeout
        case connectionError(String)
    }

    /// An expected outcome of a job.
    public enum Outcome: String, Sendable {
        case delivered
        case deadLettered = "dead_lettered"
        case quarantined
        case pending
    }

    /// What must happen; `nil` or empty: not checked.
    public struct Expectations: Sendable {
        public var ingress: Located<Int>
        public var duplicate: Located<Bool>?
        public var routes: Located<[String]>?
        public var requests: [RequestExpectation]
        public var attempts: [String: Located<Int>]
        /// By route; the key `*` applies to every job.
        public var outcomes: [String: Located<Outcome>]
    }

    /// An expected request of a route: each part given is checked.
    public struct RequestExpectation: Sendable {
        public var route: String
        public var location: SourceLocation
        public var method: Located<String>?
        public var url: Located<String>?
        public var headers: Located<[(name: String, value: String)]>?
        public var body: Located<JSON>?
        public var bodyIncludes: Located<JSON>?
        public var assertion: Located<String>?
    }
}

extension ConnectorTestSuite {
    /// Why a test file cannot run: its diagnostics.
    public struct Invalid: Error {
        public var diagnostics: [Diagnostic]
    }

    /// Reads and checks a test file against `connector-test.schema.json`: the suite, or the diagnostics (unknown
    /// keys and misspelled matchers are errors with "did you mean", never ignored).
    public static func load(path: String) -> Result<ConnectorTestSuite, Invalid> {
        let file: SourceFile
        do {
            file = SourceFile(path: path, contents: try SourceLoader.read(path))
        } catch {
            return .failure(Invalid(diagnostics: [.error(error.description, at: nil)]))
        }
        let (loaded, errors) = SchemaCatalog.load(file, validator: SchemaCatalog.connectorTestValidator)
        guard let document = loaded, errors.isEmpty else { return .failure(Invalid(diagnostics: errors)) }
        var diagnostics: [Diagnostic] = []
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        let root = document.value
        var cases: [Case] = []
        for (index, item) in (root["cases"]?.arrayValue ?? []).enumerated() {
            let base = JSONPointer(tokens: ["cases", String(index)])
            func at(_ tokens: String...) -> SourceLocation { document.location(of: JSONPointer(tokens: base.tokens + tokens)) }
            // The webhook.
            let hook = item["webhook"] ?? [:]
            var body: [UInt8] = []
            var contentType = hook["content_type"]?.stringValue
            if let name = hook["body_file"]?.stringValue {
                let url = directory.appending(path: name)
                do {
                    body = Array(try SourceLoader.read(url.path))
                } catch {
                    diagnostics.append(.error("webhook.body_file: \(name) cannot be read (looked for \(url.path))",
                                              at: at("webhook", "body_file")))
                }
                if contentType == nil { contentType = name.hasSuffix(".json") ? "application/json" : "application/x-www-form-urlencoded" }
            } else if let text = hook["body"]?.stringValue {
                body = Array(text.utf8)
                if contentType == nil { contentType = "application/x-www-form-urlencoded" }
            } else if let value = hook["body"] {
                body = Array(value.serialized().utf8)
            }
            let webhook = Webhook(
                body: body, contentType: contentType ?? "application/json",
                headers: (hook["headers"]?.objectValue).map { $0.map { ($0.key, $0.value.stringValue ?? "") } } ?? [],
                signature: hook["signature"]?.stringValue.flatMap(Webhook.Signature.init(rawValue:)) ?? .valid,
                deliveries: Int(hook["deliveries"]?.numberValue ?? 1))
            // The scripted answers.
            var responses: [String: [ScriptedResponse]] = [:]
            for (target, list) in item["responses"]?.objectValue ?? JSONObject() {
                responses[target] = (list.arrayValue ?? []).map { answer in
                    if answer["timeout"] != nil { return .timeout }
                    if let reason = answer["error"]?.stringValue { return .connectionError(reason) }
                    let bodyBytes: [UInt8] = answer["body"].map { $0.stringValue.map { Array($0.utf8) } ?? Array($0.serialized().utf8) } ?? Array("{}".utf8)
                    return .answer(status: Int(answer["status"]?.numberValue ?? 200),
                                   headers: (answer["headers"]?.objectValue).map { $0.map { ($0.key, $0.value.stringValue ?? "") } } ?? [],
                                   body: bodyBytes)
                }
            }
            // The expectations.
            let expect = item["expect"] ?? [:]
            func located<T>(_ key: String, _ value: T?) -> Located<T>? {
                value.map { Located(value: $0, location: at("expect", key)) }
            }
            var requests: [RequestExpectation] = []
            for (position, request) in (expect["requests"]?.arrayValue ?? []).enumerated() {
                func place(_ key: String) -> SourceLocation { at("expect", "requests", String(position), key) }
                func part<T>(_ key: String, _ value: T?) -> Located<T>? { value.map { Located(value: $0, location: place(key)) } }
                requests.append(RequestExpectation(
                    route: request["route"]?.stringValue ?? "", location: at("expect", "requests", String(position)),
                    method: part("method", request["method"]?.stringValue), url: part("url", request["url"]?.stringValue),
                    headers: part("headers", (request["headers"]?.objectValue).map { $0.map { ($0.key, $0.value.stringValue ?? "") } }),
                    body: part("body", request["body"]), bodyIncludes: part("body_includes", request["body_includes"]),
                    assertion: part("assert", request["assert"]?.stringValue)))
            }
            var outcomes: [String: Located<Outcome>] = [:]
            if let single = expect["outcome"]?.stringValue.flatMap(Outcome.init(rawValue:)) {
                outcomes["*"] = Located(value: single, location: at("expect", "outcome"))
            } else {
                for (route, value) in expect["outcome"]?.objectValue ?? JSONObject() {
                    if let outcome = value.stringValue.flatMap(Outcome.init(rawValue:)) {
                        outcomes[route] = Located(value: outcome, location: at("expect", "outcome", route))
                    }
                }
            }
            var attempts: [String: Located<Int>] = [:]
            for (route, value) in expect["attempts"]?.objectValue ?? JSONObject() {
                attempts[route] = Located(value: Int(value.numberValue ?? 0), location: at("expect", "attempts", route))
            }
            cases.append(Case(
                name: item["name"]?.stringValue ?? "case \(index + 1)", location: at("name"), webhook: webhook,
                responses: responses,
                expect: Expectations(
                    ingress: Located(value: Int(expect["ingress"]?.numberValue ?? 200),
                                     location: expect["ingress"] == nil ? at() : at("expect", "ingress")),
                    duplicate: located("duplicate", expect["duplicate"]?.boolValue),
                    routes: located("routes", expect["routes"]?.arrayValue?.compactMap(\.stringValue)),
                    requests: requests, attempts: attempts, outcomes: outcomes)))
        }
        guard diagnostics.isEmpty else { return .failure(Invalid(diagnostics: diagnostics)) }
        return .success(ConnectorTestSuite(
            path: path, connector: root["connector"]?.stringValue ?? "",
            environment: (root["env"]?.objectValue).map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value.stringValue ?? "") }) } ?? [:],
            cases: cases))
    }
}
