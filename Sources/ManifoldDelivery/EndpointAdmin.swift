public import Foundation
public import JSONValue
public import ManifoldIngress
import ManifoldPlan
public import ManifoldStore

/// Managing customers' endpoints, for `manifold endpoints` and `/admin/endpoints`: each change checked (the URL's
/// form and addresses), recorded in the endpoint's history, and visible to a running engine within a sweep. A
/// secret is returned once, at creation or rotation, and stored only sealed.
public struct EndpointAdmin: Sendable {
    let store: any EndpointStore & EventStore & JobStore
    let box: SecretBox
    let policy: EndpointNetworkPolicy
    let now: @Sendable () -> Date

    public init(store: any EndpointStore & EventStore & JobStore, box: SecretBox, policy: EndpointNetworkPolicy,
                now: @escaping @Sendable () -> Date = { Date() })
    {
        self.store = store
        self.box = box
        self.policy = policy
        self.now = now
    }

    /// What a new endpoint is given.
    public struct Settings: Sendable {
        public var url: String
        public var eventTypes: [String]?
        public var headers: [String: String]
        public var rateLimit: Int?
        public var description: String?

        public init(url: String, eventTypes: [String]? = nil, headers: [String: String] = [:], rateLimit: Int? = nil,
                    description: String? = nil)
        {
            self.url = url
            self.eventTypes = eventTypes
            self.headers = headers
            self.rateLimit = rateLimit
            self.description = description
        }
    }

    private func checked(_ settings: Settings) throws -> Settings {
        try policy.check(settings.url)
        for (name, value) in settings.headers {
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != 58 }),
                  !value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 })
            else { throw EndpointError("header '\(name)' is not a valid header") }
            guard !["webhook-id", "webhook-timestamp", "webhook-signature", "host", "content-length"].contains(name.lowercased()) else {
                throw EndpointError("header '\(name)' is set by the engine")
            }
        }
        if let limit = settings.rateLimit, limit < 1 { throw EndpointError("rate_limit must be at least 1 call a second") }
        if let types = settings.eventTypes, types.isEmpty || types.contains(where: \.isEmpty) {
            throw EndpointError("event_types must list at least one type (omit it for every type)")
        }
        return settings
    }

    /// Registers an endpoint of `tenant`; returns it and its secret (shown once).
    public func add(tenant: String, _ settings: Settings) async throws -> (endpoint: StoredEndpoint, secret: String) {
        guard !tenant.isEmpty, !tenant.contains(where: { $0.isNewline }) else { throw EndpointError("the tenant must not be empty") }
        let settings = try checked(settings)
        let secret = SecretBox.newSecret()
        let at = now()
        let endpoint = StoredEndpoint(id: "ep_" + TraceContext.newSpanID(), tenant: tenant, url: settings.url,
                                      eventTypes: settings.eventTypes, headers: settings.headers, rateLimit: settings.rateLimit,
                                      description: settings.description, createdAt: at, updatedAt: at)
        try await store.addEndpoint(endpoint, sealedSecret: try box.seal(secret), at: at)
        return (endpoint, secret)
    }

    public func endpoint(_ id: String) async throws -> StoredEndpoint {
        guard let endpoint = try await store.endpoints(includingRemoved: true).first(where: { $0.id == id }) else {
            throw EndpointError("there is no endpoint \(id)")
        }
        return endpoint
    }

    public func list(tenant: String? = nil, includingRemoved: Bool = false) async throws -> [StoredEndpoint] {
        try await store.endpoints(includingRemoved: includingRemoved).filter { tenant == nil || $0.tenant == tenant }
    }

    /// Changes what is given; the rest stays.
    public func update(_ id: String, url: String? = nil, eventTypes: [String]?? = nil, headers: [String: String]? = nil,
                       rateLimit: Int?? = nil, description: String?? = nil) async throws -> StoredEndpoint
    {
        var endpoint = try await endpoint(id)
        guard endpoint.state != .removed else { throw EndpointError("endpoint \(id) was removed") }
        var settings = Settings(url: url ?? endpoint.url, eventTypes: eventTypes ?? endpoint.eventTypes,
                                headers: headers ?? endpoint.headers, rateLimit: rateLimit ?? endpoint.rateLimit,
                                description: description ?? endpoint.description)
        settings = try checked(settings)
        var changed: [String] = []
        if settings.url != endpoint.url { changed.append("url \(EndpointRegistry.displayURL(endpoint.url)) → \(EndpointRegistry.displayURL(settings.url))") }
        if settings.eventTypes != endpoint.eventTypes { changed.append("event types \(settings.eventTypes?.joined(separator: ",") ?? "all")") }
        if settings.headers != endpoint.headers { changed.append("headers \(settings.headers.keys.sorted().joined(separator: ","))") }
        if settings.rateLimit != endpoint.rateLimit { changed.append("rate limit \(settings.rateLimit.map { "\($0)/s" } ?? "none")") }
        if settings.description != endpoint.description { changed.append("description") }
        (endpoint.url, endpoint.eventTypes, endpoint.headers, endpoint.rateLimit, endpoint.description) =
            (settings.url, settings.eventTypes, settings.headers, settings.rateLimit, settings.description)
        try await store.updateEndpoint(endpoint, at: now(), note: changed.isEmpty ? "no change" : changed.joined(separator: "; "))
        return endpoint
    }

    public func disable(_ id: String, reason: String = "disabled by an operator") async throws {
        try await store.setEndpointState(id: id, state: .disabled, reason: reason, at: now())
    }

    /// Enables it again; with `replay`, the deliveries that failed while it was failing or disabled (its dead
    /// letters since `since`, by default since it started failing or was disabled) are sent again.
    public func enable(_ id: String, replay: Bool, router: Router?, since: Date? = nil, by actor: String) async throws -> Int {
        let endpoint = try await endpoint(id)
        guard endpoint.state != .removed else { throw EndpointError("endpoint \(id) was removed") }
        let from = since ?? endpoint.failingSince ?? (endpoint.state == .disabled ? endpoint.updatedAt : now())
        try await store.setEndpointState(id: id, state: .enabled, reason: "enabled by \(actor)", at: now())
        guard replay, let router else { return 0 }
        // Dead letters of this endpoint since it began failing (with a minute's margin before).
        let jobs = try await store.jobs(JobQuery(states: [.dead], since: from - 60, limit: 100_000, endpoint: id))
        let replayer = Replayer(store: store, router: router, loadRouter: { _ in nil })
        return try await replayer.replay(jobs: jobs, originalPlan: false, by: actor).replayed.count
    }

    /// A new secret that signs from now; the previous ones keep signing for `overlap`, so that the customer can
    /// switch without losing a delivery. Returns the new secret (shown once).
    public func rotate(_ id: String, overlap: Duration) async throws -> String {
        let secret = SecretBox.newSecret()
        let at = now()
        try await store.rotateEndpointSecret(id: id, sealedSecret: try box.seal(secret), previousExpireAt: at + overlap.timeInterval, at: at)
        return secret
    }

    /// Removes it: no delivery is made to it from now (queued ones are dead-lettered when their turn comes).
    public func remove(_ id: String, by actor: String) async throws {
        try await store.setEndpointState(id: id, state: .removed, reason: "removed by \(actor)", at: now())
    }

    /// Sends a signed test event (`manifold.ping`) to the endpoint now; returns its answer's status, or the error.
    public func ping(_ id: String, transport: any HTTPTransport) async throws -> (status: Int?, detail: String) {
        let endpoint = try await endpoint(id)
        try policy.check(endpoint.url)
        let at = now()
        let ready = EndpointRegistry.Endpoint(stored: endpoint,
                                              secrets: try endpoint.secrets.map { (secret: try box.open($0.sealed), expiresAt: $0.expiresAt) })
        let body = JSON.object(JSONObject([("type", "manifold.ping"), ("endpoint", .string(id)),
                                           ("timestamp", .string(ISO8601DateFormatter().string(from: at)))]))
        var request = OutboundRequest(method: "POST", url: endpoint.url,
                                      headers: [("Content-Type", "application/json")] + endpoint.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                      body: Array(body.serialized().utf8))
        request.headers += ready.signatureHeaders(for: request, messageID: "ping_" + TraceContext.newSpanID(),
                                                  now: Int64(at.timeIntervalSince1970))
        do {
            let response = try await transport.execute(request, timeout: .seconds(15))
            return (response.status, String(decoding: response.body.prefix(200), as: UTF8.self))
        } catch {
            return (nil, error.description)
        }
    }

    /// The endpoint's recent deliveries: job, state, attempts, last status, when.
    public func deliveries(_ id: String, limit: Int = 50) async throws -> [JobSummary] {
        try await store.jobs(JobQuery(limit: limit, endpoint: id))
    }

    public func history(_ id: String) async throws -> [EndpointHistoryEntry] {
        try await store.endpointHistory(id: id)
    }
}

extension StoredEndpoint {
    /// As JSON for the CLI and the admin API: never a secret (their count and expiry only).
    public var json: JSON {
        var object: JSONObject = ["id": .string(id), "tenant": .string(tenant), "url": .string(EndpointRegistry.displayURL(url)),
                                  "state": .string(state.rawValue)]
        object["event_types"] = eventTypes.map { .array($0.map(JSON.string)) } ?? .null
        if !headers.isEmpty { object["headers"] = .array(headers.keys.sorted().map(JSON.string)) }
        if let rateLimit { object["rate_limit"] = .number(Double(rateLimit)) }
        if let description { object["description"] = .string(description) }
        if let stateReason { object["state_reason"] = .string(stateReason) }
        if let failingSince { object["failing_since"] = .string(ISO8601DateFormatter().string(from: failingSince)) }
        object["created_at"] = .string(ISO8601DateFormatter().string(from: createdAt))
        object["secrets"] = .array(secrets.map { secret in
            .object(JSONObject([("created_at", .string(ISO8601DateFormatter().string(from: secret.createdAt))),
                                ("expires_at", secret.expiresAt.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null)]))
        })
        return .object(object)
    }
}
