import ManifoldCompiler
public import ManifoldPlan

/// A one-connector plan around a given webhook, for tests of ingress and the engine.
public enum TestConnector {
    /// Compiles a connector named `name` whose `source.webhook` is `webhook` (YAML, one key per line), with one
    /// target and one route; throws the diagnostics if it does not compile.
    public static func plan(name: String = "demo", webhook: String) throws -> Plan {
        let text = """
        connector: \(name)
        version: 1
        source:
          webhook:
        \(webhook.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        targets:
          sink:
            base_url: https://example.com
            operations:
              post: { method: POST, path: /in }
        routes:
          - name: all
            call: sink.post
            body: "{% $ %}"
        """
        let result = ConnectorCompiler().compile([SourceFile(path: name + ".yaml", text: text)])
        guard let plan = result.plan else {
            throw CompileFailure(diagnostics: result.diagnostics.map(\.message))
        }
        return plan
    }

    public struct CompileFailure: Error {
        public var diagnostics: [String]
    }
}
