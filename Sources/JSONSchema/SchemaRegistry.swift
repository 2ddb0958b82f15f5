import Foundation
public import JSONValue

/// The schema documents a validator can reach by URI: the root schema, its embedded resources,
/// and any documents added for `$ref`s to other files (or metaschemas).
public struct SchemaRegistry: Sendable {
    /// A schema with the base URI it is evaluated under.
    struct Located: Sendable {
        var schema: JSON
        var baseURI: String
    }

    private(set) var resources: [String: JSON] = [:]
    private(set) var anchors: [String: Located] = [:]
    private(set) var dynamicAnchors: [String: Located] = [:]
    private(set) var patterns: [String: CompiledPattern] = [:]
    /// Every `$ref` and `$dynamicRef` target, resolved once when the documents are added.
    private(set) var references: [String: Located] = [:]
    private var referencesToResolve: Set<String> = []

    /// An empty registry.
    public init() {}

    /// Adds a schema document under `uri` (its own `$id`, when present, is registered as well),
    /// with every resource and anchor embedded in it.
    public mutating func add(_ document: JSON, uri: String) {
        let base = SchemaURI.resolve(uri, against: uri)
        resources[base] = document
        index(document, base: base)
        for reference in referencesToResolve {
            if let target = resolve(reference) { references[reference] = target }
        }
    }

    /// Whether a document is registered under `uri`.
    public func contains(_ uri: String) -> Bool {
        resources[SchemaURI.split(uri).uri] != nil
    }

    private mutating func index(_ schema: JSON, base: String) {
        guard case .object(let object) = schema else { return }
        var base = base
        if case .string(let id)? = object["$id"] {
            base = SchemaURI.resolve(id, against: base)
            resources[base] = schema
        }
        if case .string(let anchor)? = object["$anchor"] {
            anchors[base + "#" + anchor] = Located(schema: schema, baseURI: base)
        }
        if case .string(let anchor)? = object["$dynamicAnchor"] {
            anchors[base + "#" + anchor] = Located(schema: schema, baseURI: base)
            dynamicAnchors[base + "#" + anchor] = Located(schema: schema, baseURI: base)
        }
        if case .string(let pattern)? = object["pattern"] { compile(pattern) }
        for key in ["$ref", "$dynamicRef"] {
            if case .string(let reference)? = object[key] { referencesToResolve.insert(SchemaURI.resolve(reference, against: base)) }
        }
        if case .object(let patternProperties)? = object["patternProperties"] {
            for (pattern, _) in patternProperties { compile(pattern) }
        }
        for child in Self.subschemas(of: object) {
            index(child, base: base)
        }
    }

    private mutating func compile(_ pattern: String) {
        if patterns[pattern] == nil, let compiled = CompiledPattern(pattern) {
            patterns[pattern] = compiled
        }
    }

    /// The subschemas of a schema object: the values of keywords that hold schemas.
    static func subschemas(of object: JSONObject) -> [JSON] {
        var children: [JSON] = []
        for key in ["additionalProperties", "unevaluatedProperties", "unevaluatedItems", "items", "contains",
                    "propertyNames", "not", "if", "then", "else", "contentSchema"]
        {
            if let child = object[key] { children.append(child) }
        }
        for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
            if case .array(let elements)? = object[key] { children += elements }
        }
        for key in ["$defs", "definitions", "properties", "patternProperties", "dependentSchemas"] {
            if case .object(let members)? = object[key] { children += members.map(\.value) }
        }
        return children
    }

    /// Resolves an absolute reference (`uri#fragment`) to a schema and its base URI.
    func resolve(_ reference: String) -> Located? {
        if let known = references[reference] { return known }
        let (uri, fragment) = SchemaURI.split(reference)
        guard !fragment.isEmpty else {
            return resources[uri].map { Located(schema: $0, baseURI: uri) }
        }
        if !fragment.hasPrefix("/") {
            return anchors[uri + "#" + fragment]
        }
        guard let root = resources[uri], let pointer = JSONPointer(fragment) else { return nil }
        var current = root
        var base = uri
        for token in pointer.tokens {
            switch current {
            case .object(let object):
                guard let next = object[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(token), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
            if case .string(let id)? = current["$id"] { base = SchemaURI.resolve(id, against: base) }
        }
        return Located(schema: current, baseURI: base)
    }

    func dynamicAnchor(_ name: String, in resource: String) -> Located? {
        dynamicAnchors[resource + "#" + name]
    }
}

/// A regular expression compiled once (ICU, close to ECMA-262 for the patterns schemas use).
struct CompiledPattern: @unchecked Sendable {
    // NSRegularExpression is immutable after creation and documented as safe to share between threads.
    let expression: NSRegularExpression

    init?(_ pattern: String) {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return nil }
        self.expression = expression
    }

    /// How long one match may take: ICU backtracks without bound (`(.*a){25}$`), and schemas are checked on the
    /// engine's delivery path; a match that runs longer counts as no match, so the value is refused.
    static let timeLimit: Duration = .milliseconds(100)

    func matches(_ string: String) -> Bool {
        let deadline = ContinuousClock.now + Self.timeLimit
        var matched = false
        expression.enumerateMatches(in: string, options: [.reportProgress],
                                    range: NSRange(string.startIndex..., in: string)) { result, _, stop in
            if result != nil {
                matched = true
                stop.pointee = true
            } else if ContinuousClock.now > deadline {
                stop.pointee = true
            }
        }
        return matched
    }
}
