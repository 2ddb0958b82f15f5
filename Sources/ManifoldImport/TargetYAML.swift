import Foundation
public import JSONValue

/// The imported document as a `targets:` block a connector file takes as it is: comments say where it came from
/// and what the author must still give (variables, required parameters).
public enum TargetYAML {
    public static func render(_ imported: OpenAPIImport, target: String, environmentPrefix: String, source: String) -> String {
        var lines = [
            "# Imported by `manifold import openapi` from \(source)",
            "#   \"\(imported.title)\" \(imported.apiVersion), OpenAPI \(imported.openAPIVersion), \(imported.digest)",
            "# Paste it into a connector file (or beside its other targets); set the variables it names. Routes call",
            "# \(target).OPERATION; `manifold validate` checks their bodies' keys against each body_schema, and the engine",
            "# checks every body against it before sending (a body that fails is quarantined, never sent).",
            "targets:",
            "  \(target):",
        ]
        lines.append("    base_url: " + scalar(imported.baseURL ?? "https://${env:\(environmentPrefix)_BASE_URL}")
                     + (imported.baseURL == nil ? "   # the document names no server" : ""))
        let variable = { (suffix: String) in "${env:\(environmentPrefix)_\(suffix)}" }
        switch imported.auth {
        case .none:
            lines.append("    # the document's operations need no authentication")
        case .apiKeyHeader(let header):
            lines += ["    auth:", "      api_key: { header: \(scalar(header)), value: \(scalar(variable("API_KEY"))) }"]
        case .apiKeyQuery(let parameter):
            lines += ["    auth:", "      api_key: { query: \(scalar(parameter)), value: \(scalar(variable("API_KEY"))) }"]
        case .bearer:
            lines += ["    auth:", "      bearer: { token: \(scalar(variable("TOKEN"))) }"]
        case .basic:
            lines += ["    auth:", "      basic: { username: \(scalar(variable("USERNAME"))), password: \(scalar(variable("PASSWORD"))) }"]
        case .oauth2ClientCredentials(let tokenURL, let scopes):
            lines += ["    auth:", "      oauth2:", "        grant: client_credentials", "        token_url: \(scalar(tokenURL))",
                      "        client_id: \(scalar(variable("CLIENT_ID")))", "        client_secret: \(scalar(variable("CLIENT_SECRET")))"]
            if !scopes.isEmpty { lines.append("        scope: \(scalar(scopes.joined(separator: " ")))") }
        case .oauth2RefreshToken(let tokenURL, let scopes):
            lines += ["    auth:", "      oauth2:", "        grant: refresh_token", "        token_url: \(scalar(tokenURL))",
                      "        client_id: \(scalar(variable("CLIENT_ID")))", "        client_secret: \(scalar(variable("CLIENT_SECRET")))",
                      "        refresh_token: \(scalar(variable("REFRESH_TOKEN")))"]
            if !scopes.isEmpty { lines.append("        scope: \(scalar(scopes.joined(separator: " ")))") }
        case .unsupported(let what):
            lines.append("    # auth: the document asks for \(what) (scheme \(imported.authScheme ?? "?")), which the engine does not do; set headers or auth by hand")
        }
        lines.append("    operations:")
        for operation in imported.operations {
            var comment = operation.operationID.flatMap { $0 == operation.name ? nil : "   # \($0)" } ?? ""
            if let summary = operation.summary, !summary.isEmpty { comment += (comment.isEmpty ? "   # " : ": ") + oneLine(summary) }
            lines.append("      \(operation.name):\(comment)")
            lines.append("        method: \(operation.method)")
            lines.append("        path: \(scalar(operation.path))")
            if !operation.requiredQuery.isEmpty {
                lines.append("        # required query parameters (give them in the operation's or the route's query): "
                             + operation.requiredQuery.joined(separator: ", "))
            }
            if !operation.requiredHeaders.isEmpty {
                lines.append("        # required headers (give them in the route's headers): " + operation.requiredHeaders.joined(separator: ", "))
            }
            if let note = operation.bodyNote { lines.append("        # \(note)") }
            if let schema = operation.bodySchema {
                lines.append("        body_schema:")
                lines += yaml(schema, indent: 10)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func oneLine(_ text: String) -> String {
        String(text.split(whereSeparator: \.isNewline).first ?? "").trimmingCharacters(in: .whitespaces)
    }

    /// A string as a YAML scalar: plain when it reads back as the same string, else double-quoted (JSON's escapes
    /// are YAML's).
    static func scalar(_ text: String) -> String {
        let reserved: Set<String> = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", ""]
        // Letters, digits and `/_-.:` only (no flow or reference characters), not a word YAML reads as another type,
        // and no `: ` or trailing `:` that would start a mapping.
        let plain = text.first.map { $0.isLetter || $0 == "/" || $0 == "_" } == true
            && !reserved.contains(text.lowercased())
            && text.allSatisfy { $0.isLetter || $0.isNumber || "/_-.:".contains($0) }
            && !text.contains(": ") && !text.hasSuffix(":")
        return plain ? text : JSON.string(text).serialized()
    }

    /// A JSON value as block YAML lines at `indent`; empty containers and scalars in flow form.
    static func yaml(_ value: JSON, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .object(let object) where !object.isEmpty:
            var lines: [String] = []
            for (key, member) in object {
                let name = scalar(key)
                if let inline = flow(member) {
                    lines.append("\(pad)\(name): \(inline)")
                } else {
                    lines.append("\(pad)\(name):")
                    lines += yaml(member, indent: indent + 2)
                }
            }
            return lines
        case .array(let elements) where !elements.isEmpty:
            var lines: [String] = []
            for element in elements {
                if let inline = flow(element) {
                    lines.append("\(pad)- \(inline)")
                } else {
                    let inner = yaml(element, indent: indent + 2)
                    lines.append("\(pad)- " + inner[0].dropFirst(indent + 2))
                    lines += inner.dropFirst()
                }
            }
            return lines
        default:
            return [pad + (flow(value) ?? "null")]
        }
    }

    /// Scalars, empty containers and short lists of scalars in flow form; `nil` for what needs blocks.
    private static func flow(_ value: JSON) -> String? {
        switch value {
        case .null, .bool, .number: return value.serialized()
        case .string(let text): return scalar(text)
        case .object(let object): return object.isEmpty ? "{}" : nil
        case .array(let elements):
            if elements.isEmpty { return "[]" }
            let scalars = elements.compactMap { element -> String? in
                switch element {
                case .null, .bool, .number: element.serialized()
                case .string(let text): JSON.string(text).serialized()
                default: nil
                }
            }
            guard scalars.count == elements.count else { return nil }
            let text = "[" + scalars.joined(separator: ", ") + "]"
            return text.count <= 100 ? text : nil
        }
    }
}
