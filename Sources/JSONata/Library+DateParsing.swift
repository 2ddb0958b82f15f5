import Foundation

extension Library {
    /// A regex and a parser for one part of a date/time picture.
    private struct Matcher {
        var regex: String
        var component: Character?
        var parse: ((String) -> Double?)?
    }

    private static func integerMatcher(_ format: IntegerPicture, digits: Int) throws(JSONataError) -> Matcher {
        let upper = format.letterCase == .upper
        switch format.primary {
        case .letters:
            return Matcher(regex: upper ? "[A-Z]+" : "[a-z]+") { try? format.parse($0) ?? nil }
        case .roman:
            return Matcher(regex: upper ? "[MDCLXVI]+" : "[mdclxvi]+") { try? format.parse($0) ?? nil }
        case .words:
            let words = IntegerPicture.wordValues.keys.sorted { $0.count > $1.count } + ["and", "[\\-, ]"]
            return Matcher(regex: "(?:" + words.joined(separator: "|") + ")+") { try? format.parse($0) ?? nil }
        case .decimal:
            var occurrences = "+"
            if digits > 0 {
                occurrences = format.optionalDigits == 0 ? "{\(digits)}" : "{\(digits - format.optionalDigits),\(digits)}"
            }
            var regex = "[0-9]\(occurrences)"
            if format.ordinal { regex += "(?:th|st|nd|rd)" }
            return Matcher(regex: regex) { try? format.parse($0) ?? nil }
        case .sequence:
            throw JSONataError(code: "D3130", message: "Formatting or parsing an integer as a sequence starting with \(format.token) is not supported by this implementation")
        }
    }

    static func parseDateTime(_ timestamp: String, picture: String, now: Double) throws(JSONataError) -> Double? {
        let spec = try DateTimePicture.cached(picture)
        var matchers: [Matcher] = []
        for part in spec.parts {
            switch part {
            case .literal(let text):
                matchers.append(Matcher(regex: NSRegularExpression.escapedPattern(for: text)))
            case .marker(let marker):
                var matcher: Matcher
                if marker.component == "Z" || marker.component == "z" {
                    let separator = marker.integerFormat?.regular?.character
                    var regex = marker.component == "z" ? "GMT" : ""
                    regex += "[-+][0-9]+"
                    if let separator { regex += NSRegularExpression.escapedPattern(for: String(separator)) + "[0-9]+" }
                    let isGMT = marker.component == "z"
                    matcher = Matcher(regex: regex) { text in
                        var value = Substring(text)
                        if isGMT { value = value.dropFirst(3) }
                        var hours = 0.0, minutes = 0.0
                        if let separator, let index = value.firstIndex(of: separator) {
                            hours = Double(value[..<index]) ?? 0
                            minutes = Double(value[value.index(after: index)...]) ?? 0
                        } else if value.count - 1 <= 2 {
                            hours = Double(value) ?? 0
                        } else {
                            hours = Double(value.prefix(3)) ?? 0
                            minutes = Double(value.dropFirst(3)) ?? 0
                        }
                        return hours * 60 + minutes
                    }
                } else if let format = marker.integerFormat {
                    matcher = try integerMatcher(format, digits: marker.component == "Y" ? marker.yearDigits : -1)
                } else {
                    var lookup: [String: Double] = [:]
                    if marker.component == "M" || marker.component == "x" {
                        for (index, name) in months.enumerated() {
                            lookup[(marker.widthMax.map { String(name.prefix($0)) } ?? name).lowercased()] = Double(index + 1)
                        }
                    } else if marker.component == "F" {
                        for (index, name) in days.enumerated() where index > 0 {
                            lookup[(marker.widthMax.map { String(name.prefix($0)) } ?? name).lowercased()] = Double(index)
                        }
                    } else if marker.component == "P" {
                        lookup = ["am": 0, "pm": 1]
                    } else {
                        throw JSONataError(code: "D3133", message: "The 'name' modifier can only be applied to months and days in the date/time picture string, not \(marker.component)")
                    }
                    matcher = Matcher(regex: "[a-zA-Z]+") { lookup[$0.lowercased()] }
                }
                matcher.component = marker.component
                matchers.append(matcher)
            }
        }
        let pattern = "^" + matchers.map { "(\($0.regex))" }.joined() + "$"
        guard let regex = try? NSRegularExpression(pattern: pattern, options: .caseInsensitive),
            let match = regex.firstMatch(in: timestamp, range: NSRange(timestamp.startIndex..., in: timestamp))
        else { return nil }
        var components: [Character: Double] = [:]
        for (index, matcher) in matchers.enumerated() {
            guard let component = matcher.component, let parse = matcher.parse else { continue }
            let range = match.range(at: index + 1)
            guard range.location != NSNotFound else { continue }
            if let value = parse((timestamp as NSString).substring(with: range)) { components[component] = value }
        }
        if components.isEmpty { return nil }

        func mask(_ order: String) -> Int {
            order.reduce(0) { ($0 << 1) + (components[$1] != nil ? 1 : 0) }
        }
        func isType(_ type: Int, _ mask: Int) -> Bool { (~type & mask) == 0 && (type & mask) != 0 }
        let dateMask = mask("YXMxWwdD")
        let dateA = isType(161, dateMask)
        let dateB = !dateA && isType(130, dateMask)
        let dateC = isType(84, dateMask)
        let dateD = !dateC && isType(72, dateMask)
        let timeMask = mask("PHhmsf")
        let timeA = isType(23, timeMask)
        let timeB = !timeA && isType(47, timeMask)
        let dateComponents = dateB ? "YD" : dateC ? "XxwF" : dateD ? "XWF" : "YMD"
        let timeComponents = timeB ? "Phmsf" : "Hmsf"
        var startSpecified = false
        var endSpecified = false
        for part in dateComponents + timeComponents {
            if components[part] == nil {
                if startSpecified {
                    components[part] = "MDd".contains(part) ? 1 : 0
                    endSpecified = true
                } else {
                    components[part] = component(now, part)?.numberValue ?? 0
                }
            } else {
                startSpecified = true
                if endSpecified {
                    throw JSONataError(code: "D3136", message: "The date/time picture string is missing specifiers required to parse the timestamp")
                }
            }
        }
        var month = (components["M"] ?? 0) > 0 ? Int(components["M"]!) - 1 : 0
        var day = Int(components["D"] ?? 1)
        let year = Int(components["Y"] ?? 1970)
        if dateB {
            let derived = CivilTime.fields(CivilTime.utc(year, 0) + ((components["d"] ?? 1) - 1) * CivilTime.millisInADay)
            month = derived.month
            day = derived.day
        }
        if dateC || dateD {
            throw JSONataError(code: "D3136", message: "The date/time picture string is missing specifiers required to parse the timestamp")
        }
        var hour = components["H"] ?? 0
        if timeB {
            let twelve = components["h"] ?? 0
            hour = twelve == 12 ? 0 : twelve
            if components["P"] == 1 { hour += 12 }
        }
        var millis = CivilTime.utc(year, month, day, hour, components["m"] ?? 0, components["s"] ?? 0, components["f"] ?? 0)
        if let offset = components["Z"] ?? components["z"] {
            millis -= offset * 60_000
        }
        return millis
    }
}
