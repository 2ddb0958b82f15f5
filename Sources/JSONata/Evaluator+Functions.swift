import JSONValue

extension Evaluator {
    /// The function a call or partial application names, and that name for errors. A bare name that
    /// evaluates to nothing while `$name` exists is the common slip of a forgotten `$` (`code`).
    private func procedure(of node: Node, _ input: Value?, _ environment: Frame, code: String, action: String)
        throws(JSONataError) -> (value: Value?, name: String)
    {
        let procedureNode = node.procedure!
        let value = try evaluate(procedureNode, input, environment)
        let name = procedureNode.kind == .path ? procedureNode.steps.first?.value ?? "" : procedureNode.value
        if value == nil, procedureNode.kind == .path, environment.lookup(name) != nil {
            throw JSONataError(code: code, message: "Attempted to \(action) a non-function. Did you mean ${\(name)}?",
                               position: node.position, token: name)
        }
        return (value, name)
    }

    func evaluateFunction(_ node: Node, _ input: Value?, _ environment: Frame, applyTo context: Value??) throws(JSONataError) -> Value? {
        let (procedure, name) = try procedure(of: node, input, environment, code: "T1005", action: "invoke")
        var arguments: [Value?] = []
        arguments.reserveCapacity(node.arguments.count + 1)
        if let context { arguments.append(context) }
        for argument in node.arguments {
            arguments.append(try evaluate(argument, input, environment))
        }
        do {
            return try apply(procedure, arguments, input, environment)
        } catch {
            var error = error
            if error.position == nil { error.position = node.position }
            if error.token == nil { error.token = name }
            throw error
        }
    }

    /// Applies a function value, running tail calls in a loop (trampoline) instead of recursing.
    func apply(_ procedure: Value?, _ arguments: [Value?], _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        var result = try applyInner(procedure, arguments, input, environment)
        while case .function(let function)? = result, case .lambda(let node, let closure, let closureInput) = function.body, node.thunk {
            let call = node.body!
            let next = try evaluate(call.procedure!, closureInput, closure)
            var evaluated: [Value?] = []
            for argument in call.arguments {
                evaluated.append(try evaluate(argument, closureInput, closure))
            }
            result = try applyInner(next, evaluated, input, environment)
        }
        return result
    }

    private func applyInner(_ procedure: Value?, _ arguments: [Value?], _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        guard case .function(let function)? = procedure else {
            throw JSONataError(code: "T1006", message: "Attempted to invoke a non-function")
        }
        var arguments = arguments
        if let signature = function.signature {
            arguments = try signature.validate(arguments, context: input)
        }
        switch function.body {
        case .lambda(let node, let closure, let closureInput):
            return try applyLambda(node, closure, closureInput, arguments)
        case .native(let native):
            return try invoke(native, arguments, input, environment)
        case .partial(let target, let bound):
            var filled: [Value?] = []
            var supplied = arguments.makeIterator()
            for argument in bound {
                if let argument {
                    filled.append(argument)
                } else {
                    filled.append(supplied.next() ?? nil)
                }
            }
            // As in jsonata-js, the partially applied function is invoked without its signature.
            switch target.body {
            case .native(let native): return try invoke(native, filled, input, environment)
            case .lambda(let node, let closure, let closureInput):
                return try applyLambda(node, closure, closureInput, filled)
            default:
                return try apply(.function(target), filled, input, environment)
            }
        case .regex(let matcher):
            guard case .string(let text)? = arguments.first else { return nil }
            return try matchObject(matcher, text, from: 0)
        case .transform(let node, let closure):
            return try transform(node, arguments.first ?? nil, closure)
        }
    }

    /// Binds the arguments to a lambda's parameters in a scope of its closure and evaluates its body.
    private func applyLambda(_ node: Node, _ closure: Frame, _ input: Value?, _ arguments: [Value?]) throws(JSONataError) -> Value? {
        let frame = Frame(parent: closure)
        for (index, parameter) in node.arguments.enumerated() {
            frame.bind(parameter.value, index < arguments.count ? arguments[index] : nil)
        }
        return try evaluate(node.body!, input, frame)
    }

    /// Calls a built-in; whatever it throws surfaces as a `JSONataError`.
    func invoke(_ native: NativeFunction, _ arguments: [Value?], _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        do {
            return try native.implementation(self, arguments, input, environment)
        } catch let error as JSONataError {
            throw error
        } catch {
            throw JSONataError(code: "D3137", message: "\(error)")
        }
    }

    /// The object a regex yields when called: `{match, start, end, groups, next}`.
    private func matchObject(_ matcher: RegexMatcher, _ text: String, from offset: Int) throws(JSONataError) -> Value? {
        guard let match = try matcher.firstMatch(in: text, from: offset, deadline: deadline) else { return nil }
        let object = ObjectValue()
        object["match"] = .string(match.match)
        object["start"] = .number(Double(match.start))
        object["end"] = .number(Double(match.end))
        object["groups"] = .array(ArrayValue(match.groups.map(Value.string)))
        let next = NativeFunction(name: "next", arity: 0) { evaluator, _, _, _ in
            try evaluator.matchObject(matcher, text, from: match.end > match.start ? match.end : match.end + 1)
        }
        object["next"] = .function(FunctionValue(.native(next)))
        return .object(object)
    }

    func evaluatePartial(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        var arguments: [Value??] = []
        for argument in node.arguments {
            if argument.kind == .placeholder {
                arguments.append(nil)
            } else {
                arguments.append(.some(try evaluate(argument, input, environment)))
            }
        }
        let (procedure, name) = try procedure(of: node, input, environment, code: "T1007", action: "partially apply")
        guard case .function(let function)? = procedure else {
            throw JSONataError(code: "T1008", message: "Attempted to partially apply a non-function", position: node.position, token: name)
        }
        return .function(FunctionValue(.partial(function, arguments: arguments)))
    }

    func evaluateApply(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        let lhs = try evaluate(node.lhs!, input, environment)
        if node.rhs!.kind == .function {
            return try evaluateFunction(node.rhs!, input, environment, applyTo: .some(lhs))
        }
        let function = try evaluate(node.rhs!, input, environment)
        guard case .function(let second)? = function else {
            throw JSONataError(code: "T2006", message: "The right side of the function application operator ~> must be a function",
                               position: node.position, token: "~>")
        }
        if case .function(let first)? = lhs {
            let chain = NativeFunction(name: "chain", arity: 1) { evaluator, arguments, _, environment in
                let inner = try evaluator.apply(.function(first), [arguments.first ?? nil], nil, environment)
                return try evaluator.apply(.function(second), [inner], nil, environment)
            }
            return .function(FunctionValue(.native(chain)))
        }
        return try apply(function, [lhs], nil, environment)
    }

    private func transform(_ node: Node, _ object: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        guard let object else { return nil }
        let result = Self.deepCopy(object)
        guard var matches = try evaluate(node.pattern!, result, environment) else { return result }
        if !matches.isArray { matches = .array(ArrayValue([matches])) }
        for match in matches.arrayValue!.items {
            let update = try evaluate(node.update!, match, environment)
            if let update {
                guard case .object(let changes) = update else {
                    throw JSONataError(code: "T2011", message: "The insert/update clause of the transform expression must evaluate to an object",
                                       position: node.update!.position)
                }
                if case .object(let target) = match {
                    for (key, value) in changes.members { target[key] = value }
                }
            }
            if let deleteNode = node.delete, var deletions = try evaluate(deleteNode, match, environment) {
                if !deletions.isArray { deletions = .array(ArrayValue([deletions])) }
                let names = deletions.arrayValue!.items
                guard names.allSatisfy({ if case .string = $0 { true } else { false } }) else {
                    throw JSONataError(code: "T2012", message: "The delete clause of the transform expression must evaluate to a string or array of strings",
                                       position: deleteNode.position)
                }
                if case .object(let target) = match {
                    for case .string(let name) in names { target[name] = nil }
                }
            }
        }
        return result
    }

    /// A deep copy, as `JSON.parse(JSON.stringify(value))`.
    static func deepCopy(_ value: Value) -> Value {
        switch value {
        case .array(let array):
            let copy = ArrayValue(array.items.map(deepCopy))
            return .array(copy)
        case .object(let object):
            let copy = ObjectValue()
            for (key, member) in object.members { copy[key] = deepCopy(member) }
            return .object(copy)
        default:
            return value
        }
    }
}
