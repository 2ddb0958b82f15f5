/// A node of a parsed JSONata expression, after the parser's rewriting of paths, predicates,
/// grouping and bindings (jsonata-js's `processAST`).
///
/// Nodes are built and rewritten only while an expression compiles; afterwards the tree is never
/// mutated, which is why sharing it between tasks is safe.
final class Node: @unchecked Sendable {
    enum Kind: Equatable {
        /// `unary` is `-x`, and the `[...]` and `{...}` constructors (the `value` says which).
        case path, binary, unary, name, string, number, value, wildcard, descendant, parent
        case condition, block, bind, regex, function, partial, variable, lambda, apply, transform, sort
        /// A predicate stage, an `#` index stage, a grouping clause.
        case filter, index, group
        /// `and`/`or`/`in` read as an operand (they become names), or a `?` placeholder.
        case `operator`, placeholder
    }

    var kind: Kind
    /// The operator, name, string or variable text.
    var value: String
    var number: Double = 0
    /// For `.value` nodes: `true`, `false`, or `nil` for `null`.
    var boolean: Bool?
    var position: Int

    var lhs: Node?
    var rhs: Node?
    var expression: Node?
    var expressions: [Node] = []
    var steps: [Node] = []
    var stages: [Node] = []
    var predicates: [Node] = []
    var pairs: [(Node, Node)] = []
    var group: Node?
    var arguments: [Node] = []
    var procedure: Node?
    var body: Node?
    var signature: Signature?
    var condition: Node?
    var then: Node?
    var otherwise: Node?
    var pattern: Node?
    var update: Node?
    var delete: Node?
    var terms: [(descending: Bool, expression: Node)] = []
    var regexFlags = ""

    var focus: String?
    var indexVariable: String?
    var tuple = false
    var keepArray = false
    var keepSingletonArray = false
    var consArray = false
    var thunk = false
    /// For a variable naming a built-in function: that function, found when the expression compiles.
    var builtin: Value?
    /// A value made once when the expression compiles (a regex literal's matcher), shared by every evaluation.
    var constant: Value?
    /// For a path that is only plain names (`a.b.c`): the names, for the evaluator's fast path.
    var simpleNames: [String]?
    /// For any other path whose first steps are plain names (`a.b.c[x = 1].d`): those names, walked over the input
    /// directly before the general walk takes the rest.
    var plainPrefix: [String]?
    /// For an object constructor whose keys are all distinct string literals (the usual mapping): those keys.
    var literalKeys: [String]?

    /// `%`: where its value is bound (a label), and how many levels up it still has to climb.
    var slot: AncestorSlot?
    /// A step whose input the `%` with this slot refers to.
    var ancestor: AncestorSlot?
    /// Parent references inside this node not yet resolved against an enclosing path's steps.
    var seekingParent: [AncestorSlot] = []

    init(_ kind: Kind, _ value: String = "", position: Int) {
        self.kind = kind
        self.value = value
        self.position = position
    }
}

/// The binding of a parent operator `%`: resolved by the rewriter to the path step whose input it is.
final class AncestorSlot: @unchecked Sendable {
    // Mutated only while the expression compiles, like `Node`.
    var label: String
    var level: Int
    let index: Int

    init(label: String, level: Int, index: Int) {
        self.label = label
        self.level = level
        self.index = index
    }
}
