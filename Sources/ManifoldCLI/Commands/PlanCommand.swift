import ArgumentParser
import ManifoldCompiler

/// `manifold plan`: compiles connector files and prints the execution plan.
struct PlanCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Compile connector files and print the execution plan.",
        discussion: """
            Shows, per connector, the webhook and its verification, each route's condition and call, and \
            each target's effective policies with defaults filled in, including the worst-case retry budget. \
            Exit status: 0 compiled, 1 errors in the files, 2 usage or I/O error.
            """
    )

    @OptionGroup var options: CompileOptions

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func perform() -> CommandOutput {
        options.compiled { result, renderer in
            guard let plan = result.plan else {
                return CommandOutput(standardError: renderer.report(result.diagnostics), status: 1)
            }
            var output = CommandOutput(standardError: renderer.text(result.diagnostics))
            switch format {
            case .text: output.standardOutput = PlanRenderer.text(plan)
            case .json: output.standardOutput = plan.json.serialized(.pretty) + "\n"
            }
            return output
        }
    }
}
