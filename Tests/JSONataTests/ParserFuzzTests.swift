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
        _ = try? expression.evaluate(["a": [1, 2, 3]], limits: .init(maximumDepth: 200, timeLimit: .seconds(2)))
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
