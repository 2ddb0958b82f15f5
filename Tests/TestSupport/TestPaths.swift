public import Foundation

/// Where the tests find the repository and `../shared` beside it.
public enum TestPaths {
    /// The package root, found from this file's path.
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the checkout: the conformance suites.
    public static let shared = packageRoot.deletingLastPathComponent().appending(path: "shared")

    /// The `manifold` executable built beside the test bundle.
    public static let manifold = executable("manifold")

    /// The mock vendor (also an alert sink) built beside the test bundle.
    public static let mockVendor = executable("manifold-mock-vendor")

    private static func executable(_ name: String) -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for folder in [bundle, bundle.deletingLastPathComponent()]
        where FileManager.default.isExecutableFile(atPath: folder.appending(path: name).path) {
            return folder.appending(path: name)
        }
        return packageRoot.appending(path: ".build/debug/" + name)
    }
}
