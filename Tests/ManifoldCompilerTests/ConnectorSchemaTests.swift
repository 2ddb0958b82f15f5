import Foundation
import JSONSchema
import JSONValue
import ManifoldCompiler
import TestSupport
import Testing

/// `schemas/connector.schema.json` and `schemas/connector-test.schema.json`: complete for editors, valid for every
/// tool, and the one copy.
@Suite struct ConnectorSchemaTests {
    static let schemas = ["connector.schema.json", "connector-test.schema.json"]

    static func schema(_ name: String) throws -> JSON {
        try JSONParser.parse(try #require(SchemaCatalog.text(named: name)))
    }

    @Test(arguments: schemas)
    func theBinaryEmbedsTheRepositoryCopy(_ name: String) throws {
        let onDisk = try String(contentsOf: Fixtures.packageRoot.appending(path: "schemas/" + name), encoding: .utf8)
        #expect(SchemaCatalog.text(named: name) == onDisk)
    }

    @Test(arguments: schemas)
    func everyPropertyHasADescription(_ name: String) throws {
        var missing: [String] = []
        func walk(_ schema: JSON, _ path: String) {
            guard case .object(let object) = schema else { return }
            for key in ["properties", "patternProperties", "$defs"] {
                for (name, child) in object[key]?.objectValue ?? JSONObject() {
                    let described = child["description"] != nil || child["$ref"] != nil
                    if key != "$defs", !described { missing.append("\(path)/\(key)/\(name)") }
                    walk(child, "\(path)/\(key)/\(name)")
                }
            }
            // Conditions (if/then/else, not) constrain properties described where they are declared.
            for key in ["additionalProperties", "items"] {
                if let child = object[key] { walk(child, "\(path)/\(key)") }
            }
            for key in ["oneOf", "anyOf", "allOf"] {
                for (index, child) in (object[key]?.arrayValue ?? []).enumerated() { walk(child, "\(path)/\(key)/\(index)") }
            }
        }
        let schema = try Self.schema(name)
        walk(schema, "#")
        // A property that only `$ref`s must reach a definition with a description.
        for (name, definition) in schema["$defs"]?.objectValue ?? JSONObject() where definition["description"] == nil {
            missing.append("#/$defs/\(name)")
        }
        #expect(missing.isEmpty, "properties without a description: \(missing)")
    }

    @Test(arguments: schemas)
    func isAValidDraft2020_12Schema(_ name: String) throws {
        let registry = try Metaschemas.registry()
        try #require(registry.contains(Metaschemas.draft2020_12))
        let metaschema: JSON = ["$ref": .string(Metaschemas.draft2020_12)]
        let errors = JSONSchemaValidator(schema: metaschema, registry: registry).validate(try Self.schema(name))
        #expect(errors.isEmpty, "\(errors)")
    }

    /// The examples validate with a standard tool too: Python's `jsonschema`, on the YAML that PyYAML reads — the
    /// connectors against their schema, their test files against theirs.
    @Test(arguments: [("connector.schema.json", false), ("connector-test.schema.json", true)])
    func examplesValidateWithAStandardTool(_ schema: String, testFiles: Bool) async throws {
        let script = """
            import glob, json, sys, yaml, jsonschema
            validator = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])), format_checker=None)
            tests = sys.argv[3] == "tests"
            files = sorted(f for f in glob.glob(sys.argv[2] + "/*.yaml") if f.endswith(".test.yaml") == tests)
            bad = 0
            for name in files:
                for error in validator.iter_errors(yaml.safe_load(open(name))):
                    bad += 1
                    print(name, list(error.absolute_path), error.message)
            print(f"{len(files)} files, {bad} errors")
            sys.exit(1 if bad or not files else 0)
            """
        let run = try await ProcessRun.pythonAsync(["-c", script, Fixtures.packageRoot.appending(path: "schemas/" + schema).path,
                                         Fixtures.packageRoot.appending(path: "connectors").path, testFiles ? "tests" : "connectors"])
        #expect(run.status == 0, "python jsonschema: \(run.output)\(run.error)")
        // Every example connector (and its test file): none is skipped.
        let examples = try FileManager.default.contentsOfDirectory(atPath: Fixtures.packageRoot.appending(path: "connectors").path)
            .filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".test.yaml") }
        #expect(examples.count >= 8)
        #expect(run.output.hasSuffix("\(examples.count) files, 0 errors\n"), "\(run.output)\(run.error)")
    }
}
