public import Crypto
public import Foundation
public import ManifoldIngress
public import ManifoldStore
import ManifoldPlan
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which endpoints an event goes to: those of its tenant that take its type.
public protocol EndpointDirectory: Sendable {
    /// The ids of the enabled endpoints of `tenant` whose filter takes `eventType`.
    func endpoints(tenant: String, eventType: String?) -> [String]
}

/// Why an endpoint cannot be registered or called. The messages name the URL's host and the rule, never a secret.
public struct EndpointError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Seals endpoint secrets for the store with AES-GCM, under a 32-byte key from the environment
/// (`MANIFOLD_ENDPOINT_KEY`, base64): the store never holds a secret in the clear.
public struct SecretBox: Sendable {
    public static let environmentVariable = "MANIFOLD_ENDPOINT_KEY"
    private let key: SymmetricKey

    /// The key as base64 of 32 bytes; `nil` when it is not one.
    public init?(base64 text: String) {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else { return nil }
        key = SymmetricKey(data: data)
    }

    /// A new random key, as base64 (for `manifold endpoints key`).
    public static func newKey() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public func seal(_ secret: String) throws -> [UInt8] {
        guard let combined = try AES.GCM.seal(Array(secret.utf8), using: key).combined else {
            throw EndpointError("sealing a secret failed")
        }
        return Array(combined)
    }

    public func open(_ sealed: [UInt8]) throws -> String {
        do {
            return String(decoding: try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key), as: UTF8.self)
        } catch {
            throw EndpointError("an endpoint secret cannot be opened with \(Self.environmentVariable): the key is not the one that sealed it")
        }
    }

    /// A new Standard Webhooks secret: `whsec_` and base64 of 32 random bytes.
    public static func newSecret() -> String {
        "whsec_" + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }
}

/// Where endpoints may point: https (unless insecure is allowed), and never at loopback, private, link-local,
/// shared or cloud-metadata addresses unless private networks are allowed, checked on every address the host
/// resolves to, at registration and again before each call (a name that later resolves elsewhere is caught then).
public struct EndpointNetworkPolicy: Sendable {
    public var allowPrivateNetworks: Bool
    public var allowInsecure: Bool

    public init(allowPrivateNetworks: Bool, allowInsecure: Bool) {
        self.allowPrivateNetworks = allowPrivateNetworks
        self.allowInsecure = allowInsecure
    }

    static let forbidden: [NetworkRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10",
        "ff00::/8", "64:ff9b::/96",
    ].compactMap(NetworkRange.init)

    /// Whether an address is one an endpoint may not reach.
    public static func isForbidden(_ address: String) -> Bool {
        forbidden.contains { $0.contains(address) }
    }

    /// The URL's host, after checking its form (scheme, host, no credentials in it).
    public func checkForm(_ text: String) throws(EndpointError) -> (host: String, port: Int) {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw EndpointError("'\(text)' is not an absolute URL")
        }
        guard scheme == "https" || (scheme == "http" && allowInsecure) else {
            throw EndpointError(scheme == "http" ? "endpoint URLs must be https (plain http is allowed only with allow_insecure)"
                                : "endpoint URLs must be https (got \(scheme))")
        }
        guard url.user == nil, url.password == nil else { throw EndpointError("an endpoint URL may not carry credentials (user:password@)") }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return (bare, url.port ?? (scheme == "https" ? 443 : 80))
    }

    /// Checks `text`: its form, then every address its host resolves to.
    public func check(_ text: String) throws(EndpointError) {
        let (host, _) = try checkForm(text)
        guard !allowPrivateNetworks else { return }
        let addresses = try Self.resolve(host)
        if let bad = addresses.first(where: Self.isForbidden) {
            throw EndpointError("\(host) resolves to \(bad), a loopback, private, link-local or metadata address: endpoints must be on the public internet")
        }
    }

    /// The addresses `host` resolves to (an address as it is).
    static func resolve(_ host: String) throws(EndpointError) -> [String] {
        if NetworkRange("\(host)/32") != nil || NetworkRange("\(host)/128") != nil { return [host] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else { throw EndpointError("\(host) does not resolve") }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = entry.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw EndpointError("\(host) does not resolve") }
        return addresses
    }
}

/// An endpoint's health as failures accumulate: an explicit state machine on given instants, tested without I/O.
/// The first failure after a success starts the span; a success ends it; a span as long as `autoDisableAfter`
/// disables the endpoint (once).
public struct EndpointHealth: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case healthy
        case failing(since: Date)
        case disabled
    }

    public enum Action: Sendable, Equatable {
        case none
        /// Record that failures started at this instant.
        case startFailing(Date)
        /// Record that they ended.
        case recovered
        /// Disable the endpoint: it has failed for `span`.
        case disable(span: Duration)
    }

    public private(set) var state: State
    public let autoDisableAfter: Duration

    public init(state: State, autoDisableAfter: Duration) {
        self.state = state
        self.autoDisableAfter = autoDisableAfter
    }

    public mutating func attempted(succeeded: Bool, at now: Date) -> Action {
        switch (state, succeeded) {
        case (.disabled, _):
            return .none
        case (.healthy, true):
            return .none
        case (.failing, true):
            state = .healthy
            return .recovered
        case (.healthy, false):
            state = .failing(since: now)
            return autoDisableAfter <= .zero ? disable(now, since: now) : .startFailing(now)
        case (.failing(let since), false):
            return now.timeIntervalSince(since) >= autoDisableAfter.timeInterval ? disable(now, since: since) : .none
        }
    }

    /// Time passing without an attempt (a lane whose breaker is open makes none): the span is measured by the clock,
    /// not by attempts, so an endpoint is disabled when its span is over.
    public mutating func elapsed(at now: Date) -> Action {
        guard case .failing(let since) = state, now.timeIntervalSince(since) >= autoDisableAfter.timeInterval else { return .none }
        return disable(now, since: since)
    }

    private mutating func disable(_ now: Date, since: Date) -> Action {
        state = .disabled
        return .disable(span: .milliseconds(Int64(now.timeIntervalSince(since) * 1000)))
    }
}

/// Customers' endpoints as the engine uses them: loaded from the store (secrets opened), matched by tenant and event
/// type, refreshed when the store's registry changes, their health recorded after each attempt.
public final class EndpointRegistry: EndpointDirectory, Sendable {
    /// An endpoint ready to call.
    public struct Endpoint: Sendable, Equatable {
        public var stored: StoredEndpoint
        /// The secrets and until when each signs.
        public var secrets: [(secret: String, expiresAt: Date?)]

        public var id: String { stored.id }

        /// The secrets that sign at `now`, newest first.
        public func signingSecrets(at now: Date) -> [String] {
            secrets.filter { $0.expiresAt.map { $0 > now } ?? true }.reversed().map(\.secret)
        }

        /// Standard Webhooks' headers for `request` at `now` (Unix seconds): `webhook-id` is `messageID`, and every
        /// secret that signs at `now` signs (a rotation's overlap), space-separated.
        public func signatureHeaders(for request: OutboundRequest, messageID: String, now: Int64) -> [(name: String, value: String)] {
            let signer = WebhookSignature(
                verification: Verification(scheme: .standardWebhooks, secrets: [], tolerance: .seconds(300), publicURL: nil,
                                           idHeader: nil, hmac: nil),
                secrets: signingSecrets(at: Date(timeIntervalSince1970: TimeInterval(now))), publicURL: nil)
            return signer.sign(WebhookRequest(received: request), now: now, deliveryID: messageID, everySecret: true).fields
        }

        /// Whether the endpoint takes events of `type`: every type without a filter; a filter entry `invoice.*` takes
        /// every type that starts with `invoice.`.
        public func takes(_ type: String?) -> Bool {
            guard let filter = stored.eventTypes else { return true }
            guard let type else { return false }
            return filter.contains { $0 == type || ($0.hasSuffix("*") && type.hasPrefix($0.dropLast())) }
        }

        public static func == (lhs: Endpoint, rhs: Endpoint) -> Bool {
            lhs.stored == rhs.stored && lhs.secrets.map(\.secret) == rhs.secrets.map(\.secret)
                && lhs.secrets.map(\.expiresAt) == rhs.secrets.map(\.expiresAt)
        }
    }

    /// A change of state the engine should know of (to alert and log).
    public struct Disabled: Sendable {
        public var endpoint: String
        public var tenant: String
        public var reason: String
    }

    private let store: any EndpointStore
    private let box: SecretBox?
    private struct Snapshot {
        var version: Int64 = -1
        var byID: [String: Endpoint] = [:]
        var byTenant: [String: [Endpoint]] = [:]
    }
    private let snapshot = Mutex(Snapshot())
    private let health = Mutex([String: EndpointHealth]())
    /// Told when an endpoint is disabled for failing.
    private let onDisable: Mutex<@Sendable (Disabled) -> Void>

    public init(store: any EndpointStore, box: SecretBox?, onDisable: @escaping @Sendable (Disabled) -> Void = { _ in }) {
        self.store = store
        self.box = box
        self.onDisable = Mutex(onDisable)
    }

    /// The box from the environment; throws when endpoints exist and there is no key to open their secrets.
    public static func box(environment: [String: String]) throws(EndpointError) -> SecretBox? {
        guard let text = environment[SecretBox.environmentVariable] else { return nil }
        guard let box = SecretBox(base64: text) else {
            throw EndpointError("\(SecretBox.environmentVariable) must be base64 of 32 bytes (make one with `manifold endpoints key`)")
        }
        return box
    }

    /// Who is told when an endpoint is disabled for failing (the engine's alerts, once they exist).
    public func whenDisabled(_ handler: @escaping @Sendable (Disabled) -> Void) {
        onDisable.withLock { $0 = handler }
    }

    /// Loads the endpoints again when the store's registry changed since the last load; returns whether it did.
    @discardableResult
    public func refresh() async throws -> Bool {
        let version = try await store.endpointsVersion()
        guard version != snapshot.withLock({ $0.version }) else { return false }
        let stored = try await store.endpoints(includingRemoved: false)
        if !stored.isEmpty, box == nil {
            throw EndpointError("\(stored.count) endpoint(s) are registered but \(SecretBox.environmentVariable) is not set: their secrets cannot be opened")
        }
        var next = Snapshot(version: version)
        for endpoint in stored {
            let secrets = try endpoint.secrets.map { (secret: try box!.open($0.sealed), expiresAt: $0.expiresAt) }
            let ready = Endpoint(stored: endpoint, secrets: secrets)
            next.byID[endpoint.id] = ready
            if endpoint.state == .enabled { next.byTenant[endpoint.tenant, default: []].append(ready) }
        }
        // An endpoint enabled again (or disabled, or removed) starts its health afresh. Two loads at once (a sweep and
        // an admin change): the newer version wins, so a removal is never undone by a load that read before it.
        let previous = snapshot.withLock { snapshot -> [String: EndpointState]? in
            guard next.version > snapshot.version else { return nil }
            defer { snapshot = next }
            return snapshot.byID.mapValues(\.stored.state)
        }
        guard let previous else { return false }
        health.withLock { machines in
            for id in machines.keys where next.byID[id]?.stored.state != .enabled || previous[id] != .enabled {
                machines[id] = nil
            }
        }
        return true
    }

    public func endpoints(tenant: String, eventType: String?) -> [String] {
        snapshot.withLock { $0.byTenant[tenant] ?? [] }.filter { $0.takes(eventType) }.map(\.id)
    }

    /// The endpoint as loaded (any state but removed), or `nil`.
    public func endpoint(_ id: String) -> Endpoint? {
        snapshot.withLock { $0.byID[id] }
    }

    /// Every endpoint loaded.
    public var all: [Endpoint] {
        snapshot.withLock { Array($0.byID.values) }.sorted { $0.id < $1.id }
    }

    /// Records an attempt's outcome; an endpoint that has failed for `autoDisableAfter` is disabled, in its history,
    /// and `onDisable` is told.
    public func attempted(_ id: String, succeeded: Bool, at now: Date, autoDisableAfter: Duration) async {
        guard let endpoint = endpoint(id), endpoint.stored.state == .enabled else { return }
        let action = health.withLock { machines -> EndpointHealth.Action in
            var machine = machines[id] ?? EndpointHealth(
                state: endpoint.stored.failingSince.map { .failing(since: $0) } ?? .healthy, autoDisableAfter: autoDisableAfter)
            let action = machine.attempted(succeeded: succeeded, at: now)
            machines[id] = machine
            return action
        }
        await act(action, endpoint: endpoint, succeeded: succeeded, at: now)
    }

    /// Disables the endpoints whose span of failure is over at `now`, attempts or not (the engine's sweep calls it).
    public func elapsed(at now: Date) async {
        let due = health.withLock { machines -> [(String, EndpointHealth.Action)] in
            var due: [(String, EndpointHealth.Action)] = []
            for (id, var machine) in machines {
                let action = machine.elapsed(at: now)
                machines[id] = machine
                if action != .none { due.append((id, action)) }
            }
            return due
        }
        for (id, action) in due {
            guard let endpoint = endpoint(id), endpoint.stored.state == .enabled else { continue }
            await act(action, endpoint: endpoint, succeeded: false, at: now)
        }
    }

    private func act(_ action: EndpointHealth.Action, endpoint: Endpoint, succeeded: Bool, at now: Date) async {
        let id = endpoint.id
        do {
            switch action {
            case .none:
                return
            case .startFailing, .recovered:
                try await store.recordEndpointAttempt(id: id, succeeded: succeeded, at: now)
            case .disable(let span):
                let reason = "every attempt failed for \(span.manifoldText) (auto_disable_after \(health.withLock { $0[id]?.autoDisableAfter }?.manifoldText ?? "-"))"
                try await store.setEndpointState(id: id, state: .disabled, reason: reason, at: now)
                health.withLock { $0[id] = nil }
                onDisable.withLock { $0 }(Disabled(endpoint: id, tenant: endpoint.stored.tenant, reason: reason))
                try await refresh()
            }
        } catch {
            // The health record is advisory: the next attempt records it again.
        }
    }

    /// A URL as records show it: without its query, which may carry the customer's token.
    public static func displayURL(_ url: String) -> String {
        guard let question = url.firstIndex(of: "?") else { return url }
        return url[..<question] + "?[redacted]"
    }

    /// Forgets an endpoint's failures (it was enabled again).
    public func resetHealth(_ id: String) {
        health.withLock { $0[id] = nil }
    }
}
