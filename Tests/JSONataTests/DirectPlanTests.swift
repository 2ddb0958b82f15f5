@testable import JSONata
import JSONValue
import TestSupport
import Testing

/// An expression of the shapes `DirectPlan` models runs as closures over the input JSON; the evaluator must give the
/// same. Compared here on generated expressions (paths with filters and indexes, variables, operators, conditions,
/// constructors, blocks, built-in calls and `~>`) over generated documents (objects, arrays of objects and of scalars,
/// arrays in arrays, nulls, missing names).
@Suite struct DirectPlanTests {

    /// A random expression of the planned shapes, at most `depth` levels deep.
    static func expression(_ generator: inout SeededGenerator, depth: Int) -> String {
        let choice = depth <= 0 ? generator.next(3) : generator.next(27)
        switch choice {
        case 0, 1:
            return path(&generator, depth: depth)
        case 2:
            return ["1", "2", "0", "-1", "'s1'", "'x'", "true", "false", "null", "2.5"][generator.next(10)]
        case 3:
            let op = ["=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "&", "and", "or", "in"][generator.next(15)]
            return "(\(expression(&generator, depth: depth - 1)) \(op) \(expression(&generator, depth: depth - 1)))"
        case 4:
            let otherwise = generator.next(2) == 0 ? "" : " : \(expression(&generator, depth: depth - 1))"
            return "(\(expression(&generator, depth: depth - 1)) ? \(expression(&generator, depth: depth - 1))\(otherwise))"
        case 5:
            let count = generator.next(3) + 1
            let members = (0..<count).map { index in "\"k\(index)\": \(expression(&generator, depth: depth - 1))" }
            return "{" + members.joined(separator: ", ") + "}"
        case 6:
            let items = (0..<generator.next(3)).map { _ in
                generator.next(3) == 0 ? "[\(expression(&generator, depth: depth - 1))]" : expression(&generator, depth: depth - 1)
            }
            return "[" + items.joined(separator: ", ") + "]"
        case 7, 8:
            let unary = ["$count", "$sum", "$string", "$exists", "$boolean", "$type", "$keys", "$distinct", "$reverse",
                         "$sort", "$max", "$not", "$number", "$uppercase", "$length", "$abs", "$round"]
            return "\(unary[generator.next(unary.count)])(\(expression(&generator, depth: depth - 1)))"
        case 9:
            let binary = ["$append", "$join", "$lookup", "$contains", "$substringBefore", "$merge"]
            let function = binary[generator.next(binary.count)]
            if function == "$merge" { return "$merge([\(expression(&generator, depth: depth - 1)), {'z': 1}])" }
            let second = function == "$join" ? "','" : function == "$lookup" ? "'a'" : expression(&generator, depth: depth - 1)
            return "\(function)(\(expression(&generator, depth: depth - 1)), \(second))"
        case 10:
            return "(\(expression(&generator, depth: depth - 1)) ~> $count())"
        case 11:
            return "(\(expression(&generator, depth: depth - 1)); \(expression(&generator, depth: depth - 1)))"
        case 12:
            return "-\(path(&generator, depth: depth))"
        case 13, 25, 26:
            // Functions and their callers: the evaluator's parts inside a plan.
            let inner = expression(&generator, depth: depth - 1)
            return [
                "$map(\(path(&generator, depth: depth)), function($x, $i) { [$x.a, $i, \(inner)] })",
                "$filter(\(path(&generator, depth: depth)), function($x) { $x.b = 1 or \(inner) })",
                "$reduce(\(path(&generator, depth: depth)), $append)",
                "$reduce(\(path(&generator, depth: depth)), function($p, $q) { $p & $q }, '')",
                "$replace($string(\(inner)), /[s1]+/, 'r')",
                "$contains($string(\(inner)), /1/)",
                "(\(inner) ~> $map(function($y) { $y }))",
                "(\(inner) ~> $string)",
                "$map(\(path(&generator, depth: depth)), function($x) { $string($x) })",
                "$map(\(path(&generator, depth: depth)), function($x) { $x.a ? $lookup($x, 'b') : $keys($x) })",
                "$filter(\(path(&generator, depth: depth)), function($x, $i, $a) { $i < $count($a) - 1 })",
                "$reduce(\(path(&generator, depth: depth)), function($p, $q, $i) { $p + $i }, \(inner))",
                "$map(\(path(&generator, depth: depth)), function($x) { $map($x.b, function($y) { [$y, $x, \(inner)] }) })",
                "$map(\(path(&generator, depth: depth)), function($x) { ($z := $x.a; {'z': $z, 'v': $v, 'i': \(inner)}) })",
                "($x := 1; $map(\(path(&generator, depth: depth)), function($x) { $x }) ~> $append($x))",
                "(\(inner) ~> $filter(function($e) { $e }) ~> $map(function($e, $i) { $i }))",
                "$reduce(\(path(&generator, depth: depth)), function($p, $q) { [$p, $q] })",
                "$map(\(path(&generator, depth: depth)), function($x) { $keys($x) })",
                "$map(\(path(&generator, depth: depth)), function($x) { $string() })",
                "$map(\(path(&generator, depth: depth)), function($x, $i, $a) { $a })",
                "$map(\(path(&generator, depth: depth)), function($x) { $lookup($x, 'a') })",
            ][generator.next(21)]
        case 14, 15:
            // Steps of every kind after a first path.
            let first = path(&generator, depth: depth - 1)
            let inner = expression(&generator, depth: depth - 1)
            return first + [
                ".(\(inner))", ".{'k': \(inner), 'n': a}", ".[a, b]", ".[a, b][0]", ".$string()", "^(a)", "^(>b).c",
                "{a: b}", "#$i.a", "@$o.b", "[]", ".a[]", ".%.a", ".[\(inner)].a", "[0].(\(inner))",
                "{$string(a): $count($)}", "{'k': a, 'k': b}", "{b: [a, \(inner)]}", "^(a)[0]", "^(<c)[[0, 1]].b",
                ".{a: $}", "{$string(a): b}.k",
            ][generator.next(22)]
        case 16, 17:
            // Blocks that bind variables: shadowing, a block entered once per item, a read before the binding, a
            // function of the evaluator's reading them, a binding inside a call's argument, a built-in's name bound.
            let first = expression(&generator, depth: depth - 1)
            let second = expression(&generator, depth: depth - 1)
            return [
                "($x := \(first); \(second) & $string($x))",
                "a.($x := b; {'k': $x, 'n': \(first)})",
                "($x := \(first); ($x := a; $x) & $string($x))",
                "($v; $v := \(first); [$v, \(second)])",
                "($x := \(first); $map([1, 2], function($i) { [$i, $x] }))",
                "($x := \(first); $string($w := 5) & $string($w) & $string($x))",
                "($count := \(first); $count(a))",
                "{'a': $x := \(first), 'b': $x}",
                "($x := \(first); $y := $x.a; [$y, $x, \(second)])",
                "a.($p := [$p, b, \(first)]; $p)",
            ][generator.next(10)]
        default:
            return path(&generator, depth: depth)
        }
    }

    /// A path of one to four steps: names, `$`, `$$`, a bound `$v`, each maybe with a filter or an index.
    static func path(_ generator: inout SeededGenerator, depth: Int) -> String {
        let starts = ["a", "b", "c", "$", "$$", "$v", "a", "b"]
        var steps: [String] = [starts[generator.next(starts.count)]]
        for _ in 0..<generator.next(4) {
            steps.append(["a", "b", "c", "$"][generator.next(4)])
        }
        return steps.map { step in
            switch generator.next(8) {
            case 0: return step + "[\(["0", "1", "-1", "5"][generator.next(4)])]"
            case 1: return step + "[\(["a", "b", "c", "$", "[0, 1]", "a.b", "$$.a"][generator.next(7)])]"
            case 2 where depth > 0: return step + "[\(expression(&generator, depth: depth - 1))]"
            default: return step
            }
        }.joined(separator: ".")
    }

    static func outcome(_ body: () throws -> JSON?) -> String {
        do { return try body().map { $0.serialized() } ?? "(undefined)" } catch { return "error \(error)" }
    }

    @Test func planAndEvaluatorAgreeOnGeneratedExpressions() throws {
        var compared = 0
        var unplanned = 0
        var invalid = 0
        var planned = 0
        var defined = 0
        for seed in 0..<3_000 {
            var generator = SeededGenerator(seed: UInt64(seed) &+ 90_000)
            let text = Self.expression(&generator, depth: 3)
            let expression: JSONataExpression
            do { expression = try JSONataExpression(text) } catch {
                // A few generated texts are not JSONata (`%` after a variable, `@` after a predicate).
                invalid += 1
                continue
            }
            guard let plan = expression.plan else {
                // The root is a part the closures leave to the evaluator (a function call of theirs, a sort).
                unplanned += 1
                continue
            }
            var general = expression
            general.usesPlan = false
            for document in 0..<8 {
                var documents = SeededGenerator(seed: UInt64(seed * 8 + document))
                var root = JSONObject()
                for name in PlainPathTests.names { root[name] = PlainPathTests.document(&documents, depth: 0) }
                let input = JSON.object(root)
                let bindings: [String: JSON] = ["v": PlainPathTests.document(&documents, depth: 1)]
                let expected = Self.outcome { try general.evaluate(input, bindings: bindings) }
                let context = DirectContext(root: input, bindings: bindings, deadline: nil, maximumDepth: 500,
                                            reservedDepth: plan.reservedDepth, slotCount: plan.slotCount)
                compared += 1
                // What the plan gives by itself, when it does not hand over: it must be what the evaluator gives.
                let answer: JSON??
                do { answer = .some(try DirectPlan.answer(plan.run(input, context))) } catch { answer = nil }
                if let result = answer {
                    planned += 1
                    let actual = result.map { $0.serialized() } ?? "(undefined)"
                    #expect(actual == expected, "seed \(seed).\(document): \(text) over \(input.serialized()), $v = \(bindings["v"]!.serialized())")
                    if actual != "(undefined)" { defined += 1 }
                }
                // And through the public entry, which hands over to the evaluator: the same, errors included.
                let public_ = Self.outcome { try expression.evaluate(input, bindings: bindings) }
                #expect(public_ == expected, "seed \(seed).\(document): \(text) (public entry)")
            }
        }
        #expect(compared + (unplanned + invalid) * 8 == 3_000 * 8)
        #expect(invalid < 60, "\(invalid) of 3,000 generated expressions did not compile")
        #expect(unplanned < 300, "\(unplanned) of 3,000 expressions had no plan")
        // The plan answers most evaluations itself (a handover is an error case or a shape it leaves), and many
        // answers are values rather than undefined.
        #expect(planned > compared * 6 / 10, "the plan answered only \(planned) of \(compared)")
        #expect(defined > compared / 3, "only \(defined) of the plan's answers were defined")
    }

    @Test func shapesThatMatter() throws {
        let cases: [(document: String, expression: String, expected: String)] = [
            // A last step giving one array from the data gives that array, even of one item; a filter's sequence
            // of one is its item.
            (#"{"a": {"b": [1]}}"#, "a.b", "[1]"),
            (#"{"a": {"b": [[1, 2]]}}"#, "a.b[0]", "[1,2]"),
            (#"{"a": [{"b": 1}, {"b": [2, 3]}]}"#, "a.b", "[1,2,3]"),
            (#"{"a": [[{"b": 1}], [{"b": 2}]]}"#, "a.b", "[1,2]"),
            (#"{"a": {"b": []}}"#, "a.b", "[]"),
            (#"{"a": [{"b": 1, "c": 2}, {"b": 3, "c": 1}]}"#, "a[c > 1].b", "1"),
            (#"{"a": [{"b": 1}, {"b": 3}]}"#, "a[[0, 1]].b", "[1,3]"),
            (#"{"a": [{"b": 1}, {"b": 3}]}"#, "a[-1].b", "3"),
            (#"{"a": [1, 2, 3]}"#, "a[$ > 1]", "[2,3]"),
            (#"{"a": [1, 2, 3]}"#, "$sum(a[$ > 1]) & '/' & $count(a)", #""5/3""#),
            (#"{"a": {"b": "x"}}"#, "a.b ~> $uppercase()", #""X""#),
            (#"{"a": 1}"#, "{'k': a, 'm': b, 'n': [a, [a]]}", #"{"k":1,"n":[1,[1]]}"#),
            (#"{"a": 1}"#, "a = 1 ? 'yes' : 'no'", #""yes""#),
            (#"{"a": 1}"#, "$$.a + $v.b", "3"),
            // Grouping joins a group's items as `$append` does; an index after an order-by can pick an array whole.
            (#"{"a": [[1, 2], 3]}"#, "a{'k': $}", #"{"k":[1,2,3]}"#),
            (#"{"a": [{"b": "x", "c": 1}, {"b": "y", "c": 2}, {"b": "x", "c": 3}]}"#, "a{b: $sum(c)}", #"{"x":4,"y":2}"#),
            // A group of three or more items gathers them in one array (an array's items, not the array), in order;
            // the data's own arrays are not changed by it, so the next group and the next path see them whole.
            (#"{"a": [[1, 2], 3, [4], 5]}"#, "a{'k': $}", #"{"k":[1,2,3,4,5]}"#),
            (#"{"a": [3, [1, 2], 4]}"#, "a{'k': $}", #"{"k":[3,1,2,4]}"#),
            (#"{"a": [{"g": "x", "t": [1, 2]}, {"g": "x", "t": 3}, {"g": "y", "t": [4]}, {"g": "x", "t": [5]}]}"#,
             "{'groups': a{g: t}, 'data': a.t}", #"{"groups":{"x":[1,2,3,5],"y":[4]},"data":[1,2,3,4,5]}"#),
            (#"{"a": [{"g": "x", "v": 1}, {"g": "x", "v": 2}, {"g": "x", "v": 3}, {"g": "y", "v": 4}]}"#,
             "a{g: $count(v) & ':' & $sum(v)}", #"{"x":"3:6","y":"1:4"}"#),
            (#"{"a": [[2], [1]]}"#, "a^($[0])[0]", "[1]"),
            (#"{"a": [{"b": 2}, {"b": 1}]}"#, "a^(b).b", "[1,2]"),
            (#"{"a": [{"b": 1, "c": "x"}, {"b": 2, "c": "y"}, {"b": 1, "c": "z"}, {"c": "w"}]}"#, "a^(>b, c).c",
             #"["y","x","z","w"]"#),
        ]
        for (document, text, expected) in cases {
            let input = try JSONParser.parse(document)
            let expression = try JSONataExpression(text)
            #expect(expression.plan != nil, "\(text) has a plan")
            var general = expression
            general.usesPlan = false
            let bindings: [String: JSON] = ["v": ["b": 2]]
            #expect(Self.outcome { try expression.evaluate(input, bindings: bindings) } == expected, "\(text) over \(document)")
            #expect(Self.outcome { try general.evaluate(input, bindings: bindings) } == expected, "\(text) over \(document) (evaluator)")
        }
    }

    /// What the plan leaves to the evaluator gives the evaluator's answer: errors with their codes, grouping over
    /// an array, an array input, a binding that hides a built-in, and expressions outside the planned shapes.
    @Test func whatThePlanLeavesIsTheEvaluators() throws {
        let input = try JSONParser.parse(#"{"a": [{"b": 1}, {"b": 2}], "s": "x", "n": 3}"#)
        let cases: [(String, [String: JSON], String)] = [
            ("s + 1", [:], "T2001"),
            ("s < n", [:], "T2009"),
            ("-s", [:], "D1002"),
            ("$uppercase(n)", [:], "T0410"),
            ("n / 0", [:], "D1001"),
            ("a{'k': b}", [:], #"{"k":[1,2]}"#),
            ("a.{'k': b}", [:], #"[{"k":1},{"k":2}]"#),
            ("$count(a)", ["count": 1], "T1006"),
            ("a.b ~> $map(function($x) { $x * 2 })", [:], "[2,4]"),
            ("$reduce(a.b, $append)", [:], "[1,2]"),
            ("$reduce(a.b, $append)", ["append": 1], "T0410"),
            ("$replace(s, /x/, 'y')", [:], #""y""#),
            ("($count := 3; $count(a))", [:], "T1006"),
            ("($string($w := 5); $w)", [:], "5"),
            ("{'a': $x := 1, 'b': $x}", [:], #"{"a":1,"b":1}"#),
        ]
        for (text, bindings, expected) in cases {
            let expression = try JSONataExpression(text)
            let result: String
            do { result = try expression.evaluate(input, bindings: bindings).map { $0.serialized() } ?? "(undefined)" } catch {
                result = error.code
            }
            #expect(result == expected, "\(text)")
        }
        let array = try JSONParser.parse(#"[{"b": 1}, {"b": 2}]"#)
        #expect(try JSONataExpression("{'k': b}").evaluate(array) == ["k": [1, 2]])
        #expect(try JSONataExpression("$$[0].b").evaluate(array) == 1)
    }

    /// A compiled name remembers where it found its key last, and looks there first. Over documents whose objects put
    /// their keys in other places, leave them out, hold more than the hash index's threshold, or hold canonically
    /// equivalent keys (a composed and a decomposed "é") and keys too long for a string's bits, one compiled expression
    /// must still give what the evaluator gives each time: a remembered position is only a guess.
    @Test func aRememberedPositionIsOnlyAGuess() throws {
        let long = "a key far longer than fifteen bytes"
        let pool = ["a", "b", "sku", "n", long, "caf\u{E9}", "cafe\u{301}"]
        let texts = ["a", "a.b", "items.sku", "items[n > 2].sku", "$sum(items.n)", "items.a.b", "`caf\u{E9}`",
                     "`cafe\u{301}`", "items.`cafe\u{301}` & items.`caf\u{E9}`", "`\(long)`", "items.`\(long)`",
                     "{'x': a.b, 'y': items.sku, 'z': $count(items[sku = 's1'])}"]
        var generator = SeededGenerator(seed: 4_242)
        func object(depth: Int) -> JSON {
            var members: [(String, JSON)] = []
            for key in pool where generator.next(4) != 0 {
                let value: JSON = switch generator.next(depth > 1 ? 2 : 4) {
                case 0: .number(Double(generator.next(5)))
                case 1: .string("s\(generator.next(3))")
                case 2: object(depth: depth + 1)
                default: .array((0..<generator.next(4)).map { _ in object(depth: depth + 1) })
                }
                members.append((key, value))
            }
            // Past the threshold, objects keep a hash index.
            if generator.next(3) == 0 { members += (0..<14).map { ("filler\($0)", .number(Double($0))) } }
            members.shuffle(using: &generator)
            return .object(JSONObject(uniqueKeysWithValues: members))
        }
        // Half as built, half parsed from their text (a parsed object's keys are held as the parser makes them).
        let documents = try (0..<300).map { index -> JSON in
            var root = object(depth: 0).objectValue!
            root["items"] = .array((0..<generator.next(6)).map { _ in object(depth: 1) })
            return index % 2 == 0 ? .object(root) : try JSONParser.parse(JSON.object(root).serialized())
        }
        var defined = 0
        for text in texts {
            let expression = try JSONataExpression(text)
            #expect(expression.plan != nil, "\(text) has a plan")
            var general = expression
            general.usesPlan = false
            for (index, document) in documents.enumerated() {
                let expected = Self.outcome { try general.evaluate(document) }
                #expect(Self.outcome { try expression.evaluate(document) } == expected, "\(text) over document \(index)")
                if expected != "(undefined)" { defined += 1 }
            }
        }
        #expect(defined > texts.count * documents.count / 3, "only \(defined) answers were defined")
    }

    /// A plan's loops over a large input ask the time limit as the evaluator's steps do.
    @Test func largeInputsMeetTheTimeLimit() throws {
        let items = JSON.array((0..<200_000).map { ["b": .number(Double($0))] })
        let expression = try JSONataExpression("$count(a[b > 5].b) + $count(a[b < 5].b)")
        #expect(expression.plan != nil)
        #expect(throws: JSONataError.self) {
            try expression.evaluate(["a": items], limits: .init(timeLimit: .zero))
        }
        // The default second of CPU time is for connectors; a debug build on a loaded machine can need more for
        // 400,000 comparisons, so this run is bounded generously: what it checks is the answer.
        #expect(try expression.evaluate(["a": items], limits: .init(timeLimit: .seconds(120))) == 199_999)
    }
}
