import Foundation
import ManifoldDelivery
import Testing

/// Times in the engine's JSON are written by arithmetic: the same text as Foundation's ISO 8601 formatter (UTC,
/// milliseconds) for any time from 1601 to 2399.
@Suite struct JobJSONTimeTests {
    @Test func timesReadAsFoundationsISO8601() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        #expect(JobJSON.time(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(JobJSON.time(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
        #expect(JobJSON.time(Date(timeIntervalSince1970: -0.001)) == "1969-12-31T23:59:59.999Z")
        #expect(JobJSON.time(Date(timeIntervalSince1970: 1_795_854_000.123)) == "2026-11-28T08:20:00.123Z")
        // Times between milliseconds: to the nearest, as the formatter writes them.
        for seconds in [0.0004, 0.0006, 0.9996, 1.9999, -0.0004, -0.0006, 1_795_854_000.1234, 1_795_854_000.1236] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(JobJSON.time(date) == formatter.string(from: date), "\(seconds)")
        }
        var state: UInt64 = 20
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Whole milliseconds from 1601 to 2399.
            let milliseconds = Int64(state >> 11) % 25_228_800_000_000 - 11_644_473_600_000
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let text = JobJSON.time(date)
            #expect(text == formatter.string(from: date), "\(milliseconds)")
            #expect(text.count == 24 && text.hasSuffix("Z"))
        }
    }
}
