import Foundation
import JSONValue
import TestSupport
import Testing

@Suite struct JSONParserTests {
    @Test func keepsKeyOrderAndTypes() throws {
        let value = try JSONParser.parse(#"{"z": 1, "a": [true, null, "x\u00e9\n"], "m": -2.5e3}"#)
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(value["a"] == [true, nil, "xé\n"])
        #expect(value["m"] == .number(-2500))
        #expect(value.serialized() == #"{"z":1,"a":[true,null,"xé\n"],"m":-2500}"#)
    }

    /// Keys are the same only when their code points are, as in JSON and JavaScript: a composed "é" and an "e" with a
    /// combining accent are two members, in small objects (searched key by key) and large ones (through an index).
    /// Before, Swift's canonical equivalence made them one, and parsing kept only the last value.
    @Test(arguments: [0, 30])
    func canonicallyEquivalentKeysAreDistinct(others: Int) throws {
        let filler = (0..<others).map { #""k\#($0)": \#($0), "# }.joined()
        let value = try JSONParser.parse("{" + filler + #""caf\u00e9": 1, "cafe\u0301": 2}"#)
        let object = try #require(value.objectValue)
        #expect(object.count == others + 2)
        #expect(object["caf\u{E9}"] == 1)
        #expect(object["cafe\u{301}"] == 2)
        #expect(object["cafe"] == nil)
        var changed = object
        changed["cafe\u{301}"] = 3
        #expect(changed["caf\u{E9}"] == 1 && changed["cafe\u{301}"] == 3 && changed.count == others + 2)
        changed["caf\u{E9}"] = nil
        #expect(changed["cafe\u{301}"] == 3 && changed.count == others + 1)
        #expect(value.serialized().hasSuffix(#""café":1,"café":2}"#))
        // A key that is one code point canonically equivalent to an ASCII character is a member of its own too.
        let kelvin = try JSONParser.parse("{" + filler + #""K": 1, "\u212a": 2}"#)
        #expect(kelvin.objectValue?.count == others + 2)
        #expect(kelvin["\u{212A}"] == 2)
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == "😀")
    }

    /// Strings are decoded whole when they have no escape and gathered as UTF-8 around escapes: every mix of plain
    /// runs (ASCII and multi-byte), escapes, pairs and lone surrogates gives the text it spells.
    @Test func decodesRunsAroundEscapes() throws {
        let cases: [(String, String)] = [
            (#""plain""#, "plain"), (#""""#, ""), (#""é中😀""#, "é中😀"),
            (#""a\"b""#, "a\"b"), (#""\\\/\b\f\n\r\t""#, "\\/\u{08}\u{0C}\n\r\t"),
            (#""中\n文""#, "中\n文"), (#""\u00e9x\u4e2d""#, "éx中"), (#""😀\ud83d\ude00😀""#, "😀😀😀"),
            (#""a\ud83db""#, "a\u{FFFD}b"), (#""\ud83d\u0041""#, "\u{FFFD}A"), (#""end\\""#, "end\\"),
        ]
        for (text, expected) in cases {
            #expect(try JSONParser.parse(text) == .string(expected), "\(text)")
            #expect(try JSONParser.parse("{" + text + ": 1}").objectValue?.keys == [expected], "\(text) as a key")
        }
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(#""a\x""#) }
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse("\"a\u{01}\"") }
    }

    /// Strings are written as runs of UTF-8 between the characters that need escaping: every mix of plain runs
    /// (ASCII, multi-byte, a combining mark right after a quote), quotes, backslashes and control characters is
    /// written as a scalar-by-scalar writer would and reads back as itself.
    @Test func writesRunsAroundEscapes() throws {
        func reference(_ string: String) -> String {
            var out = "\""
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case "\u{00}"..."\u{1F}":
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let pieces = ["a", "plain text", "é", "中文", "😀", "\u{301}", "\"", "\\", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{00}",
                      "\u{1F}", "\u{7F}", "/", ""]
        var generator = SeededGenerator(seed: 23)
        for _ in 0..<3_000 {
            let text = (0..<Int(generator.next() % 8)).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined()
            var written = ""
            JSON.writeQuoted(text, to: &written)
            #expect(written == reference(text), "\(text.debugDescription)")
            #expect(try JSONParser.parse(written) == .string(text), "\(text.debugDescription)")
        }
    }

    @Test(arguments: [
        ("{\"a\": }", 1, 7, "unexpected character, expected a value"),
        ("[1,\n 2,,]", 2, 4, "unexpected character, expected a value"),
        ("\"abc", 1, 1, "unterminated string"),
        ("01", 1, 1, "leading zeros are not allowed"),
        ("{} x", 1, 4, "unexpected text after the JSON value"),
        ("tru", 1, 1, "invalid literal, expected 'true'"),
    ])
    func reportsLocatedErrors(text: String, line: Int, column: Int, message: String) throws {
        let error = try #require(throws: JSONParser.Error.self) { try JSONParser.parse(text) }
        #expect(error.description == "\(line):\(column): \(message)")
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 10_000)
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(deep) }
    }

    @Test func formatsNumbersLikeJavaScript() {
        #expect(JSON.format(number: 10) == "10")
        #expect(JSON.format(number: 0.5) == "0.5")
        #expect(JSON.format(number: 1e-7) == "1e-7")
        #expect(JSON.format(number: 1e21) == "1e+21")
        #expect(JSON.format(number: -0.0) == "0")
        #expect(JSON.format(number: 0.000001) == "0.000001")
        #expect(JSON.format(number: 1e20) == "100000000000000000000")
        #expect(JSON.format(number: 123.456) == "123.456")
        #expect(JSON.format(number: -1.5e-9) == "-1.5e-9")
        #expect(JSON.format(number: 2.5e25) == "2.5e+25")
        #expect(JSON.format(number: 1 / 3) == "0.3333333333333333")
    }

    @Test func pointersEscapeAndResolve() throws {
        let value: JSON = ["a/b": ["c~d": [10, 20]]]
        let pointer = JSONPointer(tokens: ["a/b", "c~d", "1"])
        #expect(pointer.description == "/a~1b/c~0d/1")
        #expect(JSONPointer(pointer.description) == pointer)
        #expect(value[pointer: pointer] == 20)
        #expect(JSONPointer(tokens: ["routes", "0", "call"]).dotted == "routes[0].call")
    }
}

@Suite struct JSONSizeTests {
    /// `fits(within:)` estimates the JSON text's size and stops as soon as it passes the limit.
    @Test func fitsEstimatesTheTextsSize() throws {
        let small = try JSONParser.parse(#"{"id": "evt_1", "items": [1, 2, {"name": "x"}]}"#)
        #expect(small.fits(within: 200))
        #expect(!small.fits(within: 20))
        let large = JSON.array(Array(repeating: .string(String(repeating: "x", count: 1000)), count: 100))
        #expect(!large.fits(within: 64 * 1024))
        #expect(large.fits(within: 120_000))
        #expect(JSON.string("").fits(within: 2) && !JSON.string("abc").fits(within: 4))
    }
}

/// An object's members live in one shared box (a copy costs one retain): each copy must still be a value of its own.
@Suite struct JSONObjectValueTests {
    @Test func aChangedCopyLeavesTheOriginalAsItWas() throws {
        let original = try JSONParser.parse(#"{"a": 1, "b": {"c": [1, 2]}}"#).objectValue!
        var copy = original
        copy["a"] = .number(2)
        copy["d"] = .string("new")
        copy["b"] = nil
        #expect(original["a"] == .number(1))
        #expect(original["d"] == nil)
        #expect(original.keys == ["a", "b"])
        #expect(copy.keys == ["a", "d"])
        #expect(copy["a"] == .number(2))
        // A copy of a copy, changed after the first copy changed, shares nothing either.
        var third = copy
        third["a"] = nil
        #expect(copy["a"] == .number(2))
        #expect(third.keys == ["d"])
    }

    @Test func objectsInsideArraysAreValuesToo() throws {
        let document = try JSONParser.parse(#"[{"k": "v"}]"#)
        guard case .array(var items) = document, case .object(var inner) = items[0] else {
            Issue.record("not an array of objects"); return
        }
        inner["k"] = .string("changed")
        items[0] = .object(inner)
        #expect(document == (try JSONParser.parse(#"[{"k": "v"}]"#)))
        #expect(JSON.array(items) == (try JSONParser.parse(#"[{"k": "changed"}]"#)))
    }

    @Test func manyMembersKeepTheirIndexAcrossCopies() {
        var object = JSONObject()
        for index in 0..<40 { object["key\(index)"] = .number(Double(index)) }
        let snapshot = object
        object["key3"] = nil
        object["late"] = .bool(true)
        #expect(snapshot.count == 40)
        #expect(snapshot["key3"] == .number(3))
        #expect(snapshot["late"] == nil)
        #expect(object.count == 40)
        #expect(object["key3"] == nil)
        #expect(object["key39"] == .number(39))
        #expect(object["late"] == .bool(true))
    }

    /// A parsed object is the object its members make assigned one by one: a repeated key keeps its first place and
    /// takes the last value, keys are the same when their code points are, and every key (and every canonically
    /// equivalent one) is found as it would be there. Generated objects of 0 to 40 members from keys that repeat, are
    /// long, escaped, composed or decomposed, on both sides of the size where objects keep an index.
    @Test func parsedObjectsAreTheObjectsTheirMembersMake() throws {
        let pool = ["a", "b", "type", "K", "\u{212A}", "caf\u{E9}", "cafe\u{301}", "中文", "😀", "a key longer than fifteen bytes",
                    "quote\"d", "tab\there", "x"] + (0..<24).map { "k\($0)" }
        var generator = SeededGenerator(seed: 24)
        func text(of key: String) -> String {
            // Some keys written with \u escapes for every character, so that escaped keys repeat plain ones.
            if Bool.random(using: &generator) {
                return "\"" + key.utf16.map { String(format: "\\u%04x", $0) }.joined() + "\""
            }
            return JSON.string(key).serialized()
        }
        for round in 0..<3_000 {
            let count = Int.random(in: 0...40, using: &generator)
            let members = (0..<count).map { index in (pool.randomElement(using: &generator)!, JSON.number(Double(index))) }
            let source = "{" + members.map { text(of: $0.0) + ": " + $0.1.serialized() }.joined(separator: ", ") + "}"
            let parsed = try #require(try JSONParser.parse(source).objectValue, "\(source)")
            let built = JSONObject(members)
            #expect(parsed.keys == built.keys, "round \(round): \(source)")
            #expect(parsed == built, "round \(round): \(source)")
            for key in pool + ["cafe", "k", "missing"] {
                #expect(parsed[key] == built[key], "round \(round): \(key.debugDescription) in \(source)")
            }
            var changed = parsed
            changed["caf\u{E9}"] = .bool(true)
            var expected = built
            expected["caf\u{E9}"] = .bool(true)
            #expect(changed.keys == expected.keys && changed["cafe\u{301}"] == expected["cafe\u{301}"], "round \(round)")
        }
    }

    /// Every number is the double `strtod` reads from its text, to the bit (the sign of a zero too): the parser reads
    /// most numbers itself (digits gathered, one exact multiplication or division) and leaves the rest to
    /// `Double(String)`. Generated texts on both sides of each bound of that shortcut: 19 digits, 2^53, 10^22.
    @Test func numbersAreTheDoublesStrtodReads() throws {
        var generator = SeededGenerator(seed: 53)
        func digits(_ count: Int) -> String {
            String((0..<count).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) })
        }
        var texts = ["0", "-0", "0.0", "-0.0", "0e5", "-0e-5", "1e22", "1e23", "1e-22", "1e-23", "9007199254740992",
                     "9007199254740993", "-9007199254740993", "9007199254740992.5", "18014398509481985", "4503599627370497.5",
                     "1e400", "-1e400", "1e-400", "123456789012345678901234567890", "0.1", "0.2", "0.3", "1.7976931348623157e308",
                     "5e-324", "2.2250738585072014e-308", "1E+2", "1e+00002", "1.5e0000000000000000000001",
                     "0.00000000000000000000000000000000000001", "100000000000000000000000", "7.0e-10", "8.3e21"]
        for _ in 0..<20_000 {
            var text = Bool.random(using: &generator) ? "-" : ""
            let integer = Int.random(in: 1...22, using: &generator)
            text += Int.random(in: 0...5, using: &generator) == 0 ? "0" : String(Int.random(in: 1...9, using: &generator)) + digits(integer - 1)
            if Bool.random(using: &generator) { text += "." + digits(Int.random(in: 1...22, using: &generator)) }
            if Int.random(in: 0...2, using: &generator) == 0 {
                text += ["e", "E"].randomElement(using: &generator)! + ["", "+", "-"].randomElement(using: &generator)!
                text += String(Int.random(in: 0...30, using: &generator))
            }
            texts.append(text)
        }
        for text in texts {
            let expected = try #require(Double(text), "\(text)")
            let parsed = try JSONParser.parse(text)
            guard case .number(let value) = parsed else {
                Issue.record("\(text) gave \(parsed)")
                continue
            }
            #expect(value.bitPattern == expected.bitPattern, "\(text): \(value) instead of \(expected)")
            // The same inside a document, where what follows the number ends it.
            #expect(try JSONParser.parse("[" + text + ",\n" + text + "]") == .array([.number(expected), .number(expected)]), "\(text)")
        }
    }

    /// Generated documents (objects and arrays nested, some far larger than the parser's first buffers, strings with
    /// escapes and characters of every width, numbers, literals) read back as the values they were written from,
    /// whatever the whitespace, and whether the bytes come as a string, an array, a slice, `Data` or a collection with
    /// no contiguous storage.
    @Test func documentsReadBackAsTheyWereWritten() throws {
        var generator = SeededGenerator(seed: 8259)
        let words = ["", "a", "id", "type", "caf\u{E9}", "cafe\u{301}", "中文", "😀", "quote\"d", "back\\slash", "tab\t", "line\n",
                     "\u{1}", "a string longer than fifteen bytes", "\u{212A}", "K"]
        var budget = 0
        func value(_ depth: Int) -> JSON {
            budget -= 1
            switch Int.random(in: 0...(depth > 3 || budget < 0 ? 4 : 7), using: &generator) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &generator))
            case 2: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &generator)) / [1, 10, 1000].randomElement(using: &generator)!)
            case 3, 4: return .string(words.randomElement(using: &generator)! + String(Int.random(in: 0...99, using: &generator)))
            case 5:
                let count = Int.random(in: 0...(Bool.random(using: &generator) ? 4 : 150), using: &generator)
                return .array((0..<count).map { _ in value(depth + 1) })
            default:
                let count = Int.random(in: 0...(Bool.random(using: &generator) ? 5 : 80), using: &generator)
                var object = JSONObject()
                for index in 0..<count { object[words.randomElement(using: &generator)! + String(index)] = value(depth + 1) }
                return .object(object)
            }
        }
        func spaced(_ text: String) -> String {
            // Whitespace between tokens: after each comma, colon and bracket outside strings.
            var result = "", inString = false, escaped = false
            for character in text {
                result.append(character)
                if inString {
                    if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                } else if character == "\"" {
                    inString = true
                } else if ",:[{".contains(character), Int.random(in: 0...2, using: &generator) == 0 {
                    result += [" ", "\n", "\t", "\r\n  "].randomElement(using: &generator)!
                }
            }
            return result
        }
        for round in 0..<200 {
            budget = 1_500
            let document = value(0)
            let text = spaced(document.serialized())
            let bytes = Array(text.utf8)
            #expect(try JSONParser.parse(text) == document, "round \(round)")
            #expect(try JSONParser.parse(bytes: bytes) == document, "round \(round)")
            #expect(try JSONParser.parse(bytes: Data(bytes)) == document, "round \(round)")
            #expect(try JSONParser.parse(bytes: ([0x20, 0x20] + bytes)[2...]) == document, "round \(round)")
            if round % 10 == 0 {
                #expect(try JSONParser.parse(bytes: bytes.lazy.map { $0 }) == document, "round \(round)")
            }
        }
    }

    /// A document cut short anywhere is refused with an error inside the text, never a value and never a crash
    /// (the parser's buffers hold the members it had gathered when it stops).
    @Test func everyDocumentCutShortIsRefused() throws {
        let text = #"{"a": [1, 2.5, {"b": "x\u00e9y", "c": [true, false, null, [], {}]}, "long string past fifteen"], "d": -1e3, "e": {"f": "g"}}"#
        let bytes = Array(text.utf8)
        _ = try JSONParser.parse(bytes: bytes)
        for length in 0..<bytes.count {
            let error = try #require(throws: JSONParser.Error.self, "cut at \(length)") { try JSONParser.parse(bytes: bytes[..<length]) }
            #expect(error.offset <= length, "cut at \(length): \(error)")
        }
    }
}
