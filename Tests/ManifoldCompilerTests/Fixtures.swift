import Foundation
import ManifoldCompiler
import TestSupport

/// Files the compiler tests read from the repository.
enum Fixtures {
    static let packageRoot = TestPaths.packageRoot

    /// The example connectors of `connectors/`.
    static func exampleConnectors() throws -> [SourceFile] {
        try SourceLoader.load(paths: [packageRoot.appending(path: "connectors").path])
    }

    /// A minimal valid connector, with `extra` appended under the top level.
    static func connector(name: String = "demo", path: String = "/hooks/demo", target: String = "", routes: String? = nil) -> String {
        """
        connector: \(name)
        source:
          webhook:
            path: \(path)
            verify: { scheme: github, secret: "${env:DEMO_SECRET}" }
        targets:
          api:
            base_url: https://api.example.com
        \(target.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            operations:
              post: { method: POST, path: /events }
              get: { method: GET, path: "/items/{id}" }
        routes:
        \(routes ?? "  - name: forward\n    call: api.post")

        """
    }

    static func compile(_ texts: [String: String], environment: ConnectorCompiler.EnvironmentCheck = .ignore) -> ConnectorCompiler.Result {
        ConnectorCompiler(environment: environment).compile(texts.sorted { $0.key < $1.key }.map { SourceFile(path: $0.key, text: $0.value) })
    }
}
