import Foundation
import TestSupport
import Testing

/// Compares what a user reads with a file under `Golden/`; `UPDATE_GOLDEN=1 swift test` rewrites them.
enum GoldenFile {
    /// This test target's folder in the source tree.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    /// The package root.
    static let packageRoot = TestPaths.packageRoot

    static func check(_ actual: String, against name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = folder.appending(path: "Golden").appending(path: name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(actual == expected, "output differs from Golden/\(name) (UPDATE_GOLDEN=1 to accept)", sourceLocation: sourceLocation)
    }
}
