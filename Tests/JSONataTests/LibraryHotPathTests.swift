import JSONata
import JSONValue
import Testing

/// The library functions rewritten for speed keep their exact results: `$trim` and `$number` without regexes,
/// pictures parsed once and reused, numbers printed through C's printf, regex literals compiled with the expression.
@Suite struct LibraryHotPathTests {
    func evaluate(_ source: String, _ input: JSON? = nil) throws -> String {
        try JSONataExpression(source).evaluate(input).map { $0.serialized() } ?? "(undefined)"
    }

    /// `$contains` compares code points literally, as JavaScript's `indexOf` does: a decomposed accent is a letter and a
    /// combining mark, and a composed one is neither.
    @Test func containsComparesCodePointsLiterally() throws {
        #expect(try evaluate(#"$contains("cafe\u0301", "e")"#) == "true")
        #expect(try evaluate(#"$contains("café", "e")"#) == "false")
        #expect(try evaluate(#"$contains("café", "e\u0301")"#) == "false")
        #expect(try evaluate(#"$contains("a😀b", "😀b")"#) == "true")
        #expect(try evaluate(#"$contains("abc", "")"#) == "true")
        #expect(try evaluate(#"$contains("abcabd", "abd")"#) == "true")
        #expect(try evaluate(#"$contains("ab", "abc")"#) == "false")
        // $split, $replace and $substringBefore search the same way.
        #expect(try evaluate(#"$split("cafe\u0301x", "é")"#) == #"["cafe\#u{301}x"]"#)
        #expect(try evaluate(#"$split("a,b,,c,", ",")"#) == #"["a","b","","c",""]"#)
        #expect(try evaluate(#"$split("a,b,c", ",", 2)"#) == #"["a","b"]"#)
        #expect(try evaluate(#"$replace("cafe\u0301", "é", "X")"#) == "\"cafe\u{301}\"")
        #expect(try evaluate(#"$replace("café", "e\u0301", "X")"#) == #""café""#)
        #expect(try evaluate(#"$replace("aXbXc", "X", "-", 1)"#) == #""a-bXc""#)
        #expect(try evaluate(#"$substringBefore("cafe\u0301", "é")"#) == "\"cafe\u{301}\"")
    }

    /// `$substring` counts code points: ASCII text is sliced by its bytes, other text by its scalars; both the same way.
    @Test func substringCountsCodePointsInAnyText() throws {
        let cases: [(String, String, String)] = [
            ("abcdef", "1, 3", "bcd"), ("abcdef", "-2", "ef"), ("abcdef", "-3, 2", "de"), ("abcdef", "4, 10", "ef"),
            ("abcdef", "10", ""), ("abcdef", "-10, 2", "ab"), ("abcdef", "2, 0", ""), ("abcdef", "2, -1", ""),
            ("a😀bçd", "1, 3", "😀bç"), ("a😀bçd", "-2", "çd"), ("a😀bçd", "-4, 2", "😀b"), ("", "0, 1", ""),
        ]
        for (text, arguments, expected) in cases {
            #expect(try evaluate(#"$substring("\#(text)", \#(arguments))"#) == #""\#(expected)""#, "\(text) \(arguments)")
        }
    }

    /// Object constructors whose keys are distinct literals are built without comparing keys: order, undefined members,
    /// many members (past the index threshold) and a repeated key all behave as before.
    @Test func objectsWithLiteralKeys() throws {
        let input = try JSONParser.parse(#"{"a": 1, "b": [1, 2]}"#)
        #expect(try evaluate(#"{"z": a, "y": missing, "x": b, "w": null}"#, input) == #"{"z":1,"x":[1,2],"w":null}"#)
        let many = (1...40).map { #""k\#($0)": \#($0)"# }.joined(separator: ", ")
        #expect(try evaluate("{\(many)}.k33") == "33")
        #expect(try evaluate("$keys({\(many)})[-1]") == #""k40""#)
        #expect(try evaluate("{\(many)} ~> |$|{'k2': 0}|") .contains(#""k2":0"#))
        #expect(throws: JSONataError.self) { try evaluate(#"{"a": 1, "a": 2}"#) }
        // Keys computed from the input still go the general way, and still clash with a literal one.
        #expect(try evaluate(#"{"k" & a: 1, "k2": 2}"#, input) == #"{"k1":1,"k2":2}"#)
        #expect(throws: JSONataError.self) { try evaluate(#"{"k" & a: 1, "k1": 2}"#, input) }
    }

    @Test func trimCollapsesEveryRunOfWhitespace() throws {
        #expect(try evaluate(#"$trim("  a \t\n b  ")"#) == #""a b""#)
        #expect(try evaluate(#"$trim(" \r x\ty ")"#) == #""x y""#)
        #expect(try evaluate(#"$trim("")"#) == #""""#)
        #expect(try evaluate(#"$trim(" \n ")"#) == #""""#)
        #expect(try evaluate(#"$trim("naïve  café")"#) == #""naïve café""#)
    }

    @Test func numberAcceptsDecimalTextOnly() throws {
        for (text, expected) in [("12", "12"), ("-1.5e3", "-1500"), ("1E+2", "100"), ("0.25", "0.25"), ("0x1F", "31"), ("0b101", "5")] {
            #expect(try evaluate(#"$number("\#(text)")"#) == expected, "\(text)")
        }
        for text in ["1.", ".5", "--1", "1e", " 1", "1 ", "+1", "1e+", "", "١٢"] {
            #expect(throws: JSONataError.self, "\(text) is not a number") { try evaluate(#"$number("\#(text)")"#) }
        }
    }

    @Test func picturesGiveTheSameTextEachTime() throws {
        for _ in 0..<3 {
            #expect(try evaluate("$formatNumber(1234.5678, \"#,##0.00\")") == "\"1,234.57\"")
            #expect(try evaluate("$formatNumber(0.125, \"0.00\")") == "\"0.12\"")  // half to even, as printf
            #expect(try evaluate("$formatInteger(1234, \"#,##0\")") == "\"1,234\"")
            #expect(try evaluate(#"$fromMillis(1730000000000, "[Y0001]-[M01]-[D01] [H01]:[m01]")"#) == #""2024-10-27 03:33""#)
            #expect(try evaluate(#"$toMillis("2024-10-27", "[Y0001]-[M01]-[D01]")"#) == "1729987200000")
            #expect(try evaluate("$string(0.1 + 0.2)") == #""0.3""#)
            // Negative numbers take the compiled picture's negative half; a decimal format of the caller's is its own.
            #expect(try evaluate("$formatNumber(-1234.5, \"#,##0.00\")") == "\"-1,234.50\"")
            #expect(try evaluate("$formatNumber(-2.5, \"0.0;(0.0)\")") == "\"(2.5)\"")
            #expect(try evaluate(##"$formatNumber(1234.5, "#.##0,00", {"decimal-separator": ",", "grouping-separator": "."})"##)
                        == "\"1.234,50\"")
            #expect(try evaluate("$formatNumber(0.256, \"0%\")") == "\"26%\"")
            // $round moves the decimal point in the number's text, as jsonata-js: exact where * 100 is not.
            #expect(try evaluate("$round(1.005, 2)") == "1")
            #expect(try evaluate("$round(2.675, 2)") == "2.68")
            #expect(try evaluate("$round(123.456, -1)") == "120")
            #expect(try evaluate("$round(0.0000001234, 9)") == "1.23e-7")
            #expect(try evaluate("$round(12345678901234567890, 2)") == "12345678901234567000")
            // A bad picture is an error every time, not only the first.
            #expect(throws: JSONataError.self) { try evaluate("$formatNumber(1, \"#.#.#\")") }
            #expect(throws: JSONataError.self) { try evaluate(#"$fromMillis(0, "[Y0001")"#) }
        }
    }

    @Test func aRegexLiteralIsCompiledWithTheExpression() throws {
        #expect(throws: JSONataError.self) { try JSONataExpression("$match('a', /(unclosed/)") }
        #expect(try evaluate(#"$match("ab12cd345", /[0-9]+/).match"#) == #"["12","345"]"#)
        #expect(try evaluate("$replace(\"a1b22\", /[0-9]+/, \"#\")") == "\"a#b#\"")
        #expect(try evaluate(#"$split("a, b,c", /,\s*/)"#) == #"["a","b","c"]"#)
    }
}
