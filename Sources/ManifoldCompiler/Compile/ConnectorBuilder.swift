import Foundation
import JSONata
import JSONSchema
import JSONValue
import ManifoldPlan

/// Builds one connector's plan from its schema-valid document, checking what the schema cannot:
/// references between parts, durations, URLs, secrets and templates. Fills in every default.
struct ConnectorBuilder {
    let document: LocatedDocument
    private(set) var diagnostics: [Diagnostic] = []

    init(document: LocatedDocument) {
        self.document = document
    }

    // MARK: Reporting

    mutating func error(_ message: String, at pointer: JSONPointer, key: Bool = false, notes: [Diagnostic.Note] = []) {
        diagnostics.append(.error(message, at: key ? document.keyLocation(of: pointer) : document.location(of: pointer), notes: notes))
    }

    mutating func warning(_ message: String, at pointer: JSONPointer, notes: [Diagnostic.Note] = []) {
        diagnostics.append(.warning(message, at: document.location(of: pointer), notes: notes))
    }

    func value(_ pointer: JSONPointer) -> JSON? {
        document.value[pointer: pointer]
    }

    private static func pointer(_ tokens: String...) -> JSONPointer {
        JSONPointer(tokens: tokens)
    }

    // MARK: Building

    /// The connector's plan, or `nil` when an error was found (see `diagnostics`).
    mutating func build() -> ConnectorPlan? {
        let root = JSONPointer.root
        let name = value(root.appending("connector"))?.stringValue ?? ""
        let source = value(root.appending("source").appending("webhook")) == nil
            ? nil : buildSource(at: root.appending("source").appending("webhook"))
        var targets: [TargetPlan] = []
        for (targetName, _) in value(root.appending("targets"))?.objectValue ?? JSONObject() {
            targets.append(buildTarget(targetName, at: root.appending("targets").appending(targetName)))
        }
        let pull = source == nil ? buildPull(at: root.appending("source"), targets: targets) : nil
        var routes: [RoutePlan] = []
        var routeNames: [String: JSONPointer] = [:]
        for (index, _) in (value(root.appending("routes"))?.arrayValue ?? []).enumerated() {
            let pointer = root.appending("routes").appending(index)
            guard let route = buildRoute(at: pointer, targets: targets) else { continue }
            if let first = routeNames[route.name] {
                error("route name '\(route.name)' is used twice; route names must be unique in a connector",
                      at: pointer.appending("name"), notes: [Diagnostic.Note("first used here", at: document.location(of: first))])
            } else {
                routeNames[route.name] = pointer.appending("name")
            }
            routes.append(route)
        }
        guard !diagnostics.hasErrors else { return nil }
        return ConnectorPlan(name: name, version: value(root.appending("version"))?.intValue ?? 1,
                             description: value(root.appending("description"))?.stringValue,
                             sourceFile: document.file, source: source, targets: targets, routes: routes, pull: pull)
    }

    private mutating func buildSource(at pointer: JSONPointer) -> WebhookSource {
        let verify = pointer.appending("verify")
        let scheme = SignatureScheme(rawValue: value(verify.appending("scheme"))?.stringValue ?? "") ?? .none
        let secrets = secrets(at: verify)
        let publicKeys = publicKeys(at: verify, scheme: scheme)
        var tolerance: Duration? = scheme.defaultTolerance
        if let written = value(verify.appending("tolerance")) {
            let parsed = duration(written, at: verify.appending("tolerance"))
            if scheme.signsTimestamp || value(verify.appending("timestamp_header")) != nil || value(verify.appending("timestamp_field")) != nil {
                tolerance = parsed
            } else {
                warning("tolerance has no effect: scheme \(scheme.rawValue) signs no timestamp", at: verify.appending("tolerance"))
            }
        }
        let hmac = scheme.isGeneric ? hmacSettings(at: verify) : nil
        if hmac?.signsTimestamp == true, tolerance == nil { tolerance = .seconds(300) }
        if scheme == .none {
            warning("webhook signatures are not verified (scheme none): anyone who can reach \(value(pointer.appending("path"))?.stringValue ?? "the path") can post events; restrict it with allow_ips",
                    at: verify.appending("scheme"))
        }
        let publicURL = value(verify.appending("public_url")).map { configString($0, at: verify.appending("public_url")) }
        if let publicURL { checkURL(publicURL, allowInsecure: false, at: verify.appending("public_url")) }
        let idHeader = value(verify.appending("id_header"))?.stringValue
        let eventID = expression(at: pointer.appending("event_id"))
        if eventID == nil, idHeader == nil, scheme.deliveryIDHeader == nil {
            warning("no event_id: scheme \(scheme.rawValue) sends no delivery id, so duplicates are recognised only by an identical body; set event_id to the vendor's event id",
                    at: pointer.appending("path"))
        }
        var maxBody = 1 << 20
        if let written = value(pointer.appending("max_body")) {
            let text = written.intValue.map(String.init) ?? written.stringValue ?? ""
            if let size = StringSyntax.size(text), size > 0, size <= 32 << 20 {
                maxBody = size
            } else {
                error("max_body must be at most 32MB (got \(written))", at: pointer.appending("max_body"))
            }
        }
        var networks: [String] = []
        for (index, network) in (value(pointer.appending("allow_ips"))?.arrayValue ?? []).enumerated() {
            let text = network.stringValue ?? ""
            if Self.isValidCIDR(text) {
                networks.append(text)
            } else {
                error("'\(text)' is not a valid network in CIDR notation (such as 192.0.2.0/24 or 2001:db8::/32)",
                      at: pointer.appending("allow_ips").appending(index))
            }
        }
        // Twilio posts forms (and JSON for a few products): its default accepts both, or its posts would get 415.
        let defaultTypes: [JSON] = scheme == .twilio ? ["form", "json"] : ["json"]
        let contentTypes = (value(pointer.appending("content_types"))?.arrayValue ?? defaultTypes)
            .compactMap { $0.stringValue.flatMap(WebhookSource.ContentType.init(rawValue:)) }
        return WebhookSource(
            path: value(pointer.appending("path"))?.stringValue ?? "/",
            verification: Verification(scheme: scheme, secrets: secrets, tolerance: tolerance, publicURL: publicURL,
                                       idHeader: idHeader, hmac: hmac, publicKeys: publicKeys),
            eventID: eventID, eventType: expression(at: pointer.appending("event_type")),
            maxBodyBytes: maxBody, allowedNetworks: networks, contentTypes: contentTypes,
            handshake: buildHandshake(at: pointer.appending("handshake"), scheme: scheme, hasSecret: !secrets.isEmpty),
            payloadSchema: value(pointer.appending("payload_schema")),
            payloadSchemas: Dictionary(uniqueKeysWithValues: (value(pointer.appending("payload_schemas"))?.objectValue ?? JSONObject())
                .map { ($0.key, $0.value) }),
            split: expression(at: pointer.appending("split")))
    }

    private mutating func buildHandshake(at pointer: JSONPointer, scheme: SignatureScheme, hasSecret: Bool) -> Handshake? {
        guard value(pointer) != nil else { return nil }
        let preset = value(pointer.appending("preset"))?.stringValue.flatMap(Handshake.Preset.init(rawValue:))
        let verifyToken = value(pointer.appending("verify_token")).map { secretString($0, at: pointer.appending("verify_token")) }
        if preset == .meta, verifyToken == nil {
            error("the meta handshake needs verify_token: the token set on the subscription, compared with hub.verify_token", at: pointer)
        }
        if let preset, [.slack, .zoom, .x].contains(preset), !hasSecret {
            error("the \(preset.rawValue) handshake is signed or answered with the webhook's secret: set verify.secret", at: pointer)
        }
        var match: Handshake.Match?
        var respond: Handshake.Respond?
        if value(pointer.appending("match")) != nil {
            let at = pointer.appending("match")
            let method = value(at.appending("method"))?.stringValue ?? "POST"
            match = Handshake.Match(method: method, query: (value(at.appending("query"))?.arrayValue ?? []).compactMap(\.stringValue),
                                    when: expression(at: at.appending("when")),
                                    verified: value(at.appending("verified"))?.boolValue ?? (method == "POST"))
        }
        if value(pointer.appending("respond")) != nil {
            let at = pointer.appending("respond")
            var headers: [Header] = []
            for (name, _) in value(at.appending("headers"))?.objectValue ?? JSONObject() {
                if let source = expression(at: at.appending("headers").appending(name)) {
                    headers.append(Header(name: name, value: .expression(source)))
                }
            }
            respond = Handshake.Respond(status: value(at.appending("status"))?.intValue ?? 200,
                                        contentType: value(at.appending("content_type"))?.stringValue ?? "",
                                        body: expression(at: at.appending("body")), headers: headers)
        }
        return Handshake(preset: preset, verifyToken: verifyToken, match: match, respond: respond)
    }

    /// `secret` and `secrets` of a verify or sign block, in that order.
    private mutating func secrets(at pointer: JSONPointer) -> [ConfigString] {
        var secrets: [ConfigString] = []
        if let secret = value(pointer.appending("secret")) {
            secrets.append(secretString(secret, at: pointer.appending("secret")))
        }
        for (index, secret) in (value(pointer.appending("secrets"))?.arrayValue ?? []).enumerated() {
            secrets.append(secretString(secret, at: pointer.appending("secrets").appending(index)))
        }
        return secrets
    }

    /// `public_key` and `public_keys` of a verify block, in that order; a key written in the file is read now, so
    /// that a malformed one is an error here rather than when the engine starts.
    private mutating func publicKeys(at pointer: JSONPointer, scheme: SignatureScheme) -> [ConfigString] {
        var keys: [(ConfigString, JSONPointer)] = []
        if let key = value(pointer.appending("public_key")) {
            keys.append((configString(key, at: pointer.appending("public_key")), pointer.appending("public_key")))
        }
        for (index, key) in (value(pointer.appending("public_keys"))?.arrayValue ?? []).enumerated() {
            let at = pointer.appending("public_keys").appending(index)
            keys.append((configString(key, at: at), at))
        }
        if let algorithm = scheme.keyAlgorithm {
            for (key, at) in keys {
                guard let text = key.literalValue else { continue }
                do throws(KeyError) {
                    _ = try VerifyingKey(text, algorithm: algorithm)
                } catch {
                    self.error("\(at.dotted): \(error.description)", at: at)
                }
            }
        }
        return keys.map(\.0)
    }

    /// The generic schemes' settings of a verify or sign block, with their defaults.
    private mutating func hmacSettings(at pointer: JSONPointer) -> HMACSettings {
        let settings = HMACSettings(
            header: value(pointer.appending("header"))?.stringValue ?? "",
            algorithm: HMACSettings.Algorithm(rawValue: value(pointer.appending("algorithm"))?.stringValue ?? "") ?? .sha256,
            encoding: HMACSettings.Encoding(rawValue: value(pointer.appending("encoding"))?.stringValue ?? "") ?? .hex,
            prefix: value(pointer.appending("prefix"))?.stringValue ?? "",
            timestampHeader: value(pointer.appending("timestamp_header"))?.stringValue,
            stringToSign: value(pointer.appending("string_to_sign"))?.stringValue ?? "{body}",
            signatureField: value(pointer.appending("signature_field"))?.stringValue,
            timestampField: value(pointer.appending("timestamp_field"))?.stringValue,
            timestampFormat: HMACSettings.TimestampFormat(rawValue: value(pointer.appending("timestamp_format"))?.stringValue ?? "") ?? .unix)
        checkStringToSign(settings.stringToSign, at: pointer.appending("string_to_sign"))
        for key in ["signature_field", "timestamp_field"] {
            if let text = value(pointer.appending(key))?.stringValue, JSONPointer(text) == nil {
                error("\(key) must be a JSON Pointer such as /signature/value (got '\(text)')", at: pointer.appending(key))
            }
        }
        if settings.signatureField != nil, settings.stringToSign.contains("{body}") {
            error("string_to_sign cannot sign {body} when the signature is in the body (signature_field): sign the fields that carry the data, e.g. {json:/signature/timestamp}{json:/signature/token}",
                  at: pointer.appending("string_to_sign"))
        }
        return settings
    }

    private mutating func checkStringToSign(_ text: String, at pointer: JSONPointer) {
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else {
                error("string_to_sign has an unclosed '{'", at: pointer)
                return
            }
            let name = rest[rest.index(after: open)..<close]
            if name.hasPrefix("json:"), JSONPointer(String(name.dropFirst(5))) == nil {
                error("string_to_sign placeholder {\(name)}: '\(name.dropFirst(5))' is not a JSON Pointer (such as /signature/token)", at: pointer)
            } else if !["body", "timestamp", "method", "url"].contains(name), !name.hasPrefix("header:"), !name.hasPrefix("json:") {
                let suggestion = Suggestion.closest(to: String(name), in: ["body", "timestamp", "method", "url"])
                error("string_to_sign placeholder {\(name)} is unknown (use {body}, {timestamp}, {method}, {url}, {header:NAME} or {json:/POINTER})"
                      + (suggestion.map { "; did you mean {\($0)}?" } ?? ""), at: pointer)
            }
            rest = rest[rest.index(after: close)...]
        }
    }

    private mutating func buildTarget(_ name: String, at pointer: JSONPointer) -> TargetPlan {
        let allowInsecure = value(pointer.appending("allow_insecure"))?.boolValue ?? false
        let endpoints = buildEndpoints(at: pointer.appending("endpoints"))
        let baseURL = configString(value(pointer.appending("base_url")) ?? "", at: pointer.appending("base_url"))
        if endpoints == nil { checkURL(baseURL, allowInsecure: allowInsecure, at: pointer.appending("base_url")) }

        // Endpoints targets: 15 s for an answer, as Svix gives its receivers.
        let timeout = value(pointer.appending("timeout")).map { duration($0, at: pointer.appending("timeout")) }
            ?? (endpoints == nil ? .seconds(30) : .seconds(15))
        var rateLimit: RateLimit?
        if let limit = value(pointer.appending("rate_limit")) {
            rateLimit = RateLimit(requests: limit["requests"]?.intValue ?? 1,
                                  per: duration(limit["per"] ?? "", at: pointer.appending("rate_limit").appending("per")),
                                  pool: limit["pool"]?.stringValue)
        }
        let retryPointer = pointer.appending("retry")
        let backoff = retryPointer.appending("backoff")
        let defaults = RetryPolicy.defaults
        var schedule = value(retryPointer.appending("schedule"))?.arrayValue.map { items in
            items.enumerated().map { index, item in duration(item, at: retryPointer.appending("schedule").appending(index)) }
        }
        if schedule == nil, endpoints != nil, value(retryPointer.appending("backoff")) == nil { schedule = RetryPolicy.endpointsSchedule }
        // A schedule's attempts are its waits and one; it may take their sum and a day more.
        let scheduleElapsed = schedule.map { $0.reduce(Duration.zero, +) + .seconds(86_400) }
        var retry = RetryPolicy(
            maxAttempts: value(retryPointer.appending("max_attempts"))?.intValue ?? schedule.map { $0.count + 1 } ?? defaults.maxAttempts,
            maxElapsed: value(retryPointer.appending("max_elapsed")).map { duration($0, at: retryPointer.appending("max_elapsed")) }
                ?? scheduleElapsed ?? defaults.maxElapsed,
            initialBackoff: value(backoff.appending("initial")).map { duration($0, at: backoff.appending("initial")) } ?? defaults.initialBackoff,
            maxBackoff: value(backoff.appending("max")).map { duration($0, at: backoff.appending("max")) } ?? defaults.maxBackoff,
            multiplier: value(backoff.appending("multiplier"))?.numberValue ?? defaults.multiplier,
            jitter: RetryPolicy.Jitter(rawValue: value(backoff.appending("jitter"))?.stringValue ?? "") ?? defaults.jitter)
        retry.schedule = schedule
        if retry.initialBackoff > retry.maxBackoff {
            error("\(backoff.dotted).initial (\(retry.initialBackoff.manifoldText)) is longer than \(backoff.dotted).max (\(retry.maxBackoff.manifoldText))",
                  at: value(backoff.appending("initial")) != nil ? backoff.appending("initial") : backoff.appending("max"))
        }
        if retry.maxAttempts > 1, timeout >= retry.maxElapsed {
            warning("timeout (\(timeout.manifoldText)) is not shorter than retry.max_elapsed (\(retry.maxElapsed.manifoldText)): a timed-out call is never retried",
                    at: pointer.appending("timeout"))
        }
        let breaker = pointer.appending("circuit_breaker")
        let circuitBreaker = CircuitBreakerPolicy(
            failures: value(breaker.appending("failures"))?.intValue ?? CircuitBreakerPolicy.defaults.failures,
            openFor: value(breaker.appending("open_for")).map { duration($0, at: breaker.appending("open_for")) } ?? CircuitBreakerPolicy.defaults.openFor)

        var signing: OutboundSigning?
        let sign = pointer.appending("sign")
        if value(sign) != nil {
            let scheme = SignatureScheme(rawValue: value(sign.appending("scheme"))?.stringValue ?? "") ?? .standardWebhooks
            signing = OutboundSigning(scheme: scheme, secrets: secrets(at: sign),
                                      hmac: scheme == .hmac ? hmacSettings(at: sign) : nil)
        }
        var operations: [OperationPlan] = []
        for (operationName, _) in value(pointer.appending("operations"))?.objectValue ?? JSONObject() {
            operations.append(buildOperation(operationName, at: pointer.appending("operations").appending(operationName)))
        }
        if endpoints != nil {
            // One operation, POST to each endpoint's URL, signed with the endpoint's own secrets.
            operations = [OperationPlan(name: TargetPlan.endpointsOperation, method: .POST, path: ConfigString(literal: ""),
                                        headers: [], query: [], bodySchema: nil)]
            signing = OutboundSigning(scheme: .standardWebhooks, secrets: [], hmac: nil)
        }
        var target = TargetPlan(
            name: name, baseURL: baseURL, allowInsecure: allowInsecure, auth: buildAuth(at: pointer.appending("auth")),
            timeout: timeout, concurrency: value(pointer.appending("concurrency"))?.intValue ?? (endpoints == nil ? 4 : 2),
            rateLimit: rateLimit, retry: retry, circuitBreaker: circuitBreaker, headers: headers(at: pointer.appending("headers")),
            signing: signing, operations: operations)
        target.endpoints = endpoints
        target.description = value(pointer.appending("description"))?.stringValue
        return target
    }

    private mutating func buildEndpoints(at pointer: JSONPointer) -> EndpointsSettings? {
        guard value(pointer) != nil else { return nil }
        return EndpointsSettings(
            tenant: expression(at: pointer.appending("tenant")) ?? ExpressionSource("''"),
            eventType: expression(at: pointer.appending("event_type")),
            autoDisableAfter: value(pointer.appending("auto_disable_after")).map { duration($0, at: pointer.appending("auto_disable_after")) }
                ?? .seconds(5 * 86_400),
            allowPrivateNetworks: value(pointer.appending("allow_private_networks"))?.boolValue ?? false,
            allowInsecure: value(pointer.appending("allow_insecure"))?.boolValue ?? false)
    }

    private mutating func buildAuth(at pointer: JSONPointer) -> AuthMethod {
        guard let auth = value(pointer), let object = auth.objectValue, let kind = object.keys.first else { return .none }
        let inner = pointer.appending(kind)
        func field(_ name: String) -> JSON { auth[kind]?[name] ?? "" }
        switch kind {
        case "api_key":
            let placement: AuthMethod.APIKeyPlacement = field("header").stringValue.map { .header($0) } ?? .query(field("query").stringValue ?? "")
            return .apiKey(placement: placement, value: secretString(field("value"), at: inner.appending("value")))
        case "bearer":
            return .bearer(token: secretString(field("token"), at: inner.appending("token")))
        case "basic":
            return .basic(username: configString(field("username"), at: inner.appending("username")),
                          password: secretString(field("password"), at: inner.appending("password")))
        case "oauth2":
            let tokenURL = configString(field("token_url"), at: inner.appending("token_url"))
            checkURL(tokenURL, allowInsecure: false, at: inner.appending("token_url"))
            return .oauth2(OAuth2Settings(
                grant: OAuth2Settings.Grant(rawValue: field("grant").stringValue ?? "") ?? .clientCredentials,
                tokenURL: tokenURL,
                clientID: configString(field("client_id"), at: inner.appending("client_id")),
                clientSecret: secretString(field("client_secret"), at: inner.appending("client_secret")),
                refreshToken: auth[kind]?["refresh_token"].map { secretString($0, at: inner.appending("refresh_token")) },
                scope: auth[kind]?["scope"]?.stringValue, audience: auth[kind]?["audience"]?.stringValue))
        default:
            return .none
        }
    }

    private mutating func buildOperation(_ name: String, at pointer: JSONPointer) -> OperationPlan {
        let path = configString(value(pointer.appending("path")) ?? "/", at: pointer.appending("path"))
        if let literal = path.parts.first, case .literal(let text) = literal, !text.hasPrefix("/") {
            error("operation path must start with / (got \"\(path)\")", at: pointer.appending("path"))
        }
        let bodySchema = value(pointer.appending("body_schema"))
        return OperationPlan(
            name: name, method: OperationPlan.Method(rawValue: value(pointer.appending("method"))?.stringValue ?? "") ?? .POST,
            path: path, headers: headers(at: pointer.appending("headers")), query: headers(at: pointer.appending("query")),
            bodySchema: bodySchema)
    }

    private mutating func buildRoute(at pointer: JSONPointer, targets: [TargetPlan]) -> RoutePlan? {
        let name = value(pointer.appending("name"))?.stringValue ?? ""
        guard value(pointer.appending("steps")) != nil else {
            guard var route = buildCall(at: pointer, name: name, label: "route '\(name)'", targets: targets) else { return nil }
            route.condition = expression(at: pointer.appending("when"))
            route.orderingKey = expression(at: pointer.appending("ordering_key"))
            route.description = value(pointer.appending("description"))?.stringValue
            return route
        }
        // A flow: its steps, then its failure steps; names unique over both, each `$steps.NAME` read only after it ran.
        var names: [String: JSONPointer] = [:]
        // Every name the flow has, to tell a step that runs later from one that does not exist.
        let everyName = ["steps", "on_failure"].flatMap { key in
            (value(pointer.appending(key))?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        }
        var steps: [StepPlan] = []
        var onFailure: [StepPlan] = []
        for (list, key) in [(0, "steps"), (1, "on_failure")] {
            for (index, _) in (value(pointer.appending(key))?.arrayValue ?? []).enumerated() {
                let at = pointer.appending(key).appending(index)
                guard let step = buildStep(at: at, route: name, targets: targets) else { continue }
                if let first = names[step.name] {
                    error("step name '\(step.name)' is used twice in route '\(name)'; step names must be unique in a route",
                          at: at.appending("name"), notes: [Diagnostic.Note("first used here", at: document.location(of: first))])
                } else {
                    names[step.name] = at.appending("name")
                }
                // A failure step reads every step of the flow (those that completed are there) and the failure steps before it.
                let readable = list == 0 ? steps.map(\.name) : steps.map(\.name) + onFailure.map(\.name)
                checkStepReferences(step, at: at, readable: readable, all: everyName, route: name)
                if list == 0 { steps.append(step) } else { onFailure.append(step) }
            }
        }
        if !onFailure.isEmpty, !onFailure.contains(where: { $0.call != nil }) {
            error("route '\(name)': on_failure has no step that calls an operation, so a failure would be told to no one",
                  at: pointer.appending("on_failure"))
        }
        guard let first = steps.first(where: { $0.call != nil })?.call else {
            error("route '\(name)': a flow needs at least one step that calls an operation", at: pointer.appending("steps"))
            return nil
        }
        var route = RoutePlan(name: name, condition: expression(at: pointer.appending("when")), target: first.target,
                              operation: first.operation, body: nil, headers: [], query: [], pathParameters: [],
                              idempotencyKey: nil, orderingKey: expression(at: pointer.appending("ordering_key")))
        route.description = value(pointer.appending("description"))?.stringValue
        route.steps = steps
        route.onFailure = onFailure
        return route
    }

    /// One step of a flow: a call (built as a route's call is) or a transform.
    private mutating func buildStep(at pointer: JSONPointer, route: String, targets: [TargetPlan]) -> StepPlan? {
        let name = value(pointer.appending("name"))?.stringValue ?? ""
        var call: RoutePlan?
        if value(pointer.appending("call")) != nil {
            call = buildCall(at: pointer, name: name, label: "route '\(route)', step '\(name)'", targets: targets)
            guard let made = call else { return nil }
            if targets.first(where: { $0.name == made.target })?.endpoints != nil {
                error("route '\(route)', step '\(name)' calls \(made.call), which sends to customers' endpoints: a flow's step calls one API; send to endpoints from a route",
                      at: pointer.appending("call"))
            }
        }
        let forEach = expression(at: pointer.appending("for_each"))
        let maxItems = value(pointer.appending("max_items"))?.intValue ?? StepPlan.maximumItems
        var step = StepPlan(name: name, condition: expression(at: pointer.appending("when")), call: call,
                            value: value(pointer.appending("set")).map { template($0, at: pointer.appending("set")) },
                            forEach: forEach, maxItems: maxItems,
                            onElementFailure: StepPlan.ElementFailure(rawValue: value(pointer.appending("on_element_failure"))?.stringValue ?? "") ?? .fail)
        step.description = value(pointer.appending("description"))?.stringValue
        return step
    }

    /// Every `$steps.NAME` a step reads must name a step that ran before it: a later step's result is not there yet,
    /// and a misspelt one never is.
    private mutating func checkStepReferences(_ step: StepPlan, at pointer: JSONPointer, readable: [String], all: [String],
                                              route: String)
    {
        let templates: [Template] = [step.call?.body, step.value].compactMap { $0 }
            + (step.call.map { ($0.headers + $0.query + $0.pathParameters).map(\.value) } ?? [])
        let expressions = templates.flatMap(\.expressions) + [step.condition, step.forEach, step.call?.idempotencyKey].compactMap { $0 }
        for expression in expressions {
            for reference in StepPlan.references(in: expression.source) where !readable.contains(reference) {
                let message: String
                if reference == step.name {
                    message = "step '\(step.name)' reads its own result ($steps.\(reference)): a step reads only the steps before it"
                } else if all.contains(reference) {
                    message = "step '\(step.name)' reads $steps.\(reference), which runs after it: a step reads only the steps before it"
                } else {
                    let suggestion = Suggestion.closest(to: reference, in: readable)
                    message = "step '\(step.name)' reads $steps.\(reference), but route '\(route)' has no step '\(reference)' before it"
                        + (suggestion.map { "; did you mean $steps.\($0)?" } ?? (readable.isEmpty ? "" : " (before it: \(readable.joined(separator: ", ")))"))
                }
                error(message, at: location(of: expression.source, in: pointer))
            }
        }
    }

    /// Where a step writes an expression: the string that holds its text, else the step itself.
    private func location(of source: String, in pointer: JSONPointer) -> JSONPointer {
        func search(_ value: JSON, at pointer: JSONPointer) -> JSONPointer? {
            switch value {
            case .string(let text): return text.contains(source) ? pointer : nil
            case .array(let elements):
                for (index, element) in elements.enumerated() { if let found = search(element, at: pointer.appending(index)) { return found } }
                return nil
            case .object(let members):
                for (key, member) in members { if let found = search(member, at: pointer.appending(key)) { return found } }
                return nil
            default: return nil
            }
        }
        return value(pointer).flatMap { search($0, at: pointer) } ?? pointer
    }

    /// A call as a route or a step writes it: `call: target.operation`, its mapping and idempotency key, checked
    /// against the target's operations, path placeholders and body schema.
    private mutating func buildCall(at pointer: JSONPointer, name: String, label: String, targets: [TargetPlan]) -> RoutePlan? {
        let call = value(pointer.appending("call"))?.stringValue ?? ""
        let parts = call.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        let (targetName, operationName) = (parts[0], parts[1])
        let routePath = headers(at: pointer.appending("path"))
        if let target = targets.first(where: { $0.name == targetName }) {
            if let operation = target.operation(named: operationName) {
                if let schema = operation.bodySchema, let body = value(pointer.appending("body")) {
                    for finding in BodySchemaCheck.check(body, at: pointer.appending("body"), schema: schema, operation: call) {
                        switch finding.severity {
                        case .error: error("\(label): " + finding.message, at: finding.pointer, key: finding.atKey)
                        case .warning:
                            diagnostics.append(.warning("\(label): " + finding.message,
                                                        at: finding.atKey ? document.keyLocation(of: finding.pointer) : document.location(of: finding.pointer)))
                        }
                    }
                }
                let placeholders = operation.pathParameters
                for missing in placeholders where !routePath.contains(where: { $0.name == missing }) {
                    error("\(label) calls \(call), whose path \(operation.path) needs a value for {\(missing)}: add path: { \(missing): ... }",
                          at: pointer.appending("call"))
                }
                for extra in routePath where !placeholders.contains(extra.name) {
                    let suggestion = Suggestion.closest(to: extra.name, in: placeholders)
                    error("path value '\(extra.name)' matches no {placeholder} in \(call)'s path \(operation.path)"
                          + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
                          at: pointer.appending("path").appending(extra.name), key: true)
                }
            } else {
                let suggestion = Suggestion.closest(to: operationName, in: target.operations.map(\.name))
                error("target '\(targetName)' has no operation '\(operationName)'"
                      + (suggestion.map { "; did you mean '\(targetName).\($0)'?" }
                         ?? " (it has: \(target.operations.map(\.name).joined(separator: ", ")))"),
                      at: pointer.appending("call"))
            }
        } else {
            let suggestion = Suggestion.closest(to: targetName, in: targets.map(\.name))
            error("\(label) calls unknown target '\(targetName)'"
                  + (suggestion.map { "; did you mean '\($0).\(operationName)'?" }
                     ?? " (targets: \(targets.map(\.name).joined(separator: ", ")))"),
                  at: pointer.appending("call"))
        }
        var made = RoutePlan(
            name: name, condition: nil, target: targetName, operation: operationName,
            body: value(pointer.appending("body")).map { template($0, at: pointer.appending("body")) },
            headers: headers(at: pointer.appending("headers")), query: headers(at: pointer.appending("query")),
            pathParameters: routePath, idempotencyKey: expression(at: pointer.appending("idempotency_key")))
        made.successWhen = expression(at: pointer.appending("success_when"))
        return made
    }

    // MARK: Values

    mutating func duration(_ written: JSON, at pointer: JSONPointer) -> Duration {
        guard let text = written.stringValue, let parsed = StringSyntax.duration(text) else {
            error("\(pointer.dotted) must be a duration such as 250ms, 10s, 5m or 1h (got \(written))", at: pointer)
            return .zero
        }
        if parsed == .zero {
            error("\(pointer.dotted) must be longer than 0 (got \(text))", at: pointer)
        }
        return parsed
    }

    mutating func configString(_ written: JSON, at pointer: JSONPointer) -> ConfigString {
        do {
            return try StringSyntax.configString(written.stringValue ?? "")
        } catch {
            self.error("\(pointer.dotted): \(error.message)", at: pointer)
            return ConfigString(literal: "")
        }
    }

    /// A secret: a reference is expected; a value written inline is accepted with a warning.
    private mutating func secretString(_ written: JSON, at pointer: JSONPointer) -> ConfigString {
        let string = configString(written, at: pointer)
        if !string.hasReferences {
            warning("\(pointer.dotted) is written inline: use ${env:NAME} or ${file:PATH} so the secret stays out of the repository",
                    at: pointer)
        }
        return string
    }

    mutating func expression(at pointer: JSONPointer) -> ExpressionSource? {
        guard let text = value(pointer)?.stringValue else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{%") {
            error("\(pointer.dotted) is an expression already: write it without {% %}", at: pointer)
            return ExpressionSource(trimmed)
        }
        checkSyntax(trimmed, at: pointer)
        checkDashedNames(trimmed, at: pointer)
        return ExpressionSource(trimmed)
    }

    /// Warns on `event-data.id`: JSONata reads a bare dash as a minus, so the expression gives nothing where the
    /// author meant the field `event-data` (and an event id that gives nothing quarantines every event).
    private mutating func checkDashedNames(_ source: String, at pointer: JSONPointer) {
        for name in DashedNames.find(in: source) {
            let parts = name.split(separator: "-")
            warning("\(pointer.dotted): '\(name)' reads as \(parts.joined(separator: " minus ")) in JSONata; for the field '\(name)' write `\(name)` (in backticks)",
                    at: pointer)
        }
    }

    /// Parses a JSONata expression and reports a syntax error with its code and character position.
    private mutating func checkSyntax(_ source: String, at pointer: JSONPointer) {
        do {
            _ = try JSONataExpression(source)
        } catch {
            let position = error.position.map { " at character \($0)" } ?? ""
            self.error("\(pointer.dotted): invalid expression\(position): \(error.message) (\(error.code))", at: pointer)
        }
    }

    mutating func template(_ written: JSON, at pointer: JSONPointer) -> Template {
        switch written {
        case .string(let text):
            do {
                let template = try StringSyntax.template(text)
                for expression in template.expressions { checkSyntax(expression.source, at: pointer) }
                return template
            } catch {
                self.error("\(pointer.dotted): \(error.message)", at: pointer)
                return .literal(written)
            }
        case .array(let elements):
            return .array(elements.enumerated().map { template($1, at: pointer.appending($0)) })
        case .object(let object):
            return .object(object.map { (key: $0.key, value: template($0.value, at: pointer.appending($0.key))) })
        default:
            return .literal(written)
        }
    }

    mutating func headers(at pointer: JSONPointer) -> [Header] {
        (value(pointer)?.objectValue ?? JSONObject()).map { name, written in
            let header = pointer.appending(name)
            if name.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" || $0 == " " }) {
                error("'\(name)' is not a valid header or parameter name", at: header, key: true)
            }
            if let text = written.stringValue, text.contains(where: { $0 == "\r" || $0 == "\n" }) {
                error("\(header.dotted) must not contain a line break", at: header)
            }
            return Header(name: name, value: template(written, at: header))
        }
    }

    /// Checks that a URL is absolute and uses https (or http to loopback, or with `allow_insecure`).
    private mutating func checkURL(_ url: ConfigString, allowInsecure: Bool, at pointer: JSONPointer) {
        guard case .literal(let prefix)? = url.parts.first else { return }
        let lowered = prefix.lowercased()
        if lowered.hasPrefix("https://") { return }
        guard lowered.hasPrefix("http://") else {
            error("\(pointer.dotted) must be an absolute https:// URL (got \"\(url)\")", at: pointer)
            return
        }
        guard url.literalValue != nil, let host = URLComponents(string: prefix)?.host?.lowercased() else {
            if !allowInsecure {
                error("\(pointer.dotted) uses plain http: use https, or set allow_insecure: true", at: pointer)
            }
            return
        }
        let loopback = host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
        if !loopback, !allowInsecure {
            error("\(pointer.dotted) uses plain http to \(host): use https, or set allow_insecure: true if the network is trusted", at: pointer)
        }
    }

    static func isValidCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let prefix = Int(parts[1]) else { return false }
        let address = String(parts[0])
        if address.contains(":") {
            var storage = in6_addr()
            return prefix <= 128 && inet_pton(AF_INET6, address, &storage) == 1
        }
        var storage = in_addr()
        return prefix <= 32 && inet_pton(AF_INET, address, &storage) == 1
    }
}
