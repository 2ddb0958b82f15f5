@testable import JSONata
import JSONValue
import TestSupport
import Testing

/// `$match`, `$replace`, `$split` and `$contains` take a regex's matches in one pass over the text, each from where
/// the one before ended, as jsonata-js's `next()` takes them with JavaScript's `exec` and `lastIndex`: the text before
/// still counts for `^`, `\b` and lookbehind, and after the first an empty match is error `D1004`.
@Suite struct RegexMatchesTests {
    func evaluate(_ source: String) -> String {
        do { return try JSONataExpression(source).evaluate(nil).map { $0.serialized() } ?? "(undefined)" } catch {
            return error.code
        }
    }

    @Test func matchesAreJavaScriptsExecFromLastIndex() {
        #expect(evaluate(#"$replace("aaa", /^a/, "b")"#) == #""baa""#)
        #expect(evaluate(#"$match("abab", /(?<=a)b/).index"#) == "[1,3]")
        #expect(evaluate(#"$replace("one two", /\bt/, "T")"#) == #""one Two""#)
        #expect(evaluate(#"$split("a1b22c", /[0-9]+/)"#) == #"["a","b","c"]"#)
        #expect(evaluate(#"$replace("a.b.c", /\./, "")"#) == #""abc""#)
        #expect(evaluate(#"$count($match("aaaa", /a/, 2))"#) == "2")
        #expect(evaluate(#"$count($match("aaaa", /a/, 2.5))"#) == "3")
        #expect(evaluate(#"$count($match("aaaa", /a/, 0))"#) == "0")
        // An empty match after the first never moves on; the first may be empty when nothing more is asked for.
        #expect(evaluate(#"$replace("abc", /x*/, "-")"#) == "D1004")
        #expect(evaluate(#"$replace("abc", /b*/, "-")"#) == "D1004")
        #expect(evaluate(#"$replace("abc", /x*/, "-", 1)"#) == #""-abc""#)
        #expect(evaluate(#"$replace("", /x*/, "-")"#) == #""-""#)
        #expect(evaluate(#"$contains("abc", /x*/)"#) == "true")
    }

    /// The one pass gives what taking the matches one `exec` at a time gives (`RegexMatcher.firstMatch` from the end of
    /// the one before), on generated texts and patterns with anchors, boundaries, lookbehind, groups and empty matches.
    @Test func onePassAgreesWithExecAtATime() throws {
        let patterns = ["a", "a+", "^a", "a$", "\\ba", "(?<=b)a", "(a)(b)?", "[ab]{2}", "b*", "a|$", "(?m)^b", "\\d+", "é"]
        var generator = SeededGenerator(seed: 42)
        var compared = 0
        for pattern in patterns {
            let matcher = try RegexMatcher(pattern: pattern, flags: "", position: 0)
            for _ in 0..<300 {
                let text = String((0..<generator.next(9)).map { _ in Array("ab 1\né")[generator.next(6)] })
                for limit in [nil, 1, 2] as [Int?] {
                    let onePass: String
                    do { onePass = "\(try matcher.matches(in: text, limit: limit, deadline: nil).map { [$0.start, $0.end] })" } catch {
                        onePass = error.code
                    }
                    #expect(onePass == Self.execAtATime(matcher, text, limit), "/\(pattern)/ over \(text.debugDescription), limit \(String(describing: limit))")
                    compared += 1
                }
            }
        }
        #expect(compared == 13 * 300 * 3)
    }

    /// jsonata-js's loop: the first match, then `next()` while the limit allows, an empty one after the first an error.
    static func execAtATime(_ matcher: RegexMatcher, _ text: String, _ limit: Int?) -> String {
        var results: [[Int]] = []
        func underLimit() -> Bool { limit.map { results.count < $0 } ?? true }
        do {
            let length = text.utf16.count
            var next = try matcher.firstMatch(in: text)
            while let match = next, underLimit() {
                results.append([match.start, match.end])
                guard match.end < length else { break }
                next = try matcher.firstMatch(in: text, from: match.end)
                if let following = next, following.start == following.end, underLimit() { return "D1004" }
            }
        } catch {
            return error.code
        }
        return "\(results)"
    }
}
