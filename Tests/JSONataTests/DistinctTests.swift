@testable import JSONata
import Testing

/// `$distinct` of scalars goes through a set; it keeps what comparing each item with the ones kept keeps, in the same
/// order, for strings (composed and decomposed accents are different), numbers (0 and -0 are one), booleans and null.
@Suite struct DistinctTests {
    static var pool: [Value] { [.string("a"), .string("b"), .string("caf\u{E9}"), .string("cafe\u{301}"), .string(""),
                                .number(0), .number(-0.0), .number(1), .number(1.5), .bool(true), .bool(false), .null,
                                .string("1"), .string("true")] }

    @Test func aSetKeepsWhatComparingKeeps() throws {
        let pool = Self.pool
        var state: UInt64 = 0x1234_5678_9ABC_DEF1
        for _ in 0..<5_000 {
            var items: [Value] = []
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            for _ in 0..<Int(state % 12) {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                items.append(pool[Int(state % UInt64(pool.count))])
            }
            let bySet = try #require(Library.distinctScalars(items))
            let byComparison = Library.distinctByComparison(items)
            #expect(bySet.count == byComparison.count && zip(bySet, byComparison).allSatisfy { Evaluator.deepEqual($0, $1) },
                    "\(items)")
        }
        #expect(Library.distinctScalars([.string("a"), .array(ArrayValue([]))]) == nil, "arrays are compared")
    }

    @Test func aLargeArrayAndNestedValues() throws {
        let source = "$count($distinct($map([1..20000], function($i) { 'k' & ($i % 5000) })))"
        #expect(try JSONataExpression(source).evaluate(nil)?.serialized() == "5000")
        #expect(try JSONataExpression(#"$distinct([[1], [1], {"a": 1}, {"a": 1}, 1])"#).evaluate(nil)?.serialized()
                    == #"[[1],{"a":1},1]"#)
    }
}
