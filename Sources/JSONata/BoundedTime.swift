/// Whether an expression's evaluation takes time bounded by the size of its input: no function it defines (so no
/// recursion or loop), no regular expression (which can backtrack without bound), no range (`[1..n]`, `n` from the
/// data), no partial application, and calls only to built-ins that do a bounded amount of work per item they are
/// given and call back into no function of the author's. Such an expression can run on the thread that received
/// the request instead of being handed to the evaluation threads, which cost a fifth of a webhook's time.
enum BoundedTime {
    /// Built-ins whose work is linear (or n log n) in their arguments and which run no callback of the author's.
    static let functions: Set<String> = [
        "string", "length", "substring", "substringBefore", "substringAfter", "uppercase", "lowercase", "trim", "pad",
        "contains", "split", "join", "replace", "base64encode", "base64decode", "encodeUrlComponent", "encodeUrl",
        "decodeUrlComponent", "decodeUrl", "sum", "count", "max", "min", "average", "number", "abs", "floor", "ceil",
        "round", "sqrt", "power", "random", "boolean", "not", "exists", "append", "reverse", "distinct", "keys",
        "lookup", "spread", "merge", "type", "clone", "error", "assert", "millis", "now", "fromMillis", "toMillis",
        "formatBase", "formatNumber", "formatInteger", "parseInteger", "zip", "shuffle",
    ]

    static func isBounded(_ root: Node) -> Bool {
        var visited = Set<ObjectIdentifier>()
        func bounded(_ node: Node?) -> Bool {
            guard let node else { return true }
            guard visited.insert(ObjectIdentifier(node)).inserted else { return true }
            switch node.kind {
            case .lambda, .regex, .partial, .placeholder:
                return false
            case .binary where node.value == "..":
                return false
            case .function:
                // A call to a built-in by its name, not to a variable holding some other function.
                guard let procedure = node.procedure, procedure.kind == .variable, procedure.builtin != nil,
                      functions.contains(procedure.value)
                else { return false }
            case .variable:
                // A built-in passed as a value could be handed to anything: only the bounded ones.
                if node.builtin != nil, !functions.contains(node.value) { return false }
            default:
                break
            }
            let children: [Node?] = [node.lhs, node.rhs, node.expression, node.group, node.procedure, node.body, node.condition,
                                     node.then, node.otherwise, node.pattern, node.update, node.delete]
            guard children.allSatisfy(bounded) else { return false }
            let lists = node.expressions + node.steps + node.stages + node.predicates + node.arguments
            guard lists.allSatisfy(bounded) else { return false }
            return node.pairs.allSatisfy { bounded($0.0) && bounded($0.1) } && node.terms.allSatisfy { bounded($0.expression) }
        }
        return bounded(root)
    }
}
