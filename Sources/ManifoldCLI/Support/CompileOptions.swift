import ArgumentParser
import Foundation
import ManifoldCompiler

/// The options every command that compiles connectors shares.
struct CompileOptions: ParsableArguments {
    @Argument(help: "Connector files or directories (default: connectors/).")
    var paths: [String] = []

    @Option(name: .customLong("env-file"), help: "Read environment variables from a dotenv file as well as the process environment.")
    var environmentFile: String?

    /// Reads the files and compiles them (unset environment variables are warnings), then hands the
    /// outcome to `body`; a usage or I/O failure becomes status 2 without calling it.
    func compiled(_ body: (_ result: ConnectorCompiler.Result, _ renderer: DiagnosticRenderer) -> CommandOutput) -> CommandOutput {
        let compilation = inputs().map { files, values in
            (files, ConnectorCompiler(environment: .warn(values)).compile(files))
        }
        switch compilation {
        case .failure(let failure): return .failure(failure.message)
        case .success(let (files, result)): return body(result, DiagnosticRenderer(files: files))
        }
    }

    /// The files named, read, and the environment to compile them in; or the failure message.
    func inputs() -> Result<(files: [SourceFile], environment: [String: String]), CommandFailure> {
        sources().flatMap { files in environment().map { (files, $0) } }
    }

    /// The files named, read; or the failure message.
    func sources() -> Result<[SourceFile], CommandFailure> {
        do {
            return .success(try SourceLoader.load(paths: paths.isEmpty ? ["connectors"] : paths))
        } catch {
            return .failure(CommandFailure(message: error.description))
        }
    }

    /// The process environment, with the `--env-file` values added.
    func environment() -> Result<[String: String], CommandFailure> {
        var environment = ProcessInfo.processInfo.environment
        if let environmentFile {
            do {
                environment.merge(try EnvironmentFile.read(environmentFile)) { _, file in file }
            } catch {
                return .failure(CommandFailure(message: error.message))
            }
        }
        return .success(environment)
    }
}

/// A usage or I/O failure with its message.
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
