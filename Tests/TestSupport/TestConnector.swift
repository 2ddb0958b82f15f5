import ManifoldCompiler
public import ManifoldPlan

/// A one-connector plan around a given webhook, for tests of ingress and the engine.
public enum TestConnector {
    /// Compiles a connector named `name` whose `source.webhook` is `webhook` (YAML, one key per line), with one
    /// target and one route; throws the diagnostics if it does not compile.
    public static func plan(name: String = "demo", webhook: String) throws -> Plan {
        let result = ConnectorCompiler().compile([SourceFile(path: name + ".yaml", text: source(name: name, webhook: webhook))])
        guard let plan = result.plan else {
            throw CompileFailure(diagnostics: result.diagnostics.map(\.message))
        }
        return plan
    }

    /// The connector file `plan` compiles.
    public static func source(name: String = "demo", webhook: String) -> String {
        """
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
    }

    public struct CompileFailure: Error {
        public var diagnostics: [String]
    }
}
