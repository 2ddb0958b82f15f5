import Foundation
public import JSONValue

/// A compiled JSONata expression: parse once, evaluate many times, from any task.
///
/// ```swift
/// let expression = try JSONataExpression("$sum(items.(price * quantity))")
/// let total = try expression.evaluate(order)   // .number(42.5)
/// ```
public struct JSONataExpression: Sendable {
    /// The expression's text.
    public let source: String
    let tree: Node
    /// Whether evaluating it takes time bounded by the size of its input (`BoundedTime`): it defines no function,
    /// uses no regular expression or range, and calls only built-ins that call nothing back.
    public let isBounded: Bool
    /// Whether paths of plain names are walked over the input directly (`Evaluator.namesThroughArrays`); off only in
    /// the test that compares them with the general walk.
    var walksPlainPaths = true
    /// The expression as closures over JSON (`DirectPlan`), when its root is of a shape they model; parts they do
    /// not are the evaluator's inside the plan.
    let plan: DirectPlan?
    /// Whether evaluations use `plan`; off only in tests that compare it with the evaluator (as is `walksPlainPaths`,
    /// whose test compares the evaluator's own walks).
    var usesPlan = true

    /// Parses `source`; a malformed expression is a `JSONataError` with its code and position.
    public init(_ source: String) throws(JSONataError) {
        self.source = source
        self.tree = try Parser.parse(source)
        self.isBounded = BoundedTime.isBounded(tree)
        self.plan = DirectPlan.compile(tree)
    }

    /// Guardrails for one evaluation: authors' expressions run inside the engine.
    public struct Limits: Sendable {
        /// Nested evaluation steps allowed (recursion depth); deeper is error `U1001`.
        public var maximumDepth: Int
        /// CPU time of the evaluating thread allowed; more is error `U1001`. `nil` means no limit.
        public var timeLimit: Duration?

        public init(maximumDepth: Int = 500, timeLimit: Duration? = .seconds(1)) {
            self.maximumDepth = maximumDepth
            self.timeLimit = timeLimit
        }

        public static let `default` = Limits()
    }

    /// Evaluates against `input` (`nil` is JSONata's `undefined`); `nil` result is `undefined`.
    /// `bindings` are variables (`$name`) and `functions` host functions (`$name(...)`).
    public func evaluate(_ input: JSON?, bindings: [String: JSON] = [:], functions: [String: HostFunction] = [:],
                         limits: Limits = .default) throws(JSONataError) -> JSON?
    {
        let deadline = limits.timeLimit.map { EvaluationDeadline($0) }
        // The plan, unless the input is an array (the evaluator wraps it), a host function is given, or the depth
        // limit is near enough to the tree's depth that the evaluator could reach it. Anything the plan does not model,
        // an error included, is evaluated again by the evaluator, which alone reports errors.
        if usesPlan, walksPlainPaths, let plan, functions.isEmpty, limits.maximumDepth >= plan.reservedDepth + 16 {
            if case .array? = input {} else {
                let context = DirectContext(root: input, bindings: bindings, deadline: deadline, maximumDepth: limits.maximumDepth,
                                            reservedDepth: plan.reservedDepth, slotCount: plan.slotCount)
                do {
                    return try DirectPlan.answer(try plan.run(input, context))
                } catch .timeout {
                    throw JSONataError(code: "U1001", message: "Expression evaluation timeout: Check for infinite loop",
                                       position: tree.position)
                } catch {}
            }
        }
        let evaluator = Evaluator(maximumDepth: limits.maximumDepth, deadline: deadline)
        evaluator.walksPlainPaths = walksPlainPaths
        let environment = Frame(parent: nil)
        for (name, value) in bindings { environment.bind(name, Value(value)) }
        for (name, function) in functions { environment.bind(name, function.value) }
        var value = input.map(Value.init)
        // `$$` is the input itself; only the context of the first step is wrapped when the input is an array (so
        // that it is one input, not a sequence), as jsonata-js does. Binding `$$` to the wrapper made `$$[pred]`
        // filter the one-element wrapper instead of the array's elements.
        environment.bind("$", value)
        if case .array(let array)? = value {
            let wrapper = ArrayValue.sequence([.array(array)])
            wrapper.outerWrapper = true
            value = .array(wrapper)
        }
        let result = try evaluator.evaluate(tree, value, environment)
        if case .number(let number)? = result, !number.isFinite {
            throw JSONataError(code: "D1001", message: "Number out of range: \(number)")
        }
        return result?.json
    }
}

/// A function the host adds to expressions, such as `$uuid()` or `$now()` with an injected clock.
public struct HostFunction: Sendable {
    /// The jsonata signature (`<s-:s>`), when arguments are to be checked; `nil` accepts anything.
    public let signature: String?
    public let implementation: @Sendable ([JSON?]) throws -> JSON?

    public init(signature: String? = nil, _ implementation: @escaping @Sendable ([JSON?]) throws -> JSON?) {
        self.signature = signature
        self.implementation = implementation
    }

    var value: Value {
        let implementation = self.implementation
        let native = NativeFunction(name: "host", arity: 1) { _, arguments, _, _ in
            do {
                return try implementation(arguments.map { $0?.json }).map(Value.init)
            } catch let error as JSONataError {
                throw error
            } catch {
                throw JSONataError(code: "D3137", message: "\(error)")
            }
        }
        return .function(FunctionValue(.native(native), signature: signature.flatMap { try? Signature($0) }))
    }
}
