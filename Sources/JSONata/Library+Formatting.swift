import Foundation
import JSONValue

extension Library {
    static func defineFormatting(_ define: Define) {
        define("formatBase", "<n-n?:s>", 2) { _, arguments, _, _ in
            guard let value = number(arguments, 0) else { return nil }
            let radix = number(arguments, 1).map { round($0, precision: 0) } ?? 10
            guard radix >= 2, radix <= 36 else {
                throw error("D3100", "The radix of the formatBase function must be between 2 and 36.  It was given \(JSON.format(number: radix))")
            }
            let rounded = round(value, precision: 0)
            return .string((rounded < 0 ? "-" : "") + radixDigits(Swift.abs(rounded), radix: Int(radix)))
        }
        define("formatNumber", "<n-so?:s>", 3) { _, arguments, _, _ in
            guard let value = number(arguments, 0) else { return nil }
            var properties: [String: String]?
            if case .object(let options)? = argument(arguments, 2) {
                properties = NumberPicture.defaults
                for (key, member) in options.members { if case .string(let text) = member { properties?[key] = text } }
            }
            return .string(try NumberPicture.format(value, picture: string(arguments, 1) ?? "", properties: properties))
        }
        define("formatInteger", "<n-s:s>", 2) { _, arguments, _, _ in
            guard let value = number(arguments, 0) else { return nil }
            let format = try IntegerPicture.cached(string(arguments, 1) ?? "")
            return .string(try format.format(Foundation.floor(value)))
        }
        define("parseInteger", "<s-s:n>", 2) { _, arguments, _, _ in
            guard let text = string(arguments, 0) else { return nil }
            let format = try IntegerPicture.cached(string(arguments, 1) ?? "")
            return try format.parse(text).map(Value.number)
        }
    }
}

extension Library {
    /// A non-negative integral number in base `radix`, with JavaScript's lowercase digits.
    static func radixDigits(_ value: Double, radix: Int) -> String {
        if value < 9e15 { return String(Int64(value), radix: radix) }
        var digits: [Character] = []
        var remaining = value
        let symbols = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        while remaining >= 1 {
            let digit = Int(fmod(remaining, Double(radix)))
            digits.append(symbols[digit])
            remaining = Foundation.floor(remaining / Double(radix))
        }
        return String(digits.reversed())
    }
}

/// `$formatNumber`: XPath F&O 4.7 decimal-format pictures (a port of jsonata-js).
enum NumberPicture {
    static let defaults: [String: String] = [
        "decimal-separator": ".", "grouping-separator": ",", "exponent-separator": "e", "infinity": "Infinity",
        "minus-sign": "-", "NaN": "NaN", "percent": "%", "per-mille": "\u{2030}", "zero-digit": "0", "digit": "#",
        "pattern-separator": ";",
    ]

    struct Parts {
        var prefix: [Character]
        var suffix: [Character]
        var active: [Character]
        var mantissa: [Character]
        var exponent: [Character]?
        var integer: [Character]
        var fraction: [Character]
        var picture: [Character]
    }

    struct Analysis {
        var integerGroupingPositions: [Int]
        var regularGrouping: Int
        var minimumIntegerSize: Int
        var scalingFactor: Int
        var prefix: String
        var fractionGroupingPositions: [Int]
        var minimumFractionSize: Int
        var maximumFractionSize: Int
        var minimumExponentSize: Int
        var suffix: String
        /// Whether the sub-picture has a percent sign, a per-mille sign, a decimal separator.
        var percent: Bool
        var perMille: Bool
        var decimalSeparator: Bool
    }

    /// A picture taken apart with its decimal format's characters: all `format` needs besides the number.
    struct Compiled: Sendable {
        var zero: Character
        var digits: [Character]
        var decimalSeparator: Character
        var groupingSeparator: Character
        var exponentSeparator: Character
        var percent: Character
        var perMille: Character
        var minus: String
        /// For numbers at or above zero, and below.
        var variables: [Analysis]
    }

    /// `value` formatted with `picture` in the decimal format `properties` (`nil`: the default one, whose pictures
    /// are compiled once).
    static func format(_ value: Double, picture: String, properties: [String: String]?) throws(JSONataError) -> String {
        let compiled = if let properties {
            try compile(picture, properties: properties)
        } else {
            try cached(picture)
        }
        return format(value, compiled)
    }

    static func compile(_ picture: String, properties: [String: String]) throws(JSONataError) -> Compiled {
        func property(_ name: String) -> Character { properties[name]?.first ?? defaults[name]!.first! }
        let zero = property("zero-digit")
        let zeroValue = zero.unicodeScalars.first!.value
        let digits: [Character] = (0..<10).map { Character(Unicode.Scalar(zeroValue + UInt32($0))!) }
        let decimalSeparator = property("decimal-separator"), groupingSeparator = property("grouping-separator")
        let exponentSeparator = property("exponent-separator"), digitSign = property("digit")
        let patternSeparator = property("pattern-separator"), percent = property("percent"), perMille = property("per-mille")
        let minus = properties["minus-sign"] ?? "-"
        let active = Set(digits + [decimalSeparator, exponentSeparator, groupingSeparator, digitSign, patternSeparator])

        let subPictures = picture.split(separator: patternSeparator, omittingEmptySubsequences: false).map { Array($0) }
        if subPictures.count > 2 { throw JSONataError(code: "D3080", message: "The picture string must not contain more than one instance of the 'pattern-separator' character") }

        func split(_ sub: [Character]) -> Parts {
            // With no active character at all, the whole sub-picture counts as active (and fails validation).
            let start = sub.firstIndex { active.contains($0) && $0 != exponentSeparator } ?? 0
            let end = sub.lastIndex { active.contains($0) && $0 != exponentSeparator }.map { $0 + 1 } ?? sub.count
            let prefix = Array(sub[..<start])
            let suffix = end >= start ? Array(sub[end...]) : []
            let activePart = end >= start ? Array(sub[start..<end]) : []
            var mantissa = activePart
            var exponent: [Character]?
            if let position = sub[prefix.count...].firstIndex(of: exponentSeparator), position <= sub.count - suffix.count {
                let relative = position - prefix.count
                if relative <= activePart.count {
                    mantissa = Array(activePart[..<relative])
                    exponent = Array(activePart[Swift.min(relative + 1, activePart.count)...])
                }
            }
            let integer: [Character]
            let fraction: [Character]
            if let decimal = mantissa.firstIndex(of: decimalSeparator) {
                integer = Array(mantissa[..<decimal])
                fraction = Array(mantissa[(decimal + 1)...])
            } else {
                integer = mantissa
                fraction = suffix
            }
            return Parts(prefix: prefix, suffix: suffix, active: activePart, mantissa: mantissa, exponent: exponent,
                         integer: integer, fraction: fraction, picture: sub)
        }

        func validate(_ parts: Parts) throws(JSONataError) {
            var code: String?
            let sub = parts.picture
            func count(_ character: Character) -> Int { sub.filter { $0 == character }.count }
            if count(decimalSeparator) > 1 { code = "D3081" }
            if count(percent) > 1 { code = "D3082" }
            if count(perMille) > 1 { code = "D3083" }
            if count(percent) > 0, count(perMille) > 0 { code = "D3084" }
            if !parts.mantissa.contains(where: { digits.contains($0) || $0 == digitSign }) { code = "D3085" }
            if parts.active.contains(where: { !active.contains($0) }) { code = "D3086" }
            if let decimal = sub.firstIndex(of: decimalSeparator) {
                if (decimal > 0 && sub[decimal - 1] == groupingSeparator) || (decimal + 1 < sub.count && sub[decimal + 1] == groupingSeparator) {
                    code = "D3087"
                }
            } else if parts.integer.last == groupingSeparator {
                code = "D3088"
            }
            if zip(sub, sub.dropFirst()).contains(where: { $0 == groupingSeparator && $1 == groupingSeparator }) { code = "D3089" }
            if let optional = parts.integer.firstIndex(of: digitSign), parts.integer[..<optional].contains(where: { digits.contains($0) }) {
                code = "D3090"
            }
            if let optional = parts.fraction.lastIndex(of: digitSign), parts.fraction[optional...].contains(where: { digits.contains($0) }) {
                code = "D3091"
            }
            if let exponent = parts.exponent {
                if !exponent.isEmpty, count(percent) > 0 || count(perMille) > 0 { code = "D3092" }
                if exponent.isEmpty || exponent.contains(where: { !digits.contains($0) }) { code = "D3093" }
            }
            if let code { throw JSONataError(code: code, message: "Invalid picture string for formatNumber: \(picture)") }
        }

        // Where the grouping separators of `part` are, each as the number of digit places to its right (or left). As in
        // jsonata-js, each separator after the first is looked for in the integer part, even for the fraction's
        // positions: "#,##0.0,0,0" groups its fraction at one place and at the integer part's second separator.
        func groupingPositions(_ part: [Character], integer: [Character], toLeft: Bool) -> [Int] {
            var positions: [Int] = []
            var found = part.firstIndex(of: groupingSeparator)
            while let index = found {
                let side = toLeft ? part[..<Swift.min(index, part.count)] : part[Swift.min(index, part.count)...]
                positions.append(side.filter { digits.contains($0) || $0 == digitSign }.count)
                found = index + 1 < integer.count ? integer[(index + 1)...].firstIndex(of: groupingSeparator) : nil
            }
            return positions
        }

        func analyse(_ parts: Parts) -> Analysis {
            let integerPositions = groupingPositions(parts.integer, integer: parts.integer, toLeft: false)
            var regular = 0
            if !integerPositions.isEmpty {
                func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
                let factor = integerPositions.reduce(integerPositions[0], gcd)
                regular = (1...integerPositions.count).allSatisfy { integerPositions.contains($0 * factor) } ? factor : 0
            }
            var minimumInteger = parts.integer.filter { digits.contains($0) }.count
            let scaling = minimumInteger
            var minimumFraction = parts.fraction.filter { digits.contains($0) }.count
            var maximumFraction = parts.fraction.filter { digits.contains($0) || $0 == digitSign }.count
            let exponentPresent = parts.exponent != nil
            if minimumInteger == 0, maximumFraction == 0 {
                if exponentPresent {
                    minimumFraction = 1
                    maximumFraction = 1
                } else {
                    minimumInteger = 1
                }
            }
            if exponentPresent, minimumInteger == 0, parts.integer.contains(digitSign) { minimumInteger = 1 }
            if minimumInteger == 0, minimumFraction == 0 { minimumFraction = 1 }
            let minimumExponent = parts.exponent.map { $0.filter { digits.contains($0) }.count } ?? 0
            return Analysis(integerGroupingPositions: integerPositions, regularGrouping: regular, minimumIntegerSize: minimumInteger,
                            scalingFactor: scaling, prefix: String(parts.prefix),
                            fractionGroupingPositions: groupingPositions(parts.fraction, integer: parts.integer, toLeft: true),
                            minimumFractionSize: minimumFraction, maximumFractionSize: maximumFraction,
                            minimumExponentSize: minimumExponent, suffix: String(parts.suffix),
                            percent: parts.picture.contains(percent), perMille: parts.picture.contains(perMille),
                            decimalSeparator: parts.picture.contains(decimalSeparator))
        }

        let parts = subPictures.map(split)
        for part in parts { try validate(part) }
        var variables = parts.map(analyse)
        if variables.count == 1 {
            var negative = variables[0]
            negative.prefix = minus + negative.prefix
            variables.append(negative)
        }
        return Compiled(zero: zero, digits: digits, decimalSeparator: decimalSeparator, groupingSeparator: groupingSeparator,
                        exponentSeparator: exponentSeparator, percent: percent, perMille: perMille, minus: minus,
                        variables: variables)
    }

    /// `value` formatted with a compiled picture, as jsonata-js formats it (XPath F&O 4.7.5's bullets). The text is
    /// built as bytes: printf's ASCII digits and two marks for the separators, given the decimal format's characters
    /// only when written out. A separator placed left of the text's start counts from its end, as JavaScript's
    /// `slice` does with a negative index (`$formatNumber(1, "#,##0,00,0")` is `"00,0,,1"`), and one placed past its
    /// end is appended.
    static func format(_ value: Double, _ compiled: Compiled) -> String {
        let pic = value >= 0 ? compiled.variables[0] : compiled.variables[1]
        var adjusted = value
        if pic.percent { adjusted = value * 100 } else if pic.perMille { adjusted = value * 1000 }
        var mantissa = adjusted
        var exponent: Int?
        if pic.minimumExponentSize != 0 {
            let maxMantissa = pow(10, Double(pic.scalingFactor))
            let minMantissa = pow(10, Double(pic.scalingFactor - 1))
            var power = 0
            let sign: Double = mantissa < 0 ? -1 : 1
            mantissa = Swift.abs(mantissa)
            if mantissa != 0 {
                while mantissa < minMantissa { mantissa *= 10; power -= 1 }
                while mantissa > maxMantissa { mantissa /= 10; power += 1 }
            }
            mantissa *= sign
            exponent = power
        }
        let rounded = Library.round(mantissa, precision: pic.maximumFractionSize)
        let decimalMark = Mark.decimal, groupingMark = Mark.grouping, zero = UInt8(ascii: "0")
        // Bullet 7: the digits, the point made the decimal separator (added when there is none), then zeros trimmed
        // at both ends.
        var text = Array(fixedDecimal(Swift.abs(rounded), places: pic.maximumFractionSize).utf8)
        if let point = text.firstIndex(of: UInt8(ascii: ".")) { text[point] = decimalMark } else { text.append(decimalMark) }
        let first = text.firstIndex { $0 != zero } ?? text.count
        let last = text.lastIndex { $0 != zero } ?? -1
        text = first <= last ? Array(text[first...last]) : []
        // Bullets 8 and 9: padded to the minimum sizes.
        var decimal = text.firstIndex(of: decimalMark) ?? -1
        let padLeft = pic.minimumIntegerSize - decimal
        let padRight = pic.minimumFractionSize - (text.count - decimal - 1)
        if padLeft > 0 { text.insert(contentsOf: repeatElement(zero, count: padLeft), at: 0) }
        if padRight > 0 { text.append(contentsOf: repeatElement(zero, count: padRight)) }
        // Bullets 10 and 11: grouping separators.
        func insertSeparator(at offset: Int) {
            let index = offset < 0 ? Swift.max(0, text.count + offset) : Swift.min(offset, text.count)
            text.insert(groupingMark, at: index)
        }
        decimal = text.firstIndex(of: decimalMark) ?? -1
        if pic.regularGrouping > 0 {
            let groups = (decimal - 1) / pic.regularGrouping
            if groups >= 1 {
                for group in 1...groups { insertSeparator(at: decimal - group * pic.regularGrouping) }
            }
        } else {
            for position in pic.integerGroupingPositions {
                insertSeparator(at: decimal - position)
                decimal += 1
            }
        }
        decimal = text.firstIndex(of: decimalMark) ?? -1
        for position in pic.fractionGroupingPositions { insertSeparator(at: position + decimal + 1) }
        // Bullet 12: no decimal separator without a fraction.
        decimal = text.firstIndex(of: decimalMark) ?? -1
        if !text.isEmpty, !pic.decimalSeparator || decimal == text.count - 1 { text.removeLast() }
        var result = pic.prefix
        result.reserveCapacity(pic.prefix.utf8.count + text.count + pic.suffix.utf8.count)
        compiled.write(text, to: &result)
        // Bullet 13: the exponent.
        if let exponent {
            var digits = Array(String(Swift.abs(exponent)).utf8)
            let pad = pic.minimumExponentSize - digits.count
            if pad > 0 { digits.insert(contentsOf: repeatElement(zero, count: pad), at: 0) }
            result.append(compiled.exponentSeparator)
            if exponent < 0 { result += compiled.minus }
            compiled.write(digits, to: &result)
        }
        return result + pic.suffix
    }

    /// The bytes that stand for the separators in `format`'s text, which is otherwise printf's ASCII.
    enum Mark {
        static let decimal: UInt8 = 1
        static let grouping: UInt8 = 2
    }
}

extension NumberPicture.Compiled {
    /// `text` (`format`'s bytes) written with this decimal format's digits and separators.
    func write(_ text: [UInt8], to result: inout String) {
        for byte in text {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): result.append(digits[Int(byte) - 0x30])
            case NumberPicture.Mark.decimal: result.append(decimalSeparator)
            case NumberPicture.Mark.grouping: result.append(groupingSeparator)
            default: result.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
    }
}
