import ArgumentParser
import Foundation

/// `--since` and `--until`: an ISO 8601 time (2026-11-23T10:00:00Z) or day (2026-11-23), or an age before now
/// (90s, 15m, 2h, 7d). Parsed when the arguments are, so that a misspelt time stops the command instead of
/// widening what it selects.
enum TimeArgument {
    static func parse(_ text: String) throws -> Date {
        guard let date = time(text, now: Date()) else {
            throw ValidationError("expected a time such as 2026-11-23T10:00:00Z or 2026-11-23, or an age such as 15m")
        }
        return date
    }

    static func time(_ text: String, now: Date) -> Date? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0 {
            return now.addingTimeInterval(-amount * unit)
        }
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return full.date(from: text) ?? plain.date(from: text) ?? day.date(from: text)
    }
}
