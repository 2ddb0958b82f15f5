import ManifoldCompiler
import ManifoldPlan

/// The engine's global configuration file (`manifold.yaml`), for `manifold run --config` and
/// `manifold alerts export`.
enum EngineConfigurationFile {
    /// Reads and compiles it; its errors as for a connector (file:line:col, source lines), status 1; unreadable, 2.
    static func load(_ path: String, environment: ConnectorCompiler.EnvironmentCheck) -> Result<EngineConfiguration, CommandOutputError> {
        let file: SourceFile
        do {
            file = SourceFile(path: path, contents: try SourceLoader.read(path))
        } catch {
            return .failure(CommandOutputError(.failure("\(error)")))
        }
        switch EngineConfigurationCompiler.compile(file, environment: environment) {
        case .success(let configuration):
            return .success(configuration)
        case .failure(let invalid):
            let report = DiagnosticRenderer(files: [file]).report(invalid.diagnostics)
            return .failure(CommandOutputError(CommandOutput(standardError: report, status: 1)))
        }
    }
}
