import Foundation
import JSONValue

/// The built-in functions (`$sum`, `$substring`, `$map`, ...), with jsonata-js's signatures.
enum Library {
    struct Definition: Sendable {
        var signature: Signature?
        var native: NativeFunction
    }

    /// The function value of the built-in `name`, if there is one.
    static func function(named name: String) -> Value? {
        functionValues[name].map(Value.function)
    }

    /// One immutable function value per built-in, shared by every evaluation.
    private static let functionValues: [String: FunctionValue] = definitions.mapValues { definition in
        FunctionValue(.native(definition.native), signature: definition.signature)
    }

    static let definitions: [String: Definition] = {
        var table: [String: Definition] = [:]
        func define(_ name: String, _ signature: String?, _ arity: Int, _ implementation: @escaping NativeFunction.Implementation) {
            table[name] = Definition(signature: signature.map { try! Signature($0) },
                                     native: NativeFunction(name: name, arity: arity, implementation: implementation))
        }
        defineAggregation(define)
        defineStrings(define)
        defineNumeric(define)
        defineArrays(define)
        defineObjects(define)
        defineHigherOrder(define)
        defineFormatting(define)
        defineDates(define)
        return table
    }()

    typealias Define = (String, String?, Int, @escaping NativeFunction.Implementation) -> Void

    // MARK: Argument access

    static func argument(_ arguments: [Value?], _ index: Int) -> Value? {
        index < arguments.count ? arguments[index] : nil
    }

    static func string(_ arguments: [Value?], _ index: Int) -> String? {
        argument(arguments, index)?.stringValue
    }

    static func number(_ arguments: [Value?], _ index: Int) -> Double? {
        argument(arguments, index)?.numberValue
    }

    static func items(_ value: Value?) -> [Value] {
        guard let value else { return [] }
        return value.arrayValue?.items ?? [value]
    }

    /// The arguments a higher-order function passes to `function`: the value, then the index and
    /// the whole array, as far as the function declares parameters.
    static func hofArguments(_ function: Value?, _ first: Value?, _ second: Value?, _ third: Value?) -> [Value?] {
        let arity = function?.functionValue?.arity ?? 1
        var arguments: [Value?] = [first]
        if arity >= 2 { arguments.append(second) }
        if arity >= 3 { arguments.append(third) }
        return arguments
    }

    static func error(_ code: String, _ message: String) -> JSONataError {
        JSONataError(code: code, message: message)
    }

    // MARK: Aggregation

    static func defineAggregation(_ define: Define) {
        define("sum", "<a<n>:n>", 1) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            return .number(items(value).reduce(0) { $0 + ($1.numberValue ?? 0) })
        }
        define("count", "<a:n>", 1) { _, arguments, _, _ in
            .number(Double(items(argument(arguments, 0)).count))
        }
        define("max", "<a<n>:n>", 1) { _, arguments, _, _ in
            let numbers = items(argument(arguments, 0)).compactMap(\.numberValue)
            return numbers.max().map(Value.number)
        }
        define("min", "<a<n>:n>", 1) { _, arguments, _, _ in
            let numbers = items(argument(arguments, 0)).compactMap(\.numberValue)
            return numbers.min().map(Value.number)
        }
        define("average", "<a<n>:n>", 1) { _, arguments, _, _ in
            let numbers = items(argument(arguments, 0)).compactMap(\.numberValue)
            guard !numbers.isEmpty else { return nil }
            return .number(numbers.reduce(0, +) / Double(numbers.count))
        }
    }

    // MARK: Numeric and Boolean

    static func defineNumeric(_ define: Define) {
        define("number", "<(nsb)-:n>", 1) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            switch value {
            case .number: return value
            case .bool(let flag): return .number(flag ? 1 : 0)
            case .string(let text):
                if let number = number(fromText: text) { return .number(number) }
                throw error("D3030", "Unable to cast value to a number: \(Value.describe(value))")
            default:
                throw error("D3030", "Unable to cast value to a number: \(Value.describe(value))")
            }
        }
        define("abs", "<n-:n>", 1) { _, arguments, _, _ in number(arguments, 0).map { .number(Swift.abs($0)) } }
        define("floor", "<n-:n>", 1) { _, arguments, _, _ in number(arguments, 0).map { .number(Foundation.floor($0)) } }
        define("ceil", "<n-:n>", 1) { _, arguments, _, _ in number(arguments, 0).map { .number(Foundation.ceil($0)) } }
        define("round", "<n-n?:n>", 2) { _, arguments, _, _ in
            guard let value = number(arguments, 0) else { return nil }
            return .number(round(value, places: number(arguments, 1) ?? 0))
        }
        define("sqrt", "<n-:n>", 1) { _, arguments, _, _ in
            guard let value = number(arguments, 0) else { return nil }
            if value < 0 { throw error("D3060", "The sqrt function cannot be applied to a negative number: \(JSON.format(number: value))") }
            return .number(value.squareRoot())
        }
        define("power", "<n-n:n>", 2) { _, arguments, _, _ in
            guard let base = number(arguments, 0), let exponent = number(arguments, 1) else { return nil }
            let result = pow(base, exponent)
            if !result.isFinite {
                throw error("D3061", "The power function has resulted in a value that cannot be represented as a JSON number")
            }
            return .number(result)
        }
        define("random", "<:n>", 0) { _, _, _, _ in .number(Double.random(in: 0..<1)) }
        define("boolean", "<x-:b>", 1) { _, arguments, _, _ in
            Evaluator.boolean(argument(arguments, 0)).map(Value.bool)
        }
        define("not", "<x-:b>", 1) { _, arguments, _, _ in
            Evaluator.boolean(argument(arguments, 0)).map { .bool(!$0) }
        }
        define("exists", "<x:b>", 1) { _, arguments, _, _ in .bool(argument(arguments, 0) != nil) }
    }

    /// `$number` of a text: a decimal number, or an integer after `0x`, `0o` or `0b`; `nil` when it is neither.
    static func number(fromText text: String) -> Double? {
        if isDecimalNumberText(text), let number = Double(text), number.isFinite { return number }
        let lower = text.lowercased()
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where lower.hasPrefix(prefix) {
            if let number = Int(lower.dropFirst(2), radix: radix) { return Double(number) }
        }
        return nil
    }

    /// `$round`: `places` as an integer within ±400.
    static func round(_ value: Double, places: Double) -> Double {
        round(value, precision: Swift.max(-400, Swift.min(400, places.clampedInt)))
    }

    /// Rounds half to even at `precision` decimal places, shifting in decimal text as jsonata-js does.
    static func round(_ value: Double, precision: Int) -> Double {
        if let rounded = roundByScaling(value, precision: precision) { return rounded }
        return roundByText(value, precision: precision)
    }

    /// Powers of ten that a `Double` holds exactly.
    private static let exactPowersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    /// `roundByText`'s answer without printing the number, when multiplying by a power of ten cannot change it: the
    /// product is within a few units in the last place of the shifted text's value, so when it is far from halfway
    /// between two integers both round to the same one, and dividing that integer by the power is correctly rounded,
    /// as parsing its shifted text is. `nil` near halfway (1.005 * 100 is 100.49999999999999, where the text gives
    /// 100.5) and outside the range where that holds.
    static func roundByScaling(_ value: Double, precision: Int) -> Double? {
        guard precision > 0, precision < exactPowersOfTen.count else { return nil }
        let scale = exactPowersOfTen[precision]
        let scaled = value * scale
        // Below 2^26 a unit in the last place is at most 2^-27: a few of them are far inside the margin below.
        guard Swift.abs(scaled) < 67_108_864 else { return nil }
        let whole = Foundation.floor(scaled)
        let fraction = scaled - whole
        guard Swift.abs(fraction - 0.5) > 1e-6 else { return nil }
        let result = (fraction > 0.5 ? whole + 1 : whole) / scale
        return result == 0 ? 0 : result   // no -0
    }

    /// Rounds half to even at `precision` decimals, moving the decimal point in the number's shortest text, as
    /// jsonata-js does: exact where multiplying by a power of ten is not (1.005 * 100 is 100.49999999999999).
    static func roundByText(_ value: Double, precision: Int) -> Double {
        func shift(_ number: Double, _ places: Int) -> Double {
            guard number.isFinite else { return number }
            let text = number.description
            guard let e = text.utf8.firstIndex(of: UInt8(ascii: "e")) else { return Double("\(text)e\(places)") ?? number }
            let exponent = Int(text[text.utf8.index(after: e)...]) ?? 0
            return Double("\(text[..<e])e\(exponent + places)") ?? number
        }
        let shifted = precision != 0 ? shift(value, precision) : value
        var result = Foundation.floor(shifted + 0.5)
        if Swift.abs(result - shifted) == 0.5, Swift.abs(result.truncatingRemainder(dividingBy: 2)) == 1 {
            result -= 1   // halfway: round to even
        }
        if precision != 0 { result = shift(result, -precision) }
        return result == 0 ? 0 : result   // no -0
    }
}
