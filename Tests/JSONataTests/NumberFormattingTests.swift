import Foundation
@testable import JSONata
import JSONValue
import TestSupport
import Testing

/// `$formatNumber` and `$round`, written for speed, keep jsonata-js's results, including its quirks, and no picture
/// crashes them.
@Suite struct NumberFormattingTests {
    static let fixture = TestPaths.packageRoot.appending(path: "Tests/JSONataTests/Fixtures/format-number-jsonata-js.json")

    /// 2,432 results of jsonata-js (128 generated pictures, 19 values each): grouping at irregular places, fewer
    /// digits than the picture's groups, grouped fractions, percent and per-mille, prefixes and suffixes.
    @Test func agreesWithJsonataJsOnGeneratedPictures() throws {
        let fixture = try JSONParser.parse(String(contentsOf: Self.fixture, encoding: .utf8))
        let values = try #require(fixture["values"]?.arrayValue)
        let results = try #require(fixture["results"]?.objectValue)
        #expect(results.count == 128)
        var compared = 0
        for (picture, expected) in results {
            let expression = try JSONataExpression(#"$map(values, function($v) { $formatNumber($v, picture) })"#)
            let got = try expression.evaluate(.object(["values": .array(values), "picture": .string(picture)]))
            #expect(got == expected, "picture \(picture)")
            compared += values.count
        }
        #expect(compared == 2_432)
    }

    /// The places jsonata-js takes from JavaScript's `slice`: a separator left of the text's start counts from its end,
    /// one past its end is appended, and the fraction's later separators are looked for in the integer part. These
    /// crashed the engine (an array insert out of range) before.
    @Test func separatorsOutsideTheDigitsAreWhereJsonataJsPutsThem() throws {
        func format(_ value: Double, _ picture: String) throws -> String? {
            try JSONataExpression(#"$formatNumber(v, p)"#).evaluate(.object(["v": .number(value), "p": .string(picture)]))?
                .stringValue
        }
        #expect(try format(1, "#,##0,00,0") == "00,0,,1")
        #expect(try format(12, "#,##0,00,0") == "00,1,,2")
        #expect(try format(12_345_678, "#,##0,00,0") == "12,345,67,8")
        #expect(try format(1, "#.#,#") == "1.0,")
        #expect(try format(1.5, "0.0,00,0") == "1.5,000")
        #expect(try format(1_234_567.891, "#,###,##0.000,0") == "1,234,567.891,,0")
        #expect(try format(-1, "#,##0,00,0") == "-00,0,,1")
        #expect(try format(1e-7, "0.0e0") == "1.0e-7")
        #expect(try format(1, ##"#,##0.00"##) == "1.00")
    }

    /// `$round` multiplies by a power of ten when that gives what moving the decimal point in the number's text gives,
    /// and moves the point otherwise: compared on 200,000 values of every magnitude, many of them a half at some place.
    @Test func roundingByScalingAgreesWithRoundingByText() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var scaled = 0
        for index in 0..<200_000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let precision = Int(state % 12) + 1
            let digits = Double(Int64(bitPattern: state >> 8) % 100_000_000)
            // Every fourth value ends in a 5 one place past the precision: the halfway cases.
            let value = index % 4 == 0
                ? (Foundation.floor(digits / 10) * 10 + 5) / pow(10, Double(precision + 1))
                : digits / pow(10, Double(Int(state >> 40) % 14))
            let byText = Library.roundByText(value, precision: precision)
            if let byScaling = Library.roundByScaling(value, precision: precision) {
                #expect(byScaling.bitPattern == byText.bitPattern, "\(value) at \(precision)")
                scaled += 1
            }
            #expect(Library.round(value, precision: precision).bitPattern == byText.bitPattern)
        }
        #expect(scaled > 50_000, "many values are rounded by scaling")
        #expect(Library.roundByScaling(1.005, precision: 2) == nil, "near halfway the text decides")
        #expect(Library.round(1.005, precision: 2) == 1)
        #expect(Library.round(-0.0001, precision: 2).sign == .plus)
    }
}
