/// Rewrites the raw parse tree as jsonata-js's `processAST` does: `.` chains become paths of steps,
/// predicates become stages, `{}` after a step becomes grouping, `@`/`#` become tuple bindings, and
/// lambda bodies get tail calls turned into thunks.
struct Rewriter {
    private var ancestorLabel = 0
    private var ancestry: [Node] = []

    mutating func process(_ expression: Node) throws(JSONataError) -> Node {
        let result: Node
        switch expression.kind {
        case .binary:
            result = try binary(expression)
        case .unary:
            result = Node(.unary, expression.value, position: expression.position)
            if expression.value == "[" {
                result.expressions = try expression.expressions.map { (item) throws(JSONataError) in try process(item) }
                for item in result.expressions { pushAncestry(result, item) }
            } else if expression.value == "{" {
                result.pairs = try expression.pairs.map { (pair) throws(JSONataError) in (try process(pair.0), try process(pair.1)) }
                for pair in result.pairs {
                    pushAncestry(result, pair.0)
                    pushAncestry(result, pair.1)
                }
            } else {
                let operand = try process(expression.expression!)
                if expression.value == "-", operand.kind == .number {
                    // A new node: the raw tree may be rewritten twice (`a ?: b` uses `a` as condition and value).
                    let negated = Node(.number, "-" + operand.value, position: operand.position)
                    negated.number = -operand.number
                    return keepingArray(expression, negated)
                }
                result.expression = operand
                pushAncestry(result, operand)
            }
        case .function, .partial:
            result = Node(expression.kind, expression.value, position: expression.position)
            result.arguments = try expression.arguments.map { (argument) throws(JSONataError) in try process(argument) }
            for argument in result.arguments { pushAncestry(result, argument) }
            result.procedure = try process(expression.procedure!)
        case .lambda:
            result = Node(.lambda, expression.value, position: expression.position)
            result.arguments = expression.arguments
            result.signature = expression.signature
            result.body = tailCallOptimize(try process(expression.body!))
        case .condition:
            result = Node(.condition, expression.value, position: expression.position)
            result.condition = try process(expression.condition!)
            pushAncestry(result, result.condition!)
            result.then = try process(expression.then!)
            pushAncestry(result, result.then!)
            if let otherwise = expression.otherwise {
                result.otherwise = try process(otherwise)
                pushAncestry(result, result.otherwise!)
            }
        case .transform:
            result = Node(.transform, expression.value, position: expression.position)
            result.pattern = try process(expression.pattern!)
            result.update = try process(expression.update!)
            if let delete = expression.delete { result.delete = try process(delete) }
        case .block:
            result = Node(.block, expression.value, position: expression.position)
            result.expressions = try expression.expressions.map { (item) throws(JSONataError) in try process(item) }
            for item in result.expressions { pushAncestry(result, item) }
            if result.expressions.contains(where: { $0.consArray || ($0.kind == .path && $0.steps.first?.consArray == true) }) {
                result.consArray = true
            }
        case .name:
            result = Node(.path, position: expression.position)
            result.steps = [expression]
            if expression.keepArray { result.keepSingletonArray = true }
        case .parent:
            result = Node(.parent, "%", position: expression.position)
            result.slot = AncestorSlot(label: "!\(ancestorLabel)", level: 1, index: ancestry.count)
            ancestorLabel += 1
            ancestry.append(result)
        case .string, .number, .value, .wildcard, .descendant, .variable, .regex, .placeholder:
            result = expression
        case .operator:
            if ["and", "or", "in"].contains(expression.value) {
                expression.kind = .name
                result = try process(expression)
            } else {
                throw JSONataError(code: "S0201", message: "Syntax error: \"\(expression.value)\"", position: expression.position,
                                   token: expression.value)
            }
        default:
            throw JSONataError(code: "S0206", message: "Unknown expression type: \"\(expression.value)\"", position: expression.position,
                               token: expression.value)
        }
        return keepingArray(expression, result)
    }

    private func keepingArray(_ source: Node, _ result: Node) -> Node {
        if source.keepArray { result.keepArray = true }
        return result
    }

    private mutating func binary(_ expression: Node) throws(JSONataError) -> Node {
        switch expression.value {
        case ".":
            let left = try process(expression.lhs!)
            let result: Node
            if left.kind == .path {
                result = left
            } else {
                result = Node(.path, position: left.position)
                result.steps = [left]
            }
            if left.kind == .parent { result.seekingParent = [left.slot!] }
            let rest = try process(expression.rhs!)
            if rest.kind == .path {
                result.steps += rest.steps
            } else {
                if !rest.predicates.isEmpty {
                    rest.stages = rest.predicates
                    rest.predicates = []
                }
                result.steps.append(rest)
            }
            for step in result.steps {
                if step.kind == .number || step.kind == .value {
                    throw JSONataError(code: "S0213", message: "The literal value \(step.value) cannot be used as a step within a path expression",
                                       position: step.position, token: step.value)
                }
                if step.kind == .string { step.kind = .name }
            }
            if result.steps.contains(where: \.keepArray) { result.keepSingletonArray = true }
            if let first = result.steps.first, first.kind == .unary, first.value == "[" { first.consArray = true }
            if let last = result.steps.last, last.kind == .unary, last.value == "[" { last.consArray = true }
            try resolveAncestry(result)
            return result
        case "[":
            let result = try process(expression.lhs!)
            var step = result
            var toStages = false
            if result.kind == .path {
                step = result.steps[result.steps.count - 1]
                toStages = true
            }
            if step.group != nil {
                throw JSONataError(code: "S0209", message: "A predicate cannot follow a grouping expression in a step",
                                   position: expression.position)
            }
            let filter = Node(.filter, position: expression.position)
            let predicate = try process(expression.rhs!)
            for slot in predicate.seekingParent {
                if slot.level == 1 {
                    _ = try seekParent(step, slot)
                } else {
                    slot.level -= 1
                }
            }
            pushAncestry(step, predicate)
            filter.expression = predicate
            if toStages { step.stages.append(filter) } else { step.predicates.append(filter) }
            return result
        case "{":
            let result = try process(expression.lhs!)
            if result.group != nil {
                throw JSONataError(code: "S0210", message: "Each step can only have one grouping expression", position: expression.position)
            }
            let group = Node(.group, position: expression.position)
            group.pairs = try expression.pairs.map { (pair) throws(JSONataError) in (try process(pair.0), try process(pair.1)) }
            result.group = group
            return result
        case "^":
            var result = try process(expression.lhs!)
            if result.kind != .path {
                let path = Node(.path, position: result.position)
                path.steps = [result]
                result = path
            }
            let sort = Node(.sort, position: expression.position)
            sort.terms = try expression.terms.map { (term) throws(JSONataError) in (term.descending, try process(term.expression)) }
            for term in sort.terms { pushAncestry(sort, term.expression) }
            result.steps.append(sort)
            try resolveAncestry(result)
            return result
        case ":=":
            let result = Node(.bind, expression.value, position: expression.position)
            result.lhs = try process(expression.lhs!)
            result.rhs = try process(expression.rhs!)
            pushAncestry(result, result.rhs!)
            return result
        case "@":
            let result = try process(expression.lhs!)
            let step = result.kind == .path ? result.steps[result.steps.count - 1] : result
            if !step.stages.isEmpty || !step.predicates.isEmpty {
                throw JSONataError(code: "S0215", message: "A context variable binding must precede any predicates on a step",
                                   position: expression.position)
            }
            if step.kind == .sort {
                throw JSONataError(code: "S0216", message: "A context variable binding must precede the 'order-by' clause on a step",
                                   position: expression.position)
            }
            if expression.keepArray { step.keepArray = true }
            step.focus = expression.rhs!.value
            step.tuple = true
            return result
        case "#":
            var result = try process(expression.lhs!)
            var step = result
            if result.kind == .path {
                step = result.steps[result.steps.count - 1]
            } else {
                let path = Node(.path, position: result.position)
                path.steps = [result]
                result = path
                if !step.predicates.isEmpty {
                    step.stages = step.predicates
                    step.predicates = []
                }
            }
            if step.stages.isEmpty {
                step.indexVariable = expression.rhs!.value
            } else {
                let index = Node(.index, expression.rhs!.value, position: expression.position)
                step.stages.append(index)
            }
            step.tuple = true
            return result
        case "~>":
            let result = Node(.apply, expression.value, position: expression.position)
            result.lhs = try process(expression.lhs!)
            result.rhs = try process(expression.rhs!)
            result.keepArray = result.lhs!.keepArray || result.rhs!.keepArray
            return result
        default:
            let result = Node(.binary, expression.value, position: expression.position)
            result.lhs = try process(expression.lhs!)
            result.rhs = try process(expression.rhs!)
            pushAncestry(result, result.lhs!)
            pushAncestry(result, result.rhs!)
            return result
        }
    }

    // MARK: Parent operator

    /// Walks back from `node` to the step whose input a `%` refers to, consuming one level per step.
    private mutating func seekParent(_ node: Node, _ slot: AncestorSlot) throws(JSONataError) -> AncestorSlot {
        var slot = slot
        switch node.kind {
        case .name, .wildcard:
            slot.level -= 1
            if slot.level == 0 {
                if let existing = node.ancestor {
                    ancestry[slot.index].slot?.label = existing.label
                }
                node.ancestor = slot
                node.tuple = true
            }
        case .parent:
            slot.level += 1
        case .block:
            if let last = node.expressions.last {
                node.tuple = true
                slot = try seekParent(last, slot)
            }
        case .path:
            node.tuple = true
            var index = node.steps.count - 1
            slot = try seekParent(node.steps[index], slot)
            index -= 1
            while slot.level > 0, index >= 0 {
                slot = try seekParent(node.steps[index], slot)
                index -= 1
            }
        default:
            throw JSONataError(code: "S0217", message: "The object representing the 'parent' cannot be derived from this expression",
                               position: node.position, token: "\(node.kind)")
        }
        return slot
    }

    private func pushAncestry(_ result: Node, _ value: Node) {
        var slots = value.seekingParent
        if value.kind == .parent, let slot = value.slot { slots.append(slot) }
        result.seekingParent += slots
    }

    private mutating func resolveAncestry(_ path: Node) throws(JSONataError) {
        guard let last = path.steps.last else { return }
        var slots = last.seekingParent
        if last.kind == .parent, let slot = last.slot { slots.append(slot) }
        for original in slots {
            var slot = original
            var index = path.steps.count - 2
            while slot.level > 0 {
                if index < 0 {
                    path.seekingParent.append(slot)
                    break
                }
                var step = path.steps[index]
                index -= 1
                while index >= 0, step.focus != nil, path.steps[index].focus != nil {
                    step = path.steps[index]
                    index -= 1
                }
                slot = try seekParent(step, slot)
            }
        }
    }

    private func tailCallOptimize(_ expression: Node) -> Node {
        switch expression.kind {
        case .function where expression.predicates.isEmpty:
            let thunk = Node(.lambda, position: expression.position)
            thunk.thunk = true
            thunk.body = expression
            return thunk
        case .condition:
            expression.then = tailCallOptimize(expression.then!)
            if let otherwise = expression.otherwise { expression.otherwise = tailCallOptimize(otherwise) }
            return expression
        case .block:
            if let last = expression.expressions.last {
                expression.expressions[expression.expressions.count - 1] = tailCallOptimize(last)
            }
            return expression
        default:
            return expression
        }
    }
}
