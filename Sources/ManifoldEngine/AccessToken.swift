import Crypto
public import Foundation

/// A secret token that grants access, kept only as its digest and compared in constant time.
public struct AccessToken: Sendable {
    private let digest: [UInt8]

    public init(_ token: String) {
        digest = Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// Whether `candidate` is this token.
    public func matches(_ candidate: String) -> Bool {
        let given = Array(SHA256.hash(data: Array(candidate.utf8)))
        return zip(given, digest).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110).
    public static func bearer(in header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// The value of the cookie `name` in a `Cookie` header.
    public static func cookie(_ name: String, in header: String?) -> String? {
        for pair in (header ?? "").split(separator: ";") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return String(parts[1]).removingPercentEncoding }
        }
        return nil
    }
}

/// Who may read the dashboard (its page, its data, an event's timeline): the read token or the admin token,
/// as a bearer token or the cookie the page's sign-in sets; open to anyone only when the operator says so
/// (`manifold run --open-dashboard`); off when neither is configured.
public struct DashboardAccess: Sendable {
    public enum Mode: Sendable {
        case open
        case tokens([AccessToken])
    }

    public let mode: Mode

    /// The cookie the sign-in form sets (HttpOnly, SameSite=Strict).
    public static let cookie = "manifold_dashboard"

    public init(mode: Mode) {
        self.mode = mode
    }

    /// From the run's settings: open, or the tokens given (empty ones ignored).
    public init(open: Bool, tokens: [String?]) {
        mode = open ? .open : .tokens(tokens.compactMap { $0 }.filter { !$0.isEmpty }.map(AccessToken.init))
    }

    /// Whether the dashboard answers at all.
    public var isOn: Bool {
        if case .tokens(let tokens) = mode { return !tokens.isEmpty }
        return true
    }

    /// Whether a request with these headers may read.
    public func allows(authorization: String?, cookie: String?) -> Bool {
        switch mode {
        case .open: return true
        case .tokens(let tokens): return accepts(AccessToken.bearer(in: authorization), tokens)
            || accepts(AccessToken.cookie(Self.cookie, in: cookie), tokens)
        }
    }

    /// Whether `candidate` is one of the tokens (the sign-in form).
    public func accepts(_ candidate: String?) -> Bool {
        if case .tokens(let tokens) = mode { return accepts(candidate, tokens) }
        return true
    }

    private func accepts(_ candidate: String?, _ tokens: [AccessToken]) -> Bool {
        guard let candidate, !candidate.isEmpty else { return false }
        return tokens.contains { $0.matches(candidate) }
    }
}
