import ArgumentParser
import Foundation
import ManifoldCompiler
import ManifoldImport

/// `manifold import`: targets written from a vendor's own description of its API.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write connector pieces from a vendor's API description.",
        subcommands: [ImportOpenAPICommand.self]
    )
}

struct ImportOpenAPICommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Write a target (base URL, auth, operations with body schemas) from an OpenAPI 3.0 or 3.1 document.",
        discussion: """
            Reads the document (JSON or YAML, references resolved) and writes a `targets:` block: the first server \
            as base_url, auth from the security scheme the operations ask for (API key, bearer, basic, OAuth 2.0 \
            client credentials or refresh token; credentials as ${env:PREFIX_...} variables), and each operation \
            chosen with its method, path and the JSON Schema of its JSON request body (read-only properties left \
            out). `manifold validate` then checks routes' literal body keys against those schemas, and the engine \
            checks every body before sending it. Exit status: 0 written, 1 the document cannot be imported, \
            2 usage or I/O error.

              manifold import openapi hubspot-contacts.yaml --target hubspot --operations create,update > hubspot.yaml
              manifold import openapi paypal-orders.json --operations orders   # every operation tagged "orders"
            """
    )

    @Argument(help: "The OpenAPI document (.yaml, .yml or .json).")
    var spec: String

    @Option(help: "The target's name in the connector (default: from the document's title).")
    var target: String?

    @Option(name: .customLong("operations"), parsing: .upToNextOption,
            help: "Operations to import, by operationId, name or tag; commas or spaces between them (default: all).")
    var operations: [String] = []

    @Option(name: .customLong("env-prefix"), help: "Prefix of the credential variables (default: the target's name, upper case).")
    var environmentPrefix: String?

    @Option(help: "Write to this file instead of standard output.")
    var out: String?

    func perform() -> CommandOutput {
        let text: String
        do {
            text = String(decoding: try SourceLoader.read(spec), as: UTF8.self)
        } catch {
            return .failure("\(error)")
        }
        let selected = operations.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let imported: OpenAPIImport
        do {
            imported = try OpenAPIImport.read(text, selecting: selected)
        } catch {
            return CommandOutput(standardError: "\(spec): \(error.description)\n", status: 1)
        }
        let name = target ?? Self.targetName(imported.title)
        guard name.range(of: #"^[a-z][a-z0-9_-]{0,62}$"#, options: .regularExpression) != nil else {
            return .failure("--target \(name): a target's name is lower case letters, digits, '_' and '-', starting with a letter")
        }
        let prefix = environmentPrefix ?? name.uppercased().replacingOccurrences(of: "-", with: "_")
        let yaml = TargetYAML.render(imported, target: name, environmentPrefix: prefix, source: (spec as NSString).lastPathComponent)
        let summary = "imported \(imported.operations.count) operation\(imported.operations.count == 1 ? "" : "s") of \"\(imported.title)\" as target \(name)"
            + (imported.operations.contains { $0.bodySchema != nil } ? ", with body schemas" : "") + "\n"
        if let out {
            do {
                try Data(yaml.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                return .failure("cannot write \(out): \(error.localizedDescription)")
            }
            return CommandOutput(standardOutput: summary + "wrote \(out)\n")
        }
        return CommandOutput(standardOutput: yaml, standardError: summary)
    }

    /// "HubSpot CRM Contacts" → `hubspot`: the title's first word, lower case.
    static func targetName(_ title: String) -> String {
        let word = title.split { !$0.isLetter && !$0.isNumber }.first.map { $0.lowercased() } ?? "api"
        return word.first?.isLetter == true ? word : "api"
    }
}
