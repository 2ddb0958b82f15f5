/// Splits a JSONata expression into tokens, as jsonata-js's tokenizer does.
struct Lexer {
    private let scalars: [Unicode.Scalar]
    private var position = 0

    init(_ source: String) {
        scalars = Array(source.unicodeScalars)
    }

    static let operators: Set<String> = [
        ".", "[", "]", "{", "}", "(", ")", ",", "@", "#", ";", ":", "?", "+", "-", "*", "/", "%", "|", "=", "<", ">",
        "^", "**", "..", ":=", "!=", "<=", ">=", "~>", "and", "or", "in", "&", "!", "~", "?:", "??",
    ]

    /// Whitespace and the one-character operators end a name.
    private static func endsName(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", ".", "[", "]", "{", "}", "(", ")", ",", "@", "#", ";", ":", "?",
            "+", "-", "*", "/", "%", "|", "=", "<", ">", "^", "&", "!", "~":
            true
        default:
            false
        }
    }

    private func error(_ code: String, _ message: String, token: String? = nil) -> JSONataError {
        JSONataError(code: code, message: message, position: position, token: token)
    }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        position + offset < scalars.count ? scalars[position + offset] : nil
    }

    /// The next token; `infix` says an operand came just before, so `/` divides rather than starting a regex.
    mutating func next(infix: Bool) throws(JSONataError) -> Token {
        while true {
            while let c = peek(), c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}" {
                position += 1
            }
            if peek() == "/", peek(1) == "*" {
                let start = position
                position += 2
                while !(peek() == "*" && peek(1) == "/") {
                    guard peek() != nil else {
                        position = start
                        throw error("S0106", "Comment has no closing tag")
                    }
                    position += 1
                }
                position += 2
                continue
            }
            break
        }
        guard let c = peek() else { return Token(kind: .end, text: "(end)", position: position) }

        if !infix, c == "/" {
            return try regex()
        }
        let two = peek(1).map { String(c) + String($0) }
        if let two, ["..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"].contains(two) {
            position += 2
            return Token(kind: .operator, text: two, position: position)
        }
        if Self.operators.contains(String(c)) {
            position += 1
            return Token(kind: .operator, text: String(c), position: position)
        }
        if c == "\"" || c == "'" {
            return try string(quote: c)
        }
        if ("0"..."9").contains(c) {
            return try number()
        }
        if c == "`" {
            position += 1
            let start = position
            while let d = peek(), d != "`" { position += 1 }
            guard peek() == "`" else {
                position = scalars.count
                throw error("S0105", "Quoted property name must be terminated with a backquote (`)")
            }
            let name = String(String.UnicodeScalarView(scalars[start..<position]))
            position += 1
            return Token(kind: .name, text: name, position: position)
        }
        // Names and variables run to the next operator, space or quote.
        let isVariable = c == "$"
        if isVariable { position += 1 }
        let start = position
        while let d = peek(), !Self.endsName(d) {
            position += 1
        }
        let text = String(String.UnicodeScalarView(scalars[start..<position]))
        if isVariable {
            return Token(kind: .variable, text: text, position: position)
        }
        switch text {
        case "and", "or", "in":
            return Token(kind: .operator, text: text, position: position)
        case "true":
            return Token(kind: .value, text: text, boolean: true, position: position)
        case "false":
            return Token(kind: .value, text: text, boolean: false, position: position)
        case "null":
            return Token(kind: .value, text: text, boolean: nil, position: position)
        default:
            if text.isEmpty {
                throw error("S0204", "Unknown operator: \"\(c)\"", token: String(c))
            }
            return Token(kind: .name, text: text, position: position)
        }
    }

    private mutating func regex() throws(JSONataError) -> Token {
        position += 1
        let start = position
        var depth = 0
        while let c = peek() {
            if c == "/", scalars[position - 1] != "\\", depth == 0 {
                let pattern = String(String.UnicodeScalarView(scalars[start..<position]))
                if pattern.isEmpty { throw error("S0301", "Empty regular expressions are not supported") }
                position += 1
                var flags = ""
                while let f = peek(), f == "i" || f == "m" || f == "g" || f == "s" || f == "x" || ("a"..."z").contains(f) {
                    flags.unicodeScalars.append(f)
                    position += 1
                }
                if flags.unicodeScalars.contains(where: { $0 != "i" && $0 != "m" }) {
                    throw error("S0302", "Unknown regex flag(s): \(flags)")
                }
                return Token(kind: .regex, text: pattern, regexFlags: flags, position: position)
            }
            if c == "(" || c == "[" || c == "{", scalars[position - 1] != "\\" { depth += 1 }
            if c == ")" || c == "]" || c == "}", scalars[position - 1] != "\\" { depth -= 1 }
            position += 1
        }
        throw error("S0302", "No terminating / in regular expression")
    }

    private mutating func string(quote: Unicode.Scalar) throws(JSONataError) -> Token {
        position += 1
        var text = String.UnicodeScalarView()
        while let c = peek() {
            if c == "\\" {
                position += 1
                guard let e = peek() else { break }
                switch e {
                case "\"": text.append("\"")
                case "\\": text.append("\\")
                case "/": text.append("/")
                case "b": text.append("\u{08}")
                case "f": text.append("\u{0C}")
                case "n": text.append("\n")
                case "r": text.append("\r")
                case "t": text.append("\t")
                case "'": text.append("'")
                case "u":
                    guard let code = hex4(at: position + 1) else {
                        throw error("S0104", "The escape sequence \\u must be followed by 4 hex digits")
                    }
                    position += 4
                    var scalarValue = code
                    if (0xD800...0xDBFF).contains(code), peek(1) == "\\", peek(2) == "u", let low = hex4(at: position + 3),
                        (0xDC00...0xDFFF).contains(low)
                    {
                        scalarValue = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        position += 6
                    }
                    text.append(Unicode.Scalar(scalarValue) ?? "\u{FFFD}")
                default:
                    throw error("S0103", "Unsupported escape sequence: \\\(e)", token: String(e))
                }
            } else if c == quote {
                position += 1
                return Token(kind: .string, text: String(text), position: position)
            } else {
                text.append(c)
            }
            position += 1
        }
        throw error("S0101", "String literal must be terminated by a matching quote")
    }

    private func hex4(at offset: Int) -> UInt32? {
        guard offset + 4 <= scalars.count else { return nil }
        var value: UInt32 = 0
        for scalar in scalars[offset..<offset + 4] {
            guard let digit = Int(String(scalar), radix: 16) else { return nil }
            value = value * 16 + UInt32(digit)
        }
        return value
    }

    private mutating func number() throws(JSONataError) -> Token {
        let start = position
        func digits() { while let d = peek(), ("0"..."9").contains(d) { position += 1 } }
        if peek() == "0" { position += 1 } else { digits() }
        if peek() == ".", let d = peek(1), ("0"..."9").contains(d) {
            position += 1
            digits()
        }
        if let e = peek(), e == "e" || e == "E" {
            var look = 1
            if let s = peek(1), s == "+" || s == "-" { look = 2 }
            if let d = peek(look), ("0"..."9").contains(d) {
                position += look
                digits()
            }
        }
        let text = String(String.UnicodeScalarView(scalars[start..<position]))
        guard let value = Double(text), value.isFinite else {
            throw error("S0102", "Number out of range: \(text)", token: text)
        }
        return Token(kind: .number, text: text, number: value, position: position)
    }
}
