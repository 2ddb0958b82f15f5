import Foundation
import TestSupport

/// Paths the JSON Schema tests share.
enum SchemaFixtures {
    /// `../shared/conformance/json-schema` beside the checkout.
    static let suiteRoot = TestPaths.shared.appending(path: "conformance/json-schema")
}
