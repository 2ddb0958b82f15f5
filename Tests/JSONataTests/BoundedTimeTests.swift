import JSONata
import Testing

/// Which expressions may run on the thread that received a webhook: those whose time is bounded by the size of
/// their input. Everything that can loop, recurse, backtrack or call back is not.
@Suite struct BoundedTimeTests {
    @Test(arguments: [
        "id", "data.object.id", "$headers.'x-github-delivery'", "type = 'invoice.paid' and amount > 100",
        "type in ['a', 'b'] ? 'yes' : 'no'", "$lowercase($trim(email))", "items[price > 10].sku",
        "$sum(items.(price * quantity))", "items^(>price)[0].sku", "items{sku: $sum(qty)}", "**.id",
        "($x := data.object; $x.id & '-' & $x.type)", "$join($split(tags, ','), ';')", "email ~> $lowercase()",
        "$fromMillis(created * 1000)", "$lookup({'a': 1}, code)", "$exists(a) and $not(b)", "data.%.id",
    ])
    func boundedExpressions(source: String) throws {
        #expect(try JSONataExpression(source).isBounded, "\(source)")
    }

    @Test(arguments: [
        // Functions the author defines (loops and recursion), callbacks, regexes, ranges, partial application.
        "function($x) { $x }(1)", "($f := function($n) { $n <= 1 ? 1 : $n * $f($n - 1) }; $f(5))",
        "$map(items, function($i) { $i.sku })", "$filter(items, function($i) { $i.ok })", "$reduce([1,2], $sum)",
        "$match(text, /a+/)", "$replace(text, /(a+)+$/, 'x')", "$contains(text, /a/)", "[1..count]",
        "$substring(?, 0, 3)", "$eval(code)", "($m := $map; $m(items, $string))", "items ~> $map($string)",
        "$sift(o, $boolean)", "$each(o, $string)", "$single(items)", "$uuid()",
    ])
    func unboundedExpressions(source: String) throws {
        #expect(try !JSONataExpression(source).isBounded, "\(source)")
    }
}
