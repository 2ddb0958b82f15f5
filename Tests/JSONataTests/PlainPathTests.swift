@testable import JSONata
import JSONValue
import TestSupport
import Testing

/// Paths of plain names (`a.b.c`) are walked over the input directly, through arrays too, without the general
/// walk's sequences. Both walks must give the same result for every document and path: compared here on
/// thousands of generated documents (objects, arrays of objects and of scalars, arrays in arrays, one-item arrays,
/// nulls, missing keys) and every path of up to four names.
@Suite struct PlainPathTests {
    /// Documents are drawn from `SeededGenerator` (SplitMix64), so that a failure names a seed that reproduces it.
    static let names = ["a", "b", "c"]

    static func document(_ generator: inout SeededGenerator, depth: Int) -> JSON {
        let choice = depth >= 4 ? generator.next(4) : generator.next(9)
        switch choice {
        case 0: return .number(Double(generator.next(100)))
        case 1: return .string("s\(generator.next(10))")
        case 2: return .null
        case 3: return .bool(generator.next(2) == 0)
        case 4, 5, 6:
            var object = JSONObject()
            for name in names where generator.next(3) != 0 {
                object[name] = document(&generator, depth: depth + 1)
            }
            return .object(object)
        default:
            // Arrays of zero to three items: objects mostly, scalars and arrays sometimes.
            return .array((0..<generator.next(4)).map { _ in document(&generator, depth: depth + 1) })
        }
    }

    static func paths(upTo length: Int) -> [[String]] {
        var result: [[String]] = names.map { [$0] }
        var frontier = result
        for _ in 1..<length {
            frontier = frontier.flatMap { path in names.map { path + [$0] } }
            result += frontier
        }
        return result
    }

    static func evaluate(_ path: [String], _ input: JSON, plain: Bool) throws -> String {
        var expression = try JSONataExpression(path.joined(separator: "."))
        expression.walksPlainPaths = plain
        // The evaluator's own walks are compared here; `DirectPlanTests` compares the plan with them.
        expression.usesPlan = false
        return try expression.evaluate(input).map { $0.serialized() } ?? "(undefined)"
    }

    @Test func bothWalksAgreeOnGeneratedDocuments() throws {
        let paths = Self.paths(upTo: 4)
        var compared = 0
        var throughArrays = 0
        for seed in 0..<400 {
            var generator = SeededGenerator(seed: UInt64(seed))
            var root = JSONObject()
            for name in Self.names { root[name] = Self.document(&generator, depth: 0) }
            let input = JSON.object(root)
            for path in paths {
                let general = try Self.evaluate(path, input, plain: false)
                let plain = try Self.evaluate(path, input, plain: true)
                #expect(plain == general, "seed \(seed), path \(path.joined(separator: ".")) over \(input.serialized())")
                compared += 1
                if general.hasPrefix("[") { throughArrays += 1 }
            }
        }
        // The generated documents do reach the walk through arrays, not only objects.
        #expect(compared == 400 * 120)
        #expect(throughArrays > 500, "only \(throughArrays) results were arrays")
    }

    /// Paths that start with plain names and go on with other steps (filters, indexes, sorts, functions, tuples,
    /// constructors): the first names are walked directly, the rest by the general walk; the whole must agree with the
    /// general walk alone.
    @Test func prefixesOfPlainNamesAgreeOnGeneratedDocuments() throws {
        let prefixes = Self.paths(upTo: 3)
        let suffixes = ["[c]", "[0]", "[-1].a", "[a = 1].b", "[b].c[0]", "^(a).b", "#$i[$i > 0].a", "@$x.b",
                        "[]", ".$string()", ".[a, b]", ".{'k': a}", ".*", ".(a)", "[c][0]", "{a: b}"]
        var compared = 0
        var defined = 0
        for seed in 0..<150 {
            var generator = SeededGenerator(seed: UInt64(seed) &+ 7_000)
            var root = JSONObject()
            for name in Self.names { root[name] = Self.document(&generator, depth: 0) }
            let input = JSON.object(root)
            for prefix in prefixes {
                for suffix in suffixes {
                    let text = prefix.joined(separator: ".") + suffix
                    var general = try JSONataExpression(text)
                    general.walksPlainPaths = false
                    let expected: String
                    do { expected = try general.evaluate(input).map { $0.serialized() } ?? "(undefined)" } catch {
                        expected = "error \(error.code)"
                    }
                    var plain = try JSONataExpression(text)
                    plain.usesPlan = false
                    let actual: String
                    do { actual = try plain.evaluate(input).map { $0.serialized() } ?? "(undefined)" } catch {
                        actual = "error \(error.code)"
                    }
                    #expect(actual == expected, "seed \(seed), \(text) over \(input.serialized())")
                    compared += 1
                    if expected != "(undefined)" { defined += 1 }
                }
            }
        }
        #expect(compared == 150 * 39 * 16)
        #expect(defined > 5_000, "only \(defined) results were defined")
    }

    @Test func shapesThatMatter() throws {
        let cases: [(String, String, String)] = [
            // One array at the last step is that array, even of one item.
            (#"{"a": {"b": [1]}}"#, "a.b", "[1]"),
            // Values gathered through an array: one is unwrapped, several are a sequence.
            (#"{"a": [{"b": 1}, {"c": 2}]}"#, "a.b", "1"),
            (#"{"a": [{"b": 1}, {"b": [2, 3]}]}"#, "a.b", "[1,2,3]"),
            // An array at a middle step is flattened one level; arrays in arrays take the general walk.
            (#"{"a": [{"b": [{"c": 1}, {"c": 2}]}, {"b": {"c": 3}}]}"#, "a.b.c", "[1,2,3]"),
            (#"{"a": [[{"b": 1}], [{"b": 2}]]}"#, "a.b", "[1,2]"),
            (#"{"a": [{"b": null}, {"b": 2}]}"#, "a.b", "[null,2]"),
            (#"{"a": []}"#, "a.b", "(undefined)"),
            (#"{"a": [1, "x", true]}"#, "a.b", "(undefined)"),
        ]
        for (document, path, expected) in cases {
            let input = try JSONParser.parse(document)
            let names = path.split(separator: ".").map(String.init)
            #expect(try Self.evaluate(names, input, plain: true) == expected, "\(path) over \(document)")
            #expect(try Self.evaluate(names, input, plain: false) == expected, "\(path) over \(document) (general walk)")
        }
    }
}

extension SeededGenerator {
    /// A number below `bound`: the generated cases of the JSONata tests, from their seeds (the same SplitMix64
    /// sequence as the generator of their own they used).
    mutating func next(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }
}
