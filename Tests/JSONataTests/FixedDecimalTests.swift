import Foundation
@testable import JSONata
import Testing

/// `fixedDecimal` prints numbers as `String(format: "%.Nf")` / `"%.Ne"` do, through C's printf without a va_list and
/// through integers for whole numbers: compared on values of every magnitude, halves, negative zero and the edges.
@Suite struct FixedDecimalTests {
    @Test func printsAsPrintfDoes() {
        var values: [Double] = [0, -0.0, 0.5, 1.5, 2.5, -2.5, 1.005, 0.125, 1e15 + 0.5, 9_007_199_254_740_991, 9_007_199_254_740_993,
                                1e21, 1e300, -1e-300, .pi, 123_456.789, 4.35, 0.1 + 0.2]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for _ in 0..<2_000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let magnitude = pow(10, Double(Int(state % 40)) - 20)
            values.append(Double(Int64(bitPattern: state) % 1_000_000) / 1_000 * magnitude)
        }
        for value in values {
            for places in [0, 1, 2, 5, 14, 20] {
                #expect(fixedDecimal(value, places: places) == String(format: "%.\(places)f", value), "\(value) places \(places)")
            }
            #expect(fixedDecimal(value, places: 14, exponent: true) == String(format: "%.14e", value), "\(value) exponent")
        }
    }
}
