@testable import JSONata
import Testing
import TestSupport

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
