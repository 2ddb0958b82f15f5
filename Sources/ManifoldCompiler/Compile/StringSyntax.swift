import Foundation
import ManifoldPlan

/// The two syntaxes inside connector strings: `${env:NAME}` / `${file:PATH}` references, and
/// `{% expression %}` templates.
enum StringSyntax {
    /// A piece of a string: text, a reference, or an expression.
    enum Piece: Equatable {
        case text(String)
        case environment(String)
        case file(String)
        case expression(String)
    }

    /// Splits `text` into pieces; `expressions` says whether `{% %}` is recognised.
    /// Throws a message saying what is malformed.
    static func pieces(of text: String, expressions: Bool) throws(SyntaxError) -> [Piece] {
        var pieces: [Piece] = []
        var literal = ""
        var rest = Substring(text)
        while let next = rest.firstIndex(where: { $0 == "$" || (expressions && $0 == "{") }) {
            literal += rest[..<next]
            let tail = rest[next...]
            if tail.hasPrefix("${") {
                guard let close = tail.firstIndex(of: "}") else {
                    throw SyntaxError("unterminated reference '\(tail.prefix(20))': write ${env:NAME} or ${file:PATH}")
                }
                let body = tail[tail.index(tail.startIndex, offsetBy: 2)..<close]
                if !literal.isEmpty { pieces.append(.text(literal)); literal = "" }
                if body.hasPrefix("env:") {
                    let name = String(body.dropFirst(4))
                    guard isEnvironmentName(name) else {
                        throw SyntaxError("'${\(body)}' names no valid environment variable (letters, digits and _, not starting with a digit)")
                    }
                    pieces.append(.environment(name))
                } else if body.hasPrefix("file:"), body.count > 5 {
                    pieces.append(.file(String(body.dropFirst(5))))
                } else {
                    throw SyntaxError("unknown reference '${\(body)}': write ${env:NAME} or ${file:PATH}")
                }
                rest = tail[tail.index(after: close)...]
            } else if expressions, tail.hasPrefix("{%") {
                guard let close = tail.range(of: "%}") else {
                    throw SyntaxError("unterminated expression: '{%' without a closing '%}'")
                }
                let source = tail[tail.index(tail.startIndex, offsetBy: 2)..<close.lowerBound].trimmingCharacters(in: .whitespaces)
                guard !source.isEmpty else { throw SyntaxError("empty expression '{% %}'") }
                if !literal.isEmpty { pieces.append(.text(literal)); literal = "" }
                pieces.append(.expression(source))
                rest = tail[close.upperBound...]
            } else {
                literal.append(tail.first!)
                rest = tail.dropFirst()
            }
        }
        literal += rest
        if !literal.isEmpty { pieces.append(.text(literal)) }
        return pieces
    }

    /// A configuration string: text and references, no expressions.
    static func configString(_ text: String) throws(SyntaxError) -> ConfigString {
        ConfigString(parts: try pieces(of: text, expressions: false).map { piece in
            switch piece {
            case .text(let text): .literal(text)
            case .environment(let name): .environment(name)
            case .file(let path): .file(path)
            case .expression(let source): .literal(source)
            }
        })
    }

    /// A template string: a whole-string `{% expr %}` is typed, anything else is text.
    static func template(_ text: String) throws(SyntaxError) -> Template {
        let pieces = try pieces(of: text, expressions: true)
        if pieces.count == 1, case .expression(let source) = pieces[0],
            text.trimmingCharacters(in: .whitespaces).hasPrefix("{%"), text.trimmingCharacters(in: .whitespaces).hasSuffix("%}")
        {
            return .expression(ExpressionSource(source))
        }
        if pieces.allSatisfy({ if case .text = $0 { true } else { false } }) {
            return .literal(.string(text))
        }
        return .interpolated(pieces.map { piece in
            switch piece {
            case .text(let text): .text(text)
            case .environment(let name): .environment(name)
            case .file(let path): .file(path)
            case .expression(let source): .expression(ExpressionSource(source))
            }
        })
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// A duration as written in a connector: `250ms`, `10s`, `5m`, `1h`, `1d`.
    static func duration(_ text: String) -> Duration? {
        Duration(manifoldText: text)
    }

    /// A size as written in a connector: `65536`, `512B`, `256KB`, `1MB`.
    static func size(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits), value < 1 << 40 else { return nil }
        switch text.dropFirst(digits.count) {
        case "", "B": return value
        case "KB": return value << 10
        case "MB": return value << 20
        default: return nil
        }
    }
}

/// A malformed string, with what is wrong in words.
struct SyntaxError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
