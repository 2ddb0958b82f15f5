@testable import JSONata
import JSONValue
import TestSupport
import Testing

/// The plan answers calls of common built-ins over JSON (`JSONBuiltins`) and leaves the other arguments to the
/// library. Both must give what the evaluator gives, errors included: compared here on every function of the table,
/// each called with generated arguments of the types it answers for and of every other kind (undefined, sequences,
/// arrays, objects, text that is no number, pictures that are errors).
@Suite struct JSONBuiltinsTests {

    /// Arguments of each kind, as JSONata literals or paths into `document`.
    static let texts = ["'hello world'", "'  padded\\t text \\n'", "''", "'café'", "'cafe\\u0301'", "'😀 emoji 😀'",
                        "'a,b,,c'", "'12'", "'-3.5'", "'0x1F'", "'0b101'", "'1e3'", "' 5'", "'abc'", "'ß straße'",
                        "'İstanbul'", "'x'", "','", "'b'", "'ww'", "'[Y0001]-[M01]-[D01]'", "'#,##0.00'", "'0.00'",
                        "'[H01]:[m01] [z]'", "'+01:00'", "'#'", "'w'", "'[D1o] [MNn] [Y]'", "'9'"]
    static let numbers = ["0", "1", "-2", "2.5", "-2.5", "0.125", "1.005", "123.456", "1e21", "1e-7", "9007199254740993",
                          "3", "10", "-1", "1510000000000", "0.1 + 0.2", "400", "-12"]
    static let others = ["true", "false", "null", "[]", "[1, 2.5, -3]", "['a', 'b', 'c']", "['a', 1]", "[[1], [2]]",
                         "{}", "{'a': 1, 'b': [1, 2]}", "{'b': {'c': 'd'}}", "$missing", "items.price", "items.name",
                         "items[0].name", "items.tags", "nothing.here", "items[price > 100].price", "[1]", "['x']"]

    static let document: JSON = .object([
        "items": .array([
            .object(["name": .string("Widget"), "price": .number(9.5), "tags": .array([.string("a"), .string("b")])]),
            .object(["name": .string("Gadget"), "price": .number(20), "tags": .array([.string("c")])]),
            .object(["name": .string("Gizmo"), "price": .number(0.25), "tags": .array([])]),
        ]),
    ])

    /// An argument for a parameter that expects `kind` ("s", "n", "a", "o" or "x"): usually of that kind, else any.
    static func argument(_ kind: Character, _ generator: inout SeededGenerator) -> String {
        let pool: [String]
        switch generator.next(10) {
        case 0..<6:
            switch kind {
            case "s": pool = texts
            case "n": pool = numbers
            case "a": pool = ["[1, 2.5, -3]", "['a', 'b', 'c']", "items.price", "items.name", "[]", "items.tags", "[1]"]
            case "o": pool = ["{}", "{'a': 1, 'b': [1, 2]}", "{'b': {'c': 'd'}}", "items[0]"]
            default: pool = texts + numbers + others
            }
        case 6, 7: pool = texts + numbers
        default: pool = others
        }
        return pool[generator.next(pool.count)]
    }

    /// Each function of the table, with the kinds of its parameters.
    static let functions: [(name: String, kinds: String)] = [
        ("string", "x"), ("length", "s"), ("substring", "snn"), ("substringBefore", "ss"), ("substringAfter", "ss"),
        ("uppercase", "s"), ("lowercase", "s"), ("trim", "s"), ("pad", "sns"), ("contains", "ss"), ("split", "ss"),
        ("join", "as"), ("replace", "sss"), ("number", "x"), ("abs", "n"), ("floor", "n"), ("ceil", "n"),
        ("round", "nn"), ("sum", "a"), ("max", "a"), ("min", "a"), ("average", "a"), ("count", "x"), ("exists", "x"),
        ("boolean", "x"), ("not", "x"), ("append", "xx"), ("lookup", "os"), ("formatNumber", "ns"), ("formatInteger", "ns"),
        ("fromMillis", "nss"),
    ]

    @Test func everyFunctionOfTheTableIsOneTheLibraryDefines() {
        for (name, entry) in JSONBuiltins.table {
            #expect(Library.definitions[name] != nil, "\(name)")
            #expect(Self.functions.contains { $0.name == name && entry.counts.upperBound == $0.kinds.count }, "\(name)")
        }
        #expect(JSONBuiltins.table.count == Self.functions.count)
    }

    @Test func planAndEvaluatorAgreeOnGeneratedCalls() throws {
        var compared = 0
        var answered = 0
        for (index, function) in Self.functions.enumerated() {
            for seed in 0..<400 {
                var generator = SeededGenerator(seed: UInt64(index * 10_000 + seed))
                let kinds = Array(function.kinds)
                let minimum = JSONBuiltins.table[function.name]!.counts.lowerBound
                let count = minimum + generator.next(kinds.count - minimum + 1)
                let arguments = kinds.prefix(count).map { Self.argument($0, &generator) }
                // Half the calls as `~>`, whose left side is the first argument.
                let text = generator.next(2) == 0 || arguments.count < 1
                    ? "$\(function.name)(\(arguments.joined(separator: ", ")))"
                    : "(\(arguments[0])) ~> $\(function.name)(\(arguments.dropFirst().joined(separator: ", ")))"
                let expression = try JSONataExpression(text)
                var general = expression
                general.usesPlan = false
                let expected = DirectPlanTests.outcome { try general.evaluate(Self.document) }
                #expect(DirectPlanTests.outcome { try expression.evaluate(Self.document) } == expected, "\(text)")
                compared += 1
                // What the table itself answers for the arguments' values, when it does not leave them to the library.
                let values = try arguments.map { try JSONataExpression($0).evaluate(Self.document) }
                guard let first = values[0], !values.contains(where: { if case .none = $0 { true } else { false } }) else {
                    continue
                }
                let answer = JSONBuiltins.table[function.name]!.run(first, values.count > 1 ? values[1] : nil,
                                                                     values.count > 2 ? values[2] : nil)
                switch answer {
                case .value(.number(let number)) where !number.isFinite:
                    // Out of range (`$round(1e300, 400)`): the whole evaluation's result is an error, as the evaluator's.
                    #expect(expected.hasPrefix("error D1001"), "\(text) (table)")
                case .value(let json): #expect(json.serialized() == expected, "\(text) (table)")
                case .undefined: #expect(expected == "(undefined)", "\(text) (table)")
                case .library: continue
                }
                answered += 1
            }
        }
        #expect(compared == Self.functions.count * 400)
        // Most generated calls are of the types the table answers for.
        #expect(answered > compared / 3, "the table answered \(answered) of \(compared)")
    }

    /// A host binding of a built-in's name is the host's function, not the built-in.
    @Test func aBindingOfTheSameNameHidesTheBuiltin() throws {
        let expression = try JSONataExpression("$uppercase('abc')")
        #expect(try expression.evaluate(nil) == .string("ABC"))
        #expect(throws: JSONataError.self) { try expression.evaluate(nil, bindings: ["uppercase": .string("no")]) }
    }
}
