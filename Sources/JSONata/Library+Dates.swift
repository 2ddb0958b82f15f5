import Foundation

extension Library {
    static let days = ["", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                         "November", "December"]

    static func defineDates(_ define: Define) {
        define("millis", "<:n>", 0) { evaluator, _, _, _ in .number(evaluator.timestamp) }
        define("now", "<s?s?:s>", 2) { evaluator, arguments, _, _ in
            .string(try formatDateTime(evaluator.timestamp, picture: string(arguments, 0), timezone: string(arguments, 1)))
        }
        define("fromMillis", "<n-s?s?:s>", 3) { _, arguments, _, _ in
            guard let millis = number(arguments, 0) else { return nil }
            return .string(try formatDateTime(millis, picture: string(arguments, 1), timezone: string(arguments, 2)))
        }
        define("toMillis", "<s-s?:n>", 2) { evaluator, arguments, _, _ in
            guard let timestamp = string(arguments, 0) else { return nil }
            if let picture = string(arguments, 1) {
                return try parseDateTime(timestamp, picture: picture, now: evaluator.timestamp).map(Value.number)
            }
            guard let millis = parseISO8601(timestamp) else {
                throw error("D3110", "The timestamp \(timestamp) cannot be parsed: it is not in ISO 8601 format")
            }
            return .number(millis)
        }
    }

    /// The ISO 8601 forms `$toMillis` accepts without a picture, compiled once.
    private static let iso8601 = try! RegexMatcher(
        pattern: #"^(\d{4})(?:-([01]\d))?(?:-([0-3]\d))?(?:T([0-2]\d):([0-5]\d)(?::([0-5]\d))?(\.\d+)?)?([+-][0-2]\d:?[0-5]\d|Z)?$"#,
        flags: "", position: 0)

    /// `Date.parse` of the ISO 8601 forms jsonata accepts.
    static func parseISO8601(_ text: String) -> Double? {
        // A fixed pattern without nested repetition: linear, so it needs no deadline.
        guard let match = try? iso8601.firstMatch(in: text) ?? nil else { return nil }
        // Every group of this pattern matches something when it takes part, so an empty one did not.
        func group(_ index: Int) -> String? {
            let value = match.groups[index - 1]
            return value.isEmpty ? nil : value
        }
        guard let year = Int(group(1) ?? "") else { return nil }
        let month = Int(group(2) ?? "1") ?? 1
        let day = Int(group(3) ?? "1") ?? 1
        let hour = Double(group(4) ?? "0") ?? 0
        let minute = Double(group(5) ?? "0") ?? 0
        let second = Double(group(6) ?? "0") ?? 0
        let fraction = group(7).flatMap { Double("0" + $0) } ?? 0
        var millis = CivilTime.utc(year, month - 1, day, hour, minute, second, (fraction * 1000).rounded(.down))
        if let zone = group(8), zone != "Z" {
            let digits = zone.dropFirst().filter(\.isNumber)
            let hours = Double(digits.prefix(2)) ?? 0
            let minutes = Double(digits.dropFirst(2)) ?? 0
            let offset = (hours * 60 + minutes) * 60_000
            millis += zone.hasPrefix("-") ? offset : -offset
        }
        return millis
    }

    /// The value of one picture component at `millis` (already shifted to the wanted timezone).
    static func component(_ millis: Double, _ component: Character) -> Value? {
        Self.component(millis, CivilTime.fields(millis), component)
    }

    /// `component(millis, component)` with the fields of `millis` worked out already.
    static func component(_ millis: Double, _ fields: CivilTime.Fields, _ component: Character) -> Value? {
        func startOfFirstWeek(_ year: Int, _ month: Int) -> Double {
            let first = CivilTime.utc(year, month)
            var weekday = CivilTime.fields(first).weekday
            if weekday == 0 { weekday = 7 }
            return weekday > 4 ? first + Double(8 - weekday) * CivilTime.millisInADay : first - Double(weekday - 1) * CivilTime.millisInADay
        }
        func deltaWeeks(_ start: Double, _ end: Double) -> Double { (end - start) / (CivilTime.millisInADay * 7) + 1 }
        func next(_ year: Int, _ month: Int) -> (Int, Int) { month == 11 ? (year + 1, 0) : (year, month + 1) }
        func previous(_ year: Int, _ month: Int) -> (Int, Int) { month == 0 ? (year - 1, 11) : (year, month - 1) }
        switch component {
        case "Y": return .number(Double(fields.year))
        case "M": return .number(Double(fields.month + 1))
        case "D": return .number(Double(fields.day))
        case "d":
            let today = CivilTime.utc(fields.year, fields.month, fields.day)
            return .number((today - CivilTime.utc(fields.year, 0)) / CivilTime.millisInADay + 1)
        case "F": return .number(Double(fields.weekday == 0 ? 7 : fields.weekday))
        case "W":
            let start = startOfFirstWeek(fields.year, 0)
            let today = CivilTime.utc(fields.year, fields.month, fields.day)
            var week = deltaWeeks(start, today)
            if week > 52 {
                if today >= startOfFirstWeek(fields.year + 1, 0) { week = 1 }
            } else if week < 1 {
                week = deltaWeeks(startOfFirstWeek(fields.year - 1, 0), today)
            }
            return .number(Foundation.floor(week))
        case "w":
            let start = startOfFirstWeek(fields.year, fields.month)
            let today = CivilTime.utc(fields.year, fields.month, fields.day)
            var week = deltaWeeks(start, today)
            if week > 4 {
                let (year, month) = next(fields.year, fields.month)
                if today >= startOfFirstWeek(year, month) { week = 1 }
            } else if week < 1 {
                let (year, month) = previous(fields.year, fields.month)
                week = deltaWeeks(startOfFirstWeek(year, month), today)
            }
            return .number(Foundation.floor(week))
        case "X":
            let start = startOfFirstWeek(fields.year, 0)
            let end = startOfFirstWeek(fields.year + 1, 0)
            if millis < start { return .number(Double(fields.year - 1)) }
            if millis >= end { return .number(Double(fields.year + 1)) }
            return .number(Double(fields.year))
        case "x":
            let start = startOfFirstWeek(fields.year, fields.month)
            let (nextYear, nextMonth) = next(fields.year, fields.month)
            let end = startOfFirstWeek(nextYear, nextMonth)
            if millis < start { return .number(Double(previous(fields.year, fields.month).1 + 1)) }
            if millis >= end { return .number(Double(nextMonth + 1)) }
            return .number(Double(fields.month + 1))
        case "H": return .number(Double(fields.hour))
        case "h":
            let hour = fields.hour % 12
            return .number(Double(hour == 0 ? 12 : hour))
        case "P": return .string(fields.hour >= 12 ? "pm" : "am")
        case "m": return .number(Double(fields.minute))
        case "s": return .number(Double(fields.second))
        case "f": return .number(Double(fields.millisecond))
        case "C", "E": return .string("ISO")
        default: return nil
        }
    }

    static func formatDateTime(_ millis: Double, picture: String?, timezone: String?) throws(JSONataError) -> String {
        guard Swift.abs(millis) <= 8.64e15 else {
            throw JSONataError(code: "D3110", message: "The timestamp \(millis) is out of the range of dates (±8.64e15 milliseconds)")
        }
        var offsetHours = 0
        var offsetMinutes = 0
        if let timezone, let offset = Int(timezone.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "+", with: "")) {
            offsetHours = offset / 100
            offsetMinutes = offset % 100
        }
        let spec = try picture.map { (text) throws(JSONataError) in try DateTimePicture.cached(text) } ?? DateTimePicture.iso8601
        let shifted = millis + Double(60 * offsetHours + offsetMinutes) * 60_000
        let fields = CivilTime.fields(shifted)
        var result = ""
        for part in spec.parts {
            switch part {
            case .literal(let text):
                result += text
            case .marker(let marker):
                result += try formatComponent(shifted, fields, marker, offsetHours: offsetHours, offsetMinutes: offsetMinutes)
            }
        }
        return result
    }

    private static func formatComponent(_ millis: Double, _ fields: CivilTime.Fields, _ marker: DateTimePicture.Marker,
                                        offsetHours: Int, offsetMinutes: Int) throws(JSONataError) -> String
    {
        let value = component(millis, fields, marker.component)
        if marker.numeric {
            guard case .number(var number)? = value else { return "" }
            if marker.component == "Y", marker.yearDigits != -1 {
                number = number.truncatingRemainder(dividingBy: pow(10, Double(marker.yearDigits)))
            }
            if let names = marker.names {
                var name: String
                if marker.component == "M" || marker.component == "x" {
                    name = months[Int(number) - 1]
                } else if marker.component == "F" {
                    name = days[Int(number)]
                } else {
                    throw JSONataError(code: "D3133", message: "The 'name' modifier can only be applied to months and days in the date/time picture string, not \(marker.component)")
                }
                if names == .upper { name = name.uppercased() } else if names == .lower { name = name.lowercased() }
                if let maximum = marker.widthMax, name.count > maximum { name = String(name.prefix(maximum)) }
                return name
            }
            return try marker.integerFormat?.format(number) ?? ""
        }
        switch marker.component {
        case "f":
            guard case .number(let number)? = value else { return "" }
            return try marker.integerFormat?.format(number) ?? ""
        case "Z", "z":
            let offset = offsetHours * 100 + offsetMinutes
            guard let format = marker.integerFormat else { return "" }
            var text: String
            if format.regular != nil {
                text = try format.format(Double(offset))
            } else {
                switch format.mandatoryDigits {
                case 1, 2:
                    text = try format.format(Double(offsetHours))
                    if offsetMinutes != 0 { text += ":" + (try IntegerPicture.cached("00").format(Double(offsetMinutes))) }
                case 3, 4:
                    text = try format.format(Double(offset))
                default:
                    throw JSONataError(code: "D3134", message: "The timezone integer format specifier cannot have more than four digits")
                }
            }
            if offset >= 0 { text = "+" + text }
            if marker.component == "z" { text = "GMT" + text }
            if offset == 0, marker.presentation2 == "t" { text = "Z" }
            return text
        case "P":
            guard case .string(let text)? = value else { return "" }
            return marker.names == .upper ? text.uppercased() : text
        default:
            if case .string(let text)? = value { return text }
            return ""
        }
    }
}
