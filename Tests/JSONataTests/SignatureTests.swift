@testable import JSONata
import JSONValue
import Testing
import TestSupport

/// A call's arguments are checked by shortcuts when each matches its parameter in place; every built-in's signature
/// must give the same arguments (or the same error) by the shortcut as by the general match, whatever it is given.
@Suite struct SignatureTests {
    /// One value of each type a signature tells apart (and undefined), arrays of one type, of several, and empty.
    static func values() -> [Value?] { [
        nil, .null, .bool(true), .number(2), .string("s"), .object(ObjectValue()),
        .array(ArrayValue([.string("a"), .string("b")])), .array(ArrayValue([.number(1), .number(2)])),
        .array(ArrayValue([.number(1), .string("x")])), .array(ArrayValue()),
        Library.function(named: "string"),
    ] }

    static func describe(_ result: Result<[Value?], JSONataError>) -> String {
        switch result {
        case .success(let values):
            return values.map { value in
                guard let value else { return "undefined" }
                if case .function = value { return "function" }
                return value.json.serialized() + (value.isArray ? "(\(value.arrayValue!.isSequence))" : "")
            }.joined(separator: ", ")
        case .failure(let error): return "error \(error.code)"
        }
    }

    @Test func shortcutsAgreeWithTheGeneralMatchForEveryBuiltIn() {
        var compared = 0
        var accepted = 0
        let signatures = Library.definitions.values.compactMap(\.signature)
            + ["<s-nn?:s>", "<a<s>s?:s>", "<n-so?:s>", "<x-b?:b>", "<af?:a>", "<a<n>:n>", "<s-(sf)(sf)n?:s>"].map { try! Signature($0) }
        let values = Self.values()
        for signature in signatures {
            for count in 0...3 {
                var lists: [[Value?]] = [[]]
                for _ in 0..<count { lists = lists.flatMap { list in values.map { list + [$0] } } }
                for arguments in lists {
                    for context in [nil, Value.string("ctx")] as [Value?] {
                        let fast = Result { () throws(JSONataError) in try signature.validate(arguments, context: context) }
                        let general = Result { () throws(JSONataError) in try signature.validateGenerally(arguments, context: context) }
                        #expect(Self.describe(fast) == Self.describe(general),
                                "\(signature.definition) with \(arguments.map { $0?.typeName ?? "undefined" })")
                        compared += 1
                        if case .success = general { accepted += 1 }
                    }
                }
            }
        }
        #expect(compared > 50_000)
        #expect(accepted > 4_000, "calls that are valid, where the shortcuts apply")
    }
}

/// The merge sort behind `^(...)` and `$sort` makes jsonata-js's comparisons in jsonata-js's order, so that a
/// comparator of the author's that is inconsistent, or throws, gives what jsonata-js gives.
@Suite struct MergeSortTests {
    /// jsonata-js's merge sort as written there: new arrays for each half.
    static func reference<T>(_ items: [T], _ swap: (T, T) -> Bool) -> [T] {
        if items.count <= 1 { return items }
        let middle = items.count / 2
        let left = reference(Array(items[..<middle]), swap)
        let right = reference(Array(items[middle...]), swap)
        var merged: [T] = []
        var i = 0, j = 0
        while i < left.count, j < right.count {
            if swap(left[i], right[j]) { merged.append(right[j]); j += 1 } else { merged.append(left[i]); i += 1 }
        }
        return merged + left[i...] + right[j...]
    }

    @Test func sameComparisonsAndResultAsJsonataJsForAnyComparator() throws {
        var generator = SeededGenerator(seed: 23)
        for round in 0..<2_000 {
            let items = (0..<Int.random(in: 0...40, using: &generator)).map { _ in Int.random(in: 0...9, using: &generator) }
            let mode = round % 3
            // A consistent order, an inconsistent one (a coin per comparison, the same coins for both sorts).
            let coins = (0..<2_000).map { _ in Bool.random(using: &generator) }
            var askedReference: [(Int, Int)] = []
            var coin = 0
            let expected = Self.reference(items.enumerated().map { $0 }) { a, b in
                askedReference.append((a.offset, b.offset))
                if mode == 0 { return a.element > b.element }
                coin += 1
                return mode == 1 ? coins[coin % coins.count] : a.element < b.element
            }
            var asked: [(Int, Int)] = []
            coin = 0
            let sorted = try Evaluator.mergeSort(items.enumerated().map { $0 }) { (a, b) throws(JSONataError) -> Bool in
                asked.append((a.offset, b.offset))
                if mode == 0 { return a.element > b.element }
                coin += 1
                return mode == 1 ? coins[coin % coins.count] : a.element < b.element
            }
            #expect(sorted.map(\.offset) == expected.map(\.offset), "round \(round)")
            #expect(asked.map(\.0) == askedReference.map(\.0) && asked.map(\.1) == askedReference.map(\.1), "round \(round)")
        }
    }
}
