/// A lexical token of a JSONata expression.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case `operator`
        case name
        case variable
        case string
        case number
        case value
        case regex
        case end
    }

    var kind: Kind
    /// The operator or name text, the string's contents, or the variable's name without `$`.
    var text: String
    var number: Double = 0
    /// `true`, `false` or `null` for `.value` tokens (`null` is `nil`).
    var boolean: Bool? = nil
    var regexFlags: String = ""
    /// The offset just past the token (jsonata-js convention).
    var position: Int
}
