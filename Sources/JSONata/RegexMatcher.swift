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

    /// The first match at or after `offset` (UTF-16 units). ICU backtracks without bound (`/(.*a){25}$/` over
    /// thirty `a`s takes minutes), so the match reports its progress and is abandoned at `deadline` with `U1001`,
    /// the evaluation's own time limit.
    func firstMatch(in string: String, from offset: Int = 0, deadline: EvaluationDeadline? = nil) throws(JSONataError)
        -> Match?
    {
        let text = string as NSString
        guard offset <= text.length else { return nil }
        var found: NSTextCheckingResult?
        var timedOut = false
        // As JavaScript's `exec` from `lastIndex`: the text before `offset` still counts for `^`, `\b` and lookbehind.
        var options: NSRegularExpression.MatchingOptions = [.withTransparentBounds, .withoutAnchoringBounds]
        if deadline != nil { options.insert(.reportProgress) }
        expression.enumerateMatches(in: string, options: options,
                                    range: NSRange(location: offset, length: text.length - offset)) { result, _, stop in
            if let result {
                found = result
                stop.pointee = true
            } else if let deadline, deadline.passed {
                timedOut = true
                stop.pointee = true
            }
        }
        if timedOut {
            throw JSONataError(code: "U1001", message: "Expression evaluation timeout: the regular expression /\(source)/ ran past the time limit",
                               token: source)
        }
        guard let result = found else { return nil }
        return Self.match(result, string, text)
    }

    /// The matches JSONata's functions (`$match`, `$replace`, `$split`, `$contains`) take in turn, at most `limit`: the
    /// first, then each from where the one before ended, as jsonata-js's `next()` gives them, in one pass over the
    /// text. After the first, a match of nothing would never move on: it is error `D1004`.
    func matches(in string: String, limit: Int?, deadline: EvaluationDeadline?) throws(JSONataError) -> [Match] {
        let text = string as NSString
        let length = text.length
        var results: [Match] = []
        if let limit, limit <= 0 { return results }
        var failure: JSONataError?
        var options: NSRegularExpression.MatchingOptions = []
        if deadline != nil { options.insert(.reportProgress) }
        expression.enumerateMatches(in: string, options: options, range: NSRange(location: 0, length: length)) { result, _, stop in
            guard let result else {
                if let deadline, deadline.passed {
                    failure = JSONataError(code: "U1001", message: "Expression evaluation timeout: the regular expression /\(self.source)/ ran past the time limit",
                                           token: self.source)
                    stop.pointee = true
                }
                return
            }
            let match = Self.match(result, string, text)
            if !results.isEmpty, match.start == match.end {
                failure = JSONataError(code: "D1004", message: "Regular expression matches zero length string", token: self.source)
                stop.pointee = true
                return
            }
            results.append(match)
            let full = limit.map { results.count >= $0 } ?? false
            if full || match.end >= length {
                stop.pointee = true
            } else if match.start == match.end {
                // The next search would start where this empty match is, and find it again.
                failure = JSONataError(code: "D1004", message: "Regular expression matches zero length string", token: self.source)
                stop.pointee = true
            }
        }
        if let failure { throw failure }
        return results
    }

    private static func match(_ result: NSTextCheckingResult, _ string: String, _ text: NSString) -> Match {
        var groups: [String] = []
        if result.numberOfRanges > 1 {
            for index in 1..<result.numberOfRanges {
                let range = result.range(at: index)
                groups.append(range.location == NSNotFound ? "" : slice(string, range, text))
            }
        }
        return Match(match: slice(string, result.range, text), start: result.range.location,
                     end: result.range.location + result.range.length, groups: groups)
    }

    /// The text of `range` (UTF-16 units) of `string`, cut from the Swift string itself (an NSString substring was
    /// transcoded back from UTF-16); through `text` when the range does not fall between code points.
    static func slice(_ string: String, _ range: NSRange, _ text: NSString) -> String {
        let units = string.utf16
        let lower = units.index(units.startIndex, offsetBy: range.location)
        let upper = units.index(lower, offsetBy: range.length)
        guard lower.samePosition(in: string.unicodeScalars) != nil, upper.samePosition(in: string.unicodeScalars) != nil else {
            return text.substring(with: range)
        }
        return String(string.unicodeScalars[lower..<upper])
    }
}
