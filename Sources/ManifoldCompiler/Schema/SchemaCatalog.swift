public import JSONSchema
public import JSONValue

/// The JSON Schemas of `schemas/`, embedded in the binary at build time (one copy, in the repository).
public enum SchemaCatalog {
    /// The file names of the embedded schemas, such as `connector.schema.json`.
    public static var names: [String] {
        EmbeddedSchemas.files.keys.sorted()
    }

    /// The text of the embedded schema `name`, exactly as in `schemas/`.
    public static func text(named name: String) -> String? {
        EmbeddedSchemas.files[name]
    }

    /// The parsed connector schema.
    public static let connectorSchema: JSON = parse("connector.schema.json")

    /// A validator for connector documents, built once.
    public static let connectorValidator = JSONSchemaValidator(schema: connectorSchema)

    /// A validator for connector test files (`*.test.yaml`), built once.
    public static let connectorTestValidator = JSONSchemaValidator(schema: parse("connector-test.schema.json"))

    /// A validator for the engine's global configuration (`manifold.yaml`), built once.
    public static let manifoldValidator = JSONSchemaValidator(schema: parse("manifold.schema.json"))

    /// Reads a YAML file and validates it with `validator`: the located document, and its errors phrased and placed
    /// as for a connector (`file:line:col`, "did you mean"). No document when the YAML itself is broken.
    public static func load(_ file: SourceFile, validator: JSONSchemaValidator) -> (LocatedDocument?, [Diagnostic]) {
        switch YAMLLoader.load(file) {
        case .failure(let diagnostic):
            return (nil, [diagnostic])
        case .success(let document):
            return (document, SchemaDiagnostics(document: document).diagnostics(for: validator.validate(document.value)))
        }
    }

    private static func parse(_ name: String) -> JSON {
        guard let text = EmbeddedSchemas.files[name] else {
            preconditionFailure("schemas/\(name) was not embedded at build time")
        }
        do {
            return try JSONParser.parse(text)
        } catch {
            preconditionFailure("schemas/\(name) is not valid JSON: \(error)")
        }
    }
}
