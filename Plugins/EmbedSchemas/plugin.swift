import Foundation
import PackagePlugin

/// Generates `EmbeddedSchemas.swift` from the package's `schemas/*.json`, so the binary carries the
/// one copy of each schema and `manifold` works from any directory.
@main
struct EmbedSchemas: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let schemaDirectory = context.package.directoryURL.appending(path: "schemas")
        let names = try FileManager.default.contentsOfDirectory(atPath: schemaDirectory.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()
        let inputs = names.map { schemaDirectory.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedSchemas.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(names.count) schemas into \(target.name)",
                executable: try context.tool(named: "embed-schemas").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
