public import JSONValue

/// A five-field cron expression (minute, hour, day of month, month, day of week), read in UTC.
///
/// Each field is `*`, a number, a range `a-b`, a list `a,b`, and any of those with a step `/n`. Day of week is
/// 0–7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are restricted a day matching either runs.
public struct CronSchedule: Sendable, Hashable {
    public let text: String
    let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>
    let daysRestricted: Bool, weekdaysRestricted: Bool

    /// Why a cron expression cannot be read.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(Invalid) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw Invalid(description: "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not \(fields.count)")
        }
        self.text = fields.joined(separator: " ")
        minutes = try Self.field(fields[0], "minute", 0...59)
        hours = try Self.field(fields[1], "hour", 0...23)
        days = try Self.field(fields[2], "day of month", 1...31)
        months = try Self.field(fields[3], "month", 1...12)
        weekdays = Set(try Self.field(fields[4], "day of week", 0...7).map { $0 % 7 })
        daysRestricted = fields[2] != "*"
        weekdaysRestricted = fields[4] != "*"
    }

    private static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>) throws(Invalid) -> Set<Int> {
        var values: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw Invalid(description: "the \(name) field '\(text)' has two steps") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else {
                    throw Invalid(description: "the \(name) field '\(text)' has a step that is not a positive number")
                }
                step = parsed
            }
            let base = pieces[0]
            var low = range.lowerBound, high = range.upperBound
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(bounds.count), let first = Int(bounds[0]), let last = Int(bounds.last!) else {
                    throw Invalid(description: "the \(name) field '\(text)' is not a number, range or list")
                }
                low = first
                high = bounds.count == 2 ? last : (pieces.count == 2 ? range.upperBound : first)
            }
            guard range.contains(low), range.contains(high), low <= high else {
                throw Invalid(description: "the \(name) field '\(text)' is outside \(range.lowerBound)-\(range.upperBound)")
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    /// The first time strictly after `seconds` (Unix seconds, UTC) at which it runs, in Unix seconds.
    public func next(after seconds: Int64) -> Int64 {
        // Minute by minute would do; hour and day skips keep it fast for sparse schedules (a weekly one).
        var minute = (seconds / 60) + 1
        for _ in 0..<(60 * 24 * 366 * 5) {
            let civil = CivilTime(unixMinutes: minute)
            if !months.contains(civil.month) {
                minute = CivilTime.firstMinuteOfNextMonth(civil)
                continue
            }
            if !dayMatches(civil) {
                minute += Int64(24 * 60 - civil.hour * 60 - civil.minute)
                continue
            }
            if !hours.contains(civil.hour) {
                minute += Int64(60 - civil.minute)
                continue
            }
            if minutes.contains(civil.minute) { return minute * 60 }
            minute += 1
        }
        return Int64.max
    }

    private func dayMatches(_ civil: CivilTime) -> Bool {
        let day = days.contains(civil.day), weekday = weekdays.contains(civil.weekday)
        if daysRestricted && weekdaysRestricted { return day || weekday }
        return day && weekday
    }
}

/// A UTC date and time from Unix minutes (proleptic Gregorian calendar).
struct CivilTime {
    var year: Int, month: Int, day: Int, hour: Int, minute: Int, weekday: Int

    init(unixMinutes: Int64) {
        let days = Int(unixMinutes >= 0 ? unixMinutes / 1440 : (unixMinutes - 1439) / 1440)
        let inDay = Int(unixMinutes - Int64(days) * 1440)
        hour = inDay / 60
        minute = inDay % 60
        weekday = ((days % 7) + 11) % 7   // 1970-01-01 was a Thursday (4)
        (year, month, day) = CivilDate.from(daysSince1970: days)
    }

    /// Days since 1970-01-01 of a civil date (days_from_civil).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func firstMinuteOfNextMonth(_ civil: CivilTime) -> Int64 {
        let (year, month) = civil.month == 12 ? (civil.year + 1, 1) : (civil.year, civil.month + 1)
        return Int64(days(year: year, month: month, day: 1)) * 1440
    }
}

extension PollCursor {
    /// A datetime cursor value in Unix milliseconds: a number in `format` (`unix` seconds or `unix_ms`), or text in
    /// ISO 8601 (`2024-05-01`, `2024-05-01T10:00:00Z`, with fractions or an offset); `nil` when it is neither.
    public static func milliseconds(of value: JSON, format: Format) -> Int64? {
        switch value {
        case .number(let number):
            guard number.isFinite, abs(number) < 1e15 else { return nil }
            return format == .unixMilliseconds ? Int64(number) : Int64((number * 1000).rounded())
        case .string(let text):
            if let number = Double(text), format != .iso8601 { return milliseconds(of: .number(number), format: format) }
            return isoMilliseconds(text)
        default:
            return nil
        }
    }

    /// `milliseconds` written as the format writes it: ISO 8601 in UTC (`2024-05-01T10:00:00Z`, milliseconds when
    /// there are some), Unix seconds or Unix milliseconds.
    public static func written(_ milliseconds: Int64, format: Format) -> JSON {
        switch format {
        case .unix: return .number(Double(milliseconds / 1000))
        case .unixMilliseconds: return .number(Double(milliseconds))
        case .iso8601:
            let minutes = milliseconds >= 0 ? milliseconds / 60000 : (milliseconds - 59999) / 60000
            let civil = CivilTime(unixMinutes: minutes)
            let rest = milliseconds - minutes * 60000
            func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
            var text = "\(civil.year)-\(two(civil.month))-\(two(civil.day))T\(two(civil.hour)):\(two(civil.minute)):\(two(Int(rest / 1000)))"
            if rest % 1000 != 0 {
                let fraction = String(rest % 1000)
                text += "." + String(repeating: "0", count: 3 - fraction.count) + fraction
            }
            return .string(text + "Z")
        }
    }

    static func isoMilliseconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<(from + count)] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), bytes.count >= 10, bytes[4] == 45, let month = number(5, 2), bytes[7] == 45,
              let day = number(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var milliseconds = Int64(CivilTime.days(year: year, month: month, day: day)) * 86_400_000
        if bytes.count == 10 { return milliseconds }
        guard bytes[10] == 84 || bytes[10] == 116 || bytes[10] == 32, let hour = number(11, 2), bytes.count >= 16, bytes[13] == 58,
              let minute = number(14, 2), hour < 24, minute < 60
        else { return nil }
        var index = 16
        var second = 0
        if index < bytes.count, bytes[index] == 58 {
            guard let parsed = number(17, 2), parsed < 61 else { return nil }
            second = parsed
            index = 19
        }
        milliseconds += Int64(hour * 3_600_000 + minute * 60000 + second * 1000)
        if index < bytes.count, bytes[index] == 46 || bytes[index] == 44 {
            index += 1
            var digits = 0, fraction = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 3 { fraction = fraction * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<3 where digits < 3 { fraction *= 10 }
            milliseconds += Int64(fraction)
        }
        if index == bytes.count { return milliseconds }   // no zone: read as UTC
        if bytes[index] == 90 || bytes[index] == 122 { return index + 1 == bytes.count ? milliseconds : nil }
        guard bytes[index] == 43 || bytes[index] == 45, let offsetHours = number(index + 1, 2) else { return nil }
        var offsetMinutes = 0
        if index + 3 < bytes.count {
            let at = bytes[index + 3] == 58 ? index + 4 : index + 3
            guard let parsed = number(at, 2), at + 2 == bytes.count else { return nil }
            offsetMinutes = parsed
        } else if index + 3 != bytes.count {
            return nil
        }
        let offset = Int64(offsetHours * 60 + offsetMinutes) * 60000
        return bytes[index] == 43 ? milliseconds - offset : milliseconds + offset
    }
}
