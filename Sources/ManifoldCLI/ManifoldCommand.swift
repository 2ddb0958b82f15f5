public import ArgumentParser

/// The `manifold` command: the root that holds the subcommands.
public struct ManifoldCommand: ParsableCommand {
    /// The version `manifold --version` prints.
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "manifold",
        abstract: "A declarative connector engine: webhooks in, reliable API calls out.",
        discussion: """
            Connectors are YAML files (see schemas/connector.schema.json). Exit status: 0 clean, \
            1 findings, 2 usage or I/O error.
            """,
        version: version,
        subcommands: [
            ValidateCommand.self, PlanCommand.self, DiffCommand.self, TestCommand.self, RunCommand.self, ReloadCommand.self, EventsCommand.self, DeadLetterCommand.self,
            ReplayCommand.self, SendCommand.self, EndpointsCommand.self, AuditCommand.self, AlertsCommand.self, StoreCommand.self,
            EvalCommand.self, SchemaCommand.self, DocsCommand.self, ImportCommand.self, PollCommand.self, RolloutCommand.self, HistoryCommand.self, PlanRollbackCommand.self,
            ClusterCommand.self,
        ]
    )

    public init() {}

    /// Parses `arguments`, runs the subcommand, and returns the exit status, mapping argument errors to 2.
    ///
    /// ```swift
    /// exit(await ManifoldCommand.main(Array(CommandLine.arguments.dropFirst())))
    /// ```
    public static func main(_ arguments: [String]) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if let runnable = command as? any OutputCommand {
                let output = runnable.perform()
                output.write()
                return output.status
            }
            if let runnable = command as? any AsyncOutputCommand {
                let output = await runnable.perform()
                output.write()
                return output.status
            }
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                return 0
            }
            if !message.isEmpty { FileOutput.standardError(message + "\n") }
            return code == .validationFailure ? 2 : code.rawValue
        }
    }
}
