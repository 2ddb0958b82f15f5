public import JSONSchema
import Foundation
import JSONValue

/// The JSON Schema draft 2020-12 metaschemas the tests validate schemas against (vendored in
/// `Tests/JSONSchemaTests/Metaschemas`, see its PROVENANCE.txt).
public enum Metaschemas {
    /// The URI of the draft 2020-12 metaschema.
    public static let draft2020_12 = "https://json-schema.org/draft/2020-12/schema"

    /// A registry holding every metaschema under its `$id`.
    public static func registry() throws -> SchemaRegistry {
        var registry = SchemaRegistry()
        let folder = TestPaths.packageRoot.appending(path: "Tests/JSONSchemaTests/Metaschemas")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".json") {
            let document = try JSONParser.parse(String(contentsOf: folder.appending(path: name), encoding: .utf8))
            guard let id = document["$id"]?.stringValue else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: folder.appending(path: name).path])
            }
            registry.add(document, uri: id)
        }
        return registry
    }
}
