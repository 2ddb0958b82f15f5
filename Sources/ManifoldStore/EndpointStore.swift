public import Foundation
public import JSONValue

/// Customers' webhook endpoints, which change at runtime (`manifold endpoints`, `/admin/endpoints`): each with its
/// tenant, URL, event-type filter, headers, rate limit, state and secrets. Secrets are stored sealed (the registry
/// encrypts them); a rotation keeps the previous secret until its `expires_at`.
public protocol EndpointStore: Sendable {
    func addEndpoint(_ endpoint: StoredEndpoint, sealedSecret: [UInt8], at: Date) async throws
    /// Every endpoint not removed (or every one, with `includingRemoved`), with its secrets, oldest first.
    func endpoints(includingRemoved: Bool) async throws -> [StoredEndpoint]
    /// Changes the endpoint's settings (URL, filter, headers, rate limit, description); throws if there is none.
    func updateEndpoint(_ endpoint: StoredEndpoint, at: Date, note: String) async throws
    /// Enables, disables or removes it, with the reason, recorded in its history.
    func setEndpointState(id: String, state: EndpointState, reason: String, at: Date) async throws
    /// Adds a secret that signs from now; the others expire at `previousExpireAt`.
    func rotateEndpointSecret(id: String, sealedSecret: [UInt8], previousExpireAt: Date, at: Date) async throws
    /// Records where the endpoint's span of failure stands (the registry calls it only when that changes): the first
    /// failure after a success starts `failing_since` at `at`; a success clears it. It survives a restart.
    func recordEndpointAttempt(id: String, succeeded: Bool, at: Date) async throws
    /// The endpoint's history (created, updated, rotated, disabled, enabled, removed), oldest first.
    func endpointHistory(id: String) async throws -> [EndpointHistoryEntry]
    /// A number that changes whenever an endpoint does: the engine reloads its registry when it moves.
    func endpointsVersion() async throws -> Int64
}

public enum EndpointState: String, Sendable, CaseIterable {
    case enabled, disabled, removed
}

/// An endpoint as stored.
public struct StoredEndpoint: Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var url: String
    /// The event types it receives; `nil`: every type.
    public var eventTypes: [String]?
    public var headers: [String: String]
    /// At most this many calls a second, when set.
    public var rateLimit: Int?
    public var description: String?
    public var state: EndpointState
    public var stateReason: String?
    public var failingSince: Date?
    public var createdAt: Date
    public var updatedAt: Date
    /// Sealed secrets, newest last; each with when it stops signing (`nil`: never).
    public var secrets: [SealedSecret]

    public init(id: String, tenant: String, url: String, eventTypes: [String]?, headers: [String: String] = [:],
                rateLimit: Int? = nil, description: String? = nil, state: EndpointState = .enabled, stateReason: String? = nil,
                failingSince: Date? = nil, createdAt: Date, updatedAt: Date, secrets: [SealedSecret] = [])
    {
        self.id = id
        self.tenant = tenant
        self.url = url
        self.eventTypes = eventTypes
        self.headers = headers
        self.rateLimit = rateLimit
        self.description = description
        self.state = state
        self.stateReason = stateReason
        self.failingSince = failingSince
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.secrets = secrets
    }
}

public struct SealedSecret: Sendable, Equatable {
    public var sealed: [UInt8]
    public var createdAt: Date
    public var expiresAt: Date?

    public init(sealed: [UInt8], createdAt: Date, expiresAt: Date?) {
        self.sealed = sealed
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public struct EndpointHistoryEntry: Sendable, Equatable {
    public var at: Date
    public var kind: String
    public var detail: String

    public init(at: Date, kind: String, detail: String) {
        self.at = at
        self.kind = kind
        self.detail = detail
    }
}
