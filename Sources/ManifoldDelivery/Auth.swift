public import Foundation
public import JSONValue
public import ManifoldIngress
public import ManifoldPlan
import Synchronization

/// How calls to a target carry their credentials.
enum AuthProvider: Sendable {
    case none
    case header(name: String, value: String)
    case query(name: String, value: String)
    case oauth2(OAuth2Client)

    init(_ method: AuthMethod, resolver: ConfigResolver, tokens: OAuth2TokenCache, key: String) throws {
        switch method {
        case .none:
            self = .none
        case .apiKey(.header(let name), let value):
            self = .header(name: name, value: try resolver.resolve(value))
        case .apiKey(.query(let name), let value):
            self = .query(name: name, value: try resolver.resolve(value))
        case .bearer(let token):
            self = .header(name: "Authorization", value: "Bearer " + (try resolver.resolve(token)))
        case .basic(let username, let password):
            let pair = try resolver.resolve(username) + ":" + (try resolver.resolve(password))
            self = .header(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        case .oauth2(let settings):
            let credentials = OAuth2Client.Credentials(
                grant: settings.grant, tokenURL: try resolver.resolve(settings.tokenURL),
                clientID: try resolver.resolve(settings.clientID), clientSecret: try resolver.resolve(settings.clientSecret),
                refreshToken: try settings.refreshToken.map { try resolver.resolve($0) }, scope: settings.scope,
                audience: settings.audience)
            self = .oauth2(tokens.client(key: key, credentials: credentials))
        }
    }
}

/// OAuth clients by target, kept across plan swaps while their credentials stay the same, so a reload does not
/// fetch every token again.
public final class OAuth2TokenCache: Sendable {
    private let clients = Mutex<[String: OAuth2Client]>([:])

    public init() {}

    func client(key: String, credentials: OAuth2Client.Credentials) -> OAuth2Client {
        clients.withLock { clients in
            if let existing = clients[key], existing.credentials == credentials { return existing }
            let client = OAuth2Client(credentials: credentials)
            clients[key] = client
            return client
        }
    }
}

/// Fetches and caches an OAuth 2.0 access token: once, shared by every call of the target, until shortly before
/// it expires; fetched again when a call gets 401. The token and the client secret are never logged or recorded.
final class OAuth2Client: Sendable {
    struct Credentials: Sendable, Equatable {
        var grant: OAuth2Settings.Grant
        var tokenURL: String
        var clientID: String
        var clientSecret: String
        var refreshToken: String?
        var scope: String?
        var audience: String?
    }

    /// Why no token could be had.
    struct Failure: Error, CustomStringConvertible {
        /// A network error or a 5xx from the token endpoint: try again later.
        var transient: Bool
        var description: String
    }

    let credentials: Credentials
    private struct State {
        var token: String?
        var expires: ContinuousClock.Instant = .now
        /// A refresh token the server rotated to.
        var refreshToken: String?
        var fetch: Task<String, any Error>?
        var fetches = 0
    }

    private let state = Mutex(State())

    init(credentials: Credentials) {
        self.credentials = credentials
    }

    /// Token fetches so far (for tests and metrics).
    var fetchCount: Int { state.withLock { $0.fetches } }

    /// A valid token: the cached one, or a new one. `replacing` a token (after a 401) fetches again unless another
    /// call already did.
    func token(transport: any HTTPTransport, replacing rejected: String? = nil) async throws -> String {
        let task: Task<String, any Error> = state.withLock { state in
            if let token = state.token, token != rejected, ContinuousClock.now < state.expires {
                return Task { token }
            }
            if let fetch = state.fetch { return fetch }
            state.fetches += 1
            let refresh = state.refreshToken ?? credentials.refreshToken
            let fetch = Task { try await self.fetch(transport: transport, refreshToken: refresh) }
            state.fetch = fetch
            return fetch
        }
        return try await task.value
    }

    private func fetch(transport: any HTTPTransport, refreshToken: String?) async throws -> String {
        defer { state.withLock { $0.fetch = nil } }
        var form: [(String, String)] = [("grant_type", credentials.grant.rawValue)]
        if credentials.grant == .refreshToken, let refreshToken { form.append(("refresh_token", refreshToken)) }
        form.append(("client_id", credentials.clientID))
        form.append(("client_secret", credentials.clientSecret))
        if let scope = credentials.scope { form.append(("scope", scope)) }
        if let audience = credentials.audience { form.append(("audience", audience)) }
        let body = form.map { "\(PercentEncoding.component($0.0))=\(PercentEncoding.component($0.1))" }
            .joined(separator: "&")
        let request = OutboundRequest(method: "POST", url: credentials.tokenURL, headers: [
            ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
        ], body: Array(body.utf8))
        let response: InboundResponse
        do {
            response = try await transport.execute(request, timeout: .seconds(10))
        } catch {
            throw Failure(transient: true, description: "the token endpoint did not answer: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            let reason = (try? JSONParser.parse(bytes: response.body))?["error"]?.stringValue
            throw Failure(transient: response.status >= 500 || response.status == 429 || response.status == 408,
                          description: "the token endpoint answered \(response.status)" + (reason.map { " (\($0))" } ?? ""))
        }
        guard let json = try? JSONParser.parse(bytes: response.body), let token = json["access_token"]?.stringValue,
              !token.isEmpty
        else { throw Failure(transient: false, description: "the token endpoint's answer has no access_token") }
        let lifetime = json["expires_in"]?.numberValue ?? 3600
        // Renew a minute early, or at 90% of a short lifetime.
        let margin = min(60, lifetime * 0.1)
        state.withLock { state in
            state.token = token
            state.expires = .now + .milliseconds(Int64((lifetime - margin) * 1000))
            if let rotated = json["refresh_token"]?.stringValue { state.refreshToken = rotated }
        }
        return token
    }
}

/// Percent-encoding for URLs and forms.
enum PercentEncoding {
    /// RFC 3986 unreserved characters stay; every other byte of the UTF-8 is `%XX`. Safe for a path segment
    /// (a `/` in a value cannot make a new segment), a query component and a form field.
    static func component(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
