public import JSONValue

/// Validates JSON instances against a JSON Schema (draft 2020-12).
///
/// Build it once and use it from any task; it holds no mutable state.
///
/// ```swift
/// let validator = JSONSchemaValidator(schema: try JSONParser.parse(#"{"type": "integer", "minimum": 1}"#))
/// validator.validate(.number(0))   // [ValidationError: must be >= 1 (got 0)]
/// ```
public struct JSONSchemaValidator: Sendable {
    /// The base URI of a root schema that has no `$id`.
    public static let defaultBaseURI = "urn:manifold:schema"

    /// References followed in one evaluation path before it is taken for a loop.
    static let maximumReferenceDepth = 128

    let rootURI: String
    let registry: SchemaRegistry

    /// A validator for `schema`; `registry` holds any other documents its `$ref`s name.
    public init(schema: JSON, baseURI: String = defaultBaseURI, registry: SchemaRegistry = SchemaRegistry()) {
        var registry = registry
        let base: String
        if case .string(let id)? = schema["$id"] {
            base = SchemaURI.resolve(id, against: baseURI)
        } else {
            base = baseURI
        }
        registry.add(schema, uri: base)
        self.rootURI = base
        self.registry = registry
    }

    /// Every way `instance` fails the schema; empty when it is valid.
    public func validate(_ instance: JSON) -> [ValidationError] {
        guard let root = registry.resolve(rootURI) else {
            return [ValidationError(instanceLocation: .root, keywordLocation: .root,
                                    kind: .unresolvableReference(rootURI), schema: .null)]
        }
        let context = Evaluation(registry: registry)
        let scope = Scope(baseURI: root.baseURI, dynamicScope: [root.baseURI],
                          vocabularies: context.vocabularies(for: root.schema, current: nil), depth: 0)
        return context.evaluate(root.schema, instance, at: .root, keywordLocation: .root, scope: scope, entered: true).errors
    }

    /// Whether `instance` is valid.
    public func isValid(_ instance: JSON) -> Bool {
        validate(instance).isEmpty
    }
}

/// Where an evaluation stands: the base URI, the resources entered so far, the active vocabularies.
struct Scope {
    var baseURI: String
    var dynamicScope: [String]
    /// Vocabulary URIs in force; `nil` means all.
    var vocabularies: Set<String>?
    var depth: Int
}

/// What evaluating one subschema produced: its errors and the annotations that
/// `unevaluatedProperties` and `unevaluatedItems` read.
struct Outcome {
    var errors: [ValidationError] = []
    var evaluatedProperties: Set<String> = []
    var evaluatedItems: Set<Int> = []
    var isValid: Bool { errors.isEmpty }

    mutating func merge(annotationsOf other: Outcome) {
        evaluatedProperties.formUnion(other.evaluatedProperties)
        evaluatedItems.formUnion(other.evaluatedItems)
    }

    mutating func absorb(_ other: Outcome) {
        errors += other.errors
        merge(annotationsOf: other)
    }
}
