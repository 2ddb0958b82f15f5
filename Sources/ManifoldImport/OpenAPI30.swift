import OpenAPIKit
import OpenAPIKit30
import OpenAPIKitCompat
import Yams

extension OpenAPIImport {
    /// A 3.0 document, read as 3.0 and converted to 3.1 (nullable becomes a type, and so on), so the rest of the
    /// import reads one version. Apart, because the two versions' modules name the same types.
    static func decode30(_ text: String) throws -> OpenAPIKit.OpenAPI.Document {
        try YAMLDecoder().decode(OpenAPIKit30.OpenAPI.Document.self, from: text).convert(to: .v3_1_1)
    }
}
