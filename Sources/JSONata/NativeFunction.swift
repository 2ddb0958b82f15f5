/// A built-in function: its name, its declared parameter count (what higher-order functions pass it),
/// and its implementation.
struct NativeFunction: Sendable {
    typealias Implementation = @Sendable (_ evaluator: Evaluator, _ arguments: [Value?], _ context: Value?, _ environment: Frame)
        throws -> Value?

    let name: String
    let arity: Int
    let implementation: Implementation

    init(name: String, arity: Int, implementation: @escaping Implementation) {
        self.name = name
        self.arity = arity
        self.implementation = implementation
    }
}
