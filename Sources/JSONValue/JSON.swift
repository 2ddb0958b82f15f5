/// A JSON value that keeps the order of object keys, as authors wrote them.
///
/// Numbers are `Double`: every value a connector file or a webhook body carries fits, and integral
/// values print without a fraction (`10`, not `10.0`).
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)
}

extension JSON {
    /// The JSON Schema type name of this value (`integer` for integral numbers).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let value): value.isIntegral ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number, if this is a number.
    public var numberValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The integer, if this is an integral number that fits `Int`.
    public var intValue: Int? {
        guard case .number(let value) = self, value.isIntegral, abs(value) < 9.0e15 else { return nil }
        return Int(value)
    }

    /// The Boolean, if this is a Boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The object, if this is an object.
    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The member `key` of an object; `nil` for a missing key or a non-object.
    public subscript(key: String) -> JSON? {
        objectValue?[key]
    }
}

extension Double {
    /// Whether this is a finite number with no fractional part.
    public var isIntegral: Bool {
        isFinite && rounded(.towardZero) == self
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
}

extension JSON: Hashable {
    /// JSON equality: numbers by value, strings by code points (not Unicode canonical equivalence),
    /// objects whatever their key order.
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .number(let value): hasher.combine(value)
        case .string(let value): hasher.combine(Array(value.utf8))
        case .array(let value): hasher.combine(value)
        case .object(let value): hasher.combine(value)
        }
    }
}

extension JSON {
    /// Whether this value's JSON text is at most about `limit` bytes (strings and keys by their UTF-8 length,
    /// other values by a small fixed size). Stops as soon as the limit is passed, so asking costs little however
    /// large the value: a caller decides whether work on it is small enough to do where it is.
    public func fits(within limit: Int) -> Bool {
        var remaining = limit
        func visit(_ value: JSON) -> Bool {
            switch value {
            case .null, .bool, .number: remaining -= 8
            case .string(let text): remaining -= text.utf8.count + 2
            case .array(let elements):
                remaining -= 2
                for element in elements where remaining >= 0 { guard visit(element) else { return false } }
            case .object(let object):
                remaining -= 2
                for (key, member) in object where remaining >= 0 {
                    remaining -= key.utf8.count + 4
                    guard visit(member) else { return false }
                }
            }
            return remaining >= 0
        }
        return visit(self)
    }
}
