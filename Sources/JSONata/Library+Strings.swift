import Foundation
import JSONValue

extension Library {
    static func defineStrings(_ define: Define) {
        define("string", "<x-b?:s>", 1) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            let pretty = argument(arguments, 1).flatMap { Evaluator.boolean($0) } ?? false
            return .string(try Evaluator.string(value, pretty: pretty))
        }
        define("length", "<s-:n>", 1) { _, arguments, _, _ in
            string(arguments, 0).map { .number(Double($0.unicodeScalars.count)) }
        }
        define("substring", "<s-nn?:s>", 3) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            return .string(substring(text, number(arguments, 1) ?? 0, number(arguments, 2)))
        }
        define("substringBefore", "<s-s:s>", 2) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            guard let chars = string(arguments, 1) else { return .string(text) }
            return .string(substring(of: text, before: chars))
        }
        define("substringAfter", "<s-s:s>", 2) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            guard let chars = string(arguments, 1) else { return .string(text) }
            return .string(substring(of: text, after: chars))
        }
        define("uppercase", "<s-:s>", 1) { _, arguments, _, _ in string(arguments, 0).map { .string($0.uppercased()) } }
        define("lowercase", "<s-:s>", 1) { _, arguments, _, _ in string(arguments, 0).map { .string($0.lowercased()) } }
        define("trim", "<s-:s>", 1) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            return .string(collapsingWhitespace(text))
        }
        define("pad", "<s-ns?:s>", 3) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            return .string(try pad(text, width: number(arguments, 1) ?? 0, with: string(arguments, 2)))
        }
        define("contains", "<s-(sf):b>", 2) { evaluator, arguments, _, environment in
            guard let text = string(arguments, 0), argument(arguments, 1) != nil else { return nil }
            switch argument(arguments, 1) {
            // Compared scalar by scalar, as JavaScript's indexOf compares code units: Foundation's `contains` took
            // canonically equivalent text for equal ("café" contained "e\u{301}", "cafe\u{301}" did not contain "e")
            // and went through NSString.
            case .string(let token)?: return .bool(token.isEmpty || find(token, in: text) != nil)
            case let matcher?:
                return .bool(!(try matches(matcher, in: text, limit: 1, function: "contains", evaluator: evaluator, environment: environment)).isEmpty)
            default: return .bool(false)
            }
        }
        define("split", "<s-(sf)n?:a<s>>", 3) { evaluator, arguments, _, environment in
            guard let text = string(arguments, 0) else { return nil }
            let limit = number(arguments, 2)
            if let limit, limit < 0 { throw error("D3020", "Third argument of split function must evaluate to a positive number") }
            var parts: [String] = []
            switch argument(arguments, 1) {
            case .string(let separator)?:
                if separator.isEmpty {
                    parts = text.utf16.map { String(utf16CodeUnits: [$0], count: 1) }
                } else {
                    parts = split(text, separator: separator)
                }
            case let matcher?:
                let nsText = text as NSString
                var start = 0
                let found = try matches(matcher, in: text, limit: limit, function: "split", evaluator: evaluator, environment: environment)
                var count = 0
                for match in found {
                    parts.append(nsText.substring(with: NSRange(location: start, length: match.start - start)))
                    start = match.end
                    count += 1
                }
                if limit == nil || Double(count) < limit! { parts.append(nsText.substring(from: start)) }
                return .array(ArrayValue(parts.map(Value.string)))
            default:
                break
            }
            if let limit { parts = Array(parts.prefix(limit.clampedInt)) }
            return .array(ArrayValue(parts.map(Value.string)))
        }
        define("join", "<a<s>s?:s>", 2) { _, arguments, _, _ in
            guard let value = argument(arguments, 0) else { return nil }
            let strings = items(value).compactMap(\.stringValue)
            return .string(strings.joined(separator: string(arguments, 1) ?? ""))
        }
        define("match", "<s-f<s:o>n?:a<o>>", 3) { evaluator, arguments, _, environment in
            guard let text = string(arguments, 0) else { return nil }
            let limit = number(arguments, 2)
            if let limit, limit < 0 { throw error("D3040", "Third argument of match function must evaluate to a positive number") }
            var results: [Value] = []
            for match in try matches(argument(arguments, 1), in: text, limit: limit, function: "match", evaluator: evaluator, environment: environment) {
                let object = ObjectValue()
                object["match"] = .string(match.match)
                object["index"] = .number(Double(match.start))
                object["groups"] = .array(ArrayValue(match.groups.map(Value.string)))
                results.append(.object(object))
            }
            return .array(ArrayValue.sequence(results))
        }
        define("replace", "<s-(sf)(sf)n?:s>", 4) { evaluator, arguments, _, environment in
            guard let text = string(arguments, 0) else { return nil }
            let pattern = argument(arguments, 1)
            if case .string("")? = pattern { throw error("D3010", "Second argument of replace function cannot be an empty string") }
            let limit = number(arguments, 3)
            if let limit, limit < 0 { throw error("D3011", "Fourth argument of replace function must evaluate to a positive number") }
            if let limit, limit == 0 { return .string(text) }
            let replacement = argument(arguments, 2)
            switch pattern {
            case .string(let search)?:
                guard case .string(let substitute)? = replacement else { return .string(text) }
                return .string(replacing(search, in: text, with: substitute, limit: limit))
            case .function?:
                let nsText = text as NSString
                var result = ""
                var position = 0
                var count = 0
                // A replacement without a `$` is the same text for every match.
                let literal: String? = if case .string(let template)? = replacement,
                    !template.utf8.contains(UInt8(ascii: "$")) { template } else { nil }
                for match in try matches(pattern, in: text, limit: limit, function: "replace", evaluator: evaluator, environment: environment) {
                    result += RegexMatcher.slice(text, NSRange(location: position, length: match.start - position), nsText)
                    switch replacement {
                    case .string(let template)?:
                        result += literal ?? substitute(template, match)
                    case .function?:
                        let object = ObjectValue()
                        object["match"] = .string(match.match)
                        object["start"] = .number(Double(match.start))
                        object["end"] = .number(Double(match.end))
                        object["groups"] = .array(ArrayValue(match.groups.map(Value.string)))
                        let replaced = try evaluator.apply(replacement, [.object(object)], nil, environment)
                        guard case .string(let value)? = replaced else {
                            throw error("D3012", "Attempted to replace a matched string with a non-string value")
                        }
                        result += value
                    default:
                        break
                    }
                    position = match.end
                    count += 1
                }
                return .string(result + RegexMatcher.slice(text, NSRange(location: position, length: nsText.length - position), nsText))
            default:
                return .string(text)
            }
        }
        define("base64encode", "<s-:s>", 1) { _, arguments, _, _ in
            string(arguments, 0).map { .string(Data($0.utf8).base64EncodedString()) }
        }
        define("base64decode", "<s-:s>", 1) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else { return .string("") }
            return .string(String(decoding: data, as: UTF8.self))
        }
        define("encodeUrlComponent", "<s-:s>", 1) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            return .string(try encodeURI(text, keep: uriUnreserved))
        }
        define("encodeUrl", "<s-:s>", 1) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            return .string(try encodeURI(text, keep: uriUnreserved.union(uriReserved)))
        }
        define("decodeUrlComponent", "<s-:s>", 1) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            guard let decoded = text.removingPercentEncoding else { throw error("D3140", "Malformed URL passed to $decodeUrlComponent(): \"\(text)\"") }
            return .string(decoded)
        }
        define("decodeUrl", "<s-:s>", 1) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            guard let decoded = text.removingPercentEncoding else { throw error("D3140", "Malformed URL passed to $decodeUrl(): \"\(text)\"") }
            return .string(decoded)
        }
    }

    /// The first occurrence of `needle` in `text`, compared by code points as JavaScript's `indexOf` does.
    static func find(_ needle: String, in text: String) -> Range<String.Index>? {
        find(needle, in: text[...])
    }

    /// The first place `needle` occurs in `text`, code point by code point (no canonical equivalence, as JavaScript).
    /// Compared as UTF-8 bytes, which is the same: a needle starts with a scalar's first byte, which no byte inside a
    /// scalar equals, and ends with a whole scalar, so a byte match starts and ends between scalars of `text`.
    static func find(_ needle: String, in text: Substring) -> Range<String.Index>? {
        let target = needle.utf8
        guard let first = target.first else { return text.startIndex..<text.startIndex }
        let bytes = text.utf8
        var from = bytes.startIndex
        while let start = bytes[from...].firstIndex(of: first) {
            var cursor = bytes.index(after: start)
            var matched = target.index(after: target.startIndex)
            while matched != target.endIndex, cursor != bytes.endIndex, bytes[cursor] == target[matched] {
                cursor = bytes.index(after: cursor)
                matched = target.index(after: matched)
            }
            if matched == target.endIndex { return start..<cursor }
            from = bytes.index(after: start)
        }
        return nil
    }

    /// The widest `$pad` allowed: one expression may not allocate without bound.
    static let maximumPad = 10_000_000

    /// `$substringBefore`: the text before the first `chars`, all of it when there is none, none when `chars` is empty.
    static func substring(of text: String, before chars: String) -> String {
        if chars.isEmpty { return "" }
        guard let range = find(chars, in: text) else { return text }
        return String(text[..<range.lowerBound])
    }

    /// `$substringAfter`: the text after the first `chars`, all of it when there is none.
    static func substring(of text: String, after chars: String) -> String {
        guard let range = find(chars, in: text) else { return text }
        return String(text[range.upperBound...])
    }

    /// `$pad`: `text` widened to `width` code points with `characters` repeated (a space when none or empty), on the
    /// right for a positive width and on the left for a negative one.
    static func pad(_ text: String, width: Double, with characters: String?) throws(JSONataError) -> String {
        let width = width.clampedInt
        var padCharacters = characters ?? " "
        if padCharacters.isEmpty { padCharacters = " " }
        let padLength = Swift.abs(width) - text.unicodeScalars.count
        guard padLength > 0 else { return text }
        guard padLength <= maximumPad else {
            throw JSONataError(code: "U1001", message: "$pad to \(width) characters exceeds the limit of \(maximumPad)")
        }
        // `padLength` code points of the pad characters repeated.
        let scalars = Array(padCharacters.unicodeScalars)
        var padding = String.UnicodeScalarView()
        for index in 0..<padLength { padding.append(scalars[index % scalars.count]) }
        return width > 0 ? text + String(padding) : String(padding) + text
    }

    /// `$split` at a separator that is not empty: literal code points, as JavaScript's split (Foundation's took
    /// canonically equivalent text).
    static func split(_ text: String, separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(text)
        while let range = find(separator, in: rest) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }

    /// `$replace` of a literal `search` that is not empty: its first `limit` occurrences (all when `nil`).
    static func replacing(_ search: String, in text: String, with substitute: String, limit: Double?) -> String {
        var result = ""
        var rest = Substring(text)
        var count = 0
        while let range = find(search, in: rest), limit.map({ Double(count) < $0 }) ?? true {
            result += rest[..<range.lowerBound] + substitute
            rest = rest[range.upperBound...]
            count += 1
        }
        return result + rest
    }

    static let uriUnreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()".unicodeScalars)
    static let uriReserved = Set(";,/?:@&=+$#".unicodeScalars)

    /// JavaScript's `encodeURIComponent`/`encodeURI`: UTF-8 percent-encoding of all but `keep`.
    static func encodeURI(_ text: String, keep: Set<Unicode.Scalar>) throws(JSONataError) -> String {
        if text.utf16.contains(where: { (0xD800...0xDFFF).contains($0) }), String(text.unicodeScalars) != text {
            throw error("D3140", "Malformed URL passed to $encodeUrl(): \"\(text)\"")
        }
        var result = ""
        for scalar in text.unicodeScalars {
            if keep.contains(scalar) {
                result.unicodeScalars.append(scalar)
            } else {
                for byte in String(scalar).utf8 {
                    result += String(format: "%%%02X", byte)
                }
            }
        }
        return result
    }

    /// `$substring` over code points, with JavaScript `slice` semantics for negative positions.
    static func substring(_ text: String, _ start: Double, _ length: Double?) -> String {
        // Positions count code points. ASCII text (most of it) is sliced by its bytes, one per code point, without
        // copying its scalars into an array first.
        let ascii = text.utf8.allSatisfy { $0 < 0x80 }
        let scalars = ascii ? [] : Array(text.unicodeScalars)
        let count = ascii ? text.utf8.count : scalars.count
        var start = start.clampedInt
        if count + start < 0 { start = 0 }
        func slice(_ from: Int, _ to: Int) -> String {
            let lower = from < 0 ? Swift.max(count + from, 0) : Swift.min(from, count)
            let upper = to < 0 ? Swift.max(count + to, 0) : Swift.min(to, count)
            guard lower < upper else { return "" }
            if ascii {
                let bytes = text.utf8
                let first = bytes.index(bytes.startIndex, offsetBy: lower)
                return String(Substring(bytes[first..<bytes.index(first, offsetBy: upper - lower)]))
            }
            return String(String.UnicodeScalarView(scalars[lower..<upper]))
        }
        if let length {
            if length <= 0 { return "" }
            let end = start >= 0 ? start + length.clampedInt : count + start + length.clampedInt
            return slice(start, end)
        }
        return slice(start, count)
    }

    /// A `$replace` replacement string with `$0`, `$1`... and `$$` substituted.
    static func substitute(_ template: String, _ match: RegexMatcher.Match) -> String {
        let characters = Array(template)
        var result = ""
        var position = 0
        while position < characters.count {
            let character = characters[position]
            guard character == "$", position + 1 < characters.count else {
                result.append(character)
                position += 1
                continue
            }
            let next = characters[position + 1]
            if next == "$" {
                result += "$"
                position += 2
            } else if next == "0" {
                result += match.match
                position += 2
            } else if next.isASCII, next.isNumber {
                let maxDigits = match.groups.isEmpty ? 1 : Int(Foundation.floor(log10(Double(match.groups.count)))) + 1
                var digits = String(characters[(position + 1)..<Swift.min(position + 1 + maxDigits, characters.count)].prefix { $0.isASCII && $0.isNumber })
                if digits.count > 1, let value = Int(digits), value > match.groups.count { digits.removeLast() }
                if let index = Int(digits) {
                    if index >= 1, index <= match.groups.count { result += match.groups[index - 1] }
                    position += 1 + digits.count
                } else {
                    result += "$"
                    position += 1
                }
            } else {
                result += "$"
                position += 1
            }
        }
        return result
    }
}

extension Library {
    /// `$trim`: runs of spaces, tabs, line feeds and carriage returns become one space, and a space at either end
    /// goes (a scan of the bytes: the regex it replaces was compiled, through a cache keyed by a printed struct, at
    /// every call). Text with nothing to change is given back as it is.
    static func collapsingWhitespace(_ text: String) -> String {
        // Byte by byte: the four whitespace characters are ASCII, and no byte of another scalar equals one of them.
        var result: [UInt8] = []
        result.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        var changed = false
        for byte in text.utf8 {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D:
                // Anything but one space between two other characters changes the text.
                if pendingSpace || byte != 0x20 || result.isEmpty { changed = true }
                pendingSpace = true
            default:
                if pendingSpace, !result.isEmpty { result.append(0x20) }
                pendingSpace = false
                result.append(byte)
            }
        }
        if pendingSpace { changed = true }
        return changed ? String(decoding: result, as: UTF8.self) : text
    }

    /// Whether `text` is a JSON number as `$number` accepts it: `-?[0-9]+(\.[0-9]+)?([Ee][-+]?[0-9]+)?`, whole.
    static func isDecimalNumberText(_ text: String) -> Bool {
        var bytes = text.utf8.makeIterator()
        var byte = bytes.next()
        func digits() -> Int {
            var count = 0
            while let current = byte, current >= 0x30, current <= 0x39 {
                count += 1
                byte = bytes.next()
            }
            return count
        }
        if byte == 0x2D { byte = bytes.next() }
        guard digits() > 0 else { return false }
        if byte == 0x2E {
            byte = bytes.next()
            guard digits() > 0 else { return false }
        }
        if byte == 0x45 || byte == 0x65 {
            byte = bytes.next()
            if byte == 0x2B || byte == 0x2D { byte = bytes.next() }
            guard digits() > 0 else { return false }
        }
        return byte == nil
    }
}
