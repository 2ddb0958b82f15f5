public import Foundation
import JSONata
public import JSONValue
import Logging
public import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
public import ManifoldIngress
public import ManifoldPlan
import ManifoldStore
import ManifoldSQLite

/// Runs a connector's test cases through the real compiled plan and the real engine and runtime (ingress,
/// verification, routing, mapping, auth, lanes, retries, dead letters), with a scripted transport instead of the
/// network, a virtual clock and seeded jitter, each case on a fresh store.
///
///     let runner = ConnectorTestRunner(connector: plan.connectors[0], resolver: ConfigResolver(environment: suite.environment))
///     for testCase in suite.cases { print(await runner.run(testCase).passed) }
public struct ConnectorTestRunner: Sendable {
    let connector: ConnectorPlan
    let resolver: ConfigResolver
    /// Customers' endpoints registered for every case (connectors with endpoints targets).
    let endpoints: [ConnectorTestSuite.TestEndpoint]

    public init(connector: ConnectorPlan, resolver: ConfigResolver, endpoints: [ConnectorTestSuite.TestEndpoint] = []) {
        self.connector = connector
        self.resolver = resolver
        self.endpoints = endpoints
    }

    /// The virtual time a case may take: every target's worst-case retry budget (with `max_elapsed`), and a day.
    static func settlingBound(_ connector: ConnectorPlan) -> Duration {
        let longest = connector.targets.map { max($0.worstCaseRetryBudget, $0.retry.maxElapsed) }.max() ?? .zero
        return longest + .seconds(86_400)
    }

    /// Where a test's endpoint answers.
    static func endpointURL(_ name: String) -> String { "https://\(name).endpoints.test/" }

    /// What a case names that the connector does not have (routes, targets): the test file is wrong, not the
    /// connector, so these are diagnostics (exit 2), not failures.
    public func check(_ suite: ConnectorTestSuite) -> [Diagnostic] {
        // A flow's steps are named `route.step` (requests, attempts and scripted answers of one step).
        let steps = Set(connector.routes.flatMap { route in (route.steps + route.onFailure).map { "\(route.name).\($0.name)" } })
        let routes = Set(connector.routes.map(\.name)).union(steps), targets = Set(connector.targets.map(\.name)).union(steps)
        var diagnostics: [Diagnostic] = []
        func unknown(_ kind: String, _ name: String, _ known: Set<String>, at location: SourceLocation) {
            guard name != "*", !known.contains(name) else { return }
            diagnostics.append(.error("\(connector.name) has no \(kind) '\(name)' (it has: \(known.sorted().joined(separator: ", ")))",
                                      at: location))
        }
        let endpointNames = Set(endpoints.map(\.name))
        if !endpoints.isEmpty, !connector.targets.contains(where: { $0.endpoints != nil }) {
            diagnostics.append(.error("endpoints: \(connector.name) has no target with endpoints:, so none would be called", at: nil))
        }
        for testCase in suite.cases {
            // A case says what it sends: a webhook to a webhook connector, runs to a pulled one.
            if connector.pull != nil {
                if testCase.hasWebhook {
                    diagnostics.append(.error("\(connector.name) pulls (\(connector.pull!.kind)): a case gives pull:, not webhook:", at: testCase.location))
                }
                if testCase.expect.duplicate != nil || testCase.expect.answer != nil {
                    diagnostics.append(.error("duplicate and answer are a webhook's: \(connector.name) pulls; expect events and pull instead",
                                              at: testCase.location))
                }
            } else if !testCase.hasWebhook {
                diagnostics.append(.error("\(connector.name) receives webhooks: the case needs webhook:", at: testCase.location))
            }
            if connector.pull == nil, testCase.pull != nil || testCase.expect.pull != nil {
                diagnostics.append(.error("pull is for pulled connectors: \(connector.name) receives webhooks", at: testCase.location))
            }
            // A forged (or missing) signature proves nothing on a connector that verifies none: the case would pass
            // whatever the connector does.
            if testCase.webhook.signature != .valid, connector.source?.verification.scheme ?? SignatureScheme.none == .none {
                diagnostics.append(.error("signature: \(testCase.webhook.signature.rawValue) tests nothing: \(connector.name) verifies no signature (scheme none)",
                                          at: testCase.location))
            }
            for target in testCase.responses.keys { unknown("target or endpoint", target, targets.union(endpointNames), at: testCase.location) }
            for request in testCase.expect.requests {
                if let endpoint = request.endpoint { unknown("endpoint", endpoint.value, endpointNames, at: endpoint.location) }
            }
            if let expected = testCase.expect.routes {
                for route in expected.value { unknown("route", route, routes, at: expected.location) }
            }
            for request in testCase.expect.requests { unknown("route", request.route, routes, at: request.location) }
            for (route, expected) in testCase.expect.attempts { unknown("route", route, routes, at: expected.location) }
            for (route, expected) in testCase.expect.outcomes { unknown("route", route, routes, at: expected.location) }
            for request in testCase.expect.requests {
                if let assertion = request.assertion {
                    do {
                        _ = try JSONataExpression(assertion.value)
                    } catch {
                        diagnostics.append(.error("assert: \(error)", at: assertion.location))
                    }
                }
            }
        }
        return diagnostics
    }

    /// Runs one case: sends its webhook, lets every job finish, and checks what was expected.
    public func run(_ testCase: ConnectorTestSuite.Case) async -> CaseResult {
        guard let source = connector.source else { return await runPull(testCase) }
        let started = ContinuousClock.now
        let folder = FileManager.default.temporaryDirectory.appending(path: "manifold-case-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var failures: [CaseResult.Failure] = []
        var calls: [(route: String, call: String, request: JSON)] = []
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let store = try SQLiteEventStore(path: folder.appending(path: "case.db").path)
            defer { store.close() }
            let (logger, configuration) = Self.quietRuntime()
            let clock = VirtualClock()
            let transport = ScriptedTransport(connector: connector, resolver: resolver, scripts: testCase.responses, clock: clock,
                                              endpoints: endpoints.map(\.name))
            // Customers' endpoints, registered in the case's store with secrets of their own.
            var registry: EndpointRegistry?
            var registered: [String: (id: String, secret: String)] = [:]
            if connector.targets.contains(where: { $0.endpoints != nil }), let box = SecretBox(base64: SecretBox.newKey()) {
                let admin = EndpointAdmin(store: store, box: box, policy: EndpointNetworkPolicy(allowPrivateNetworks: true, allowInsecure: true))
                for endpoint in endpoints {
                    let (made, secret) = try await admin.add(tenant: endpoint.tenant, .init(url: Self.endpointURL(endpoint.name),
                                                                                            eventTypes: endpoint.eventTypes))
                    registered[endpoint.name] = (made.id, secret)
                }
                registry = EndpointRegistry(store: store, box: box)
                try await registry?.refresh()
            }
            let runtime = DeliveryRuntime(store: store, transport: transport, clock: clock, logger: logger,
                                          configuration: configuration, endpoints: registry)
            // A public-key scheme is tested with a key pair made for the case: its public key stands in for the
            // vendor's (whose private key no test has), and the case's webhook is signed with its private key.
            var tested = connector
            let signingKey = source.verification.scheme.keyAlgorithm.map(SigningKey.generate)
            if let signingKey {
                tested.source?.verification.publicKeys = [ConfigString(literal: signingKey.verifyingKey.compactText)]
            }
            let engine = try Engine(plan: Plan(connectors: [tested]), store: store, resolver: resolver, logger: logger,
                                    runtime: runtime)
            guard let route = engine.route(for: source.path) else { throw CaseError("no webhook at \(source.path)") }
            let request = try webhook(testCase.webhook, source: source, endpoint: route.endpoint, signingKey: signingKey)
            var replies: [Engine.Reply] = []
            for _ in 0..<testCase.webhook.deliveries {
                replies.append(await engine.receive(request, on: route))
            }
            let (records, events) = try await settle(runtime, clock: clock, store: store)
            failures = Checks(expect: testCase.expect, replies: replies, jobs: records, sent: transport.sent,
                              connector: connector, resolver: resolver,
                              events: Self.counts(events), endpoints: registered).failures()
            calls = CaseResult.calls(records, connector: connector)
        } catch {
            failures.append(.init(message: "the case could not run: \(error)", location: testCase.location))
        }
        var result = CaseResult(name: testCase.name, location: testCase.location, failures: failures, duration: ContinuousClock.now - started)
        result.calls = calls
        return result
    }

    /// A case's logger (nothing below critical) and runtime settings: seeded jitter, no address checks (the network is
    /// scripted: nothing leaves the process).
    static func quietRuntime() -> (Logger, DeliveryRuntime.Configuration) {
        var logger = Logger(label: "manifold-test")
        logger.logLevel = .critical
        var configuration = DeliveryRuntime.Configuration()
        configuration.jitterSeed = 1
        configuration.checksEndpointAddresses = false
        // The cases' expectations compare the bodies sent.
        configuration.keepsDeliveredBodies = true
        return (logger, configuration)
    }

    /// Every job to its end, then what the store holds: the jobs with their attempts, and the events. Virtual time makes
    /// backoffs instant, so a case ends when its backlog does, however busy the machine (a window of real time here
    /// once failed a case on a loaded CI machine). A connector that never settles is bounded in virtual time: past every
    /// target's longest retry budget and a day more, what is still pending stays pending and the case says so. Real
    /// time only bounds a hang, generously.
    func settle(_ runtime: DeliveryRuntime, clock: VirtualClock, store: SQLiteEventStore) async throws
        -> (jobs: [JobRecord], events: [EventSummary])
    {
        let settleBy = clock.now + Self.settlingBound(connector)
        let hangBound = ContinuousClock.now + .seconds(600)
        while runtime.backlog > 0, clock.now < settleBy {
            guard ContinuousClock.now < hangBound else {
                throw CaseError("the case did not settle in 10 minutes of real time (\(runtime.backlog) jobs pending): a hang")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        await runtime.drain()
        var records: [JobRecord] = []
        for summary in try await store.jobs(JobQuery(limit: 1000)).reversed() {
            if let record = try await store.job(id: summary.id) { records.append(record) }
        }
        return (records, try await store.events(EventQuery(limit: 10_000)))
    }

    /// The webhook request of a case, signed as it says.
    private func webhook(_ webhook: ConnectorTestSuite.Webhook, source: WebhookSource, endpoint: WebhookEndpoint,
                         signingKey: SigningKey?) throws -> WebhookRequest
    {
        var target = source.path
        if !webhook.query.isEmpty {
            target += (target.contains("?") ? "&" : "?") + webhook.query.map { Self.percentEncoded($0.name) + "=" + Self.percentEncoded($0.value) }
                .joined(separator: "&")
        }
        var headers = webhook.headers
        if !webhook.body.isEmpty || webhook.method != "GET" { headers.insert(("Content-Type", webhook.contentType), at: 0) }
        var request = WebhookRequest(method: webhook.method, target: target, headers: HeaderList(headers),
                                     body: webhook.body, remoteAddress: "127.0.0.1")
        let now = Int64(Date().timeIntervalSince1970) - webhook.signedAgo.components.seconds
        let verification = source.verification
        let signature: WebhookSignature
        switch (webhook.signature, signingKey) {
        case (.none, _): return request
        case (.valid, nil): signature = endpoint.signature
        case (.valid, let key?):
            signature = WebhookSignature(verification: verification, secrets: [], publicURL: nil, signingKeys: [key])
        case (.forged, nil):
            signature = WebhookSignature(verification: verification, secrets: ["forged-\(UUID().uuidString)"],
                                         publicURL: endpoint.signature.signedURL(for: request))
        case (.forged, let key?):
            // Another key pair of the same kind: a signature the vendor's key cannot have made.
            signature = WebhookSignature(verification: verification, secrets: [], publicURL: nil,
                                         signingKeys: [SigningKey.generate(key.algorithm)])
        }
        // A delivery id the case gives (the vendor's header) is the one signed; headers the case gives are kept.
        let idHeader = (source.verification.idHeader ?? source.verification.scheme.deliveryIDHeader)?.lowercased()
        let deliveryID = webhook.headers.first { $0.name.lowercased() == idHeader }?.value ?? "test-delivery-1"
        if let body = signature.signedBody(request, now: now, deliveryID: deliveryID) { request.body = body }
        let existing = Set(request.headers.fields.map { $0.name.lowercased() })
        for field in signature.sign(request, now: now, deliveryID: deliveryID) where !existing.contains(field.name.lowercased()) {
            request.headers.append(field.name, field.value)
        }
        return request
    }

    /// Stored events by what a test asks: `stored` (to be routed and delivered), `quarantined`, `handshake`.
    static func counts(_ events: [EventSummary]) -> [String: Int] {
        var counts = ["stored": 0, "quarantined": 0, "handshake": 0]
        for event in events {
            let status = event.status.rawValue
            counts[status == "quarantined" || status == "handshake" ? status : "stored", default: 0] += 1
        }
        return counts
    }

    private static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    struct CaseError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// The outcome of one case.
public struct CaseResult: Sendable {
    public var name: String
    public var location: SourceLocation
    public var failures: [Failure]
    public var duration: Duration
    public var passed: Bool { failures.isEmpty }
    /// Each call the case's jobs made first (a route's, or a flow step's as `route.step`), as recorded.
    public var calls: [(route: String, call: String, request: JSON)] = []

    /// The first call of each route (or flow step) of `records`, in order.
    static func calls(_ records: [JobRecord], connector: ConnectorPlan) -> [(route: String, call: String, request: JSON)] {
        var calls: [(route: String, call: String, request: JSON)] = []
        for record in records {
            let route = connector.routes.first { $0.name == record.summary.route }
            for attempt in record.attempts {
                guard case .some(let request) = attempt.request else { continue }
                let step = request["step"]?.stringValue
                let label = step.map { "\(record.summary.route).\($0)" } ?? record.summary.route
                guard !calls.contains(where: { $0.route == label }) else { continue }
                let call = step.flatMap { name in route?.steps.first { $0.name == name }?.call?.call } ?? route?.call ?? record.summary.target
                calls.append((label, call, request))
            }
        }
        return calls
    }

    /// An expectation not met: where it is written, what was expected and what happened.
    public struct Failure: Sendable {
        public var message: String
        public var location: SourceLocation
        public var expected: String?
        public var actual: String?

        public init(message: String, location: SourceLocation, expected: String? = nil, actual: String? = nil) {
            self.message = message
            self.location = location
            self.expected = expected
            self.actual = actual
        }
    }
}

/// Compares what happened with what a case expects.
struct Checks {
    let expect: ConnectorTestSuite.Expectations
    let replies: [Engine.Reply]
    let jobs: [JobRecord]
    let sent: [ScriptedTransport.Sent]
    let connector: ConnectorPlan
    let resolver: ConfigResolver
    /// Stored events by status.
    let events: [String: Int]
    /// The test's endpoints by name: their ids and secrets.
    let endpoints: [String: (id: String, secret: String)]

    func failures() -> [CaseResult.Failure] {
        var failures: [CaseResult.Failure] = []
        let ingress = expect.ingress
        if replies.first?.status != ingress.value {
            failures.append(.init(message: "the engine answered the webhook \(replies.first.map { "\($0.status)" } ?? "nothing"), expected \(ingress.value)",
                                  location: ingress.location, actual: replies.first.map(Self.text(of:))))
        }
        if let answer = expect.answer, let reply = replies.first { failures += answerFailures(answer, reply) }
        for (status, expected) in expect.events.sorted(by: { $0.key < $1.key }) where events[status, default: 0] != expected.value {
            failures.append(.init(message: "the store holds \(events[status, default: 0]) \(status) event(s), expected \(expected.value)",
                                  location: expected.location))
        }
        if let duplicate = expect.duplicate {
            // A batch's redelivery is a duplicate when every one of its events is.
            let later = replies.dropFirst().map { reply in
                reply.body["events"] != nil && reply.body["events"] == reply.body["duplicates"] ? "duplicate"
                    : reply.body["status"]?.stringValue ?? ""
            }
            if duplicate.value != (!later.isEmpty && later.allSatisfy { $0 == "duplicate" }) {
                failures.append(.init(message: duplicate.value ? "the redeliveries were not all answered as duplicates"
                                          : "a redelivery was answered as a duplicate",
                                      location: duplicate.location, actual: later.joined(separator: ", ")))
            }
        }
        let byRoute = Dictionary(grouping: jobs, by: \.summary.route)
        if let routes = expect.routes, Set(routes.value) != Set(byRoute.keys) {
            failures.append(.init(message: "other routes matched", location: routes.location,
                                  expected: routes.value.sorted().joined(separator: ", "),
                                  actual: byRoute.keys.sorted().joined(separator: ", ")))
        }
        for (route, expected) in expect.attempts.sorted(by: { $0.key < $1.key }) {
            let calls = records(route, byRoute).reduce(0) { $0 + $1.attempts.filter { $0.request != nil }.count }
            if calls != expected.value {
                failures.append(.init(message: "route \(route) made \(calls) call(s), expected \(expected.value)", location: expected.location))
            }
        }
        for (route, expected) in expect.outcomes.sorted(by: { $0.key < $1.key }) {
            // A flow's outcome is its own job's: not its failure steps' job, nor an element's own dead letter.
            let records = (route == "*" ? jobs : byRoute[route, default: []]).filter { record in
                record.summary.flow.map { FlowProgress(json: $0) }.map { $0.handler == .steps && !$0.only } ?? true
            }
            if records.isEmpty {
                failures.append(.init(message: route == "*" ? "no route matched, so nothing was \(expected.value.rawValue)"
                                          : "route \(route) did not match, so nothing was \(expected.value.rawValue)",
                                      location: expected.location))
            }
            for record in records where Self.outcome(record) != expected.value {
                failures.append(.init(message: "route \(record.summary.route) ended \(Self.outcome(record).rawValue), expected \(expected.value.rawValue)",
                                      location: expected.location, actual: record.attempts.last.map(Self.describe)))
            }
        }
        for request in expect.requests {
            var jobs = records(request.route, byRoute)
            if let name = request.endpoint?.value {
                let id = endpoints[name]?.id ?? "-"
                jobs = jobs.filter { $0.summary.lane.hasSuffix("@" + id) }
            }
            failures += check(request, against: jobs.first)
        }
        return failures
    }

    /// The jobs of a route; for `route.step`, the calls of that step in the route's flow jobs (as a job's record
    /// whose attempts are that step's, on the step's target).
    private func records(_ key: String, _ byRoute: [String: [JobRecord]]) -> [JobRecord] {
        if let records = byRoute[key] { return records }
        guard let dot = key.firstIndex(of: ".") else { return [] }
        let routeName = String(key[..<dot]), stepName = String(key[key.index(after: dot)...])
        let route = connector.routes.first { $0.name == routeName }
        let target = route.flatMap { ($0.steps + $0.onFailure).first { $0.name == stepName }?.call?.target }
        return (byRoute[routeName] ?? []).compactMap { record in
            let calls = record.attempts.filter { $0.request?["step"]?.stringValue == stepName }
            guard !calls.isEmpty else { return nil }
            var summary = record.summary
            if let target { summary.target = target }
            return JobRecord(summary: summary, attempts: calls)
        }
    }

    /// The answer as the vendor reads it: a handshake's body as sent, or the JSON body.
    static func text(of reply: Engine.Reply) -> String {
        reply.handshake.map { String(decoding: $0.body, as: UTF8.self) } ?? reply.body.serialized()
    }

    private func answerFailures(_ answer: ConnectorTestSuite.AnswerExpectation, _ reply: Engine.Reply) -> [CaseResult.Failure] {
        var failures: [CaseResult.Failure] = []
        let text = Self.text(of: reply)
        if let error = answer.error, reply.body["error"]?.stringValue != error.value || reply.handshake != nil {
            failures.append(.init(message: "the answer's error code differs", location: error.location, expected: error.value,
                                  actual: reply.handshake == nil ? reply.body["error"]?.stringValue ?? "(none)" : "a handshake's answer"))
        }
        if let includes = answer.messageIncludes {
            let message = reply.body["message"]?.stringValue ?? text
            if !message.contains(includes.value) {
                failures.append(.init(message: "the answer does not say '\(includes.value)'", location: includes.location, actual: message))
            }
        }
        if let body = answer.body {
            let matches: Bool
            if let expected = body.value.stringValue {
                matches = text == expected
            } else {
                matches = (try? JSONParser.parse(bytes: Array(text.utf8))) == body.value
            }
            if !matches {
                failures.append(.init(message: "the answer's body differs", location: body.location,
                                      expected: body.value.stringValue ?? body.value.serialized(), actual: text))
            }
        }
        let contentType = reply.handshake?.contentType ?? "application/json"
        if let expected = answer.contentType, !contentType.lowercased().hasPrefix(expected.value.lowercased()) {
            failures.append(.init(message: "the answer's Content-Type differs", location: expected.location, expected: expected.value,
                                  actual: contentType))
        }
        if let headers = answer.headers {
            let sent = reply.handshake?.headerPairs ?? []
            for (name, value) in headers.value where !sent.contains(where: { $0.name.lowercased() == name.lowercased() && $0.value == value }) {
                failures.append(.init(message: "the answer lacks the header \(name): \(value)", location: headers.location,
                                      actual: sent.map { "\($0.name): \($0.value)" }.joined(separator: ", ")))
            }
        }
        return failures
    }

    static func outcome(_ record: JobRecord) -> ConnectorTestSuite.Outcome {
        switch record.summary.state {
        case .delivered: .delivered
        case .dead: .deadLettered
        case .quarantined: .quarantined
        default: .pending
        }
    }

    static func describe(_ attempt: AttemptSummary) -> String {
        "last attempt: \(attempt.errorClass)" + (attempt.responseStatus.map { " \($0)" } ?? "") + (attempt.error.map { ": \($0)" } ?? "")
    }

    private func check(_ expected: ConnectorTestSuite.RequestExpectation, against record: JobRecord?) -> [CaseResult.Failure] {
        guard let record, let sent = record.attempts.first(where: { $0.request != nil })?.request else {
            let why = record.map { "it sent nothing (\($0.attempts.last.map(Self.describe) ?? "no attempt"))" } ?? "it did not match"
            return [.init(message: "route \(expected.route) sent no request: \(why)", location: expected.location)]
        }
        var failures: [CaseResult.Failure] = []
        let route = expected.route
        if let method = expected.method, sent["method"]?.stringValue != method.value {
            failures.append(.init(message: "route \(route): another method", location: method.location,
                                  expected: method.value, actual: sent["method"]?.stringValue))
        }
        if let url = expected.url, sent["url"]?.stringValue != url.value {
            failures.append(.init(message: "route \(route): another URL", location: url.location,
                                  expected: url.value, actual: sent["url"]?.stringValue))
        }
        if let headers = expected.headers {
            let actual = (sent["headers"]?.arrayValue ?? []).compactMap { pair -> (String, String)? in
                guard let items = pair.arrayValue, items.count == 2 else { return nil }
                return (items[0].stringValue ?? "", items[1].stringValue ?? "")
            }
            for (name, value) in headers.value {
                let found = actual.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
                if found != value {
                    failures.append(.init(message: "route \(route): header \(name)", location: headers.location,
                                          expected: value, actual: found ?? "(not sent)"))
                }
            }
        }
        if let signed = expected.signed {
            failures += checkSignature(signed, route: route, record: record)
        }
        let text = sent["body"]?.stringValue
        let json = text.flatMap { try? JSONParser.parse($0) }
        if let body = expected.body {
            let matches = body.value.stringValue.map { $0 == text } ?? (json == body.value)
            if !matches {
                failures.append(.init(message: "route \(route): the body differs", location: body.location,
                                      expected: body.value.stringValue ?? body.value.serialized(.pretty),
                                      actual: json.map { $0.serialized(.pretty) } ?? text ?? "(no body)"))
            }
        }
        if let subset = expected.bodyIncludes, !(json.map { Self.includes($0, subset.value) } ?? false) {
            failures.append(.init(message: "route \(route): the body lacks what body_includes names", location: subset.location,
                                  expected: subset.value.serialized(.pretty), actual: json.map { $0.serialized(.pretty) } ?? text ?? "(no body)"))
        }
        if let assertion = expected.assertion {
            let holds: Bool
            do {
                holds = try JSONataExpression(assertion.value).evaluate(json ?? .null) == .bool(true)
            } catch {
                holds = false
            }
            if !holds {
                failures.append(.init(message: "route \(route): assert is not true: \(assertion.value)", location: assertion.location,
                                      actual: json.map { $0.serialized(.pretty) } ?? text ?? "(no body)"))
            }
        }
        return failures
    }

    /// `signed: true`: the first call of the route's job, as it reached the network, verifies as its receiver
    /// would check it (the target's `sign:` scheme and secrets, at the time it was sent); `signed: false`: it
    /// carries no signature.
    private func checkSignature(_ signed: ConnectorTestSuite.Located<Bool>, route: String, record: JobRecord)
        -> [CaseResult.Failure]
    {
        let key = record.attempts.lazy.compactMap { $0.request?["headers"]?.arrayValue }.first?.first {
            $0.arrayValue?.first?.stringValue == "Idempotency-Key"
        }?.arrayValue?.last?.stringValue
        // A customer's endpoint: its call, checked with its own secret (Standard Webhooks).
        let endpoint = endpoints.first { record.summary.lane.hasSuffix("@" + $0.value.id) }
        guard let call = sent.first(where: { call in
            call.target == (endpoint?.key ?? record.summary.target)
                && call.request.headers.contains { $0.name == "Idempotency-Key" && $0.value == key }
        }) else {
            return [.init(message: "route \(route) made no call to check the signature of", location: signed.location)]
        }
        var signing = connector.targets.first { $0.name == record.summary.target }?.signing
        if let endpoint {
            signing = OutboundSigning(scheme: .standardWebhooks, secrets: [ConfigString(literal: endpoint.value.secret)], hmac: nil)
        }
        guard let signing else {
            return signed.value ? [.init(message: "route \(route): target \(record.summary.target) has no sign:, so nothing is signed",
                                         location: signed.location)] : []
        }
        let secrets: [String]
        do {
            secrets = try signing.secrets.map { try resolver.resolve($0) }
        } catch {
            return [.init(message: "route \(route): the signing secret cannot be read: \(error)", location: signed.location)]
        }
        let verifier = WebhookSignature(verification: signing.verification, secrets: secrets, publicURL: nil)
        let request = WebhookRequest(received: call.request)
        let present = request.headers[verifier.signatureHeaders[0]] != nil
        if !signed.value {
            return present ? [.init(message: "route \(route): the call is signed (\(verifier.signatureHeaders[0])), expected unsigned",
                                    location: signed.location)] : []
        }
        do {
            try verifier.verify(request, now: Int64(call.at.timeIntervalSince1970.rounded(.down)))
            return []
        } catch {
            return [.init(message: "route \(route): the call's \(signing.scheme.rawValue) signature does not verify: \(error)",
                          location: signed.location)]
        }
    }

    /// Whether `value` has every member of `subset` with its value (recursively in objects; lists and scalars equal).
    static func includes(_ value: JSON, _ subset: JSON) -> Bool {
        guard case .object(let wanted) = subset else { return value == subset }
        guard case .object(let actual) = value else { return false }
        return wanted.allSatisfy { key, member in actual[key].map { includes($0, member) } ?? false }
    }
}

extension ConnectorTestRunner {
    /// Runs a pulled connector's case: its files put in place, its state set, its runs one after another on the
    /// virtual clock (each its schedule's interval after the last), every job to its end; then the checks.
    func runPull(_ testCase: ConnectorTestSuite.Case) async -> CaseResult {
        let started = ContinuousClock.now
        let folder = FileManager.default.temporaryDirectory.appending(path: "manifold-case-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var failures: [CaseResult.Failure] = []
        var calls: [(route: String, call: String, request: JSON)] = []
        let runs = testCase.pull ?? ConnectorTestSuite.PullRuns(at: ConnectorTestSuite.PullRuns.defaultStart)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let store = try SQLiteEventStore(path: folder.appending(path: "case.db").path)
            defer { store.close() }
            let (logger, configuration) = Self.quietRuntime()
            let clock = VirtualClock(origin: Date(timeIntervalSince1970: Double(runs.at) / 1000))
            let transport = ScriptedTransport(connector: connector, resolver: resolver, scripts: testCase.responses, clock: clock)
            let runtime = DeliveryRuntime(store: store, transport: transport, clock: clock, logger: logger, configuration: configuration)
            let engine = try Engine(plan: Plan(connectors: [connector]), store: store, resolver: resolver, logger: logger, runtime: runtime)
            let files = folder.appending(path: "files")
            // A files connector's folder is the case's own, whatever the file says.
            // A table's database likewise: made from the case's statements.
            let table = folder.appending(path: "table.db")
            if case .sql? = connector.pull { try SQLiteTableReader.prepare(path: table.path, statements: runs.sql) }
            let puller = Puller(engine: engine, fetcher: runtime, clock: clock, logger: logger, locate: { connector, _ in
                if case .sql? = connector.pull { return table }
                return files
            })
            if case .files? = connector.pull {
                try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
                for file in runs.files {
                    try Data(file.text.utf8).write(to: files.appending(path: file.name))
                }
            }
            if let state = runs.state { try await store.setPullState(state, of: connector.name) }
            var reports: [Puller.Report] = []
            var cursors: [JSON] = []
            for index in 0..<runs.runs {
                if index > 0, let pull = connector.pull {
                    // The next run at its schedule's next time.
                    let now = Int64((clock.wall.timeIntervalSince1970 * 1000).rounded())
                    let next: Int64
                    switch pull.timing {
                    case .every(let interval): next = now + interval.milliseconds
                    case .cron(let cron): next = cron.next(after: now / 1000) * 1000
                    }
                    try await clock.sleep(until: clock.now + .milliseconds(max(1, next - now)))
                }
                if case .files(let source)? = connector.pull {
                    // A file is read once it has stayed unchanged for `settle`: seen, then seen again after it.
                    _ = await puller.run(connector.name)
                    try await clock.sleep(until: clock.now + source.settle)
                }
                reports.append(await puller.run(connector.name))
                cursors.append(try await store.pullState(connector.name)?.state["cursors"]?[""] ?? .null)
            }
            let (records, events) = try await settle(runtime, clock: clock, store: store)
            let delivered = transport.sent.filter { !Self.isPollRequest($0, connector) }
            failures = Checks(expect: testCase.expect, replies: [Engine.Reply(status: 200, body: .null)], jobs: records, sent: delivered,
                              connector: connector, resolver: resolver, events: Self.counts(events), endpoints: [:]).failures()
            let state = try await store.pullState(connector.name)?.state ?? .null
            failures += Self.pullFailures(testCase.expect.pull, reports: reports, state: state)
            failures += Self.runFailures(testCase.expect.pull?.runs ?? [], reports: reports, cursors: cursors)
            calls = CaseResult.calls(records, connector: connector)
        } catch {
            failures.append(.init(message: "the case could not run: \(error)", location: testCase.location))
        }
        var result = CaseResult(name: testCase.name, location: testCase.location, failures: failures, duration: ContinuousClock.now - started)
        result.calls = calls
        return result
    }

    static func isPollRequest(_ sent: ScriptedTransport.Sent, _ connector: ConnectorPlan) -> Bool {
        guard case .poll(let poll)? = connector.pull else { return false }
        return sent.target == poll.request.target || sent.target == poll.partitions?.request.target
    }

    /// Each run's expectations against its report and the cursor it left.
    static func runFailures(_ expected: [ConnectorTestSuite.RunExpectation], reports: [Puller.Report], cursors: [JSON]) -> [CaseResult.Failure] {
        var failures: [CaseResult.Failure] = []
        if let first = expected.first, expected.count != reports.count {
            failures.append(.init(message: "expect.pull.runs lists \(expected.count) run(s) but the case ran \(reports.count)",
                                  location: first.location))
        }
        for (index, (want, report)) in zip(expected, reports).enumerated() {
            let label = "run \(index + 1)"
            let (outcome, error) = Self.outcomeText(report.outcome)
            if let value = want.outcome, value != outcome {
                failures.append(.init(message: "\(label) ended \(outcome), expected \(value)", location: want.location, actual: error))
            }
            if let value = want.errorIncludes, !(error ?? "").contains(value) {
                failures.append(.init(message: "\(label)'s error does not include '\(value)'", location: want.location, actual: error ?? "no error"))
            }
            let stored = report.counts.stored + report.counts.quarantined
            if let value = want.stored, value != stored {
                failures.append(.init(message: "\(label) stored \(stored) event(s), expected \(value)", location: want.location))
            }
            if let value = want.pages, value != report.pages {
                failures.append(.init(message: "\(label) read \(report.pages) page(s), expected \(value)", location: want.location))
            }
            if let value = want.cursor, !Self.sameValue(cursors[index], value) {
                failures.append(.init(message: "\(label) left the cursor at \(cursors[index].serialized()), expected \(value.serialized())",
                                      location: want.location))
            }
        }
        return failures
    }

    static func outcomeText(_ outcome: Puller.Report.Outcome?) -> (String, String?) {
        switch outcome {
        case .finished?: ("finished", nil)
        case .paused?: ("paused", nil)
        case .idle?: ("idle", nil)
        case .failed(let reason)?: ("failed", reason)
        case nil: ("none", nil)
        }
    }

    /// The pull's expectations against its runs and its state.
    static func pullFailures(_ expected: ConnectorTestSuite.PullExpectation?, reports: [Puller.Report], state: JSON) -> [CaseResult.Failure] {
        guard let expected else { return [] }
        var failures: [CaseResult.Failure] = []
        let (outcome, error) = Self.outcomeText(reports.last?.outcome)
        if let want = expected.outcome, want.value != outcome {
            failures.append(.init(message: "the last run ended \(outcome), expected \(want.value)", location: want.location, actual: error))
        }
        if let want = expected.errorIncludes, !(error ?? "").contains(want.value) {
            failures.append(.init(message: "the last run's error does not include '\(want.value)'", location: want.location,
                                  actual: error ?? "no error (\(outcome))"))
        }
        let cursors = state["cursors"] ?? .null
        if let want = expected.cursor {
            let actual = cursors[""] ?? .null
            if !Self.sameValue(actual, want.value) {
                failures.append(.init(message: "the cursor is \(actual.serialized()), expected \(want.value.serialized())", location: want.location))
            }
        }
        if let want = expected.cursors, !Self.sameValue(cursors, want.value) {
            failures.append(.init(message: "the cursors are \(cursors.serialized()), expected \(want.value.serialized())", location: want.location))
        }
        let requests = reports.flatMap(\.requests)
        if let want = expected.requests, want.value != requests {
            failures.append(.init(message: "the runs made other requests", location: want.location,
                                  expected: want.value.joined(separator: "\n"), actual: requests.joined(separator: "\n")))
        }
        let pages = reports.reduce(0) { $0 + $1.pages }
        if let want = expected.pages, want.value != pages {
            failures.append(.init(message: "the runs read \(pages) page(s), expected \(want.value)", location: want.location))
        }
        let limited = reports.reduce(0) { $0 + $1.rateLimited }
        if let want = expected.rateLimited, want.value != limited {
            failures.append(.init(message: "the runs waited out \(limited) 429(s), expected \(want.value)", location: want.location))
        }
        let files = reports.flatMap(\.files)
        if let want = expected.files, want.value != files {
            failures.append(.init(message: "the files went elsewhere", location: want.location,
                                  expected: want.value.joined(separator: "\n"), actual: files.joined(separator: "\n")))
        }
        return failures
    }

    /// Equal as values: numbers by value, text against a number by its digits (a YAML `1717243200` or `"1717243200"`).
    static func sameValue(_ a: JSON, _ b: JSON) -> Bool {
        if a == b { return true }
        switch (a, b) {
        case (.number(let x), .string(let y)), (.string(let y), .number(let x)): return Double(y) == x
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameValue(value, $0) } ?? false }
        default: return false
        }
    }
}
