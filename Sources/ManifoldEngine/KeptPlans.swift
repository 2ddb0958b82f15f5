import ManifoldCompiler
public import ManifoldPlan
public import ManifoldStore

/// Plans kept in the store by version (their connector sources), compiled again for replays on the original plan.
public enum KeptPlans {
    /// The plan of `version`, or `nil` when it was not kept (or no longer compiles).
    public static func plan(version: String, in store: any JobStore) async throws -> Plan? {
        guard let sources = try await store.planSources(version: version) else { return nil }
        return ConnectorCompiler().compile(sources.map { SourceFile(path: $0.path, text: $0.text) }).plan
    }
}
