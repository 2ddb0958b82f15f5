/// An error raised while compiling or evaluating a JSONata expression, with the reference
/// implementation's code (`S0202`, `T2001`, ...) and the character position it concerns.
public struct JSONataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error code of jsonata-js: `S` syntax, `T` type, `D` dynamic, `U` guardrail.
    public var code: String
    /// What went wrong, in words.
    public var message: String
    /// The 1-based character offset in the expression, when known.
    public var position: Int?
    /// The token at that position, when there is one.
    public var token: String?

    public init(code: String, message: String, position: Int? = nil, token: String? = nil) {
        self.code = code
        self.message = message
        self.position = position
        self.token = token
    }

    public var description: String {
        "\(code)" + (position.map { " at \($0)" } ?? "") + ": \(message)"
    }
}
