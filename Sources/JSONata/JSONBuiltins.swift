import Foundation
import JSONValue

/// Built-ins over JSON, for the plan's calls: the answer for the arguments a mapping usually passes (`$trim(email)`,
/// `$substring(name, 0, 1)`, `$sum(items.price)`), with no conversion to the evaluator's values, no argument array,
/// no signature check and no evaluator. Anything else (an argument of another type, one that would raise an error,
/// a regex, an option object) is left to the library, which gives the same answer for the cases answered here: each
/// answer below goes through the same code as the library's definition of that function (`JSONBuiltinsTests`
/// compares the two on generated arguments).
enum JSONBuiltins {
    /// What a built-in gives for its arguments, or that the library is to be asked.
    enum Answer {
        case value(JSON)
        case undefined
        case library
    }

    /// One built-in: the numbers of arguments it answers for, and its body. Arguments past the call's count are `nil`;
    /// the given ones are defined (an undefined argument is the library's). A sequence is given as an array: only the
    /// functions that take arrays read one, and to them the two are the same.
    struct Entry: Sendable {
        let counts: ClosedRange<Int>
        let run: @Sendable (_ first: JSON, _ second: JSON?, _ third: JSON?) -> Answer
    }

    /// The entry for a call of `name` with `count` arguments, if there is one.
    static func entry(_ name: String, count: Int) -> Entry? {
        guard let entry = table[name], entry.counts.contains(count) else { return nil }
        return entry
    }

    private static func text(_ value: String) -> Answer { .value(.string(value)) }
    private static func number(_ value: Double) -> Answer { .value(.number(value)) }

    /// Numbers of an array of numbers or of one number; `nil` when anything else is in it (the library's error).
    private static func numbers(_ value: JSON) -> [Double]? {
        switch value {
        case .number(let number): return [number]
        case .array(let items): return numbers(only: items)
        default: return nil
        }
    }

    /// The numbers of `items`, or `nil` when one of them is not a number.
    static func numbers(only items: [JSON]) -> [Double]? {
        var numbers: [Double] = []
        numbers.reserveCapacity(items.count)
        for item in items {
            guard case .number(let number) = item else { return nil }
            numbers.append(number)
        }
        return numbers
    }

    /// An optional text argument: `.some(nil)` when not given, `.some(text)` for a string, `nil` for anything else.
    private static func optionalText(_ argument: JSON?) -> String?? {
        switch argument {
        case nil: .some(nil)
        case .string(let given)?: .some(given)
        default: nil
        }
    }

    /// `Evaluator.boolean` of a value that is not an array (arrays are the library's).
    private static func truth(_ value: JSON) -> Bool? {
        switch value {
        case .null: false
        case .bool(let flag): flag
        case .number(let number): number != 0 && !number.isNaN
        case .string(let string): !string.isEmpty
        case .object(let object): object.count > 0
        case .array: nil
        }
    }

    static let table: [String: Entry] = [
        "string": Entry(counts: 1...1) { value, _, _ in
            switch value {
            case .string: .value(value)
            case .number(let number) where number.isFinite:
                text(JSON.format(number: number.isIntegral ? number : Evaluator.roundTo15(number)))
            case .bool(let flag): text(flag ? "true" : "false")
            case .null: text("null")
            default: .library
            }
        },
        "length": Entry(counts: 1...1) { value, _, _ in
            guard case .string(let string) = value else { return .library }
            return number(Double(string.unicodeScalars.count))
        },
        "substring": Entry(counts: 2...3) { value, start, length in
            guard case .string(let string) = value, case .number(let from)? = start else { return .library }
            switch length {
            case nil: return text(Library.substring(string, from, nil))
            case .number(let count)?: return text(Library.substring(string, from, count))
            default: return .library
            }
        },
        "substringBefore": Entry(counts: 2...2) { value, chars, _ in
            guard case .string(let string) = value, case .string(let chars)? = chars else { return .library }
            return text(Library.substring(of: string, before: chars))
        },
        "substringAfter": Entry(counts: 2...2) { value, chars, _ in
            guard case .string(let string) = value, case .string(let chars)? = chars else { return .library }
            return text(Library.substring(of: string, after: chars))
        },
        "uppercase": Entry(counts: 1...1) { value, _, _ in
            guard case .string(let string) = value else { return .library }
            return text(string.uppercased())
        },
        "lowercase": Entry(counts: 1...1) { value, _, _ in
            guard case .string(let string) = value else { return .library }
            return text(string.lowercased())
        },
        "trim": Entry(counts: 1...1) { value, _, _ in
            guard case .string(let string) = value else { return .library }
            return text(Library.collapsingWhitespace(string))
        },
        "pad": Entry(counts: 2...3) { value, width, characters in
            guard case .string(let string) = value, case .number(let width)? = width,
                let padding = optionalText(characters), let padded = try? Library.pad(string, width: width, with: padding)
            else { return .library }
            return text(padded)
        },
        "contains": Entry(counts: 2...2) { value, token, _ in
            guard case .string(let string) = value, case .string(let token)? = token else { return .library }
            return .value(.bool(token.isEmpty || Library.find(token, in: string) != nil))
        },
        "split": Entry(counts: 2...2) { value, separator, _ in
            guard case .string(let string) = value, case .string(let separator)? = separator, !separator.isEmpty else {
                return .library
            }
            return .value(.array(Library.split(string, separator: separator).map(JSON.string)))
        },
        "join": Entry(counts: 1...2) { value, separator, _ in
            guard let glue = optionalText(separator) else { return .library }
            switch value {
            case .string: return .value(value)
            case .array(let items):
                var strings: [String] = []
                strings.reserveCapacity(items.count)
                for item in items {
                    guard case .string(let string) = item else { return .library }
                    strings.append(string)
                }
                return text(strings.joined(separator: glue ?? ""))
            default: return .library
            }
        },
        "replace": Entry(counts: 3...3) { value, search, substitute in
            guard case .string(let string) = value, case .string(let search)? = search, !search.isEmpty,
                case .string(let substitute)? = substitute
            else { return .library }
            return text(Library.replacing(search, in: string, with: substitute, limit: nil))
        },
        "number": Entry(counts: 1...1) { value, _, _ in
            switch value {
            case .number: return .value(value)
            case .bool(let flag): return number(flag ? 1 : 0)
            case .string(let string): return Library.number(fromText: string).map(number) ?? .library
            default: return .library
            }
        },
        "abs": Entry(counts: 1...1) { value, _, _ in
            guard case .number(let value) = value else { return .library }
            return number(Swift.abs(value))
        },
        "floor": Entry(counts: 1...1) { value, _, _ in
            guard case .number(let value) = value else { return .library }
            return number(Foundation.floor(value))
        },
        "ceil": Entry(counts: 1...1) { value, _, _ in
            guard case .number(let value) = value else { return .library }
            return number(Foundation.ceil(value))
        },
        "round": Entry(counts: 1...2) { value, places, _ in
            guard case .number(let value) = value else { return .library }
            switch places {
            case nil: return number(Library.round(value, places: 0))
            case .number(let places)?: return number(Library.round(value, places: places))
            default: return .library
            }
        },
        "sum": Entry(counts: 1...1) { value, _, _ in
            guard let numbers = numbers(value) else { return .library }
            return number(numbers.reduce(0, +))
        },
        "max": Entry(counts: 1...1) { value, _, _ in
            guard let numbers = numbers(value) else { return .library }
            return numbers.max().map(number) ?? .undefined
        },
        "min": Entry(counts: 1...1) { value, _, _ in
            guard let numbers = numbers(value) else { return .library }
            return numbers.min().map(number) ?? .undefined
        },
        "average": Entry(counts: 1...1) { value, _, _ in
            guard let numbers = numbers(value) else { return .library }
            guard !numbers.isEmpty else { return .undefined }
            return number(numbers.reduce(0, +) / Double(numbers.count))
        },
        "count": Entry(counts: 1...1) { value, _, _ in
            if case .array(let items) = value { return number(Double(items.count)) }
            return number(1)
        },
        "exists": Entry(counts: 1...1) { _, _, _ in .value(.bool(true)) },
        "boolean": Entry(counts: 1...1) { value, _, _ in
            truth(value).map { .value(.bool($0)) } ?? .library
        },
        "not": Entry(counts: 1...1) { value, _, _ in
            truth(value).map { .value(.bool(!$0)) } ?? .library
        },
        "append": Entry(counts: 2...2) { first, second, _ in
            // `Evaluator.append` of two defined values: a new array of the first's items (or itself), then the second's.
            guard let second else { return .library }
            var items: [JSON]
            if case .array(let elements) = first { items = elements } else { items = [first] }
            if case .array(let elements) = second { items += elements } else { items.append(second) }
            return .value(.array(items))
        },
        "lookup": Entry(counts: 2...2) { value, key, _ in
            guard case .object(let object) = value, case .string(let key)? = key else { return .library }
            return object[key].map(Answer.value) ?? .undefined
        },
        "formatNumber": Entry(counts: 2...2) { value, picture, _ in
            guard case .number(let value) = value, case .string(let picture)? = picture,
                let formatted = try? NumberPicture.format(value, picture: picture, properties: nil)
            else { return .library }
            return text(formatted)
        },
        "formatInteger": Entry(counts: 2...2) { value, picture, _ in
            guard case .number(let value) = value, case .string(let picture)? = picture,
                let formatted = try? IntegerPicture.cached(picture).format(Foundation.floor(value))
            else { return .library }
            return text(formatted)
        },
        "fromMillis": Entry(counts: 1...3) { value, picture, timezone in
            guard case .number(let millis) = value, let picture = optionalText(picture), let timezone = optionalText(timezone),
                let formatted = try? Library.formatDateTime(millis, picture: picture, timezone: timezone)
            else { return .library }
            return text(formatted)
        },
    ]
}
