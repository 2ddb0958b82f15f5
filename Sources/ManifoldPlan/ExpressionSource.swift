/// A JSONata expression as the author wrote it; the runtime compiles it once per plan.
public struct ExpressionSource: Sendable, Hashable, CustomStringConvertible {
    /// The expression's text.
    public var source: String

    public init(_ source: String) {
        self.source = source
    }

    public var description: String { source }
}
