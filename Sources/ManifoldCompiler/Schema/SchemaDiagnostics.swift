import JSONSchema
import JSONValue

/// Turns schema validation errors into diagnostics a connector author can act on: located at the key
/// or value, phrased from the schema (`must be an integer >= 1`), with "did you mean" for typos, and with
/// `oneOf`/`anyOf` noise collapsed to the branch the author most likely meant.
struct SchemaDiagnostics {
    let document: LocatedDocument

    func diagnostics(for errors: [ValidationError]) -> [Diagnostic] {
        // One root cause, one error: a mapping with an unknown key (a misspelt `secret`, a setting of another
        // scheme) also fails what it requires; the unknown key is the error to fix, the rest follows from it.
        let withUnknownKeys = Set(errors.compactMap { error -> String? in
            if case .unexpectedProperty = error.kind { return error.instanceLocation.parent.description }
            return nil
        })
        return errors.filter { error in
            guard withUnknownKeys.contains(error.instanceLocation.description) else { return true }
            switch error.kind {
            case .required, .dependentRequired, .oneOf, .anyOf: return false
            default: return true
            }
        }.flatMap(diagnostics(for:))
    }

    private func diagnostics(for error: ValidationError) -> [Diagnostic] {
        let pointer = error.instanceLocation
        let subject = Self.subject(pointer)
        let actual = document.value[pointer: pointer] ?? .null
        if let message = error.schema["x-message"]?.stringValue, ["oneOf", "anyOf", "not"].contains(error.keyword) {
            return [.error("\(subject) \(message)", at: document.location(of: pointer))]
        }
        switch error.kind {
        case .anyOf(let branches):
            return collapse(branches, error: error, matched: [])
        case .oneOf(let branches, let matched):
            return collapse(branches, error: error, matched: matched)
        case .required(let missing):
            let location = pointer.tokens.isEmpty ? document.location(of: pointer) : document.keyLocation(of: pointer)
            let owner = pointer.tokens.isEmpty ? "the connector" : subject
            return [.error("\(owner) is missing the required key '\(missing)'", at: location)]
        case .unexpectedProperty(let name, let known):
            var message = "unknown key '\(name)'" + (pointer.parent.tokens.isEmpty ? "" : " in \(Self.subject(pointer.parent))")
            if let suggestion = Suggestion.closest(to: name, in: known) {
                message += "; did you mean '\(suggestion)'?"
            } else if !known.isEmpty {
                message += " (expected one of: \(known.joined(separator: ", ")))"
            }
            return [.error(message, at: document.keyLocation(of: pointer))]
        case .propertyName(let name, let causes):
            let expectation = causes.first.map { Self.expectation(of: $0.schema) } ?? "a valid name"
            return [.error("\(Self.subject(pointer.parent)) key '\(name)' must be \(expectation)", at: document.keyLocation(of: pointer))]
        case .falseSchema:
            return [.error("\(subject) is not allowed here", at: document.keyLocation(of: pointer))]
        case .not:
            return [.error("\(subject) is not allowed here", at: document.location(of: pointer))]
        case .enumeration(let allowed, _):
            var message = "\(subject) must be \(Self.expectation(of: error.schema)) (got \(ValidationError.describe(actual)))"
            if case .string(let text) = actual,
                let suggestion = Suggestion.closest(to: text, in: allowed.compactMap(\.stringValue))
            {
                message += "; did you mean '\(suggestion)'?"
            }
            return [.error(message, at: document.location(of: pointer))]
        case .type, .constant, .minimum, .maximum, .multipleOf, .minLength, .maxLength, .pattern,
            .minItems, .maxItems, .minProperties, .maxProperties:
            return [.error("\(subject) must be \(Self.expectation(of: error.schema)) (got \(Self.got(actual)))",
                           at: document.location(of: pointer))]
        case .uniqueItems(_, let second):
            let repeated = document.value[pointer: pointer.appending(second)] ?? .null
            return [.error("\(subject) lists \(repeated) more than once", at: document.location(of: pointer.appending(second)))]
        default:
            return [.error("\(subject) \(error.message)", at: document.location(of: pointer))]
        }
    }

    /// For an `anyOf`/`oneOf` failure: the errors of the branch the author most likely meant, or one
    /// message listing the allowed forms when no branch comes close.
    private func collapse(_ branches: [[ValidationError]], error: ValidationError, matched: [Int]) -> [Diagnostic] {
        let pointer = error.instanceLocation
        let subject = Self.subject(pointer)
        let forms = (error.schema[error.keyword]?.arrayValue ?? []).map(Self.title(of:))
        if matched.count > 1 {
            return [.error("\(subject) matches more than one of: \(forms.joined(separator: ", "))", at: document.location(of: pointer))]
        }
        let depth = pointer.tokens.count
        let scored = branches.enumerated().map { index, errors in
            (index: index, errors: errors, reach: errors.map(Self.reach).min() ?? depth)
        }
        if let best = scored.filter({ $0.reach > depth }).max(by: { ($0.reach, -$0.errors.count) < ($1.reach, -$1.errors.count) }) {
            return diagnostics(for: best.errors)
        }
        var message = "\(subject) must be one of: \(forms.joined(separator: ", ")) (got \(ValidationError.describe(document.value[pointer: pointer] ?? .null)))"
        let written: String? = switch document.value[pointer: pointer] {
        case .string(let text)?: text
        case .object(let object)? where object.count == 1: object.keys[0]
        default: nil
        }
        if let written, let suggestion = Suggestion.closest(to: written, in: forms) {
            message += "; did you mean '\(suggestion)'?"
        }
        return [.error(message, at: document.location(of: pointer))]
    }

    /// How far into the instance an error lies: a branch whose errors all lie deeper than the
    /// `oneOf` itself got past the part that tells the branches apart.
    private static func reach(_ error: ValidationError) -> Int {
        switch error.kind {
        case .unexpectedProperty, .propertyName: error.instanceLocation.tokens.count - 1
        default: error.instanceLocation.tokens.count
        }
    }

    /// A branch's name for a person: its `title`, its constant, or its one required key.
    private static func title(of branch: JSON) -> String {
        if let title = branch["title"]?.stringValue { return title }
        if let constant = branch["const"] { return constant.description }
        if let required = branch["required"]?.arrayValue?.first?.stringValue { return "`\(required)`" }
        return expectation(of: branch)
    }

    /// `targets.hubspot.retry.max_attempts`, or "the file" for the document itself.
    static func subject(_ pointer: JSONPointer) -> String {
        pointer.tokens.isEmpty ? "the file" : pointer.dotted
    }

    /// What the schema expects, as a phrase after "must be".
    static func expectation(of schema: JSON) -> String {
        if let expected = schema["x-expected"]?.stringValue { return expected }
        if let allowed = schema["enum"]?.arrayValue {
            return "one of " + allowed.map { $0.stringValue ?? $0.description }.joined(separator: ", ")
        }
        if let constant = schema["const"] { return constant.description }
        let types = schema["type"]?.arrayValue?.compactMap(\.stringValue) ?? schema["type"]?.stringValue.map { [$0] } ?? []
        var phrase = types.isEmpty ? "a valid value" : types.map(article).joined(separator: " or ")
        let minimum = schema["minimum"]?.numberValue, maximum = schema["maximum"]?.numberValue
        switch (minimum, maximum) {
        case (let low?, let high?): phrase += " from \(JSON.format(number: low)) to \(JSON.format(number: high))"
        case (let low?, nil): phrase += " >= \(JSON.format(number: low))"
        case (nil, let high?): phrase += " <= \(JSON.format(number: high))"
        default: break
        }
        if let length = schema["minLength"]?.intValue, length > 0 { phrase = "a non-empty " + phrase.dropFirst(2) }
        if let count = schema["minItems"]?.intValue, count > 0 { phrase += " with at least \(count) item\(count == 1 ? "" : "s")" }
        if let count = schema["minProperties"]?.intValue, count > 0 { phrase += " with at least \(count) entr\(count == 1 ? "y" : "ies")" }
        if let pattern = schema["pattern"]?.stringValue { phrase += " matching \(pattern)" }
        return phrase
    }

    /// A type name as a YAML author says it: a mapping, a list.
    private static func article(_ type: String) -> String {
        switch type {
        case "object": "a mapping"
        case "array": "a list"
        case "integer": "an integer"
        case "null": "null"
        default: "a \(type)"
        }
    }

    private static func got(_ value: JSON) -> String {
        switch value {
        case .null: "nothing"
        default: ValidationError.describe(value)
        }
    }
}
