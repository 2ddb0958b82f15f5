import Foundation
import JSONata
import JSONValue
import TestSupport
import Testing

/// Mutated expressions from the conformance suite: compiling and evaluating them must never crash
/// or hang, and every compile error carries a position.
@Suite struct ParserFuzzTests {
    static func suiteExpressions() throws -> [String] {
        let groups = TestPaths.shared.appending(path: "conformance/jsonata/suite/groups")
        var expressions: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: groups.path)
        while let file = enumerator?.nextObject() as? String {
            guard file.hasSuffix(".json"), let data = FileManager.default.contents(atPath: groups.appending(path: file).path),
                let value = try? JSONParser.parse(bytes: data)
            else { continue }
            for item in value.arrayValue ?? [value] {
                if let expression = item["expr"]?.stringValue { expressions.append(expression) }
            }
        }
        return expressions.sorted()
    }

    static let fragments = ["(", ")", "[", "]", "{", "}", "$", ".", "..", "~>", "?", ":", "'", "\"", "/", "*", "**", "%",
                            "@", "#", "^(", "|", "&", "function($x){", "<s-:s>", ",", ";", "\\", "`", "0", "-", "$$"]

    /// Numbers an author could write that are far out of range: each gives a result or an error, never a trap.
    @Test(arguments: [
        "a[1e300]", "a[-1e300]", "$substring('abc', 1e300)", "$substring('abc', 0, -1e300)", "$round(1.5, 1e300)",
        "[1e300..1e300]", "$formatBase(1e300, 2)", "$fromMillis(1e300)", "$split('a,b', ',', 1e300)",
        "$formatInteger(1e300, 'w')", "$formatInteger(1e300, 'I')", "$formatInteger(1e300, 'a')", "$pad('x', 1e300)",
        "$pad('x', -1e300)", "$formatNumber(1e300, '#,##0.00')", "$formatInteger(-1e300, '0')", "$string(1e300)",
        "$sum([1e308, 1e308])", "$power(10, 400)", "$toMillis('99999-99-99')", "$parseInteger('١٢', '0')",
    ])
    func hostileNumbersAreHandled(source: String) throws {
        let expression = try JSONataExpression(source)
        let result: JSON?
        do {
            result = try expression.evaluate(["a": [1, 2, 3]], limits: .init(maximumDepth: 200, timeLimit: .seconds(2)))
        } catch {
            // An error is one of the language's coded errors, with a message.
            #expect(error.code.count == 5 && error.code.first!.isUppercase && !error.message.isEmpty, "\(source): \(error)")
            return
        }
        // A result is a JSON value that prints and reads back as itself (no infinity, no NaN).
        if let result {
            #expect(try JSONParser.parse(result.serialized()) == result, "\(source) gave \(result.serialized())")
        }
    }

    /// Nesting far past any real expression is refused by the parser with a located error: every walk of the tree
    /// recurses per level, and 10,000 levels overflowed the stack (the engine crashed on a saved connector).
    @Test(arguments: [
        (String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000), 151, 150),
        (String(repeating: "[", count: 50_000), 151, 150),
        (String(repeating: "-", count: 20_000) + "1", 151, 150),
        ("$f(" + String(repeating: "{'a':", count: 5_000) + "1" + String(repeating: "}", count: 5_000) + ")", 747, 150),
        (Array(repeating: "1", count: 30_000).joined(separator: "+"), 599, 300),
        (Array(repeating: "a", count: 30_000).joined(separator: "."), 599, 300),
        (String(repeating: "[", count: 140) + Array(repeating: "'a'", count: 200).joined(separator: "&"), 779, 300),
    ])
    func deepNestingIsALocatedError(source: String, position: Int, limit: Int) throws {
        let error = try #require(throws: JSONataError.self) { try JSONataExpression(source) }
        #expect(error.code == "U1001")
        #expect(error.message == "The expression nests more than \(limit) levels deep", "\(error)")
        #expect(error.position == position, "\(error)")
    }

    /// Nesting within the bounds compiles and evaluates (and evaluation keeps its own depth limit).
    @Test func nestingWithinTheBoundsCompiles() throws {
        let parentheses = String(repeating: "(", count: 149) + "1" + String(repeating: ")", count: 149)
        #expect(try JSONataExpression(parentheses).evaluate(nil) == 1)
        let chain = Array(repeating: "1", count: 299).joined(separator: "+")
        #expect(try JSONataExpression(chain).evaluate(nil) == 299)
        let error = try #require(throws: JSONataError.self) {
            try JSONataExpression(parentheses).evaluate(nil, limits: .init(maximumDepth: 100, timeLimit: .seconds(5)))
        }
        #expect(error.code == "U1001" && error.message.contains("Stack overflow"))
    }

    /// A regular expression that backtracks catastrophically is abandoned at the evaluation's time limit
    /// (it ran for minutes), in every function that matches.
    @Test(.timeLimit(.minutes(10)), arguments: [
        "$match(s, /(.*a){25}$/)", "$contains(s, /(.*a){25}$/)", "$replace(s, /(.*a){25}$/, 'x')",
        "$split(s, /(.*a){25}$/)", "/(.*a){25}$/(s)",
    ])
    func catastrophicRegexHitsTheTimeLimit(source: String) throws {
        let input: JSON = ["s": .string(String(repeating: "a", count: 30) + "!")]
        let error = try #require(throws: JSONataError.self) {
            try JSONataExpression(source).evaluate(input, limits: .init(maximumDepth: 200, timeLimit: .milliseconds(200)))
        }
        #expect(error.code == "U1001")
        #expect(error.message.contains("regular expression /(.*a){25}$/ ran past the time limit"), "\(error)")
    }

    @Test func mutatedSuiteExpressionsNeverCrashOrHang() throws {
        let expressions = try Self.suiteExpressions()
        try #require(expressions.count > 1000, "the JSONata suite is expected beside the checkout")
        var generator = SeededGenerator(seed: 42)
        let input: JSON = ["a": [1, 2, ["b": "c"]], "n": 3, "s": "text"]
        var compiled = 0
        var unlocated: [String] = []
        let rounds = 20_000
        for round in 0..<rounds {
            var characters = Array(expressions[round % expressions.count])
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let position = characters.isEmpty ? 0 : Int.random(in: 0...characters.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: characters.insert(contentsOf: Self.fragments.randomElement(using: &generator)!, at: position)
                case 1: if position < characters.count { characters.remove(at: position) }
                default: characters = Array(characters.prefix(position))
                }
            }
            let source = String(characters)
            do {
                let expression = try JSONataExpression(source)
                compiled += 1
                _ = try? expression.evaluate(input, limits: .init(maximumDepth: 200, timeLimit: .milliseconds(100)))
            } catch {
                if error.position == nil { unlocated.append("\(source): \(error)") }
            }
        }
        print("JSONata parser fuzz: \(rounds) mutated expressions, \(compiled) compiled, \(rounds - compiled) located errors")
        #expect(unlocated.isEmpty, "\(unlocated.prefix(5))")
    }
}
