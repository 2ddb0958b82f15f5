import ArgumentParser
import ManifoldCompiler

/// `manifold validate`: checks connector files and prints located diagnostics.
struct ValidateCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check connector files against the schema and for meaning.",
        discussion: """
            Prints every finding as file:line:col: severity: message. Unset ${env:...} variables are \
            warnings here (the engine treats them as errors at start). Exit status: 0 no errors, 1 errors \
            (or warnings with --strict), 2 usage or I/O error.
            """
    )

    @OptionGroup var options: CompileOptions

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    func perform() -> CommandOutput {
        options.compiled { result, renderer in
            let failed = result.diagnostics.hasErrors || (strict && !result.diagnostics.isEmpty)
            var output = CommandOutput(status: failed ? 1 : 0)
            switch format {
            case .text: output.standardOutput = renderer.report(result.diagnostics)
            case .json: output.standardOutput = renderer.json(result.diagnostics).serialized(.pretty) + "\n"
            }
            return output
        }
    }
}
