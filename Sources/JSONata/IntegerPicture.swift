import Foundation

/// `$formatInteger`/`$parseInteger` pictures (XPath F&O 4.6.1), as jsonata-js implements them:
/// decimal digit patterns with grouping, `a`/`A` letters, `i`/`I` roman, `w`/`W`/`Ww` words, `;o` ordinals.
struct IntegerPicture {
    enum Primary { case decimal, letters, roman, words, sequence }
    enum Case { case upper, lower, title }

    struct Separator: Equatable {
        var position: Int
        var character: Character
    }

    var primary: Primary = .decimal
    var letterCase: Case = .lower
    var ordinal = false
    var zeroCode: UInt32 = 0x30
    var mandatoryDigits = 0
    var optionalDigits = 0
    var regular: Separator?
    var separators: [Separator] = []
    var token = ""

    static let decimalGroups: [UInt32] = [
        0x30, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
        0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
        0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    ]

    init(_ picture: String) throws(JSONataError) {
        var primaryFormat = picture
        if let semicolon = picture.lastIndex(of: ";") {
            primaryFormat = String(picture[..<semicolon])
            if picture[picture.index(after: semicolon)...].hasPrefix("o") { ordinal = true }
        }
        switch primaryFormat {
        case "A": letterCase = .upper; primary = .letters
        case "a": primary = .letters
        case "I": letterCase = .upper; primary = .roman
        case "i": primary = .roman
        case "W": letterCase = .upper; primary = .words
        case "Ww": letterCase = .title; primary = .words
        case "w": primary = .words
        default:
            var zero: UInt32?
            var position = 0
            for scalar in primaryFormat.unicodeScalars.reversed() {
                if let group = Self.decimalGroups.first(where: { scalar.value >= $0 && scalar.value <= $0 + 9 }) {
                    mandatoryDigits += 1
                    position += 1
                    if zero == nil {
                        zero = group
                    } else if zero != group {
                        throw JSONataError(code: "D3131", message: "In a decimal digit pattern, all digits must be from the same decimal group")
                    }
                } else if scalar == "#" {
                    position += 1
                    optionalDigits += 1
                } else {
                    separators.append(Separator(position: position, character: Character(scalar)))
                }
            }
            if mandatoryDigits > 0 {
                primary = .decimal
                zeroCode = zero ?? 0x30
                regular = Self.regularRepeat(separators)
            } else {
                primary = .sequence
                token = primaryFormat
            }
        }
    }

    private static func regularRepeat(_ separators: [Separator]) -> Separator? {
        guard let first = separators.first, separators.allSatisfy({ $0.character == first.character }) else { return nil }
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let positions = separators.map(\.position)
        let factor = positions.reduce(positions[0], gcd)
        guard factor > 0, (1...positions.count).allSatisfy({ positions.contains($0 * factor) }) else { return nil }
        return Separator(position: factor, character: first.character)
    }

    func format(_ value: Double) throws(JSONataError) -> String {
        let negative = value < 0
        let magnitude = Swift.abs(value)
        var text: String
        switch primary {
        case .letters:
            guard magnitude < 1e15 else {
                throw JSONataError(code: "U1001", message: "The number \(magnitude) is too large to write in letters")
            }
            text = Self.letters(Int(magnitude), base: letterCase == .upper ? "A" : "a")
        case .roman:
            guard magnitude <= Self.largestRoman else {
                throw JSONataError(code: "U1001", message: "Roman numerals for \(magnitude) would be too long (the limit is \(Int(Self.largestRoman)))")
            }
            text = Self.roman(Int(magnitude))
            if letterCase == .upper { text = text.uppercased() }
        case .words:
            text = Self.words(magnitude, ordinal: ordinal)
            if letterCase == .upper { text = text.uppercased() } else if letterCase == .lower { text = text.lowercased() }
        case .decimal:
            text = magnitude < 1e21 ? fixedDecimal(magnitude, places: 0) : "\(magnitude)"
            let pad = mandatoryDigits - text.count
            if pad > 0 { text = String(repeating: "0", count: pad) + text }
            if zeroCode != 0x30 {
                text = String(String.UnicodeScalarView(text.unicodeScalars.map { Unicode.Scalar($0.value + zeroCode - 0x30)! }))
            }
            // Plain digits, as date fields mostly are, need no grouping: the text is done.
            if separators.isEmpty, !ordinal { break }
            var characters = Array(text)
            if let regular {
                let count = (characters.count - 1) / regular.position
                if count >= 1 {
                    for group in stride(from: count, to: 0, by: -1) {
                        characters.insert(regular.character, at: characters.count - group * regular.position)
                    }
                }
            } else {
                for separator in separators.reversed() {
                    characters.insert(separator.character, at: Swift.max(0, characters.count - separator.position))
                }
            }
            text = String(characters)
            if ordinal {
                let last = characters.last
                var suffix = ["1": "st", "2": "nd", "3": "rd"][last.map(String.init) ?? ""] ?? "th"
                if characters.count > 1, characters[characters.count - 2] == "1" { suffix = "th" }
                text += suffix
            }
        case .sequence:
            throw JSONataError(code: "D3130", message: "Formatting or parsing an integer as a sequence starting with \(token) is not supported by this implementation")
        }
        return negative ? "-" + text : text
    }

    func parse(_ text: String) throws(JSONataError) -> Double? {
        switch primary {
        case .letters:
            let base = (letterCase == .upper ? "A" : "a").unicodeScalars.first!.value
            var result = 0.0
            for (index, scalar) in text.unicodeScalars.reversed().enumerated() {
                result += Double(Int(scalar.value) - Int(base) + 1) * pow(26, Double(index))
            }
            return result
        case .roman:
            let values: [Character: Int] = ["M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1]
            var decimal = 0
            var maximum = 1
            for character in text.uppercased().reversed() {
                let value = values[character] ?? 0
                if value < maximum { decimal -= value } else { maximum = value; decimal += value }
            }
            return Double(decimal)
        case .words:
            return Self.wordsToNumber(text.lowercased())
        case .decimal:
            var digits = text
            if ordinal { digits = String(digits.dropLast(2)) }
            if let regular {
                digits = digits.replacingOccurrences(of: String(regular.character), with: "")
            } else {
                for separator in separators { digits = digits.replacingOccurrences(of: String(separator.character), with: "") }
            }
            if zeroCode != 0x30 {
                digits = String(String.UnicodeScalarView(digits.unicodeScalars.map { scalar in
                    scalar.value >= zeroCode ? Unicode.Scalar(scalar.value - zeroCode + 0x30) ?? scalar : scalar
                }))
            }
            return Double(digits.prefix { $0.isASCII && $0.isNumber })
        case .sequence:
            throw JSONataError(code: "D3130", message: "Formatting or parsing an integer as a sequence starting with \(token) is not supported by this implementation")
        }
    }

    /// The largest number written in roman numerals: beyond it the text grows by a letter per thousand.
    static let largestRoman = 1_000_000.0

    static func letters(_ value: Int, base: String) -> String {
        let code = base.unicodeScalars.first!.value
        var value = value
        var letters: [Character] = []
        while value > 0 {
            letters.insert(Character(Unicode.Scalar(UInt32((value - 1) % 26) + code)!), at: 0)
            value = (value - 1) / 26
        }
        return String(letters)
    }

    static func roman(_ value: Int) -> String {
        let numerals: [(Int, String)] = [(1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"),
                                         (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]
        var value = value
        var result = ""
        while let numeral = numerals.first(where: { value >= $0.0 }) {
            result += numeral.1
            value -= numeral.0
        }
        return result
    }

    static let few = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve",
                      "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen"]
    static let ordinals = ["Zeroth", "First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth", "Tenth",
                           "Eleventh", "Twelfth", "Thirteenth", "Fourteenth", "Fifteenth", "Sixteenth", "Seventeenth", "Eighteenth", "Nineteenth"]
    static let decades = ["Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety", "Hundred"]
    static let magnitudes = ["Thousand", "Million", "Billion", "Trillion"]

    static func words(_ value: Double, ordinal: Bool) -> String {
        func lookup(_ number: Double, _ previous: Bool, _ ordinal: Bool) -> String {
            if number <= 19 {
                return (previous ? " and " : "") + (ordinal ? ordinals[Int(number)] : few[Int(number)])
            }
            if number < 100 {
                let tens = Int(number / 10)
                let remainder = number.truncatingRemainder(dividingBy: 10)
                var words = (previous ? " and " : "") + decades[tens - 2]
                if remainder > 0 {
                    words += "-" + lookup(remainder, false, ordinal)
                } else if ordinal {
                    words = String(words.dropLast()) + "ieth"
                }
                return words
            }
            if number < 1000 {
                let hundreds = Int(number / 100)
                let remainder = number.truncatingRemainder(dividingBy: 100)
                var words = (previous ? ", " : "") + few[hundreds] + " Hundred"
                if remainder > 0 {
                    words += lookup(remainder, true, ordinal)
                } else if ordinal {
                    words += "th"
                }
                return words
            }
            var magnitude = Int(Foundation.floor(log10(number) / 3))
            if magnitude > magnitudes.count { magnitude = magnitudes.count }
            let factor = pow(10, Double(magnitude * 3))
            let mantissa = Foundation.floor(number / factor)
            let remainder = number - mantissa * factor
            var words = (previous ? ", " : "") + lookup(mantissa, false, false) + " " + magnitudes[magnitude - 1]
            if remainder > 0 {
                words += lookup(remainder, true, ordinal)
            } else if ordinal {
                words += "th"
            }
            return words
        }
        return lookup(value, false, ordinal)
    }

    static let wordValues: [String: Double] = {
        var values: [String: Double] = [:]
        for (index, word) in few.enumerated() { values[word.lowercased()] = Double(index) }
        for (index, word) in ordinals.enumerated() { values[word.lowercased()] = Double(index) }
        for (index, word) in decades.enumerated() {
            let lower = word.lowercased()
            values[lower] = Double((index + 2) * 10)
            values[String(lower.dropLast()) + "ieth"] = values[lower]
        }
        values["hundredth"] = 100
        for (index, word) in magnitudes.enumerated() {
            let value = pow(10, Double((index + 1) * 3))
            values[word.lowercased()] = value
            values[word.lowercased() + "th"] = value
        }
        return values
    }()

    static func wordsToNumber(_ text: String) -> Double {
        let parts = text.replacingOccurrences(of: ", ", with: " ").replacingOccurrences(of: " and ", with: " ")
            .split(whereSeparator: { $0 == " " || $0 == "-" })
        var segments: [Double] = [0]
        for part in parts {
            guard let value = wordValues[String(part)] else { continue }
            if value < 100 {
                var top = segments.removeLast()
                if top >= 1000 {
                    segments.append(top)
                    top = 0
                }
                segments.append(top + value)
            } else {
                segments.append(segments.removeLast() * value)
            }
        }
        return segments.reduce(0, +)
    }
}
