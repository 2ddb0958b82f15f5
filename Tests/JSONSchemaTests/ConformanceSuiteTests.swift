import Foundation
import JSONSchema
import JSONValue
import TestSupport
import Testing

/// Runs the official JSON Schema Test Suite (draft 2020-12, required tests) from `../shared/conformance/json-schema`.
@Suite struct ConformanceSuiteTests {
    @Test func draft2020_12RequiredTestsAllPass() throws {
        let testsFolder = SchemaFixtures.suiteRoot.appending(path: "tests/draft2020-12")
        try #require(FileManager.default.fileExists(atPath: testsFolder.path),
                     "the JSON Schema Test Suite is expected at \(testsFolder.path)")
        var registry = try Metaschemas.registry()
        try addRemotes(to: &registry)

        var passed = 0
        var failures: [String] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: testsFolder.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        for file in files {
            let groups = try JSONParser.parse(String(contentsOf: testsFolder.appending(path: file), encoding: .utf8))
            for group in groups.arrayValue ?? [] {
                let validator = JSONSchemaValidator(schema: group["schema"]!, registry: registry)
                for test in group["tests"]?.arrayValue ?? [] {
                    let expected = test["valid"]?.boolValue ?? false
                    let errors = validator.validate(test["data"]!)
                    if errors.isEmpty == expected {
                        passed += 1
                    } else {
                        failures.append("\(file): \(group["description"]!.stringValue!) / \(test["description"]!.stringValue!)"
                                        + " expected \(expected ? "valid" : "invalid")\(errors.isEmpty ? "" : ": \(errors)")")
                    }
                }
            }
        }
        print("JSON Schema Test Suite draft2020-12 (required): \(passed) passed, \(failures.count) failed, 0 skipped (remotes served from remotes/)")
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.joined(separator: "\n"))")
        #expect(passed > 1200)
    }

    /// Registers every document of `remotes/` at `http://localhost:1234/`, where the suite expects it.
    private func addRemotes(to registry: inout SchemaRegistry) throws {
        let remotes = SchemaFixtures.suiteRoot.appending(path: "remotes")
        let enumerator = FileManager.default.enumerator(atPath: remotes.path)
        while let relative = enumerator?.nextObject() as? String {
            guard relative.hasSuffix(".json") else { continue }
            let document = try JSONParser.parse(String(contentsOf: remotes.appending(path: relative), encoding: .utf8))
            registry.add(document, uri: "http://localhost:1234/" + relative)
        }
    }
}
