/// Parses JSON text (RFC 8259) into `JSON`, keeping object key order.
public struct JSONParser {
    /// Why and where JSON text failed to parse.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        /// 1-based line of the offending byte.
        public var line: Int
        /// 1-based column (in bytes) of the offending byte.
        public var column: Int
        /// 0-based byte offset of the offending byte.
        public var offset: Int

        public var description: String { "\(line):\(column): \(message)" }
    }

    /// Nesting deeper than this is refused instead of exhausting the stack.
    public static let maximumDepth = 512

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0
    /// Whether the last string parsed had only ASCII characters, escaped or not.
    private var lastStringWasASCII = true

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses one JSON document from `text`.
    ///
    /// ```swift
    /// let value = try JSONParser.parse(#"{"id": "evt_1", "amount": 42}"#)
    /// ```
    public static func parse(_ text: String) throws(Error) -> JSON {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses one JSON document from UTF-8 bytes.
    public static func parse(bytes: some Collection<UInt8>) throws(Error) -> JSON {
        var parser = JSONParser(bytes: Array(bytes))
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.index < parser.bytes.count {
            throw parser.error("unexpected text after the JSON value")
        }
        return value
    }

    private func error(_ message: String, at offset: Int? = nil) -> Error {
        let offset = min(offset ?? index, bytes.count)
        var line = 1
        var lineStart = 0
        for position in 0..<offset where bytes[position] == UInt8(ascii: "\n") {
            line += 1
            lineStart = position + 1
        }
        return Error(message: message, line: line, column: offset - lineStart + 1, offset: offset)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(Error) -> JSON {
        guard index < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character, expected a value")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(Error) {
        let start = index
        for byte in UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
            guard index < bytes.count, bytes[index] == byte else {
                throw error("invalid literal, expected '\(literal)'", at: start)
            }
            index += 1
        }
    }

    private mutating func enter() throws(Error) {
        depth += 1
        if depth > Self.maximumDepth { throw error("nesting deeper than \(Self.maximumDepth) levels") }
    }

    private mutating func parseObject() throws(Error) -> JSON {
        try enter()
        index += 1
        // The members are gathered here and made into an object once: assigning them one by one searched the
        // object, checked its key and grew two arrays at every member (a tenth of admitting a webhook).
        var keys: [String] = []
        var values: [JSON] = []
        var allASCII = true
        var positions: [ExactKey: Int]?
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(JSONObject())
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a string key")
            }
            let key = try parseString()
            allASCII = allASCII && lastStringWasASCII
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            // A repeated key keeps its first place and takes the last value; keys are the same when their code
            // points are.
            if let position = Self.position(of: key, in: keys, positions: &positions) {
                values[position] = value
            } else {
                keys.append(key)
                values.append(value)
                positions?[ExactKey(key)] = keys.count - 1
            }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input in an object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(JSONObject(parsedKeys: keys, values: values, allASCII: allASCII))
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    /// Where `key` already is among `keys`: searched while they are few, through `positions` (made then) past that.
    private static func position(of key: String, in keys: [String], positions: inout [ExactKey: Int]?) -> Int? {
        if positions == nil {
            if keys.count <= OrderedMembers<JSON>.indexThreshold { return keys.firstIndex { ExactKey.same($0, key) } }
            positions = Dictionary(keys.enumerated().map { (ExactKey($1), $0) }, uniquingKeysWith: { first, _ in first })
        }
        return positions![ExactKey(key)]
    }

    private mutating func parseArray() throws(Error) -> JSON {
        try enter()
        index += 1
        var elements: [JSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input in an array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(Error) -> JSON {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.index
            while parser.index < parser.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.index]) {
                parser.index += 1
            }
            return parser.index - from
        }
        let integerStart = index
        let integerDigits = digits(&self)
        guard integerDigits > 0 else { throw error("invalid number", at: start) }
        if integerDigits > 1, bytes[integerStart] == UInt8(ascii: "0") { throw error("leading zeros are not allowed", at: start) }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw error("expected digits after '.'", at: index) }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw error("expected digits in the exponent", at: index) }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text) else { throw error("invalid number", at: start) }
        return .number(value)
    }

    private mutating func parseString() throws(Error) -> String {
        let start = index
        index += 1
        // Most strings have no escape: they are decoded from the input in one step. Once an escape appears, the
        // string's UTF-8 is gathered in a buffer (runs copied whole) and decoded once at the end. (Appending each run
        // to a scalar view decoded it twice and was a tenth of the engine's time on ingest.)
        var buffer: [UInt8]?
        var runStart = index
        var high: UInt8 = 0
        while true {
            guard index < bytes.count else { throw error("unterminated string", at: start) }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                defer { index += 1 }
                lastStringWasASCII = high < 0x80
                guard var gathered = buffer else { return String(decoding: bytes[runStart..<index], as: UTF8.self) }
                gathered.append(contentsOf: bytes[runStart..<index])
                return String(decoding: gathered, as: UTF8.self)
            case UInt8(ascii: "\\"):
                var gathered = buffer ?? []
                buffer = nil
                gathered.append(contentsOf: bytes[runStart..<index])
                index += 1
                guard index < bytes.count else { throw error("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): gathered.append(escape)
                case UInt8(ascii: "b"): gathered.append(0x08)
                case UInt8(ascii: "f"): gathered.append(0x0C)
                case UInt8(ascii: "n"): gathered.append(0x0A)
                case UInt8(ascii: "r"): gathered.append(0x0D)
                case UInt8(ascii: "t"): gathered.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if code >= 0x80 { high = 0x80 }
                    if (0xD800...0xDBFF).contains(code), index + 1 < bytes.count,
                        bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        let low = try parseHex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            gathered.append(contentsOf: [0xEF, 0xBF, 0xBD])
                            code = low
                        }
                    }
                    gathered.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(code) ?? "\u{FFFD}")!)
                default:
                    throw error("invalid escape sequence", at: index - 2)
                }
                buffer = gathered
                runStart = index
            case 0x00..<0x20:
                throw error("control character in a string must be escaped")
            default:
                high |= byte
                index += 1
            }
        }
    }

    private mutating func parseHex4() throws(Error) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("incomplete \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}
