public import ManifoldPlan

/// Compiles connector files into a plan: parse, validate against the schema, check meaning, and
/// check what spans files (names, webhook paths, shared rate-limit pools).
///
/// Pure and deterministic: the same files give the same diagnostics and the same plan version.
///
/// ```swift
/// let result = ConnectorCompiler().compile([SourceFile(path: "stripe.yaml", text: yaml)])
/// if let plan = result.plan { print(plan.version) }
/// ```
public struct ConnectorCompiler: Sendable {
    /// What the compiler does about `${env:NAME}` references to variables that are not set.
    public enum EnvironmentCheck: Sendable {
        /// Not checked.
        case ignore
        /// A warning (for `manifold validate`: the engine's environment may differ).
        case warn([String: String])
        /// An error (for the engine at start).
        case require([String: String])
    }

    public var environment: EnvironmentCheck

    public init(environment: EnvironmentCheck = .ignore) {
        self.environment = environment
    }

    /// The outcome: a plan when no file has an error, and every diagnostic in file order.
    public struct Result: Sendable {
        public var plan: Plan?
        public var diagnostics: [Diagnostic]
    }

    /// Compiles `files` together; a plan is produced only if every file is free of errors.
    public func compile(_ files: [SourceFile]) -> Result {
        var diagnostics: [Diagnostic] = []
        var connectors: [ConnectorPlan] = []
        var documents: [String: LocatedDocument] = [:]
        for file in files {
            let (connector, fileDiagnostics, document) = compileFile(file)
            diagnostics += fileDiagnostics
            if let connector { connectors.append(connector) }
            if let document { documents[file.path] = document }
        }
        diagnostics += crossFileDiagnostics(connectors, documents: documents)
        diagnostics = diagnostics.sortedForDisplay()
        let plan = diagnostics.hasErrors ? nil : Plan(connectors: connectors)
        return Result(plan: plan, diagnostics: diagnostics)
    }

    private func compileFile(_ file: SourceFile) -> (ConnectorPlan?, [Diagnostic], LocatedDocument?) {
        let document: LocatedDocument
        switch YAMLLoader.load(file) {
        case .success(let loaded): document = loaded
        case .failure(let diagnostic): return (nil, [diagnostic], nil)
        }
        let schemaErrors = SchemaCatalog.connectorValidator.validate(document.value)
        var builder = ConnectorBuilder(document: document)
        let connector = builder.build()
        if !schemaErrors.isEmpty {
            // The checks of meaning run on a malformed document too, so that one run reports everything;
            // where the schema already found fault on a line, its message is the one kept.
            let schemaDiagnostics = SchemaDiagnostics(document: document).diagnostics(for: schemaErrors)
            let faultyLines = Set(schemaDiagnostics.compactMap { $0.location?.line })
            let further = builder.diagnostics.filter { $0.severity == .error && !faultyLines.contains($0.location?.line ?? 0) }
            return (nil, schemaDiagnostics + further, document)
        }
        var diagnostics = builder.diagnostics
        if connector != nil { diagnostics += environment.diagnostics(for: document) }
        return (diagnostics.hasErrors ? nil : connector, diagnostics, document)
    }

    private func crossFileDiagnostics(_ connectors: [ConnectorPlan], documents: [String: LocatedDocument]) -> [Diagnostic] {
        func location(_ connector: ConnectorPlan, _ tokens: String...) -> SourceLocation? {
            documents[connector.sourceFile ?? ""]?.location(of: .init(tokens: tokens))
        }
        var diagnostics: [Diagnostic] = []
        var names: [String: ConnectorPlan] = [:]
        var paths: [String: ConnectorPlan] = [:]
        var pools: [String: (RateLimit, ConnectorPlan, String)] = [:]
        for connector in connectors.sorted(by: { ($0.sourceFile ?? "") < ($1.sourceFile ?? "") }) {
            if let first = names[connector.name] {
                diagnostics.append(.error("connector name '\(connector.name)' is already used by \(first.sourceFile ?? "another file")",
                                          at: location(connector, "connector"),
                                          notes: [.init("first defined here", at: location(first, "connector"))]))
            } else {
                names[connector.name] = connector
            }
            if let source = connector.source {
                if let first = paths[source.path] {
                    diagnostics.append(.error("webhook path \(source.path) is already served by connector '\(first.name)'",
                                              at: location(connector, "source", "webhook", "path"),
                                              notes: [.init("first claimed here", at: location(first, "source", "webhook", "path"))]))
                } else {
                    paths[source.path] = connector
                }
            }
            for target in connector.targets {
                guard let limit = target.rateLimit, let pool = limit.pool else { continue }
                if let (first, owner, targetName) = pools[pool] {
                    if first.requests != limit.requests || first.per != limit.per {
                        diagnostics.append(.error(
                            "rate-limit pool '\(pool)' is \(limit.requests) per \(limit.per.manifoldText) here but \(first.requests) per \(first.per.manifoldText) in connector '\(owner.name)'; a shared pool has one limit",
                            at: location(connector, "targets", target.name, "rate_limit"),
                            notes: [.init("the pool's first definition", at: location(owner, "targets", targetName, "rate_limit"))]))
                    }
                } else {
                    pools[pool] = (limit, connector, target.name)
                }
            }
        }
        return diagnostics
    }
}

extension ConnectorCompiler.EnvironmentCheck {
    /// The document's `${env:NAME}` references to variables that are not set, at their place: warnings or errors
    /// as the check says (connectors and the engine's global configuration alike).
    func diagnostics(for document: LocatedDocument) -> [Diagnostic] {
        let variables: [String: String]
        let severity: Diagnostic.Severity
        switch self {
        case .ignore: return []
        case .warn(let values): (variables, severity) = (values, .warning)
        case .require(let values): (variables, severity) = (values, .error)
        }
        return EnvironmentReferences.find(in: document).filter { variables[$0.name] == nil }.map { reference in
            Diagnostic(severity, "environment variable \(reference.name) is not set (\(reference.pointer.dotted))",
                       at: document.location(of: reference.pointer))
        }
    }
}
