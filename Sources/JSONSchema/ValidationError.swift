public import JSONValue

/// One way an instance failed a schema: where in the instance, which keyword, and the details needed
/// to explain it to a person.
public struct ValidationError: Sendable, Equatable, CustomStringConvertible {
    /// Where in the instance the failure is.
    public var instanceLocation: JSONPointer
    /// The path of keywords from the root schema to the one that failed (through `$ref`s).
    public var keywordLocation: JSONPointer
    /// What failed.
    public var kind: Kind
    /// The schema object that holds the failed keyword, for messages that quote its siblings.
    public var schema: JSON

    public init(instanceLocation: JSONPointer, keywordLocation: JSONPointer, kind: Kind, schema: JSON) {
        self.instanceLocation = instanceLocation
        self.keywordLocation = keywordLocation
        self.kind = kind
        self.schema = schema
    }

    /// The failed keyword's name (`type`, `required`, ...).
    public var keyword: String { keywordLocation.tokens.last ?? "" }

    /// What a keyword found wrong.
    public enum Kind: Sendable, Equatable {
        case falseSchema
        case type(expected: [String], actual: JSON)
        case enumeration(allowed: [JSON], actual: JSON)
        case constant(expected: JSON, actual: JSON)
        case required(missing: String)
        case dependentRequired(property: String, missing: String)
        /// A property that `additionalProperties: false` or `unevaluatedProperties: false` forbids.
        case unexpectedProperty(name: String, known: [String])
        /// An item that `items: false` or `unevaluatedItems: false` forbids.
        case unexpectedItem(index: Int)
        case minimum(limit: Double, exclusive: Bool, actual: Double)
        case maximum(limit: Double, exclusive: Bool, actual: Double)
        case multipleOf(divisor: Double, actual: Double)
        case minLength(limit: Int, actual: String)
        case maxLength(limit: Int, actual: String)
        case pattern(String, actual: String)
        case minItems(limit: Int, actual: Int)
        case maxItems(limit: Int, actual: Int)
        case uniqueItems(firstDuplicate: Int, secondDuplicate: Int)
        case contains(minimum: Int, maximum: Int?, matched: Int)
        case minProperties(limit: Int, actual: Int)
        case maxProperties(limit: Int, actual: Int)
        case propertyName(name: String, causes: [ValidationError])
        case not
        /// No branch of an `anyOf` matched; `branches` holds each branch's errors.
        case anyOf(branches: [[ValidationError]])
        /// `oneOf` matched no branch (`matched` empty, `branches` holds each branch's errors) or several.
        case oneOf(branches: [[ValidationError]], matched: [Int])
        case unresolvableReference(String)
        case recursionLimit
    }

    public var description: String {
        let location = instanceLocation.tokens.isEmpty ? "(root)" : instanceLocation.description
        return "\(location): \(message) [\(keywordLocation)]"
    }

    /// An English sentence for this error, without the location.
    public var message: String { message(revealingValues: true) }

    /// Where and why, without what: the instance's values (and key names) are left out, for errors about data
    /// that is not the author's (a webhook's payload) and ends up in records, dashboards and logs.
    public var redactedDescription: String {
        let location = instanceLocation.tokens.isEmpty ? "(root)" : instanceLocation.description
        return "\(location): \(message(revealingValues: false)) [\(keywordLocation)]"
    }

    /// The sentence, with the values found in the instance (`revealingValues`) or only their kinds.
    public func message(revealingValues: Bool) -> String {
        func got(_ value: JSON) -> String { revealingValues ? Self.describe(value) : Self.kindName(value) }
        func got(number: Double) -> String { revealingValues ? " (got \(JSON.format(number: number)))" : "" }
        switch kind {
        case .falseSchema: return "no value is allowed here"
        case .type(let expected, let actual):
            return "must be \(expected.map(Self.article).joined(separator: " or ")) (got \(got(actual)))"
        case .enumeration(let allowed, let actual):
            return "must be one of \(allowed.map(\.description).joined(separator: ", ")) (got \(got(actual)))"
        case .constant(let expected, let actual):
            return "must be \(expected) (got \(got(actual)))"
        case .required(let missing): return "missing required key '\(missing)'"
        case .dependentRequired(let property, let missing): return "'\(missing)' is required when '\(property)' is present"
        case .unexpectedProperty(let name, _): return revealingValues ? "unknown key '\(name)'" : "a key that is not allowed"
        case .unexpectedItem(let index): return "no item is allowed at index \(index)"
        case .minimum(let limit, let exclusive, let actual):
            return "must be \(exclusive ? ">" : ">=") \(JSON.format(number: limit))\(got(number: actual))"
        case .maximum(let limit, let exclusive, let actual):
            return "must be \(exclusive ? "<" : "<=") \(JSON.format(number: limit))\(got(number: actual))"
        case .multipleOf(let divisor, let actual):
            return "must be a multiple of \(JSON.format(number: divisor))\(got(number: actual))"
        case .minLength(let limit, _): return "must be at least \(limit) character\(limit == 1 ? "" : "s") long"
        case .maxLength(let limit, _): return "must be at most \(limit) characters long"
        case .pattern(let pattern, let actual):
            return "must match the pattern \(pattern)" + (revealingValues ? " (got \(JSON.string(actual)))" : "")
        case .minItems(let limit, let actual): return "must have at least \(limit) item\(limit == 1 ? "" : "s") (got \(actual))"
        case .maxItems(let limit, let actual): return "must have at most \(limit) item\(limit == 1 ? "" : "s") (got \(actual))"
        case .uniqueItems(let first, let second): return "items \(first) and \(second) are equal; items must be unique"
        case .contains(let minimum, let maximum, let matched):
            if let maximum, matched > maximum { return "must contain at most \(maximum) matching item(s) (found \(matched))" }
            return "must contain at least \(minimum) matching item(s) (found \(matched))"
        case .minProperties(let limit, let actual): return "must have at least \(limit) key\(limit == 1 ? "" : "s") (got \(actual))"
        case .maxProperties(let limit, let actual): return "must have at most \(limit) key\(limit == 1 ? "" : "s") (got \(actual))"
        case .propertyName(let name, let causes):
            return (revealingValues ? "key '\(name)' is not allowed" : "a key is not allowed")
                + (causes.first.map { ": \($0.message(revealingValues: revealingValues))" } ?? "")
        case .not: return "must not match the schema in 'not'"
        case .anyOf: return "must match at least one of the allowed forms"
        case .oneOf(_, let matched):
            return matched.isEmpty ? "must match exactly one of the allowed forms (matched none)"
                : "must match exactly one of the allowed forms (matched \(matched.count))"
        case .unresolvableReference(let reference): return "the schema reference '\(reference)' cannot be resolved"
        case .recursionLimit: return "the schema recurses too deeply"
        }
    }

    /// "an integer", "a string": the article a type name takes in a sentence.
    public static func article(_ typeName: String) -> String {
        switch typeName {
        case "integer", "object", "array": "an \(typeName)"
        case "null": "null"
        default: "a \(typeName)"
        }
    }

    /// What kind of value `value` is: "a string", "a number", "null".
    public static func kindName(_ value: JSON) -> String {
        switch value {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .array: "a list"
        case .object: "a mapping"
        }
    }

    /// A short, quoted rendering of a value for "(got ...)".
    public static func describe(_ value: JSON) -> String {
        switch value {
        case .string(let string):
            return JSON.string(string.count > 60 ? String(string.prefix(57)) + "..." : string)
        case .array: return "a list"
        case .object: return "a mapping"
        default: return value.description
        }
    }
}

extension JSON {
    /// The quoted JSON form of `string`.
    static func string(_ string: String) -> String {
        var output = ""
        writeQuoted(string, to: &output)
        return output
    }
}
