import ArgumentParser
import ManifoldCompiler

/// `manifold schema`: prints an embedded JSON Schema, for editors and other tools.
struct SchemaCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print a JSON Schema the binary embeds (default: the connector schema).",
        discussion: "The schemas are the ones in the repository's schemas/ folder, built into the binary."
    )

    @Argument(help: "The schema's file name, such as connector.schema.json.")
    var name = "connector.schema.json"

    @Flag(help: "List the embedded schemas' names.")
    var list = false

    func perform() -> CommandOutput {
        if list {
            return CommandOutput(standardOutput: SchemaCatalog.names.joined(separator: "\n") + "\n")
        }
        guard let text = SchemaCatalog.text(named: name) else {
            return .failure("no embedded schema named '\(name)' (embedded: \(SchemaCatalog.names.joined(separator: ", ")))")
        }
        return CommandOutput(standardOutput: text.hasSuffix("\n") ? text : text + "\n")
    }
}
