import Foundation
import JSONSchema
import JSONValue
import Testing

/// Paths and documents the JSON Schema tests share.
enum SchemaFixtures {
    /// The package root, found from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/conformance/json-schema` beside the checkout.
    static let suiteRoot = packageRoot.deletingLastPathComponent().appending(path: "shared/conformance/json-schema")

    /// A registry holding the draft 2020-12 metaschemas under their `$id`s.
    static func metaschemaRegistry() throws -> SchemaRegistry {
        var registry = SchemaRegistry()
        let folder = try #require(Bundle.module.url(forResource: "Metaschemas", withExtension: nil))
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".json") {
            let document = try JSONParser.parse(String(contentsOf: folder.appending(path: name), encoding: .utf8))
            registry.add(document, uri: try #require(document["$id"]?.stringValue))
        }
        return registry
    }
}
