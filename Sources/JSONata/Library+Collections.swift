import Foundation
import JSONValue

extension Library {
    static func defineArrays(_ define: Define) {
        define("append", "<xx:a>", 2) { _, arguments, _, _ in
            Evaluator.append(argument(arguments, 0), argument(arguments, 1))
        }
        define("reverse", "<a:a>", 1) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            let list = items(value)
            if list.count <= 1 { return value }
            return .array(ArrayValue(list.reversed()))
        }
        define("shuffle", "<a:a>", 1) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            let list = items(value)
            if list.count <= 1 { return value }
            return .array(ArrayValue(list.shuffled()))
        }
        define("distinct", "<x:x>", 1) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            guard case .array(let array) = value, array.items.count > 1 else { return value }
            let results = distinctScalars(array.items) ?? distinctByComparison(array.items)
            return .array(array.isSequence ? ArrayValue.sequence(results) : ArrayValue(results))
        }
        define("zip", "<a+>", 0) { _, arguments, _, _ in
            let arrays = arguments.map { items($0) }
            let length = arrays.map(\.count).min() ?? 0
            return .array(ArrayValue((0..<length).map { index in .array(ArrayValue(arrays.map { $0[index] })) }))
        }
        define("sort", "<af?:a>", 2) { evaluator, arguments, _, environment in
            guard let value = argument(arguments, 0) else { return nil }
            let list = items(value)
            if list.count <= 1 { return value }
            let sorted: [Value]
            if let comparator = argument(arguments, 1) {
                sorted = try Evaluator.mergeSort(list) { (a, b) throws(JSONataError) -> Bool in
                    Evaluator.boolean(try evaluator.apply(comparator, [a, b], nil, environment)) ?? false
                }
            } else if list.allSatisfy({ $0.numberValue != nil }) {
                sorted = try Evaluator.mergeSort(list) { (a, b) throws(JSONataError) -> Bool in a.numberValue! > b.numberValue! }
            } else if list.allSatisfy({ $0.stringValue != nil }) {
                sorted = try Evaluator.mergeSort(list) { (a, b) throws(JSONataError) -> Bool in
                    Evaluator.precedesInUTF16(b.stringValue!, a.stringValue!)
                }
            } else {
                throw error("D3070", "The single argument form of the sort function can only be applied to an array of strings or an array of numbers.  Use the second argument to specify a comparison function")
            }
            return .array(ArrayValue(sorted))
        }
    }

    /// A scalar as a set's member, equal as `Evaluator.deepEqual` finds scalars equal (strings by their code points).
    private enum ScalarKey: Hashable {
        case null
        case bool(Bool)
        case number(Double)
        case string(ExactKey)
    }

    /// `$distinct` of strings, numbers, booleans and nulls, through a set: linear where comparing each item with the
    /// ones kept is quadratic (10,000 strings were 50 million comparisons). `nil` when an item is not a scalar.
    static func distinctScalars(_ items: [Value]) -> [Value]? {
        var seen = Set<ScalarKey>(minimumCapacity: items.count)
        var results: [Value] = []
        for item in items {
            let key: ScalarKey
            switch item {
            case .null: key = .null
            case .bool(let flag): key = .bool(flag)
            case .number(let number): key = .number(number)
            case .string(let text): key = .string(ExactKey(text))
            default: return nil
            }
            if seen.insert(key).inserted { results.append(item) }
        }
        return results
    }

    /// `$distinct` by comparing each item with the ones kept (`Evaluator.deepEqual`): for arrays and objects.
    static func distinctByComparison(_ items: [Value]) -> [Value] {
        var results: [Value] = []
        for item in items where !results.contains(where: { Evaluator.deepEqual($0, item) }) {
            results.append(item)
        }
        return results
    }

    static func defineObjects(_ define: Define) {
        define("keys", "<x-:a<s>>", 1) { _, arguments, _, _ in
            func keys(_ value: Value?) -> [String] {
                switch value {
                case .array(let array)?:
                    // Each key once, in the order first met, the same only when its code points are (a set: a list
                    // searched for each key was quadratic in the number of keys, and compared text as Swift does).
                    var merged: [String] = []
                    var seen = Set<ExactKey>()
                    for item in array.items {
                        for key in keys(item) where seen.insert(ExactKey(key)).inserted { merged.append(key) }
                    }
                    return merged
                case .object(let object)?:
                    return object.keys
                default:
                    return []
                }
            }
            return .array(ArrayValue.sequence(keys(argument(arguments, 0)).map(Value.string)))
        }
        define("lookup", "<x-s:x>", 2) { evaluator, arguments, _, _ in
            evaluator.lookup(argument(arguments, 0), string(arguments, 1) ?? "")
        }
        define("spread", "<x-:a<o>>", 1) { _, arguments, _, _ in
            func spread(_ value: Value?) -> Value? {
                switch value {
                case .array(let array)?:
                    var result: Value? = .array(ArrayValue.sequence())
                    for item in array.items { result = Evaluator.append(result, spread(item)) }
                    return result
                case .object(let object)?:
                    return .array(ArrayValue.sequence(object.members.map { member in
                        let single = ObjectValue()
                        single[member.key] = member.value
                        return .object(single)
                    }))
                default:
                    return value
                }
            }
            return spread(argument(arguments, 0))
        }
        define("merge", "<a<o>:o>", 1) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            let result = ObjectValue()
            for case .object(let object) in items(value) {
                for (key, member) in object.members { result[key] = member }
            }
            return .object(result)
        }
        define("type", "<x:s>", 1) { _, arguments, _, _ in argument(arguments, 0).map { .string($0.typeName) } }
        define("clone", "<(oa)-:o>", 1) { _, arguments, _, _ in argument(arguments, 0).map(Evaluator.deepCopy) }
        define("error", "<s?:x>", 1) { _, arguments, _, _ in
            throw error("D3137", string(arguments, 0) ?? "$error() function evaluated")
        }
        define("assert", "<bs?:x>", 2) { _, arguments, _, _ in
            if case .bool(false)? = argument(arguments, 0) {
                throw error("D3141", string(arguments, 1) ?? "$assert() statement failed")
            }
            return nil
        }
        define("eval", "<sx?:x>", 2) { evaluator, arguments, context, environment in
            guard let source = string(arguments, 0) else { return nil }
            var input = context
            if arguments.count > 1, let focus = argument(arguments, 1) {
                input = focus
                if case .array(let array) = focus, !array.isSequence {
                    let wrapper = ArrayValue.sequence([focus])
                    wrapper.outerWrapper = true
                    input = .array(wrapper)
                }
            }
            let tree: Node
            do throws(JSONataError) {
                tree = try Parser.parse(source)
            } catch {
                throw JSONataError(code: "D3120", message: "Syntax error in expression passed to function eval: \(error.message)")
            }
            do throws(JSONataError) {
                return try evaluator.evaluate(tree, input, environment)
            } catch {
                throw JSONataError(code: "D3121", message: "Dynamic error evaluating the expression passed to function eval: \(error.message)")
            }
        }
    }

    static func defineHigherOrder(_ define: Define) {
        define("map", "<af>", 2) { evaluator, arguments, _, environment in
            guard let value = argument(arguments, 0) else { return nil }
            let function = argument(arguments, 1)
            let list = items(value)
            let result = ArrayValue.sequence()
            for (index, item) in list.enumerated() {
                let output = try evaluator.apply(function, hofArguments(function, item, .number(Double(index)), value), nil, environment)
                if let output { result.append(output) }
            }
            return .array(result)
        }
        define("filter", "<af>", 2) { evaluator, arguments, _, environment in
            guard let value = argument(arguments, 0) else { return nil }
            let function = argument(arguments, 1)
            let result = ArrayValue.sequence()
            for (index, item) in items(value).enumerated() {
                let output = try evaluator.apply(function, hofArguments(function, item, .number(Double(index)), value), nil, environment)
                if Evaluator.boolean(output) == true { result.append(item) }
            }
            return .array(result)
        }
        define("single", "<af?>", 2) { evaluator, arguments, _, environment in
            guard let value = argument(arguments, 0) else { return nil }
            let function = argument(arguments, 1)
            var found: Value?
            for (index, item) in items(value).enumerated() {
                var matches = true
                if function != nil {
                    let output = try evaluator.apply(function, hofArguments(function, item, .number(Double(index)), value), nil, environment)
                    matches = Evaluator.boolean(output) == true
                }
                if matches {
                    if found != nil {
                        throw error("D3138", "The $single() function expected exactly 1 matching result.  Instead it matched more.")
                    }
                    found = item
                }
            }
            guard let found else {
                throw error("D3139", "The $single() function expected exactly 1 matching result.  Instead it matched 0.")
            }
            return found
        }
        define("reduce", "<afj?:j>", 3) { evaluator, arguments, _, environment in
            guard let value = argument(arguments, 0) else { return nil }
            let function = argument(arguments, 1)
            let arity = function?.functionValue?.arity ?? 0
            if arity < 2 {
                throw error("D3050", "The second argument of reduce function must be a function with at least two arguments")
            }
            let list = items(value)
            var result: Value?
            var index = 0
            if argument(arguments, 2) == nil, !list.isEmpty {
                result = list[0]
                index = 1
            } else {
                result = argument(arguments, 2)
            }
            while index < list.count {
                var callArguments: [Value?] = [result, list[index]]
                if arity >= 3 { callArguments.append(.number(Double(index))) }
                if arity >= 4 { callArguments.append(value) }
                result = try evaluator.apply(function, callArguments, nil, environment)
                index += 1
            }
            return result
        }
        define("each", "<o-f:a>", 2) { evaluator, arguments, _, environment in
            guard case .object(let object)? = argument(arguments, 0) else { return nil }
            let function = argument(arguments, 1)
            let result = ArrayValue.sequence()
            for (key, member) in object.members {
                let output = try evaluator.apply(function, hofArguments(function, member, .string(key), .object(object)), nil, environment)
                if let output { result.append(output) }
            }
            return .array(result)
        }
        define("sift", "<o-f?:o>", 2) { evaluator, arguments, _, environment in
            guard case .object(let object)? = argument(arguments, 0) else { return nil }
            let function = argument(arguments, 1)
            let result = ObjectValue()
            for (key, member) in object.members {
                let output = try evaluator.apply(function, hofArguments(function, member, .string(key), .object(object)), nil, environment)
                if Evaluator.boolean(output) == true { result[key] = member }
            }
            return result.count == 0 ? nil : .object(result)
        }
    }
}
