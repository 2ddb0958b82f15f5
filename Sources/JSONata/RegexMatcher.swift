import Foundation

/// A compiled regular expression literal (`/ab+c/i`) and the match objects it produces.
final class RegexMatcher: @unchecked Sendable {
    // Immutable after creation; NSRegularExpression is safe to share between threads.
    let expression: NSRegularExpression
    let source: String

    init(pattern: String, flags: String, position: Int) throws(JSONataError) {
        var options: NSRegularExpression.Options = []
        if flags.contains("i") { options.insert(.caseInsensitive) }
        if flags.contains("m") { options.insert(.anchorsMatchLines) }
        do {
            expression = try NSRegularExpression(pattern: pattern, options: options)
        } catch {
            throw JSONataError(code: "S0302", message: "Invalid regular expression: /\(pattern)/", position: position, token: pattern)
        }
        source = pattern
    }

    /// One match: the text, its start and end (in UTF-16 units, as JavaScript counts), and the groups.
    struct Match {
        var match: String
        var start: Int
        var end: Int
        var groups: [String]
    }

    /// The first match at or after `offset` (UTF-16 units).
    func firstMatch(in string: String, from offset: Int = 0) -> Match? {
        let text = string as NSString
        guard offset <= text.length,
            let result = expression.firstMatch(in: string, range: NSRange(location: offset, length: text.length - offset))
        else { return nil }
        var groups: [String] = []
        if result.numberOfRanges > 1 {
            for index in 1..<result.numberOfRanges {
                let range = result.range(at: index)
                groups.append(range.location == NSNotFound ? "" : text.substring(with: range))
            }
        }
        return Match(match: text.substring(with: result.range), start: result.range.location,
                     end: result.range.location + result.range.length, groups: groups)
    }
}
