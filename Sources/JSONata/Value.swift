import JSONValue

/// A value during evaluation. JSONata's `undefined` is Swift's `nil` (`Value?`).
///
/// Arrays and objects are reference types because evaluation marks arrays as sequences, singleton
/// keepers or tuple streams as it goes, exactly as jsonata-js flags its JavaScript arrays.
enum Value {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array(ArrayValue)
    case object(ObjectValue)
    case function(FunctionValue)

    var isArray: Bool { if case .array = self { true } else { false } }
    var isFunction: Bool { if case .function = self { true } else { false } }

    var arrayValue: ArrayValue? { if case .array(let array) = self { array } else { nil } }
    var objectValue: ObjectValue? { if case .object(let object) = self { object } else { nil } }
    var stringValue: String? { if case .string(let string) = self { string } else { nil } }
    var numberValue: Double? { if case .number(let number) = self { number } else { nil } }
    var functionValue: FunctionValue? { if case .function(let function) = self { function } else { nil } }

    /// A short rendering of a value for error messages.
    static func describe(_ value: Value) -> String {
        (try? Evaluator.string(value)) ?? value.typeName
    }

    /// The type name `$type` returns.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        case .function: "function"
        }
    }
}

/// An array, with jsonata-js's flags.
final class ArrayValue {
    var items: [Value]
    /// A sequence built by evaluation (a path's results), as opposed to an array in the data.
    var isSequence = false
    /// Keep a one-item sequence as an array (`[]` on a step).
    var keepSingleton = false
    /// Built by an array constructor: not flattened into a path's results.
    var isConstructed = false
    /// The items are tuples (`@`/`#` bindings).
    var isTupleStream = false
    /// A singleton wrapped around a value that was an array already.
    var outerWrapper = false

    init(_ items: [Value] = []) {
        self.items = items
    }

    /// A new evaluation sequence.
    static func sequence(_ items: [Value] = []) -> ArrayValue {
        let array = ArrayValue(items)
        array.isSequence = true
        return array
    }

    var count: Int { items.count }
    func append(_ value: Value) { items.append(value) }
}

/// An object: string keys in insertion order.
///
/// An object from the input wraps its `JSONObject` and converts members only when they are read, so
/// building the input of an evaluation costs nothing however large the document; the first change
/// (a transform's copy) converts it for good.
final class ObjectValue {
    private var source: JSONObject?
    private var stored = OrderedMembers<Value>()

    init() {}

    /// An empty object with room for `capacity` members.
    init(capacity: Int) {
        stored.reserveCapacity(capacity)
    }

    /// An object of distinct `keys` and their `values`, in order.
    init(uniqueKeys keys: [String], values: [Value]) {
        stored = OrderedMembers(uniqueKeys: keys, values: values)
    }

    /// An object that reads `object` lazily.
    init(json object: JSONObject) {
        source = object
    }

    var keys: [String] { source?.keys ?? stored.keys }

    /// The input object this wraps, while it is unchanged.
    var json: JSONObject? { source }

    subscript(key: String) -> Value? {
        get {
            if let source { return source[key].map(Value.init) }
            return stored[key]
        }
        set {
            materialize()
            stored[key] = newValue
        }
    }

    var count: Int { source?.count ?? stored.keys.count }

    var members: [(key: String, value: Value)] {
        if let source { return source.map { ($0.key, Value($0.value)) } }
        return zip(stored.keys, stored.values).map { (key: $0.0, value: $0.1) }
    }

    /// The object as JSON: an unchanged input object as it came, without copying.
    var jsonValue: JSONObject {
        if let source { return source }
        return JSONObject(uniqueKeys: stored.keys, values: stored.values.map(\.json))
    }

    private func materialize() {
        guard let object = source else { return }
        source = nil
        stored = OrderedMembers()
        stored.reserveCapacity(object.count)
        for (key, value) in object { stored[key] = Value(value) }
    }

    func copy() -> ObjectValue {
        let copy = ObjectValue()
        copy.source = source
        copy.stored = stored
        return copy
    }
}

/// A function value: a lambda with its closure, a built-in, a partial application, or a regex.
///
/// `@unchecked Sendable`: a function value never leaves the evaluation that made it (results are
/// converted to JSON), but built-ins made during evaluation (`~>` chains, regex `next`) capture them
/// in the `@Sendable` closures that the static library's type requires.
final class FunctionValue: @unchecked Sendable {
    enum Body {
        case lambda(node: Node, environment: Frame, input: Value?)
        case native(NativeFunction)
        /// A partial application: `nil` marks a `?` placeholder, `.some(nil)` a bound undefined.
        case partial(FunctionValue, arguments: [Value??])
        case regex(RegexMatcher)
        case transform(node: Node, environment: Frame)
    }

    let body: Body
    let signature: Signature?

    init(_ body: Body, signature: Signature? = nil) {
        self.body = body
        self.signature = signature
    }

    /// How many arguments the function declares (for `$map` and friends deciding what to pass).
    var arity: Int {
        switch body {
        case .lambda(let node, _, _): node.arguments.count
        case .native(let function): function.arity
        case .partial(_, let arguments): arguments.filter { $0 == nil }.count
        case .regex: 1
        case .transform: 1
        }
    }
}

extension Value {
    /// Builds a value from JSON input.
    init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .number(let value): self = .number(value)
        case .string(let value): self = .string(value)
        case .array(let elements): self = .array(ArrayValue(elements.map(Value.init)))
        case .object(let object):
            self = .object(ObjectValue(json: object))
        }
    }

    /// The value as JSON; functions become empty strings, as JSON.stringify of jsonata-js results does.
    var json: JSON {
        switch self {
        case .null: .null
        case .bool(let value): .bool(value)
        case .number(let value): .number(value)
        case .string(let value): .string(value)
        case .array(let array): .array(array.items.map(\.json))
        case .object(let object): .object(object.jsonValue)
        case .function: .string("")
        }
    }
}

extension Double {
    /// The value as an `Int` for indexes, counts and widths: truncated, clamped to ±2^53, NaN as 0,
    /// so that no number an author writes can trap the conversion.
    var clampedInt: Int {
        guard !isNaN else { return 0 }
        return Int(Swift.max(Swift.min(self.rounded(.towardZero), 9_007_199_254_740_992), -9_007_199_254_740_992))
    }
}
