public import Foundation
public import JSONValue
public import ManifoldCompiler
import ManifoldPlan

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
        var reader = Reader(document: document, directory: URL(fileURLWithPath: path).deletingLastPathComponent())
        let root = document.value
        let cases = (root["cases"]?.arrayValue ?? []).enumerated().map { index, item in
            reader.testCase(item, at: ["cases", String(index)])
        }
        guard reader.diagnostics.isEmpty else { return .failure(Invalid(diagnostics: reader.diagnostics)) }
        var suite = ConnectorTestSuite(
            path: path, connector: root["connector"]?.stringValue ?? "",
            environment: Dictionary(Reader.pairs(root["env"]), uniquingKeysWith: { _, last in last }), cases: cases)
        suite.endpoints = (root["endpoints"]?.objectValue ?? JSONObject()).map { name, value in
            ConnectorTestSuite.TestEndpoint(name: name, tenant: value["tenant"]?.stringValue ?? "",
                                            eventTypes: value["event_types"]?.arrayValue?.compactMap(\.stringValue))
        }
        return .success(suite)
    }
}

/// Turns a test document the schema accepted into the model, keeping where each expectation is written.
private struct Reader {
    let document: LocatedDocument
    /// Where `body_file`s are found: the test file's folder.
    let directory: URL
    var diagnostics: [Diagnostic] = []

    func at(_ tokens: [String]) -> SourceLocation {
        document.location(of: JSONPointer(tokens: tokens))
    }

    /// String members of an object, in order (headers, env).
    static func pairs(_ json: JSON?) -> [(name: String, value: String)] {
        (json?.objectValue).map { $0.map { ($0.key, $0.value.stringValue ?? "") } } ?? []
    }

    mutating func testCase(_ item: JSON, at base: [String]) -> ConnectorTestSuite.Case {
        var testCase = ConnectorTestSuite.Case(
            name: item["name"]?.stringValue ?? "case \(Int(base.last ?? "0").map { $0 + 1 } ?? 1)", location: at(base + ["name"]),
            webhook: webhook(item["webhook"] ?? [:], at: base + ["webhook"]),
            responses: Self.responses(item["responses"]), expect: expectations(item["expect"] ?? [:], at: base + ["expect"]))
        testCase.hasWebhook = item["webhook"] != nil
        if let pull = item["pull"] {
            var runs = ConnectorTestSuite.PullRuns(at: ConnectorTestSuite.PullRuns.defaultStart)
            runs.runs = pull["runs"]?.intValue ?? 1
            if let text = pull["at"]?.stringValue {
                if let milliseconds = PollCursor.milliseconds(of: .string(text), format: .iso8601) {
                    runs.at = milliseconds
                } else {
                    diagnostics.append(.error("pull.at: '\(text)' is not an ISO 8601 time such as 2024-06-01T12:00:00Z", at: at(base + ["pull", "at"])))
                }
            }
            runs.files = (pull["files"]?.objectValue ?? JSONObject()).map { ($0.key, $0.value.stringValue ?? "") }
            runs.state = pull["state"]
            runs.sql = (pull["sql"]?.arrayValue ?? []).compactMap(\.stringValue)
            testCase.pull = runs
        }
        if let expected = item["expect"]?["pull"] {
            let base = base + ["expect", "pull"]
            func part<T>(_ key: String, _ value: T?) -> ConnectorTestSuite.Located<T>? {
                value.map { ConnectorTestSuite.Located(value: $0, location: at(base + [key])) }
            }
            testCase.expect.pull = ConnectorTestSuite.PullExpectation(
                outcome: part("outcome", expected["outcome"]?.stringValue),
                errorIncludes: part("error_includes", expected["error_includes"]?.stringValue),
                cursor: part("cursor", expected["cursor"]), cursors: part("cursors", expected["cursors"]),
                requests: part("requests", expected["requests"]?.arrayValue?.compactMap(\.stringValue)),
                pages: part("pages", expected["pages"]?.intValue), rateLimited: part("rate_limited", expected["rate_limited"]?.intValue),
                files: part("files", expected["files"]?.arrayValue?.compactMap(\.stringValue)),
                runs: (expected["runs"]?.arrayValue ?? []).enumerated().map { index, run in
                    ConnectorTestSuite.RunExpectation(
                        location: at(base + ["runs", String(index)]), outcome: run["outcome"]?.stringValue,
                        errorIncludes: run["error_includes"]?.stringValue, stored: run["stored"]?.intValue,
                        pages: run["pages"]?.intValue, cursor: run["cursor"])
                })
        }
        return testCase
    }

    private mutating func webhook(_ hook: JSON, at base: [String]) -> ConnectorTestSuite.Webhook {
        var body: [UInt8] = []
        var contentType = hook["content_type"]?.stringValue
        if let name = hook["body_file"]?.stringValue {
            let url = directory.appending(path: name)
            do {
                body = Array(try SourceLoader.read(url.path))
            } catch {
                diagnostics.append(.error("webhook.body_file: \(name) cannot be read (looked for \(url.path))", at: at(base + ["body_file"])))
            }
            if contentType == nil { contentType = name.hasSuffix(".json") ? "application/json" : "application/x-www-form-urlencoded" }
        } else if let text = hook["body"]?.stringValue {
            body = Array(text.utf8)
            if contentType == nil { contentType = "application/x-www-form-urlencoded" }
        } else if let value = hook["body"] {
            body = Array(value.serialized().utf8)
        }
        var signedAgo = Duration.zero
        if let text = hook["signed_ago"]?.stringValue {
            if let duration = Duration(manifoldText: text) {
                signedAgo = duration
            } else {
                diagnostics.append(.error("webhook.signed_ago: '\(text)' is not a duration such as 10m", at: at(base + ["signed_ago"])))
            }
        }
        return ConnectorTestSuite.Webhook(
            body: body, contentType: contentType ?? "application/json", headers: Self.pairs(hook["headers"]),
            signature: hook["signature"]?.stringValue.flatMap(ConnectorTestSuite.Webhook.Signature.init(rawValue:)) ?? .valid,
            deliveries: Int(hook["deliveries"]?.numberValue ?? 1), method: hook["method"]?.stringValue ?? "POST",
            query: Self.pairs(hook["query"]), signedAgo: signedAgo)
    }

    private static func responses(_ json: JSON?) -> [String: [ConnectorTestSuite.ScriptedResponse]] {
        var responses: [String: [ConnectorTestSuite.ScriptedResponse]] = [:]
        for (target, list) in json?.objectValue ?? JSONObject() {
            responses[target] = (list.arrayValue ?? []).map { answer in
                if answer["timeout"] != nil { return .timeout }
                if let reason = answer["error"]?.stringValue { return .connectionError(reason) }
                let body = answer["body"].map { $0.stringValue.map { Array($0.utf8) } ?? Array($0.serialized().utf8) } ?? Array("{}".utf8)
                return .answer(status: Int(answer["status"]?.numberValue ?? 200), headers: pairs(answer["headers"]), body: body)
            }
        }
        return responses
    }

    private func expectations(_ expect: JSON, at base: [String]) -> ConnectorTestSuite.Expectations {
        func located<T>(_ key: String, _ value: T?) -> ConnectorTestSuite.Located<T>? {
            value.map { ConnectorTestSuite.Located(value: $0, location: at(base + [key])) }
        }
        var outcomes: [String: ConnectorTestSuite.Located<ConnectorTestSuite.Outcome>] = [:]
        if let single = expect["outcome"]?.stringValue.flatMap(ConnectorTestSuite.Outcome.init(rawValue:)) {
            outcomes["*"] = located("outcome", single)
        } else {
            for (route, value) in expect["outcome"]?.objectValue ?? JSONObject() {
                if let outcome = value.stringValue.flatMap(ConnectorTestSuite.Outcome.init(rawValue:)) {
                    outcomes[route] = ConnectorTestSuite.Located(value: outcome, location: at(base + ["outcome", route]))
                }
            }
        }
        var attempts: [String: ConnectorTestSuite.Located<Int>] = [:]
        for (route, value) in expect["attempts"]?.objectValue ?? JSONObject() {
            attempts[route] = ConnectorTestSuite.Located(value: Int(value.numberValue ?? 0), location: at(base + ["attempts", route]))
        }
        // Without `ingress`, 200 is expected; a failure then points at the case.
        let ingress = ConnectorTestSuite.Located(value: Int(expect["ingress"]?.numberValue ?? 200),
                                                 location: at(expect["ingress"] == nil ? Array(base.dropLast()) : base + ["ingress"]))
        return ConnectorTestSuite.Expectations(
            ingress: ingress, duplicate: located("duplicate", expect["duplicate"]?.boolValue),
            routes: located("routes", expect["routes"]?.arrayValue?.compactMap(\.stringValue)),
            requests: (expect["requests"]?.arrayValue ?? []).enumerated().map { position, request in
                self.request(request, at: base + ["requests", String(position)])
            },
            attempts: attempts, outcomes: outcomes, answer: answer(expect["answer"], at: base + ["answer"]),
            events: Dictionary(uniqueKeysWithValues: (expect["events"]?.objectValue ?? JSONObject()).map { status, count in
                (status == "handshakes" ? "handshake" : status,
                 ConnectorTestSuite.Located(value: Int(count.numberValue ?? 0), location: at(base + ["events", status])))
            }))
    }

    private func answer(_ json: JSON?, at base: [String]) -> ConnectorTestSuite.AnswerExpectation? {
        guard let json else { return nil }
        func part<T>(_ key: String, _ value: T?) -> ConnectorTestSuite.Located<T>? {
            value.map { ConnectorTestSuite.Located(value: $0, location: at(base + [key])) }
        }
        return ConnectorTestSuite.AnswerExpectation(
            location: at(base), error: part("error", json["error"]?.stringValue),
            messageIncludes: part("message_includes", json["message_includes"]?.stringValue), body: part("body", json["body"]),
            contentType: part("content_type", json["content_type"]?.stringValue),
            headers: part("headers", json["headers"].map { Self.pairs($0) }))
    }

    private func request(_ json: JSON, at base: [String]) -> ConnectorTestSuite.RequestExpectation {
        func part<T>(_ key: String, _ value: T?) -> ConnectorTestSuite.Located<T>? {
            value.map { ConnectorTestSuite.Located(value: $0, location: at(base + [key])) }
        }
        return ConnectorTestSuite.RequestExpectation(
            route: json["route"]?.stringValue ?? "", location: at(base),
            method: part("method", json["method"]?.stringValue), url: part("url", json["url"]?.stringValue),
            headers: part("headers", json["headers"].map { Self.pairs($0) }),
            body: part("body", json["body"]), bodyIncludes: part("body_includes", json["body_includes"]),
            assertion: part("assert", json["assert"]?.stringValue), signed: part("signed", json["signed"]?.boolValue),
            endpoint: part("endpoint", json["endpoint"]?.stringValue))
    }
}
