import Foundation

extension Library {
    /// The matches of a regex or a custom matcher function over `text`, in order, up to `limit`,
    /// following jsonata-js: a zero-length match after the first would never progress (`D1004`).
    static func matches(_ matcher: Value?, in text: String, limit: Double?, function: String, evaluator: Evaluator,
                        environment: Frame) throws(JSONataError) -> [RegexMatcher.Match]
    {
        guard case .function(let value)? = matcher else { return [] }
        var results: [RegexMatcher.Match] = []
        func underLimit() -> Bool { limit.map { Double(results.count) < $0 } ?? true }
        if case .regex(let regex) = value.body {
            return try regex.matches(in: text, limit: limit.map { !($0 >= 1) ? 0 : Int(Swift.min($0.rounded(.up), 1e9)) },
                                     deadline: evaluator.deadline)
        }
        var result = try evaluator.apply(matcher, [.string(text)], nil, environment)
        while let current = result, underLimit() {
            guard case .object(let object) = current, case .string(let matched)? = object["match"],
                case .number(let start)? = object["start"], case .number(let end)? = object["end"]
            else {
                throw JSONataError(code: "T1010", message: "The matcher function argument passed to function \(function) does not return the correct object structure")
            }
            let groups = (object["groups"]?.arrayValue?.items ?? []).compactMap(\.stringValue)
            results.append(RegexMatcher.Match(match: matched, start: Int(start), end: Int(end), groups: groups))
            guard let next = object["next"], next.isFunction else { break }
            result = try evaluator.apply(next, [], nil, environment)
        }
        return results
    }
}
