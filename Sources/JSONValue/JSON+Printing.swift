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
            let keys = options.contains(.sortedKeys) ? object.keys.sorted() : object.keys
            for (position, key) in keys.enumerated() {
                if position > 0 { output += "," }
                if pretty { output += "\n" + String(repeating: "  ", count: indent + 1) }
                JSON.writeQuoted(key, to: &output)
                output += pretty ? ": " : ":"
                object[key]!.write(to: &output, options: options, indent: indent + 1)
            }
            if pretty { output += "\n" + String(repeating: "  ", count: indent) }
            output += "}"
        }
    }

    /// Formats a number as JavaScript does: integral values without a fraction, `1e-7` not `1e-07`.
    public static func format(number value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value.isIntegral, abs(value) < 1e21 {
            return value == 0 ? "0" : String(Int64(value))
        }
        var text = "\(value)"
        if let exponent = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            var mantissa = String(text[..<exponent])
            if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
            var power = String(text[text.index(after: exponent)...])
            let sign = power.hasPrefix("-") ? "-" : "+"
            power = String(power.drop { $0 == "-" || $0 == "+" }.drop { $0 == "0" })
            text = mantissa + "e" + sign + (power.isEmpty ? "0" : power)
        }
        return text
    }

    /// Appends `string` as a quoted JSON string literal.
    public static func writeQuoted(_ string: String, to output: inout String) {
        output += "\""
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            output += string
            output += "\""
            return
        }
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            case "\u{00}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { serialized() }
}
