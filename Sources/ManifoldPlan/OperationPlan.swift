public import JSONValue

/// One API call of a target: method, path (with `{name}` placeholders), fixed headers and query.
public struct OperationPlan: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable, CaseIterable { case GET, POST, PUT, PATCH, DELETE }

    public var name: String
    public var method: Method
    public var path: ConfigString
    public var headers: [Header]
    public var query: [Header]
    /// A JSON Schema the request body must satisfy.
    public var bodySchema: JSON?

    public init(name: String, method: Method, path: ConfigString, headers: [Header], query: [Header], bodySchema: JSON?) {
        self.name = name
        self.method = method
        self.path = path
        self.headers = headers
        self.query = query
        self.bodySchema = bodySchema
    }

    /// The names of the path's `{name}` placeholders, in order.
    public var pathParameters: [String] {
        var names: [String] = []
        var current: String?
        let literalText = path.parts.map { if case .literal(let text) = $0 { text } else { "\u{0}" } }.joined()
        for character in literalText {
            if character == "{" {
                current = ""
            } else if character == "}", let name = current {
                names.append(name)
                current = nil
            } else if current != nil {
                current!.append(character)
            }
        }
        return names
    }
}
