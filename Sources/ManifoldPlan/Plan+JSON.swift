public import JSONValue

extension ConnectorPlan {
    /// The connector as JSON, with every effective value; the input of the plan version hash.
    public var json: JSON {
        var object: JSONObject = ["connector": .string(name), "version": .number(Double(version))]
        if let description { object["description"] = .string(description) }
        // A webhook as it always was (plan versions stay the same); a pull under its kind (`poll`, ...).
        object["source"] = source?.json ?? pull?.json ?? .null
        object["targets"] = .object(JSONObject(targets.map { ($0.name, $0.json) }))
        object["routes"] = .array(routes.map(\.json))
        return .object(object)
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.init(elements)
    }
}

extension WebhookSource {
    /// As JSON, with every effective value.
    public var json: JSON {
        var object: JSONObject = ["path": .string(path), "verify": verification.json]
        if let split { object["split"] = .string(split.source) }
        if let eventID { object["event_id"] = .string(eventID.source) }
        if let eventType { object["event_type"] = .string(eventType.source) }
        object["max_body_bytes"] = .number(Double(maxBodyBytes))
        if !allowedNetworks.isEmpty { object["allow_ips"] = .array(allowedNetworks.map(JSON.string)) }
        object["content_types"] = .array(contentTypes.map { .string($0.rawValue) })
        if let handshake { object["handshake"] = handshake.json }
        if let payloadSchema { object["payload_schema"] = payloadSchema }
        if !payloadSchemas.isEmpty {
            object["payload_schemas"] = .object(JSONObject(payloadSchemas.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        }
        return .object(object)
    }
}

extension Handshake {
    /// As JSON, with every effective value (the verify token as its reference).
    public var json: JSON {
        var object = JSONObject()
        if let preset { object["preset"] = .string(preset.rawValue) }
        if let verifyToken { object["verify_token"] = .string(verifyToken.description) }
        if let match {
            var matching: JSONObject = ["method": .string(match.method), "verified": .bool(match.verified)]
            if !match.query.isEmpty { matching["query"] = .array(match.query.map(JSON.string)) }
            if let when = match.when { matching["when"] = .string(when.source) }
            object["match"] = .object(matching)
        }
        if let respond {
            var answer: JSONObject = ["status": .number(Double(respond.status))]
            if !respond.contentType.isEmpty { answer["content_type"] = .string(respond.contentType) }
            if let body = respond.body { answer["body"] = .string(body.source) }
            if !respond.headers.isEmpty { answer["headers"] = respond.headers.json }
            object["respond"] = .object(answer)
        }
        return .object(object)
    }
}

extension Verification {
    /// As JSON, with every effective value.
    public var json: JSON {
        var object: JSONObject = ["scheme": .string(scheme.rawValue)]
        if !secrets.isEmpty { object["secrets"] = .array(secrets.map { .string($0.description) }) }
        if !publicKeys.isEmpty { object["public_keys"] = .array(publicKeys.map { .string($0.description) }) }
        if let tolerance { object["tolerance"] = .string(tolerance.manifoldText) }
        if let publicURL { object["public_url"] = .string(publicURL.description) }
        if let idHeader { object["id_header"] = .string(idHeader) }
        if let hmac { object["hmac"] = hmac.json }
        return .object(object)
    }
}

extension HMACSettings {
    /// As JSON, with every effective value.
    public var json: JSON {
        var settings: JSONObject = ["header": .string(header), "algorithm": .string(algorithm.rawValue),
                                    "encoding": .string(encoding.rawValue), "prefix": .string(prefix),
                                    "string_to_sign": .string(stringToSign)]
        if let timestampHeader { settings["timestamp_header"] = .string(timestampHeader) }
        if let signatureField { settings["signature_field"] = .string(signatureField) }
        if let timestampField { settings["timestamp_field"] = .string(timestampField) }
        if timestampFormat != .unix { settings["timestamp_format"] = .string(timestampFormat.rawValue) }
        return .object(settings)
    }
}

extension OutboundSigning {
    /// As JSON, with every effective value (secrets as their references).
    public var json: JSON {
        var object: JSONObject = ["scheme": .string(scheme.rawValue), "secrets": .array(secrets.map { .string($0.description) })]
        if let hmac { object["hmac"] = hmac.json }
        return .object(object)
    }
}

extension TargetPlan {
    /// As JSON, with every effective value.
    public var json: JSON {
        var object: JSONObject = ["base_url": .string(baseURL.description)]
        if let description { object["description"] = .string(description) }
        if allowInsecure { object["allow_insecure"] = true }
        object["auth"] = auth.json
        object["timeout"] = .string(timeout.manifoldText)
        object["concurrency"] = .number(Double(concurrency))
        if let rateLimit {
            var limit: JSONObject = ["requests": .number(Double(rateLimit.requests)), "per": .string(rateLimit.per.manifoldText)]
            if let pool = rateLimit.pool { limit["pool"] = .string(pool) }
            object["rate_limit"] = .object(limit)
        }
        object["retry"] = [
            "max_attempts": .number(Double(retry.maxAttempts)),
            "max_elapsed": .string(retry.maxElapsed.manifoldText),
            "backoff": [
                "initial": .string(retry.initialBackoff.manifoldText), "max": .string(retry.maxBackoff.manifoldText),
                "multiplier": .number(retry.multiplier), "jitter": .string(retry.jitter.rawValue),
            ],
        ]
        if let schedule = retry.schedule {
            if case .object(var policy)? = object["retry"] {
                policy["schedule"] = .array(schedule.map { .string($0.manifoldText) })
                policy["backoff"] = nil
                object["retry"] = .object(policy)
            }
        }
        object["circuit_breaker"] = ["failures": .number(Double(circuitBreaker.failures)),
                                     "open_for": .string(circuitBreaker.openFor.manifoldText)]
        object["retry_budget"] = .string(worstCaseRetryBudget.manifoldText)
        if let endpoints {
            var settings: JSONObject = ["tenant": .string(endpoints.tenant.source),
                                        "auto_disable_after": .string(endpoints.autoDisableAfter.manifoldText)]
            if let type = endpoints.eventType { settings["event_type"] = .string(type.source) }
            if endpoints.allowPrivateNetworks { settings["allow_private_networks"] = true }
            if endpoints.allowInsecure { settings["allow_insecure"] = true }
            object["endpoints"] = .object(settings)
        }
        if !headers.isEmpty { object["headers"] = headers.json }
        if let signing { object["sign"] = signing.json }
        object["operations"] = .object(JSONObject(operations.map { ($0.name, $0.json) }))
        return .object(object)
    }
}

extension AuthMethod {
    /// As JSON, with every effective value.
    public var json: JSON {
        switch self {
        case .none:
            return "none"
        case .apiKey(let placement, let value):
            switch placement {
            case .header(let name): return ["api_key": ["header": .string(name), "value": .string(value.description)]]
            case .query(let name): return ["api_key": ["query": .string(name), "value": .string(value.description)]]
            }
        case .bearer(let token):
            return ["bearer": ["token": .string(token.description)]]
        case .basic(let username, let password):
            return ["basic": ["username": .string(username.description), "password": .string(password.description)]]
        case .oauth2(let settings):
            var object: JSONObject = ["grant": .string(settings.grant.rawValue), "token_url": .string(settings.tokenURL.description),
                                      "client_id": .string(settings.clientID.description),
                                      "client_secret": .string(settings.clientSecret.description)]
            if let token = settings.refreshToken { object["refresh_token"] = .string(token.description) }
            if let scope = settings.scope { object["scope"] = .string(scope) }
            if let audience = settings.audience { object["audience"] = .string(audience) }
            return ["oauth2": .object(object)]
        }
    }
}

extension OperationPlan {
    /// As JSON, with every effective value.
    public var json: JSON {
        var object: JSONObject = ["method": .string(method.rawValue), "path": .string(path.description)]
        if !headers.isEmpty { object["headers"] = headers.json }
        if !query.isEmpty { object["query"] = query.json }
        if let bodySchema { object["body_schema"] = bodySchema }
        return .object(object)
    }
}

extension RoutePlan {
    /// As JSON, with every effective value.
    public var json: JSON {
        var object: JSONObject = ["name": .string(name)]
        if let description { object["description"] = .string(description) }
        if let condition { object["when"] = .string(condition.source) }
        if isFlow {
            object["steps"] = .array(steps.map(\.json))
            if !onFailure.isEmpty { object["on_failure"] = .array(onFailure.map(\.json)) }
        } else {
            object["call"] = .string(call)
        }
        if let body { object["body"] = body.json }
        if !headers.isEmpty { object["headers"] = headers.json }
        if !query.isEmpty { object["query"] = query.json }
        if !pathParameters.isEmpty { object["path"] = pathParameters.json }
        if let idempotencyKey { object["idempotency_key"] = .string(idempotencyKey.source) }
        if let successWhen { object["success_when"] = .string(successWhen.source) }
        if let orderingKey { object["ordering_key"] = .string(orderingKey.source) }
        return .object(object)
    }
}

extension StepPlan {
    /// As JSON, with every effective value.
    public var json: JSON {
        var object: JSONObject = ["name": .string(name)]
        if let description { object["description"] = .string(description) }
        if let condition { object["when"] = .string(condition.source) }
        if let forEach {
            object["for_each"] = .string(forEach.source)
            object["max_items"] = .number(Double(maxItems))
            object["on_element_failure"] = .string(onElementFailure.rawValue)
        }
        if let call {
            object["call"] = .string(call.call)
            if let body = call.body { object["body"] = body.json }
            if !call.headers.isEmpty { object["headers"] = call.headers.json }
            if !call.query.isEmpty { object["query"] = call.query.json }
            if !call.pathParameters.isEmpty { object["path"] = call.pathParameters.json }
            if let key = call.idempotencyKey { object["idempotency_key"] = .string(key.source) }
            if let success = call.successWhen { object["success_when"] = .string(success.source) }
        }
        if let value { object["set"] = value.json }
        return .object(object)
    }
}

extension [Header] {
    var json: JSON {
        .object(JSONObject(map { ($0.name, $0.value.json) }))
    }
}
