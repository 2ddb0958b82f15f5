/// How `JSON.serialized(_:)` lays out its text.
public struct JSONPrintOptions: Sendable, OptionSet {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Newlines and two-space indentation.
    public static let pretty = JSONPrintOptions(rawValue: 1)
    /// Object keys in code-point order, for canonical text (hashing, golden files).
    public static let sortedKeys = JSONPrintOptions(rawValue: 2)
}

extension JSON {
    /// The JSON text of this value.
    public func serialized(_ options: JSONPrintOptions = []) -> String {
        var output = ""
        write(to: &output, options: options, indent: 0)
        return output
    }

    private func write(to output: inout String, options: JSONPrintOptions, indent: Int) {
        let pretty = options.contains(.pretty)
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let value): output += JSON.format(number: value)
        case .string(let value): JSON.writeQuoted(value, to: &output)
        case .array(let elements):
            if elements.isEmpty { output += "[]"; return }
            output += "["
            for (position, element) in elements.enumerated() {
                if position > 0 { output += "," }
                if pretty { output += "\n" + String(repeating: "  ", count: indent + 1) }
                element.write(to: &output, options: options, indent: indent + 1)
            }
            if pretty { output += "\n" + String(repeating: "  ", count: indent) }
            output += "]"
        case .object(let object):
            if object.isEmpty { output += "{}"; return }
            output += "{"
            func member(_ position: Int, _ key: String, _ value: JSON) {
                if position > 0 { output += "," }
                if pretty { output += "\n" + String(repeating: "  ", count: indent + 1) }
                JSON.writeQuoted(key, to: &output)
                output += pretty ? ": " : ":"
                value.write(to: &output, options: options, indent: indent + 1)
            }
            if options.contains(.sortedKeys) {
                for (position, key) in object.keys.sorted().enumerated() { member(position, key, object[key]!) }
            } else {
                // In order, without looking each key up again.
                for (position, pair) in object.enumerated() { member(position, pair.key, pair.value) }
            }
            if pretty { output += "\n" + String(repeating: "  ", count: indent) }
            output += "}"
        }
    }

    /// Formats a number as JavaScript's `Number.prototype.toString` does: the shortest digits that
    /// round-trip, in fixed notation from 1e-7 up to 1e21 (`0.000001`, `1e-7`, `100000000000000000000`, `1e+21`).
    public static func format(number value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == 0 { return "0" }
        // Whole numbers below 2^53 (ids, amounts, timestamps: most numbers) print as integers, without taking
        // the shortest round-trip digits apart.
        if value.rounded(.towardZero) == value, abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        let negative = value < 0
        // Swift's description gives the shortest round-trip digits; take them and their exponent apart.
        var text = "\(abs(value))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = String(parts[0])
        let fractionPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = integerPart + fractionPart
        // value = 0.digits × 10^point
        var point = integerPart.count + exponent
        let leadingZeros = digits.prefix { $0 == "0" }.count
        digits.removeFirst(leadingZeros)
        point -= leadingZeros
        while digits.hasSuffix("0") { digits.removeLast() }
        if digits.isEmpty { return "0" }
        let k = digits.count
        let n = point
        var result: String
        if k <= n, n <= 21 {
            result = digits + String(repeating: "0", count: n - k)
        } else if 0 < n, n <= 21 {
            result = String(digits.prefix(n)) + "." + String(digits.dropFirst(n))
        } else if -6 < n, n <= 0 {
            result = "0." + String(repeating: "0", count: -n) + digits
        } else {
            let mantissa = k == 1 ? digits : String(digits.prefix(1)) + "." + String(digits.dropFirst())
            let power = n - 1
            result = mantissa + "e" + (power >= 0 ? "+" : "-") + String(abs(power))
        }
        return negative ? "-" + result : result
    }

    /// Appends `string` as a quoted JSON string literal.
    ///
    /// One pass over the UTF-8 bytes: the runs between characters that need escaping are appended whole (a string
    /// with none is appended as it is), never scalar by scalar.
    public static func writeQuoted(_ string: String, to output: inout String) {
        output += "\""
        var text = string
        // Whether nothing needed escaping (then the string goes in whole).
        let whole = text.withUTF8 { bytes -> Bool in
            // Where the run of bytes not yet appended starts: past the last escaped byte.
            var run = 0
            var escaped = false
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if run < index { output += String(decoding: UnsafeBufferPointer(rebasing: bytes[run..<index]), as: UTF8.self) }
                switch byte {
                case UInt8(ascii: "\""): output += "\\\""
                case UInt8(ascii: "\\"): output += "\\\\"
                case UInt8(ascii: "\n"): output += "\\n"
                case UInt8(ascii: "\r"): output += "\\r"
                case UInt8(ascii: "\t"): output += "\\t"
                case 0x08: output += "\\b"
                case 0x0C: output += "\\f"
                default:
                    let hex = String(byte, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
                run = index + 1
                escaped = true
            }
            if !escaped { return true }
            if run < bytes.count { output += String(decoding: UnsafeBufferPointer(rebasing: bytes[run...]), as: UTF8.self) }
            return false
        }
        if whole { output += string }
        output += "\""
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { serialized() }
}
