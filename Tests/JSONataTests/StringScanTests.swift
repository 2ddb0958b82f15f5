@testable import JSONata
import Testing

/// `find` (behind `$contains`, `$split`, `$replace`, `$substringBefore/After`) and `$trim` scan UTF-8 bytes; they give
/// what a scan of code points gives, on generated text that mixes ASCII, accents (composed and decomposed), other
/// scripts, emoji and the whitespace `$trim` collapses.
@Suite struct StringScanTests {
    static let alphabet: [String] = ["a", "b", " ", "  ", "\t", "\n", "\r", "é", "e\u{301}", "\u{301}", "ß", "日", "本", "😀", "👍🏽",
                                     ",", ", ", "x"]

    static func next(_ state: inout UInt64, below bound: Int) -> Int {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Int(state % UInt64(bound))
    }

    /// Up to `maximum` pieces of `alphabet`.
    static func generated(_ state: inout UInt64, maximum: Int) -> String {
        var text = ""
        for _ in 0..<next(&state, below: maximum + 1) { text += alphabet[next(&state, below: alphabet.count)] }
        return text
    }

    /// The first match code point by code point, as `find` was written before.
    static func scalarFind(_ needle: String, in text: Substring) -> Range<String.Index>? {
        let target = Array(needle.unicodeScalars)
        guard let first = target.first else { return text.startIndex..<text.startIndex }
        let scalars = text.unicodeScalars
        var index = scalars.startIndex
        while index != scalars.endIndex {
            if scalars[index] == first {
                var cursor = index
                var matched = 0
                while matched < target.count, cursor != scalars.endIndex, scalars[cursor] == target[matched] {
                    matched += 1
                    cursor = scalars.index(after: cursor)
                }
                if matched == target.count { return index..<cursor }
            }
            index = scalars.index(after: index)
        }
        return nil
    }

    /// `$trim` as jsonata-js writes it: `/[ \t\n\r]+/g` replaced by one space, then a space at either end removed.
    static func scalarTrim(_ text: String) -> String {
        var result = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if [" ", "\t", "\n", "\r"].contains(scalar) {
                pendingSpace = true
            } else {
                if pendingSpace, !result.isEmpty { result.append(" ") }
                pendingSpace = false
                result.append(scalar)
            }
        }
        return String(result)
    }

    @Test func findAgreesWithAScanOfCodePoints() {
        var state: UInt64 = 0xD1B5_4A32_D192_ED03
        var found = 0
        for _ in 0..<20_000 {
            let text = Self.generated(&state, maximum: 12)
            var needle = ""
            while needle.isEmpty { needle = Self.generated(&state, maximum: 3) }
            // Searched from a place inside the text too, as `$split` and `$replace` search the rest.
            let offset = Self.next(&state, below: text.unicodeScalars.count + 1)
            let rest = text[text.unicodeScalars.index(text.unicodeScalars.startIndex, offsetBy: offset)...]
            let byBytes = Library.find(needle, in: rest)
            #expect(byBytes == Self.scalarFind(needle, in: rest), "\(needle.debugDescription) in \(rest.debugDescription)")
            if byBytes != nil { found += 1 }
        }
        #expect(found > 1_000, "the generated needles are often found")
        // A decomposed accent is a letter and a combining mark; a composed one is neither.
        #expect(Library.find("e", in: "cafe\u{301}") != nil)
        #expect(Library.find("é", in: "cafe\u{301}") == nil)
        #expect(Library.find("\u{301}", in: "café") == nil)
    }

    @Test func trimAgreesWithJsonataJsRule() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<20_000 {
            let text = Self.generated(&state, maximum: 10)
            #expect(Library.collapsingWhitespace(text) == Self.scalarTrim(text), "\(text.debugDescription)")
        }
        #expect(Library.collapsingWhitespace("  a \t\n b  ") == "a b")
        #expect(Library.collapsingWhitespace("a b") == "a b")
        #expect(Library.collapsingWhitespace(" ") == "")
    }
}

/// Strings are ordered as JavaScript orders them (UTF-16 code units), from their UTF-8 bytes, and equal only when their
/// code points are: Swift's `==` takes canonically equivalent text for equal, which jsonata-js does not.
@Suite struct StringOrderTests {
    @Test(arguments: [true, false])
    func equalityComparesCodePoints(plan: Bool) throws {
        func evaluate(_ source: String) throws -> String {
            var expression = try JSONataExpression(source)
            expression.usesPlan = plan
            return try expression.evaluate(.object(["nfc": .string("caf\u{E9}"), "nfd": .string("cafe\u{301}")]))?.serialized()
                ?? "(undefined)"
        }
        #expect(try evaluate("nfc = nfd") == "false")
        #expect(try evaluate("nfc != nfd") == "true")
        #expect(try evaluate("nfc = nfc & ''") == "true")
        #expect(try evaluate("nfc in [nfd]") == "false")
        #expect(try evaluate("$count($distinct([nfc, nfd, nfc]))") == "2")
        #expect(try evaluate("[nfc, nfd][$ = $$.nfd] = nfd") == "true")
        // Ordered by code units: "e" (65) before "é" (E9), whichever side starts.
        #expect(try evaluate("[nfc, nfd]^($)[0] = nfd") == "true")
        #expect(try evaluate("$sort([nfc, nfd])[0] = nfd") == "true")
        #expect(try evaluate("nfd < nfc") == "true")
        // Keys too: an object may have both, and grouping keeps them apart.
        #expect(try evaluate("$count($keys({nfc: 1, nfd: 2}))") == "2")
        #expect(try evaluate("$lookup({nfc: 1, nfd: 2}, nfd)") == "2")
        #expect(try evaluate("$count($keys([{nfc: 1}, {nfd: 2}, {nfc: 3}]))") == "2")
        #expect(try evaluate("$count($keys([{'k': nfc}, {'k': nfd}, {'k': nfc}]{k: $count($)}))") == "2")
    }

    /// Code points on both sides of the places where UTF-8 and UTF-16 orders part: below and inside the surrogates'
    /// range, U+E000 to U+FFFF, and past U+FFFF.
    static let alphabet: [String] = ["a", "b", "Z", "é", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{F8FF}", "\u{FFFD}", "\u{FFFF}",
                                     "\u{10000}", "😀", "\u{10FFFF}", ""]

    @Test func agreesWithUTF16CodeUnitOrder() {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var swappedPairs = 0
        for _ in 0..<30_000 {
            var pieces: [String] = []
            for _ in 0..<2 {
                var text = ""
                for _ in 0..<StringScanTests.next(&state, below: 4) { text += Self.alphabet[StringScanTests.next(&state, below: Self.alphabet.count)] }
                pieces.append(text)
            }
            let (a, b) = (pieces[0], pieces[1])
            let expected = a.utf16.lexicographicallyPrecedes(b.utf16)
            #expect(Evaluator.precedesInUTF16(a, b) == expected, "\(a.debugDescription) < \(b.debugDescription)")
            if expected != a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { swappedPairs += 1 }
        }
        #expect(swappedPairs > 100, "the pairs where code point order and UTF-16 order part are many")
        #expect(Evaluator.precedesInUTF16("😀", "\u{FFFD}"))
        #expect(!Evaluator.precedesInUTF16("\u{FFFD}", "😀"))
        #expect(Evaluator.precedesInUTF16("ab", "abc") && !Evaluator.precedesInUTF16("abc", "ab") && !Evaluator.precedesInUTF16("ab", "ab"))
    }
}
