import Crypto
import Foundation
public import JSONValue
import OpenAPIKit
import Yams

/// An OpenAPI document (3.0 or 3.1, JSON or YAML) read into what a connector's target needs: the base URL, the
/// authentication its security schemes describe, and each chosen operation with its method, path and the JSON
/// Schema of its JSON request body (references resolved, read-only properties left out, as a request must).
public struct OpenAPIImport: Sendable {
    public struct Operation: Sendable {
        /// The operation's name in the connector (snake_case of the operationId).
        public var name: String
        public var operationID: String?
        public var summary: String?
        public var method: String
        public var path: String
        public var tags: [String]
        /// The JSON request body's schema, when the operation takes one.
        public var bodySchema: JSON?
        /// Why a body was not imported (a form or multipart body).
        public var bodyNote: String?
        /// Required query and header parameters: the route must give them.
        public var requiredQuery: [String]
        public var requiredHeaders: [String]
    }

    public enum Auth: Sendable, Equatable {
        case none
        case apiKeyHeader(String)
        case apiKeyQuery(String)
        case bearer
        case basic
        case oauth2ClientCredentials(tokenURL: String, scopes: [String])
        case oauth2RefreshToken(tokenURL: String, scopes: [String])
        /// A scheme the engine cannot use as is (OpenID Connect, cookies, mutual TLS): named in a comment.
        case unsupported(String)
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public var title: String
    public var apiVersion: String
    public var openAPIVersion: String
    /// `sha256:` of the document's bytes, recorded in the output so a later import can tell the spec changed.
    public var digest: String
    public var baseURL: String?
    public var auth: Auth
    public var authScheme: String?
    public var operations: [Operation]

    /// Reads `text` (the document) and keeps the operations `selected` names, by operationId, snake_case name or
    /// tag; all of them when `selected` is empty.
    public static func read(_ text: String, selecting selected: [String] = []) throws(Failure) -> OpenAPIImport {
        let digest = "sha256:" + SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        let version: String
        do {
            version = try YAMLDecoder().decode(VersionField.self, from: text).openapi
        } catch {
            throw Failure(description: "not an OpenAPI 3 document: no `openapi` field with a version (Swagger 2.0 is not read; convert it first)")
        }
        let document: OpenAPIKit.OpenAPI.Document
        do {
            if version.hasPrefix("3.0") {
                document = try Self.decode30(text)
            } else if version.hasPrefix("3.") {
                document = try YAMLDecoder().decode(OpenAPIKit.OpenAPI.Document.self, from: text)
            } else {
                throw Failure(description: "OpenAPI \(version) is not read: 3.0 and 3.1 are")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "the document does not read as OpenAPI \(version): \(Self.describe(error))")
        }
        let resolved: ResolvedDocument
        do {
            resolved = try document.locallyDereferenced().resolved()
        } catch {
            throw Failure(description: "a reference in the document does not resolve: \(Self.describe(error))")
        }
        var operations: [Operation] = []
        var requirements: [DereferencedSecurityRequirement] = []
        for endpoint in resolved.endpoints {
            let name = Self.operationName(endpoint.operationId, method: endpoint.method.rawValue, path: endpoint.path.rawValue)
            var operation = Operation(name: name, operationID: endpoint.operationId, summary: endpoint.endpointSummary,
                                      method: endpoint.method.rawValue.uppercased(), path: endpoint.path.rawValue,
                                      tags: endpoint.tags, bodySchema: nil, bodyNote: nil, requiredQuery: [], requiredHeaders: [])
            if let body = endpoint.requestBody {
                let json = body.content.first { type, _ in
                    let text = type.typeAndSubtype.lowercased()
                    return text == "application/json" || text.hasSuffix("+json")
                }
                if let json, let schema = json.value.schema {
                    operation.bodySchema = try Self.requestSchema(schema.jsonSchema)
                } else if let other = body.content.first {
                    operation.bodyNote = "its request body is \(other.key.typeAndSubtype), not JSON: not checked by a body_schema"
                }
            }
            for parameter in endpoint.parameters where parameter.required {
                if parameter.location == .query { operation.requiredQuery.append(parameter.name) }
                if parameter.location == .header { operation.requiredHeaders.append(parameter.name) }
            }
            operations.append(operation)
        }
        // Names over the whole document (the same whatever is selected), then the selection.
        let all = Self.shortened(operations)
        operations = all.filter { operation in
            selected.isEmpty || selected.contains { $0 == operation.operationID || $0 == operation.name || operation.tags.contains($0) }
        }
        for endpoint in resolved.endpoints where operations.contains(where: { $0.operationID != nil && $0.operationID == endpoint.operationId }) {
            requirements += endpoint.security
        }
        if operations.isEmpty {
            let known = all.map { $0.operationID ?? $0.name }.prefix(20).joined(separator: ", ")
            throw Failure(description: selected.isEmpty ? "the document has no operations"
                          : "no operation matches \(selected.joined(separator: ", ")) (by operationId, name or tag); it has: \(known)")
        }
        if requirements.isEmpty { requirements = resolved.security }
        let baseURL = document.servers.first.map(Self.serverURL)
        var (auth, schemeName) = Self.auth(requirements)
        // A token URL relative to the server (PayPal's `/v1/oauth2/token`) is made absolute: the engine needs one.
        switch auth {
        case .oauth2ClientCredentials(let url, let scopes) where url.hasPrefix("/"):
            auth = .oauth2ClientCredentials(tokenURL: Self.absolute(url, base: baseURL), scopes: scopes)
        case .oauth2RefreshToken(let url, let scopes) where url.hasPrefix("/"):
            auth = .oauth2RefreshToken(tokenURL: Self.absolute(url, base: baseURL), scopes: scopes)
        default: break
        }
        return OpenAPIImport(title: document.info.title, apiVersion: document.info.version, openAPIVersion: version, digest: digest,
                             baseURL: baseURL, auth: auth, authScheme: schemeName, operations: operations.sorted { $0.name < $1.name })
    }

    /// `path` on the server's scheme and host.
    static func absolute(_ path: String, base: String?) -> String {
        guard let base, let url = URL(string: base), let scheme = url.scheme, let host = url.host else { return path }
        return "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "") + path
    }

    /// Path-like operationIds (HubSpot's `post-/crm/v3/objects/contacts_create`) are named by their last word
    /// (`create`) when no other operation of the import has that word; others keep their whole name.
    static func shortened(_ operations: [Operation]) -> [Operation] {
        func short(_ operation: Operation) -> String? {
            guard let id = operation.operationID, id.contains("/"), let word = id.split(separator: "_").last, word != Substring(id) else { return nil }
            let name = operationName(String(word), method: operation.method, path: operation.path)
            return name
        }
        let shorts = operations.compactMap(short)
        return operations.map { operation in
            var operation = operation
            if let name = short(operation), shorts.filter({ $0 == name }).count == 1,
               !operations.contains(where: { $0.name == name }) { operation.name = name }
            return operation
        }
    }

    private struct VersionField: Decodable { var openapi: String }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? (any CustomStringConvertible) { return error.description }
        return String(describing: error)
    }

    /// `createContact` → `create_contact`; without an id, the method and the path's words (`post_crm_v3_contacts`).
    static func operationName(_ id: String?, method: String, path: String) -> String {
        let source = id ?? (method.lowercased() + "_" + path.replacingOccurrences(of: "{", with: "by_"))
        var name = ""
        var previousLower = false
        for character in source {
            if character.isUppercase, previousLower { name += "_" }
            if character.isLetter || character.isNumber {
                name += character.lowercased()
                previousLower = character.isLowercase || character.isNumber
            } else {
                if !name.hasSuffix("_") { name += "_" }
                previousLower = false
            }
        }
        name = name.split(separator: "_").joined(separator: "_")
        if name.first?.isLetter != true { name = "op_" + name }
        return String(name.prefix(63))
    }

    /// The server's URL with its variables at their defaults, without a trailing slash.
    static func serverURL(_ server: OpenAPIKit.OpenAPI.Server) -> String {
        var url = server.urlTemplate.rawValue
        for (name, variable) in server.variables { url = url.replacingOccurrences(of: "{\(name)}", with: variable.default) }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// The first security requirement's scheme the engine can use, with its name.
    static func auth(_ requirements: [DereferencedSecurityRequirement]) -> (Auth, String?) {
        var fallback: (Auth, String?) = (.none, nil)
        for requirement in requirements {
            for (name, scoped) in requirement.schemes.sorted(by: { $0.key < $1.key }) {
                let scopes = scoped.requiredScopes
                switch scoped.securityScheme.type {
                case .apiKey(let header, .header): return (.apiKeyHeader(header), name)
                case .apiKey(let parameter, .query): return (.apiKeyQuery(parameter), name)
                case .apiKey(let cookie, _): fallback = (.unsupported("an API key in cookie \(cookie)"), name)
                case .http(let scheme, _) where scheme.lowercased() == "bearer": return (.bearer, name)
                case .http(let scheme, _) where scheme.lowercased() == "basic": return (.basic, name)
                case .http(let scheme, _): fallback = (.unsupported("HTTP \(scheme) authentication"), name)
                case .oauth2(let flows, _):
                    if let flow = flows.clientCredentials { return (.oauth2ClientCredentials(tokenURL: flow.tokenUrl.absoluteString, scopes: scopes), name) }
                    if let flow = flows.authorizationCode { return (.oauth2RefreshToken(tokenURL: flow.tokenUrl.absoluteString, scopes: scopes), name) }
                    fallback = (.unsupported("an OAuth 2.0 flow other than client credentials or authorization code"), name)
                case .openIdConnect: fallback = (.unsupported("OpenID Connect"), name)
                case .mutualTLS: fallback = (.unsupported("mutual TLS"), name)
                }
            }
        }
        return fallback
    }

    /// The schema as JSON Schema for a request: annotations dropped, read-only properties removed (a request must
    /// not send them, and their `required` applies to responses only).
    static func requestSchema(_ schema: OpenAPIKit.JSONSchema) throws(Failure) -> JSON {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let parsed: JSON
        do {
            let data = try encoder.encode(schema)
            parsed = try JSONParser.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw Failure(description: "a request body schema cannot be written as JSON Schema: \(describe(error))")
        }
        return forRequest(parsed)
    }

    private static let annotations: Set<String> = ["description", "example", "examples", "externalDocs", "xml", "title", "deprecated", "discriminator", "x-"]

    static func forRequest(_ schema: JSON) -> JSON {
        switch schema {
        case .array(let elements): return .array(elements.map(forRequest))
        case .object(let object):
            var readOnly: Set<String> = []
            if let properties = object["properties"]?.objectValue {
                for (name, property) in properties where property["readOnly"]?.boolValue == true { readOnly.insert(name) }
            }
            let requiredCount = object["required"]?.arrayValue?.count ?? 0
            let combined = object["oneOf"] != nil || object["anyOf"] != nil
            var members: [(String, JSON)] = []
            for (key, value) in object {
                // What OpenAPIKit writes that says nothing: minimums of 0, `uniqueItems: false`, `minProperties` no
                // more than the required count; and `type: "null"` beside a oneOf/anyOf, which would refuse every
                // branch but null (its way of writing a nullable choice).
                if key == "minItems" || key == "minLength" || key == "minProperties", value.numberValue == 0 { continue }
                if key == "minProperties", let count = value.numberValue, Int(count) <= requiredCount { continue }
                if key == "uniqueItems", value.boolValue == false { continue }
                if key == "type", combined, value.stringValue == "null" { continue }
                if annotations.contains(key) || key.hasPrefix("x-") || key == "readOnly" || key == "writeOnly" { continue }
                switch key {
                case "properties":
                    let kept = (value.objectValue.map { Array($0) } ?? []).filter { !readOnly.contains($0.key) }
                    members.append((key, .object(JSONObject(kept.map { ($0.key, forRequest($0.value)) }))))
                case "required":
                    members.append((key, .array((value.arrayValue ?? []).filter { !readOnly.contains($0.stringValue ?? "") })))
                case "enum", "const", "default":
                    members.append((key, value))
                default:
                    members.append((key, forRequest(value)))
                }
            }
            return .object(JSONObject(members))
        default:
            return schema
        }
    }
}
