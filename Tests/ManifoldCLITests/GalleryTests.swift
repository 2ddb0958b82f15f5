import Foundation
@testable import ManifoldCLI
import ManifoldPlan
import TestSupport
import Testing

/// `Docs/gallery`: a copy-paste connector with its tests for every signature scheme and handshake preset that has no
/// example in `connectors/`, each tested offline (signed, forged, unsigned, redelivered, replayed, handshakes).
@Suite struct GalleryTests {
    static let gallery = TestPaths.packageRoot.appending(path: "Docs/gallery")
    static let connectors = TestPaths.packageRoot.appending(path: "connectors")

    @Test func everyGalleryConnectorPassesItsTests() async throws {
        let output = try await TestCommand.parse([Self.gallery.path]).perform()
        #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
        #expect(output.standardOutput.contains(" passed, 0 failed\n"))
    }

    @Test func everySchemeAndHandshakeHasAConnectorToCopy() throws {
        var text = ""
        for folder in [Self.gallery, Self.connectors] {
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path)
            where name.hasSuffix(".yaml") && !name.hasSuffix(".test.yaml") {
                let connector = folder.appending(path: name)
                #expect(FileManager.default.fileExists(atPath: connector.path.replacingOccurrences(of: ".yaml", with: ".test.yaml")),
                        "\(name) has no test file")
                text += try String(contentsOf: connector, encoding: .utf8)
            }
        }
        for scheme in SignatureScheme.allCases where scheme != .none {
            let verifies = [",", " ", "}", "\n"].contains { text.contains("verify: { scheme: \(scheme.rawValue)\($0)") }
                || text.contains("verify:\n      scheme: \(scheme.rawValue)\n")
            #expect(verifies, "no connector verifies \(scheme.rawValue)")
        }
        for preset in Handshake.Preset.allCases where preset != .graph {
            #expect(text.contains("preset: \(preset.rawValue)"), "no connector answers the \(preset.rawValue) handshake")
        }
        // Every gallery connector is described in the receiving guide.
        let guide = try String(contentsOf: TestPaths.packageRoot.appending(path: "Docs/receiving-webhooks.md"), encoding: .utf8)
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.gallery.path) where !name.hasSuffix(".test.yaml") {
            #expect(guide.contains("gallery/\(name)"), "Docs/receiving-webhooks.md does not link \(name)")
        }
    }
}
