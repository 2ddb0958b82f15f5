import Foundation

/// RFC 3986 reference resolution for schema identifiers, including `urn:` bases.
enum SchemaURI {
    /// Resolves `reference` against `base` and drops an empty fragment (`x#` is `x`).
    static func resolve(_ reference: String, against base: String) -> String {
        let resolved: String
        if reference.isEmpty {
            resolved = base
        } else if reference.hasPrefix("#") {
            resolved = split(base).uri + reference
        } else if hasScheme(reference) {
            resolved = reference
        } else if let baseURL = URL(string: base), base.contains("://"),
            let url = URL(string: reference, relativeTo: baseURL)
        {
            resolved = url.absoluteString
        } else {
            resolved = reference
        }
        return resolved.hasSuffix("#") ? String(resolved.dropLast()) : resolved
    }

    /// The URI without its fragment, and the fragment (percent-decoded, without `#`).
    static func split(_ uri: String) -> (uri: String, fragment: String) {
        guard let hash = uri.firstIndex(of: "#") else { return (uri, "") }
        let fragment = String(uri[uri.index(after: hash)...])
        return (String(uri[..<hash]), fragment.removingPercentEncoding ?? fragment)
    }

    static func hasScheme(_ reference: String) -> Bool {
        guard let colon = reference.firstIndex(of: ":") else { return false }
        let scheme = reference[..<colon]
        guard let first = scheme.first, first.isLetter else { return false }
        return scheme.allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }
    }
}
