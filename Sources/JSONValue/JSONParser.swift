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

    /// The text being parsed: the caller's contiguous bytes, borrowed for the parse (no copy, no bounds check
    /// past the ones the grammar needs).
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    /// Whether the last string parsed had only ASCII characters, escaped or not.
    private var lastStringWasASCII = true
    /// The members of the objects and the elements of the arrays being parsed, innermost last: one pair of stacks
    /// for the whole document, from which each object and array is copied once, at its exact size, when it ends.
    /// (Each object gathering its own members grew two arrays member by member.)
    private var keys = ElementStack<String>()
    private var values = ElementStack<JSON>()

    /// `StringBits.marksShortASCII` and the powers of ten, read once for the parse instead of at every key and number.
    private let marksShortASCII = StringBits.marksShortASCII
    private let powersOfTen = JSONParser.exactPowersOfTen

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Parses one JSON document from `text`.
    ///
    /// ```swift
    /// let value = try JSONParser.parse(#"{"id": "evt_1", "amount": 42}"#)
    /// ```
    public static func parse(_ text: String) throws(Error) -> JSON {
        var text = text
        return try text.withUTF8 { buffer in Result { () throws(Error) in try parse(buffer: buffer) } }.get()
    }

    /// Parses one JSON document from UTF-8 bytes.
    public static func parse(bytes: some Collection<UInt8>) throws(Error) -> JSON {
        if let parsed = bytes.withContiguousStorageIfAvailable({ buffer in
            Result { () throws(Error) in try parse(buffer: buffer) }
        }) {
            return try parsed.get()
        }
        return try Array(bytes).withUnsafeBufferPointer { buffer in Result { () throws(Error) in try parse(buffer: buffer) } }.get()
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>) throws(Error) -> JSON {
        var parser = JSONParser(bytes: buffer)
        defer {
            parser.keys.free()
            parser.values.free()
        }
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
        var allASCII = true
        var positions: [ExactKey: Int]?
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(JSONObject())
        }
        let keyBase = keys.count, valueBase = values.count
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
            if let position = position(of: key, from: keyBase, positions: &positions) {
                values[valueBase + position] = value
            } else {
                keys.push(key)
                values.push(value)
                positions?[ExactKey(key)] = keys.count - keyBase - 1
            }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input in an object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(JSONObject(parsedKeys: keys.popArray(from: keyBase), values: values.popArray(from: valueBase),
                                          allASCII: allASCII))
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    /// Where `key` already is among the keys of the object being parsed (those from `base` on), counted from `base`:
    /// searched while they are few, through `positions` (made then) past that.
    private func position(of key: String, from base: Int, positions: inout [ExactKey: Int]?) -> Int? {
        if positions == nil {
            if keys.count - base <= OrderedMembers<JSON>.indexThreshold {
                var position = base
                while position < keys.count {
                    if ExactKey.same(keys[position], key, shortASCIIMarked: marksShortASCII) { return position - base }
                    position += 1
                }
                return nil
            }
            positions = Dictionary((base..<keys.count).map { (ExactKey(keys[$0]), $0 - base) }, uniquingKeysWith: { first, _ in first })
        }
        return positions![ExactKey(key)]
    }

    private mutating func parseArray() throws(Error) -> JSON {
        try enter()
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array([])
        }
        let base = values.count
        while true {
            skipWhitespace()
            let element = try parseValue()
            values.push(element)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input in an array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .array(values.popArray(from: base))
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    /// A number: read once, its digits gathered as they are checked. When they are at most 19, their value at most
    /// 2^53 and the power of ten at most 22 either way, both are exact doubles and one multiplication or division
    /// rounds correctly (Clinger's fast path): the value is the one `strtod` gives, without making a string for
    /// it. Any other number is read by `Double(String)`, as before.
    private mutating func parseNumber() throws(Error) -> JSON {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var mantissa: UInt64 = 0
        var gathered = 0
        var exact = true
        func digits(_ parser: inout JSONParser, mantissa: inout UInt64, gathered: inout Int, exact: inout Bool) -> Int {
            let from = parser.index
            while parser.index < parser.bytes.count {
                let digit = parser.bytes[parser.index] &- UInt8(ascii: "0")
                guard digit < 10 else { break }
                if gathered < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(digit)
                    if mantissa != 0 { gathered += 1 }
                } else {
                    exact = false
                }
                parser.index += 1
            }
            return parser.index - from
        }
        let integerStart = index
        let integerDigits = digits(&self, mantissa: &mantissa, gathered: &gathered, exact: &exact)
        guard integerDigits > 0 else { throw error("invalid number", at: start) }
        if integerDigits > 1, bytes[integerStart] == UInt8(ascii: "0") { throw error("leading zeros are not allowed", at: start) }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionDigits = digits(&self, mantissa: &mantissa, gathered: &gathered, exact: &exact)
            guard fractionDigits > 0 else { throw error("expected digits after '.'", at: index) }
            exponent = -fractionDigits
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let from = index
            var written = 0
            while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 {
                if written < 100_000 { written = written * 10 + Int(bytes[index] &- UInt8(ascii: "0")) }
                index += 1
            }
            guard index > from else { throw error("expected digits in the exponent", at: index) }
            exponent += exponentNegative ? -written : written
        }
        if exact, mantissa <= 1 << 53, exponent >= -22, exponent <= 22 {
            let magnitude = exponent < 0 ? Double(mantissa) / powersOfTen[-exponent] : Double(mantissa) * powersOfTen[exponent]
            return .number(negative ? -magnitude : magnitude)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text) else { throw error("invalid number", at: start) }
        return .number(value)
    }

    /// 10^0 through 10^22: every one an exact double.
    private static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ]

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
                guard var gathered = buffer else { return String(decoding: UnsafeBufferPointer(rebasing: bytes[runStart..<index]), as: UTF8.self) }
                gathered.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                return String(decoding: gathered, as: UTF8.self)
            case UInt8(ascii: "\\"):
                var gathered = buffer ?? []
                buffer = nil
                gathered.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
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

/// A stack whose top elements are handed over as an array of their exact size, and then dropped from the stack without
/// shifting or resizing it (an `Array`'s `removeLast(_:)` went through its general `replaceSubrange`). Owned by one
/// parse, which frees it.
private struct ElementStack<Element> {
    /// Allocated at the first push: a document of one value (a number, a string) allocates none.
    private var base: UnsafeMutablePointer<Element>?
    private var capacity = 0
    private(set) var count = 0

    subscript(position: Int) -> Element {
        get { base.unsafelyUnwrapped[position] }
        nonmutating set { base.unsafelyUnwrapped[position] = newValue }
    }

    mutating func push(_ element: Element) {
        if count == capacity {
            capacity = max(16, capacity * 2)
            let larger = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
            if let base {
                larger.moveInitialize(from: base, count: count)
                base.deallocate()
            }
            base = larger
        }
        (base.unsafelyUnwrapped + count).initialize(to: element)
        count += 1
    }

    /// The elements from `start` to the top, in order, as an array; the stack ends at `start`.
    mutating func popArray(from start: Int) -> [Element] {
        let moved = count - start
        guard moved > 0 else { return [] }
        let source = base.unsafelyUnwrapped + start
        count = start
        let array = Array(UnsafeBufferPointer(start: source, count: moved))
        source.deinitialize(count: moved)
        return array
    }

    /// Releases what is left (a parse that failed midway) and the storage.
    func free() {
        guard let base else { return }
        base.deinitialize(count: count)
        base.deallocate()
    }
}
