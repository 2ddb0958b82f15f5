import JSONValue

extension Evaluator {
    /// An object constructor, or a grouping `step{key: value}`: one member per distinct key.
    func evaluateGroup(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        if !(input?.isArray ?? false) {
            return try constructObject(node, input, environment)
        }
        let result = ObjectValue()
        // `owned`: the data is an array made here, which later items are appended to.
        var groups: [ExactKey: (data: Value?, pairIndex: Int, owned: Bool)] = [:]
        var order: [ExactKey] = []
        var items: [Value?]
        var isTupleStream = false
        if case .array(let array)? = input {
            items = array.items
            isTupleStream = array.isTupleStream
        } else {
            items = [input]
        }
        if items.isEmpty { items = [nil] }
        for item in items {
            var context = item
            var frame = environment
            if isTupleStream, case .object(let tuple)? = item {
                context = tuple["@"]
                frame = Self.frame(from: tuple, environment)
            }
            for (pairIndex, pair) in node.pairs.enumerated() {
                guard let name = try key(of: pair.0, in: node, context, frame) else { continue }
                let key = ExactKey(name)
                if let existing = groups[key] {
                    if existing.pairIndex != pairIndex {
                        throw JSONataError(code: "D1009", message: "Multiple key definitions evaluate to same key: \(name)",
                                           position: node.position)
                    }
                    // The group's array, once made here, is appended to in place: making a new one for each item
                    // copied every item before it again.
                    if existing.owned, case .array(let array)? = existing.data, let item {
                        if case .array(let elements) = item { array.items += elements.items } else { array.append(item) }
                    } else {
                        let data = Self.append(existing.data, item)
                        groups[key] = (data, pairIndex, existing.data != nil && item != nil)
                    }
                } else {
                    groups[key] = (item, pairIndex, false)
                    order.append(key)
                }
            }
        }
        for key in order {
            let entry = groups[key]!
            var context = entry.data
            var frame = environment
            if isTupleStream {
                let tuple = Self.reduceTupleStream(entry.data)
                context = tuple["@"]
                tuple["@"] = nil
                frame = Self.frame(from: tuple, environment)
            }
            if let value = try evaluate(node.pairs[entry.pairIndex].1, context, frame) {
                result[key.text] = value
            }
        }
        return .object(result)
    }

    /// An object constructor over a single context: each pair's key and value, evaluated once.
    private func constructObject(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        if let literalKeys = node.literalKeys {
            // Distinct literal keys: nothing to evaluate or compare for them, each member appended as it comes.
            var keys: [String] = []
            var values: [Value] = []
            keys.reserveCapacity(literalKeys.count)
            values.reserveCapacity(literalKeys.count)
            for (index, pair) in node.pairs.enumerated() {
                if let value = try evaluate(pair.1, input, environment) {
                    keys.append(literalKeys[index])
                    values.append(value)
                }
            }
            return .object(ObjectValue(uniqueKeys: keys, values: values))
        }
        var keys: [(String, Int)] = []
        keys.reserveCapacity(node.pairs.count)
        for (pairIndex, pair) in node.pairs.enumerated() {
            guard let name = try key(of: pair.0, in: node, input, environment) else { continue }
            if let existing = keys.first(where: { ExactKey.same($0.0, name) }) {
                if existing.1 != pairIndex {
                    throw JSONataError(code: "D1009", message: "Multiple key definitions evaluate to same key: \(name)",
                                       position: node.position)
                }
                continue
            }
            keys.append((name, pairIndex))
        }
        let result = ObjectValue(capacity: keys.count)
        for (name, pairIndex) in keys {
            if let value = try evaluate(node.pairs[pairIndex].1, input, environment) {
                result[name] = value
            }
        }
        return .object(result)
    }

    /// A member's key: a string, or `nil` when it evaluates to undefined. A literal key (the usual
    /// mapping) needs no evaluation.
    private func key(of expression: Node, in node: Node, _ context: Value?, _ environment: Frame) throws(JSONataError) -> String? {
        if expression.kind == .string, expression.predicates.isEmpty, expression.group == nil { return expression.value }
        guard let key = try evaluate(expression, context, environment) else { return nil }
        guard case .string(let name) = key else {
            throw JSONataError(code: "T1003", message: "Key in object structure must evaluate to a string; got: \(Value.describe(key))",
                               position: node.position)
        }
        return name
    }

    /// Merges the tuples of a group: each binding becomes the list of its values.
    private static func reduceTupleStream(_ stream: Value?) -> ObjectValue {
        guard case .array(let array)? = stream else { return stream?.objectValue?.copy() ?? ObjectValue() }
        let result = array.items.first?.objectValue?.copy() ?? ObjectValue()
        for item in array.items.dropFirst() {
            guard case .object(let tuple) = item else { continue }
            for (key, value) in tuple.members {
                result[key] = append(result[key], value)
            }
        }
        return result
    }

    /// `^(...)`: a stable sort by the terms, undefined last.
    func sort(_ node: Node, _ input: ArrayValue, _ environment: Frame) throws(JSONataError) -> ArrayValue {
        let isTupleSort = input.isTupleStream
        var keyed: [(value: Value, keys: [Value?])] = []
        for item in input.items {
            var context: Value? = item
            var frame = environment
            if isTupleSort, case .object(let tuple) = item {
                context = tuple["@"]
                frame = Self.frame(from: tuple, environment)
            }
            var keys: [Value?] = []
            for term in node.terms {
                keys.append(try evaluate(term.expression, context, frame))
            }
            keyed.append((item, keys))
        }
        let sorted = try Self.mergeSort(keyed) { (a, b) throws(JSONataError) -> Bool in
            for (index, term) in node.terms.enumerated() {
                let (x, y) = (a.keys[index], b.keys[index])
                var comparison = 0
                switch (x, y) {
                case (nil, nil): comparison = 0
                case (nil, _): comparison = 1
                case (_, nil): comparison = -1
                case (.number(let p)?, .number(let q)?): comparison = p == q ? 0 : (p < q ? -1 : 1)
                case (.string(let p)?, .string(let q)?):
                    comparison = Evaluator.sameText(p, q) ? 0 : (Evaluator.precedesInUTF16(p, q) ? -1 : 1)
                case (.number?, .string?), (.string?, .number?):
                    throw JSONataError(code: "T2007", message: "Type mismatch when comparing values in order-by clause", position: node.position)
                default:
                    throw JSONataError(code: "T2008", message: "The expressions within an order-by clause must evaluate to numeric or string values",
                                       position: node.position)
                }
                if x == nil || y == nil {
                    if comparison != 0 { return comparison == 1 }
                    continue
                }
                if term.descending { comparison = -comparison }
                if comparison != 0 { return comparison == 1 }
            }
            return false
        }
        let result = ArrayValue.sequence(sorted.map(\.value))
        result.isTupleStream = isTupleSort
        return result
    }

    /// jsonata-js's merge sort: `swap(a, b)` says `a` goes after `b`; equal items keep their order. The same halves
    /// and the same comparisons in the same order as jsonata-js (a comparator of the author's may be inconsistent or
    /// throw), merged through one scratch buffer instead of new arrays at every level.
    static func mergeSort<T>(_ items: [T], _ swap: (T, T) throws(JSONataError) -> Bool) throws(JSONataError) -> [T] {
        if items.count <= 1 { return items }
        var sorted = items
        var scratch = items
        try mergeSort(&sorted, &scratch, items.startIndex, items.endIndex, swap)
        return sorted
    }

    /// Sorts `items[lower..<upper]` in place, merging through `scratch`.
    private static func mergeSort<T>(_ items: inout [T], _ scratch: inout [T], _ lower: Int, _ upper: Int,
                                     _ swap: (T, T) throws(JSONataError) -> Bool) throws(JSONataError)
    {
        let count = upper - lower
        if count <= 1 { return }
        let middle = lower + count / 2
        try mergeSort(&items, &scratch, lower, middle, swap)
        try mergeSort(&items, &scratch, middle, upper, swap)
        var i = lower, j = middle, k = lower
        while i < middle, j < upper {
            if try swap(items[i], items[j]) {
                scratch[k] = items[j]
                j += 1
            } else {
                scratch[k] = items[i]
                i += 1
            }
            k += 1
        }
        while i < middle { scratch[k] = items[i]; i += 1; k += 1 }
        while j < upper { scratch[k] = items[j]; j += 1; k += 1 }
        for index in lower..<upper { items[index] = scratch[index] }
    }
}
