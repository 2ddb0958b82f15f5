/// A Pratt parser for JSONata (a port of jsonata-js's parser), followed by the rewriting of the raw
/// tree into paths with steps, stages, grouping and bindings.
struct Parser {
    static let bindingPowers: [String: Int] = [
        ".": 75, "[": 80, "]": 0, "{": 70, "}": 0, "(": 80, ")": 0, ",": 0, "@": 80, "#": 80, ";": 80, ":": 80,
        "?": 20, "+": 50, "-": 50, "*": 60, "/": 60, "%": 60, "|": 20, "=": 40, "<": 40, ">": 40, "^": 40, "**": 60,
        "..": 20, ":=": 10, "!=": 40, "<=": 40, ">=": 40, "~>": 40, "?:": 40, "??": 40, "and": 30, "or": 25, "in": 40,
        "&": 50, "!": 0, "~": 0,
    ]
    /// Operators with an infix (led) meaning, and their binding power.
    static let infixOperators: [String: Int] = {
        var table: [String: Int] = [:]
        for op in [".", "+", "-", "*", "/", "%", "=", "<", ">", "!=", "<=", ">=", "&", "and", "or", "in", "~>",
                   "(", "[", "^", "{", ":=", "@", "#", "?", "?:", "??"]
        {
            table[op] = bindingPowers[op]
        }
        return table
    }()
    /// Operators that are symbols with no infix meaning (their left binding power is 0).
    static let plainSymbols: Set<String> = [":", ";", ",", ")", "]", "}", "..", "*", "**", "%", "|", "-", "(", "[", "{"]

    private var lexer: Lexer
    private var current: Token
    private let length: Int

    private init(_ source: String) {
        lexer = Lexer(source)
        current = Token(kind: .end, text: "(end)", position: 0)
        length = source.unicodeScalars.count
    }

    /// Parses `source` into the rewritten tree.
    static func parse(_ source: String) throws(JSONataError) -> Node {
        var parser = Parser(source)
        try parser.advance()
        let raw = try parser.expression(0)
        if parser.current.kind != .end {
            throw JSONataError(code: "S0201", message: "Syntax error: \"\(parser.current.text)\"",
                               position: parser.current.position, token: parser.current.text)
        }
        var rewriter = Rewriter()
        let tree = try rewriter.process(raw)
        Self.markShortcuts(tree)
        if tree.kind == .parent || !tree.seekingParent.isEmpty {
            throw JSONataError(code: "S0217", message: "The object representing the 'parent' cannot be derived from this expression",
                               position: tree.position, token: "%")
        }
        return tree
    }

    /// Marks what the evaluator can take a shorter way through: paths made only of plain names or starting with them
    /// (walked without building sequences), object constructors with literal keys, variables naming built-ins.
    private static func markShortcuts(_ node: Node) {
        var visited = Set<ObjectIdentifier>()
        func visit(_ node: Node?) {
            guard let node, visited.insert(ObjectIdentifier(node)).inserted else { return }
            if node.kind == .variable { node.builtin = Library.function(named: node.value) }
            func isPlain(_ step: Node) -> Bool {
                step.kind == .name && step.stages.isEmpty && step.predicates.isEmpty && step.group == nil && step.focus == nil
                    && step.indexVariable == nil && !step.tuple && step.ancestor == nil && !step.keepArray
            }
            if node.kind == .path {
                if !node.keepSingletonArray, node.group == nil, !node.tuple, node.predicates.isEmpty, !node.keepArray,
                    node.steps.allSatisfy(isPlain)
                {
                    node.simpleNames = node.steps.map(\.value)
                } else if let first = node.steps.firstIndex(where: { !isPlain($0) }), first > 0 {
                    node.plainPrefix = node.steps[..<first].map(\.value)
                }
            }
            if !node.pairs.isEmpty,
                node.pairs.allSatisfy({ $0.0.kind == .string && $0.0.predicates.isEmpty && $0.0.group == nil && $0.0.stages.isEmpty })
            {
                let keys = node.pairs.map(\.0.value)
                if Set(keys).count == keys.count { node.literalKeys = keys }
            }
            for child in [node.lhs, node.rhs, node.expression, node.group, node.procedure, node.body, node.condition, node.then,
                          node.otherwise, node.pattern, node.update, node.delete]
            {
                visit(child)
            }
            for child in node.expressions + node.steps + node.stages + node.predicates + node.arguments { visit(child) }
            for pair in node.pairs { visit(pair.0); visit(pair.1) }
            for term in node.terms { visit(term.expression) }
        }
        visit(node)
    }

    private var id: String {
        switch current.kind {
        case .operator: current.text
        case .name, .variable: "(name)"
        case .string, .number, .value: "(literal)"
        case .regex: "(regex)"
        case .end: "(end)"
        }
    }

    /// The left binding power of the current token.
    private var leftBindingPower: Int {
        guard current.kind == .operator else { return 0 }
        return Self.infixOperators[current.text] ?? 0
    }

    private mutating func advance(_ expected: String? = nil, infix: Bool = false) throws(JSONataError) {
        if let expected, id != expected {
            let code = current.kind == .end ? "S0203" : "S0202"
            throw JSONataError(code: code, message: "Expected \"\(expected)\", got \"\(current.text)\"",
                               position: current.position, token: current.text)
        }
        current = try lexer.next(infix: infix)
        if current.kind == .end { current.position = length }
        if current.kind == .operator, Self.infixOperators[current.text] == nil, !Self.plainSymbols.contains(current.text) {
            throw JSONataError(code: "S0204", message: "Unknown operator: \"\(current.text)\"",
                               position: current.position, token: current.text)
        }
    }

    /// How deeply an expression may nest. Every walk of the tree (this parser, the rewriter, the evaluator, a
    /// printer, and the release of its nodes) recurses once per level, so a deeper expression is refused here,
    /// with its position, before anything could overflow a thread's stack (10,000 parentheses did). Two bounds:
    /// the parser's own recursion (brackets, parentheses, prefix operators), whose frames are large, and the
    /// height of the tree, which a chain of operators (`1+1+…`) grows without recursing here. Real expressions
    /// stay far below both.
    static let maximumRecursion = 150
    static let maximumHeight = 300

    /// The parser's recursion, and the height of the tree being built above the current token.
    private var recursion = 0
    private var height = 0

    private mutating func deepen(at token: Token, recursing: Bool) throws(JSONataError) {
        height += 1
        if recursing { recursion += 1 }
        if recursion > Self.maximumRecursion || height > Self.maximumHeight {
            let limit = recursion > Self.maximumRecursion ? Self.maximumRecursion : Self.maximumHeight
            throw JSONataError(code: "U1001", message: "The expression nests more than \(limit) levels deep",
                               position: token.position, token: token.text)
        }
    }

    private mutating func expression(_ rightBindingPower: Int) throws(JSONataError) -> Node {
        var token = current
        var levels = 1
        defer {
            height -= levels
            recursion -= 1
        }
        try deepen(at: token, recursing: true)
        try advance(infix: true)
        var left = try nud(token)
        while rightBindingPower < leftBindingPower {
            token = current
            levels += 1
            try deepen(at: token, recursing: false)
            try advance()
            left = try led(token, left)
        }
        return left
    }

    private func node(_ token: Token, _ kind: Node.Kind) -> Node {
        Node(kind, token.text, position: token.position)
    }

    // MARK: Prefix

    private mutating func nud(_ token: Token) throws(JSONataError) -> Node {
        switch token.kind {
        case .name:
            return node(token, .name)
        case .variable:
            return node(token, .variable)
        case .string:
            return node(token, .string)
        case .number:
            let result = node(token, .number)
            result.number = token.number
            return result
        case .value:
            let result = node(token, .value)
            result.boolean = token.boolean
            return result
        case .regex:
            let result = node(token, .regex)
            result.regexFlags = token.regexFlags
            // Compiled once here, not at each evaluation: an invalid pattern is a compile error.
            let matcher = try RegexMatcher(pattern: token.text, flags: token.regexFlags, position: token.position)
            result.constant = .function(FunctionValue(.regex(matcher)))
            return result
        case .end:
            throw JSONataError(code: "S0207", message: "Unexpected end of expression", position: token.position, token: token.text)
        case .operator:
            break
        }
        switch token.text {
        case "-":
            let result = node(token, .unary)
            result.expression = try expression(70)
            return result
        case "*":
            return node(token, .wildcard)
        case "**":
            return node(token, .descendant)
        case "%":
            return node(token, .parent)
        case "(":
            let result = node(token, .block)
            while id != ")" {
                result.expressions.append(try expression(0))
                if id != ";" { break }
                try advance(";")
            }
            try advance(")", infix: true)
            return result
        case "[":
            let result = node(token, .unary)
            if id != "]" {
                while true {
                    var item = try expression(0)
                    if id == ".." {
                        let range = Node(.binary, "..", position: current.position)
                        range.lhs = item
                        try advance("..")
                        range.rhs = try expression(0)
                        item = range
                    }
                    result.expressions.append(item)
                    if id != "," { break }
                    try advance(",")
                }
            }
            try advance("]", infix: true)
            return result
        case "{":
            let result = node(token, .unary)
            result.pairs = try objectPairs()
            return result
        case "|":
            let result = node(token, .transform)
            result.pattern = try expression(0)
            try advance("|")
            result.update = try expression(0)
            if id == "," {
                try advance(",")
                result.delete = try expression(0)
            }
            try advance("|")
            return result
        case "and", "or", "in":
            return node(token, .operator)
        case "?":
            return node(token, .operator)
        default:
            throw JSONataError(code: "S0211", message: "The symbol \"\(token.text)\" cannot be used as a unary operator",
                               position: token.position, token: token.text)
        }
    }

    private mutating func objectPairs() throws(JSONataError) -> [(Node, Node)] {
        var pairs: [(Node, Node)] = []
        if id != "}" {
            while true {
                let key = try expression(0)
                try advance(":")
                let value = try expression(0)
                pairs.append((key, value))
                if id != "," { break }
                try advance(",")
            }
        }
        try advance("}", infix: true)
        return pairs
    }

    // MARK: Infix

    private mutating func led(_ token: Token, _ left: Node) throws(JSONataError) -> Node {
        let power = Self.bindingPowers[token.text] ?? 0
        switch token.text {
        case "(":
            return try call(token, left)
        case "[":
            if id == "]" {
                var step: Node? = left
                while let inner = step, inner.kind == .binary, inner.value == "[" { step = inner.lhs }
                step?.keepArray = true
                try advance("]")
                return left
            }
            let result = node(token, .binary)
            result.lhs = left
            result.rhs = try expression(Self.bindingPowers["]"]!)
            try advance("]", infix: true)
            return result
        case "^":
            try advance("(")
            let result = node(token, .binary)
            result.lhs = left
            while true {
                var descending = false
                if id == "<" {
                    try advance("<")
                } else if id == ">" {
                    descending = true
                    try advance(">")
                }
                result.terms.append((descending, try expression(0)))
                if id != "," { break }
                try advance(",")
            }
            try advance(")")
            return result
        case "{":
            let result = node(token, .binary)
            result.lhs = left
            result.pairs = try objectPairs()
            return result
        case ":=":
            guard left.kind == .variable else {
                throw JSONataError(code: "S0212", message: "The left side of := must be a variable name (start with $)",
                                   position: left.position, token: left.value)
            }
            let result = node(token, .binary)
            result.lhs = left
            result.rhs = try expression(power - 1)
            return result
        case "@", "#":
            let result = node(token, .binary)
            result.lhs = left
            result.rhs = try expression(power)
            guard result.rhs?.kind == .variable else {
                throw JSONataError(code: "S0214", message: "The right side of \(token.text) must be a variable name (start with $)",
                                   position: result.rhs?.position, token: token.text)
            }
            return result
        case "?":
            let result = node(token, .condition)
            result.condition = left
            result.then = try expression(0)
            if id == ":" {
                try advance(":")
                result.otherwise = try expression(0)
            }
            return result
        case "?:":
            let result = node(token, .condition)
            result.condition = left
            result.then = left
            result.otherwise = try expression(0)
            return result
        case "??":
            let result = node(token, .condition)
            let exists = Node(.function, "(", position: token.position)
            exists.procedure = Node(.variable, "exists", position: token.position)
            exists.arguments = [left]
            result.condition = exists
            result.then = left
            result.otherwise = try expression(0)
            return result
        default:
            let result = node(token, .binary)
            result.lhs = left
            result.rhs = try expression(power)
            return result
        }
    }

    private mutating func call(_ token: Token, _ procedure: Node) throws(JSONataError) -> Node {
        let result = node(token, .function)
        result.procedure = procedure
        if id != ")" {
            while true {
                if current.kind == .operator, current.text == "?" {
                    result.kind = .partial
                    result.arguments.append(Node(.placeholder, "?", position: current.position))
                    try advance("?")
                } else {
                    result.arguments.append(try expression(0))
                }
                if id != "," { break }
                try advance(",")
            }
        }
        try advance(")", infix: true)
        guard procedure.kind == .name, procedure.value == "function" || procedure.value == "λ" else { return result }
        for (index, argument) in result.arguments.enumerated() where argument.kind != .variable {
            throw JSONataError(code: "S0208", message: "Parameter \(index + 1) of function definition must be a variable name (start with $)",
                               position: argument.position, token: argument.value)
        }
        result.kind = .lambda
        if id == "<" {
            let signaturePosition = current.position
            var depth = 1
            var text = "<"
            while depth > 0, id != "{", id != "(end)" {
                try advance()
                if id == ">" { depth -= 1 } else if id == "<" { depth += 1 }
                text += current.text
            }
            try advance(">")
            do {
                result.signature = try Signature(text)
            } catch {
                var located = error
                located.position = signaturePosition + (error.position ?? 0)
                throw located
            }
        }
        try advance("{")
        result.body = try expression(0)
        try advance("}")
        return result
    }
}
