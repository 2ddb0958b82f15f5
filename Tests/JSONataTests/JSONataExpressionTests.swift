import Foundation
import JSONata
import JSONValue
import Testing

@Suite struct JSONataExpressionTests {
    let order: JSON = try! JSONParser.parse("""
        {"id": "ord_1", "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
         "items": [{"sku": "A", "price": 10, "quantity": 2}, {"sku": "B", "price": 2.5, "quantity": 4}]}
        """)

    @Test func compilesOnceAndEvaluatesMany() throws {
        let expression = try JSONataExpression("$sum(items.(price * quantity))")
        #expect(try expression.evaluate(order) == 30)
        #expect(try expression.evaluate(["items": [["price": 1, "quantity": 1]]]) == 1)
        #expect(try expression.evaluate(nil) == nil)
    }

    @Test func keepsUndefinedAndNullApartAndKeyOrder() throws {
        #expect(try JSONataExpression("missing").evaluate(order) == nil)
        #expect(try JSONataExpression("null").evaluate(order) == .null)
        let result = try JSONataExpression(#"{"z": 1, "a": customer.name, "m": items[0].sku}"#).evaluate(order)
        #expect(result?.objectValue?.keys == ["z", "a", "m"])
    }

    @Test func bindingsAndHostFunctions() throws {
        let expression = try JSONataExpression("$prefix & '-' & $upper(id) & '-' & $uuid()")
        let result = try expression.evaluate(order, bindings: ["prefix": "evt"], functions: [
            "upper": HostFunction(signature: "<s:s>") { arguments in .string(arguments.first??.stringValue?.uppercased() ?? "") },
            "uuid": HostFunction { _ in "00000000-0000-4000-8000-000000000000" },
        ])
        #expect(result == "evt-ORD_1-00000000-0000-4000-8000-000000000000")
    }

    @Test func hostFunctionSignaturesAreChecked() throws {
        let expression = try JSONataExpression("$upper(42)")
        #expect(throws: JSONataError.self) {
            try expression.evaluate(nil, functions: ["upper": HostFunction(signature: "<s:s>") { _ in "x" }])
        }
    }

    @Test(arguments: [
        ("1 +", "S0207", 3),
        ("{\"a\": }", "S0211", 7),
        ("[1, 2", "S0203", 5),
        ("'unterminated", "S0101", 13),
        ("$f(", "S0207", 3),
        ("a.5", "S0213", 3),
    ])
    func malformedExpressionsAreLocatedErrors(source: String, code: String, position: Int) {
        do {
            _ = try JSONataExpression(source)
            Issue.record("\(source) compiled")
        } catch {
            #expect(error.code == code, "\(source): \(error)")
            #expect(error.position == position, "\(source): \(error)")
        }
    }

    /// Over an array input, `$$` is the array itself (jsonata-js binds it before wrapping the context): `$$[pred]`
    /// filters the array's elements, as `$[pred]` does. It used to filter a one-element wrapper and find nothing.
    @Test func theRootOfAnArrayInputIsTheArray() throws {
        let events: JSON = [["event": "delivered", "e": "a"], ["event": "open", "e": "b"], ["event": "bounce", "e": "c"]]
        #expect(try JSONataExpression("$$[event in ['delivered','open']].e").evaluate(events) == ["a", "b"])
        #expect(try JSONataExpression("$[event in ['delivered','open']].e").evaluate(events) == ["a", "b"])
        #expect(try JSONataExpression("$$[0].e").evaluate(events) == "a")
        #expect(try JSONataExpression("$count($$)").evaluate(events) == 3)
        #expect(try JSONataExpression("$$.e").evaluate(events) == ["a", "b", "c"])
    }

    @Test func runawayRecursionHitsTheDepthLimit() throws {
        let expression = try JSONataExpression("($f := function($n) { $n + $f($n + 1) }; $f(0))")
        let error = try #require(throws: JSONataError.self) {
            try expression.evaluate(nil, limits: .init(maximumDepth: 200, timeLimit: .seconds(5)))
        }
        #expect(error.code == "U1001")
    }

    @Test func infiniteLoopsHitTheTimeLimit() throws {
        let expression = try JSONataExpression("($loop := function($n) { $loop($n + 1) }; $loop(0))")
        let error = try #require(throws: JSONataError.self) {
            try expression.evaluate(nil, limits: .init(maximumDepth: 100_000, timeLimit: .milliseconds(50)))
        }
        // The time limit, not the depth guard (which gives the same code).
        #expect(error.code == "U1001")
        #expect(error.message.contains("timeout"), "\(error)")
    }

    @Test func compiledExpressionsAreSharedAcrossTasks() async throws {
        let expression = try JSONataExpression("customer.email & ':' & $string($count(items))")
        let input = order
        let results = try await withThrowingTaskGroup(of: JSON?.self) { group in
            for _ in 0..<16 { group.addTask { try expression.evaluate(input) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == Array(repeating: "ada@example.com:2", count: 16))
    }
}
