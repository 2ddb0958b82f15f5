import Foundation
import TestSupport
import Testing

/// Runs the built `manifold` executable as a user does, from a directory that is not the repository.
/// (These start real processes; the rest of the CLI tests run in process.)
@Suite struct BinaryEndToEndTests {
    static func run(_ arguments: [String]) async throws -> ProcessRun {
        try await ProcessRun.runAsync(TestPaths.manifold, arguments, in: FileManager.default.temporaryDirectory)
    }

    @Test func exitStatusesAreZeroOneTwo() async throws {
        let connectors = GoldenFile.packageRoot.appending(path: "connectors").path
        let clean = try await Self.run(["validate", "--env-file", connectors + "/example.env", connectors])
        #expect(clean.status == 0, "\(clean.output)")
        let files = try FileManager.default.contentsOfDirectory(atPath: connectors)
            .filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".test.yaml") }.count
        #expect(files >= 22)
        #expect(clean.output == "0 errors and 0 warnings in \(files) files.\n")

        let broken = try await Self.run(["validate", GoldenFile.folder.appending(path: "Golden/validate/typos.yaml").path])
        #expect(broken.status == 1)
        #expect(broken.output.contains("typos.yaml:12:7: error: unknown key 'max_attemps' in targets.hubspot.retry; did you mean 'max_attempts'?"))

        let missing = try await Self.run(["validate"])   // no connectors/ in the temporary directory
        #expect(missing.status == 2)
        #expect(missing.error == "error: connectors: no such file or directory\n")

        let usage = try await Self.run(["plan", "--format"])
        #expect(usage.status == 2)
        #expect(usage.error.contains("Missing value for '--format <format>'"))
    }

    @Test func versionAndEmbeddedSchemaWorkFromAnyDirectory() async throws {
        let version = try await Self.run(["--version"])
        #expect(version.status == 0)
        #expect(version.output == "0.1.0\n")
        let schema = try await Self.run(["schema"])
        #expect(schema.status == 0)
        let onDisk = try String(contentsOf: GoldenFile.packageRoot.appending(path: "schemas/connector.schema.json"), encoding: .utf8)
        #expect(schema.output == onDisk)
    }
}
