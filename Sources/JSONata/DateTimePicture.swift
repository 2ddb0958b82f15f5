import Foundation
import JSONValue

/// `$fromMillis`/`$toMillis` pictures (XPath F&O 9.8), as jsonata-js implements them.
struct DateTimePicture {
    enum Names { case upper, lower, title }

    struct Marker {
        var component: Character
        var presentation1 = ""
        var presentation2: Character?
        var names: Names?
        var widthMin: Int?
        var widthMax: Int?
        var integerFormat: IntegerPicture?
        var yearDigits = -1
        /// Whether the component is a number written with `integerFormat` or a name (all but `f`, `Z`, `z`, `P`, `C`
        /// and `E`, which are written their own ways).
        var numeric = false
    }

    enum Part {
        case literal(String)
        indirect case marker(Marker)
    }

    let parts: [Part]

    static let defaultPresentation: [Character: String] = [
        "Y": "1", "M": "1", "D": "1", "d": "1", "F": "n", "W": "1", "w": "1", "X": "1", "x": "1", "H": "1", "h": "1",
        "P": "n", "m": "01", "s": "01", "f": "1", "Z": "01:01", "z": "01:01", "C": "n", "E": "n",
    ]

    static let iso8601 = try! DateTimePicture("[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]")

    init(_ picture: String) throws(JSONataError) {
        var parts: [Part] = []
        let characters = Array(picture)
        func addLiteral(_ start: Int, _ end: Int) {
            guard end > start else { return }
            parts.append(.literal(String(characters[start..<end]).replacingOccurrences(of: "]]", with: "]")))
        }
        var start = 0
        var position = 0
        while position < characters.count {
            if characters[position] == "[" {
                if position + 1 < characters.count, characters[position + 1] == "[" {
                    addLiteral(start, position)
                    parts.append(.literal("["))
                    position += 2
                    start = position
                    continue
                }
                addLiteral(start, position)
                start = position
                guard let close = characters[start...].firstIndex(of: "]") else {
                    throw JSONataError(code: "D3135", message: "No matching closing bracket ']' in date/time picture string")
                }
                position = close
                let marker = String(characters[(start + 1)..<close]).filter { !$0.isWhitespace }
                parts.append(.marker(try Self.marker(marker)))
                start = position + 1
            }
            position += 1
        }
        addLiteral(start, characters.count)
        self.parts = parts
    }

    private static func marker(_ text: String) throws(JSONataError) -> Marker {
        guard let component = text.first else {
            throw JSONataError(code: "D3132", message: "Unknown component specifier in date/time picture string")
        }
        var marker = Marker(component: component)
        marker.numeric = "YMDdFWwXxHhms".contains(component)
        var presentation: Substring
        if let comma = text.lastIndex(of: ",") {
            let width = text[text.index(after: comma)...]
            func parseWidth(_ text: Substring?) -> Int? {
                guard let text, text != "*" else { return nil }
                return Int(text)
            }
            if let dash = width.firstIndex(of: "-") {
                marker.widthMin = parseWidth(width[..<dash])
                marker.widthMax = parseWidth(width[width.index(after: dash)...])
            } else {
                marker.widthMin = parseWidth(width)
            }
            let afterComponent = text.index(after: text.startIndex)
            presentation = comma > afterComponent ? text[afterComponent..<comma] : ""
        } else {
            presentation = text.dropFirst()
        }
        if presentation.count == 1 {
            marker.presentation1 = String(presentation)
        } else if presentation.count > 1 {
            let last = presentation.last!
            if "atco".contains(last) {
                marker.presentation2 = last
                marker.presentation1 = String(presentation.dropLast())
            } else {
                marker.presentation1 = String(presentation)
            }
        } else {
            guard let value = defaultPresentation[component] else {
                throw JSONataError(code: "D3132", message: "Unknown component specifier \(component) in date/time picture string")
            }
            marker.presentation1 = value
        }
        if marker.presentation1.hasPrefix("n") {
            marker.names = .lower
        } else if marker.presentation1.hasPrefix("N") {
            marker.names = marker.presentation1.dropFirst().hasPrefix("n") ? .title : .upper
        } else if "YMDdFWwXxHhmsf".contains(component) {
            var pattern = marker.presentation1
            if let second = marker.presentation2 { pattern += ";" + String(second) }
            var format = try IntegerPicture(pattern)
            if let minimum = marker.widthMin, format.mandatoryDigits < minimum { format.mandatoryDigits = minimum }
            if component == "Y" {
                if let maximum = marker.widthMax {
                    marker.yearDigits = maximum
                    format.mandatoryDigits = maximum
                } else {
                    let width = format.mandatoryDigits + format.optionalDigits
                    if width >= 2 { marker.yearDigits = width }
                }
            }
            marker.integerFormat = format
        }
        if component == "Z" || component == "z" {
            marker.integerFormat = try IntegerPicture(marker.presentation1)
        }
        return marker
    }
}

/// Calendar arithmetic on epoch milliseconds in UTC, as JavaScript's `Date` does.
enum CivilTime {
    static let millisInADay = 86_400_000.0

    /// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day may overflow).
    static func days(year: Int, month: Int, day: Int) -> Int {
        var year = year + Int(Foundation.floor(Double(month - 1) / 12))
        let month = ((month - 1) % 12 + 12) % 12 + 1
        year -= month <= 2 ? 1 : 0
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468 + (day - 1)
    }

    /// `Date.UTC(year, monthIndex, ...)`.
    static func utc(_ year: Int, _ monthIndex: Int, _ day: Int = 1, _ hour: Double = 0, _ minute: Double = 0,
                    _ second: Double = 0, _ millisecond: Double = 0) -> Double
    {
        Double(days(year: year, month: monthIndex + 1, day: day)) * millisInADay
            + ((hour * 60 + minute) * 60 + second) * 1000 + millisecond
    }

    struct Fields {
        var year: Int, month: Int, day: Int, weekday: Int, hour: Int, minute: Int, second: Int, millisecond: Int
    }

    /// The UTC fields of an epoch time (month 0-11, weekday 0 = Sunday, as in JavaScript).
    static func fields(_ millis: Double) -> Fields {
        let days = Int(Foundation.floor(millis / millisInADay))
        let remainder = Int(millis - Double(days) * millisInADay)
        let (year, month, day) = CivilDate.from(daysSince1970: days)
        return Fields(year: year, month: month - 1, day: day, weekday: ((days % 7) + 11) % 7,
                      hour: remainder / 3_600_000, minute: remainder / 60000 % 60, second: remainder / 1000 % 60,
                      millisecond: remainder % 1000)
    }
}
