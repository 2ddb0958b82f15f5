import Foundation
import JSONValue

/// Evaluates a compiled expression against one input (a port of jsonata-js's evaluator).
/// One evaluator serves one evaluation: it holds the guardrail counters.
final class Evaluator {
    let maximumDepth: Int
    let deadline: EvaluationDeadline?
    /// See `JSONataExpression.walksPlainPaths`.
    var walksPlainPaths = true
    /// The evaluation's one instant (epoch milliseconds): `$now()` and `$millis()` agree within an
    /// evaluation. Read from the clock only if an expression asks for it.
    lazy var timestamp: Double = (Date().timeIntervalSince1970 * 1000).rounded(.down)
    // The depth counter and the count of evaluations live outside the object so that the hot path pays no
    // exclusivity checks on them.
    private let counters = UnsafeMutablePointer<Int>.allocate(capacity: 2)
    /// The deadline is asked once every this many evaluations (a power of two): asking retains it and counts.
    static let deadlineStride = 64

    init(maximumDepth: Int, deadline: EvaluationDeadline?) {
        self.maximumDepth = maximumDepth
        self.deadline = deadline
        counters.initialize(repeating: 0, count: 2)
    }

    deinit {
        counters.deallocate()
    }

    // MARK: Dispatch

    func evaluate(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        counters[0] += 1
        defer { counters[0] -= 1 }
        if counters[0] > maximumDepth {
            throw JSONataError(code: "U1001", message: "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.",
                               position: node.position)
        }
        counters[1] &+= 1
        if counters[1] & (Self.deadlineStride - 1) == 0, let deadline, deadline.passed(counting: Self.deadlineStride) {
            throw JSONataError(code: "U1001", message: "Expression evaluation timeout: Check for infinite loop", position: node.position)
        }
        var result: Value?
        switch node.kind {
        case .path: result = try evaluatePath(node, input, environment)
        case .binary: result = try evaluateBinary(node, input, environment)
        case .unary: result = try evaluateUnary(node, input, environment)
        case .name: result = lookup(input, node.value)
        case .string: result = .string(node.value)
        case .number: result = .number(node.number)
        case .value: result = node.boolean.map(Value.bool) ?? .null
        case .wildcard: result = wildcard(input)
        case .descendant: result = descendants(input)
        case .parent:
            result = environment.lookup(node.slot?.label ?? "")
        case .condition:
            let condition = try evaluate(node.condition!, input, environment)
            if Self.boolean(condition) == true {
                result = try evaluate(node.then!, input, environment)
            } else if let otherwise = node.otherwise {
                result = try evaluate(otherwise, input, environment)
            }
        case .block:
            let frame = Frame(parent: environment)
            for expression in node.expressions {
                result = try evaluate(expression, input, frame)
            }
        case .bind:
            let value = try evaluate(node.rhs!, input, environment)
            environment.bind(node.lhs!.value, value)
            result = value
        case .regex:
            result = node.constant
        case .function: result = try evaluateFunction(node, input, environment, applyTo: nil)
        case .variable:
            if node.value.isEmpty {
                if case .array(let array)? = input, array.outerWrapper, let first = array.items.first { result = first } else { result = input }
            } else if let builtin = node.builtin {
                result = environment.binding(node.value) ?? builtin
            } else {
                result = environment.lookup(node.value)
            }
        case .lambda:
            result = .function(FunctionValue(.lambda(node: node, environment: environment, input: input), signature: node.signature))
        case .partial: result = try evaluatePartial(node, input, environment)
        case .apply: result = try evaluateApply(node, input, environment)
        case .transform:
            result = .function(FunctionValue(.transform(node: node, environment: environment),
                                             signature: try Signature("<(oa):o>")))
        default:
            throw JSONataError(code: "S0206", message: "Unknown expression type", position: node.position, token: node.value)
        }
        if !node.predicates.isEmpty {
            for predicate in node.predicates {
                result = try filter(predicate.expression!, result, environment)
            }
        }
        if node.kind != .path, let group = node.group {
            result = try evaluateGroup(group, result, environment)
        }
        if case .array(let array)? = result, array.isSequence, !array.isTupleStream {
            if node.keepArray { array.keepSingleton = true }
            if array.items.isEmpty {
                result = nil
            } else if array.items.count == 1, !array.keepSingleton {
                result = array.items[0]
            }
        }
        return result
    }

    // MARK: Paths

    private func evaluatePath(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        if walksPlainPaths, let names = node.simpleNames, case .object(var object)? = input {
            // A chain of plain names through objects: no sequences needed, and input objects are read
            // as JSON until the last name.
            if var json = object.json {
                for (index, name) in names.enumerated() {
                    guard let value = json[name] else { return nil }
                    if index == names.count - 1 { return Value(value) }
                    guard case .object(let next) = value else {
                        if let result = Self.namesThroughArrays(names, from: index, value) { return result }
                        return try evaluatePathSteps(node, input, environment)
                    }
                    json = next
                }
            }
            for (index, name) in names.enumerated() {
                guard let value = object[name] else { return nil }
                if index == names.count - 1 { return value }
                guard case .object(let next) = value else { return try evaluatePathSteps(node, input, environment) }
                object = next
            }
        }
        return try evaluatePathSteps(node, input, environment)
    }

    /// The rest of a path of plain names (`names[index...]`, the first already read as `first`) once it meets an
    /// array, walked over the JSON input as `evaluatePathSteps` walks it (each step's values flattened one level into
    /// the next step's input; a last step with one array value gives that array), without building a sequence or
    /// a value per step. `nil` when the data nests arrays in arrays, which the general walk handles.
    private static func namesThroughArrays(_ names: [String], from index: Int, _ first: JSON) -> Value?? {
        var current: [JSON] = [first]
        var position = index
        while true {
            // `current` holds the values of step `position` for each input item, before flattening.
            let last = position == names.count - 1
            if last, current.count == 1, case .array = current[0] { return .some(Value(current[0])) }
            var items: [JSON] = []
            items.reserveCapacity(current.count)
            for value in current {
                if case .array(let elements) = value {
                    for element in elements {
                        if case .array = element { return nil }
                        items.append(element)
                    }
                } else {
                    items.append(value)
                }
            }
            if last {
                if items.isEmpty { return .some(nil) }
                if items.count == 1 { return .some(Value(items[0])) }
                return .some(.array(ArrayValue.sequence(items.map(Value.init))))
            }
            position += 1
            let name = names[position]
            current.removeAll(keepingCapacity: true)
            for item in items {
                if case .object(let object) = item, let value = object[name] { current.append(value) }
            }
            if current.isEmpty { return .some(nil) }
        }
    }

    /// The input sequence of the step after `names` (a path's first steps, plain names), starting from one object, as
    /// `evaluateStep` makes it: each name's values over the sequence so far, arrays flattened one level. `nil` when the
    /// data nests arrays in arrays, which the general walk handles.
    static func sequenceThroughNames(_ names: [String], _ start: JSON) -> [JSON]? {
        var items: [JSON] = [start]
        var next: [JSON] = []
        for name in names {
            next.removeAll(keepingCapacity: true)
            for item in items {
                guard case .object(let object) = item, let value = object[name] else { continue }
                if case .array(let elements) = value {
                    for element in elements {
                        if case .array = element { return nil }
                        next.append(element)
                    }
                } else {
                    next.append(value)
                }
            }
            if next.isEmpty { return [] }
            swap(&items, &next)
        }
        return items
    }

    private func evaluatePathSteps(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        var inputSequence: [Value]
        var undefinedInput = false
        if case .array(let array)? = input, node.steps.first?.kind != .variable {
            inputSequence = array.items
        } else if let input {
            inputSequence = [input]
        } else {
            inputSequence = []
            undefinedInput = true
        }
        var resultSequence: ArrayValue?
        var isTupleStream = false
        var tupleBindings: [ObjectValue]?
        var firstStep = 0
        if walksPlainPaths, let prefix = node.plainPrefix, case .object(let object)? = input, let json = object.json,
            let items = Self.sequenceThroughNames(prefix, .object(json))
        {
            // The first steps are plain names: their sequence read from the input directly, as the steps would give it.
            if items.isEmpty {
                resultSequence = ArrayValue.sequence()
                firstStep = node.steps.count
            } else {
                inputSequence = items.map(Value.init)
                firstStep = prefix.count
            }
        }
        for (index, step) in node.steps.enumerated() where index >= firstStep {
            if step.tuple { isTupleStream = true }
            if index == 0, step.consArray {
                let context = ArrayValue.sequence(inputSequence)
                resultSequence = Self.asSequence(try evaluate(step, .array(context), environment))
            } else if isTupleStream {
                tupleBindings = try evaluateTupleStep(step, undefinedInput ? [nil] : inputSequence.map { $0 }, tupleBindings, environment)
            } else {
                resultSequence = try evaluateStep(step, inputSequence, undefinedInput: undefinedInput, environment,
                                                  lastStep: index == node.steps.count - 1)
            }
            if !isTupleStream, resultSequence == nil || resultSequence!.items.isEmpty { break }
            if step.focus == nil, let resultSequence {
                inputSequence = resultSequence.items
                undefinedInput = false
            }
        }
        if isTupleStream {
            let stream = tupleBindings ?? []
            if node.tuple {
                let tuples = ArrayValue.sequence(stream.map(Value.object))
                tuples.isTupleStream = true
                resultSequence = tuples
            } else {
                resultSequence = ArrayValue.sequence(stream.compactMap { $0["@"] })
            }
        }
        if node.keepSingletonArray {
            if let sequence = resultSequence, sequence.isConstructed, !sequence.isSequence {
                resultSequence = ArrayValue.sequence([.array(sequence)])
            }
            if resultSequence == nil { resultSequence = ArrayValue.sequence() }
            resultSequence?.keepSingleton = true
        }
        if let group = node.group {
            if isTupleStream {
                let tuples = ArrayValue.sequence((tupleBindings ?? []).map(Value.object))
                tuples.isTupleStream = true
                return try evaluateGroup(group, .array(tuples), environment)
            }
            return try evaluateGroup(group, resultSequence.map(Value.array), environment)
        }
        return resultSequence.map(Value.array)
    }

    /// A value as the array a path step works on: an array as it is; anything else is not a sequence.
    private static func asSequence(_ value: Value?) -> ArrayValue? {
        guard let value else { return nil }
        if case .array(let array) = value { return array }
        return ArrayValue.sequence([value])
    }

    private func evaluateStep(_ step: Node, _ input: [Value], undefinedInput: Bool, _ environment: Frame, lastStep: Bool)
        throws(JSONataError) -> ArrayValue
    {
        if step.kind == .sort {
            var result = try sort(step, ArrayValue.sequence(input), environment)
            if !step.stages.isEmpty { result = try evaluateStages(step.stages, result, environment) }
            return result
        }
        var results: [Value] = []
        results.reserveCapacity(input.count)
        func visit(_ item: Value?) throws(JSONataError) {
            var value = try evaluate(step, item, environment)
            for stage in step.stages {
                value = try filter(stage.expression!, value, environment)
            }
            if let value { results.append(value) }
        }
        if undefinedInput {
            try visit(nil)
        } else {
            for item in input { try visit(item) }
        }
        if lastStep, results.count == 1, case .array(let array) = results[0], !array.isSequence {
            return array
        }
        let sequence = ArrayValue.sequence()
        for value in results {
            if case .array(let array) = value, !array.isConstructed {
                sequence.items += array.items
            } else {
                sequence.append(value)
            }
        }
        return sequence
    }

    private func evaluateStages(_ stages: [Node], _ input: ArrayValue, _ environment: Frame) throws(JSONataError) -> ArrayValue {
        var result = input
        for stage in stages {
            switch stage.kind {
            case .filter:
                result = Self.asSequence(try filter(stage.expression!, .array(result), environment)) ?? ArrayValue.sequence()
            case .index:
                for (position, tuple) in result.items.enumerated() {
                    tuple.objectValue?[stage.value] = .number(Double(position))
                }
            default:
                break
            }
        }
        return result
    }

    private func evaluateTupleStep(_ step: Node, _ input: [Value?], _ bindings: [ObjectValue]?, _ environment: Frame)
        throws(JSONataError) -> [ObjectValue]
    {
        if step.kind == .sort {
            var sorted: ArrayValue
            if let bindings {
                let stream = ArrayValue.sequence(bindings.map(Value.object))
                stream.isTupleStream = true
                sorted = try sort(step, stream, environment)
            } else {
                let plain = try sort(step, ArrayValue.sequence(input.compactMap { $0 }), environment)
                sorted = ArrayValue.sequence()
                sorted.isTupleStream = true
                for (position, value) in plain.items.enumerated() {
                    let tuple = ObjectValue()
                    tuple["@"] = value
                    if let index = step.indexVariable { tuple[index] = .number(Double(position)) }
                    sorted.append(.object(tuple))
                }
            }
            if !step.stages.isEmpty { sorted = try evaluateStages(step.stages, sorted, environment) }
            return sorted.items.compactMap(\.objectValue)
        }
        let bindings = bindings ?? input.map { item in
            let tuple = ObjectValue()
            tuple["@"] = item
            return tuple
        }
        let result = ArrayValue.sequence()
        result.isTupleStream = true
        for binding in bindings {
            let frame = Self.frame(from: binding, environment)
            guard let value = try evaluate(step, binding["@"], frame) else { continue }
            let values: [Value]
            var isStream = false
            if case .array(let array) = value {
                values = array.items
                isStream = array.isTupleStream
            } else {
                values = [value]
            }
            for (position, item) in values.enumerated() {
                let tuple = binding.copy()
                if isStream, case .object(let inner) = item {
                    for (key, member) in inner.members { tuple[key] = member }
                } else {
                    if let focus = step.focus {
                        tuple[focus] = item
                        tuple["@"] = binding["@"]
                    } else {
                        tuple["@"] = item
                    }
                    if let index = step.indexVariable { tuple[index] = .number(Double(position)) }
                    if let ancestor = step.ancestor { tuple[ancestor.label] = binding["@"] }
                }
                result.append(.object(tuple))
            }
        }
        var stream = result
        if !step.stages.isEmpty { stream = try evaluateStages(step.stages, result, environment) }
        return stream.items.compactMap(\.objectValue)
    }

    /// A frame binding each member of a tuple (`@` and the `@`/`#` variables).
    static func frame(from tuple: ObjectValue, _ environment: Frame) -> Frame {
        let frame = Frame(parent: environment)
        for (key, value) in tuple.members { frame.bind(key, value) }
        return frame
    }

    func filter(_ predicate: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        let results = ArrayValue.sequence()
        var items: [Value]
        var isTupleStream = false
        if case .array(let array)? = input {
            items = array.items
            isTupleStream = array.isTupleStream
            results.isTupleStream = isTupleStream
        } else if let input {
            items = [input]
        } else {
            items = []
        }
        if predicate.kind == .number {
            var index = predicate.number.rounded(.down).clampedInt
            if index < 0 { index += items.count }
            if items.indices.contains(index) {
                if case .array(let array) = items[index] { return .array(array) }
                results.append(items[index])
            }
            return .array(results)
        }
        for (index, item) in items.enumerated() {
            var context: Value? = item
            var frame = environment
            if isTupleStream, case .object(let tuple) = item {
                context = tuple["@"]
                frame = Self.frame(from: tuple, environment)
            }
            var value = try evaluate(predicate, context, frame)
            if case .number? = value { value = .array(ArrayValue([value!])) }
            if case .array(let array)? = value, !array.items.isEmpty,
                array.items.allSatisfy({ if case .number = $0 { true } else { false } })
            {
                for case .number(let number) in array.items {
                    var position = number.rounded(.down).clampedInt
                    if position < 0 { position += items.count }
                    if position == index { results.append(item) }
                }
            } else if Self.boolean(value) == true {
                results.append(item)
            }
        }
        return .array(results)
    }

    // MARK: Names, wildcards, descendants

    func lookup(_ input: Value?, _ key: String) -> Value? {
        switch input {
        case .array(let array)?:
            let result = ArrayValue.sequence()
            for item in array.items {
                guard let value = lookup(item, key) else { continue }
                if case .array(let inner) = value {
                    result.items += inner.items
                } else {
                    result.append(value)
                }
            }
            return .array(result)
        case .object(let object)?:
            return object[key]
        default:
            return nil
        }
    }

    private func wildcard(_ input: Value?) -> Value? {
        var input = input
        if case .array(let array)? = input, array.outerWrapper, let first = array.items.first { input = first }
        var results = ArrayValue.sequence()
        func add(_ value: Value) {
            if case .array(let array) = value {
                let flattened = ArrayValue(results.items + Self.flatten(array))
                results = flattened
            } else {
                results.append(value)
            }
        }
        switch input {
        case .object(let object)?:
            for (_, value) in object.members { add(value) }
        case .array(let array)?:
            for value in array.items { add(value) }
        default:
            break
        }
        return .array(results)
    }

    static func flatten(_ array: ArrayValue) -> [Value] {
        array.items.flatMap { item -> [Value] in
            if case .array(let inner) = item { return flatten(inner) }
            return [item]
        }
    }

    private func descendants(_ input: Value?) -> Value? {
        guard let input else { return nil }
        let results = ArrayValue.sequence()
        func recurse(_ value: Value) {
            switch value {
            case .array(let array):
                for item in array.items { recurse(item) }
            case .object(let object):
                results.append(value)
                for (_, member) in object.members { recurse(member) }
            default:
                results.append(value)
            }
        }
        recurse(input)
        return results.items.count == 1 ? results.items[0] : .array(results)
    }
}
