/// "Did you mean": the closest candidate to a misspelt word.
enum Suggestion {
    /// The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo.
    static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let lowered = word.lowercased()
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        let allowance = max(1, min(word.count, best.candidate.count) / 3)
        guard best.distance <= allowance else { return nil }
        return sameWords(lowered, best.candidate.lowercased()) ? best.candidate : nil
    }

    /// Whether two snake_case names are the same words, each at most misspelt: `max_attemps` is `max_attempts`,
    /// but `public_key` is not `public_url` (one word replaced by another is another setting, not a typo).
    static func sameWords(_ a: String, _ b: String) -> Bool {
        let left = a.split(separator: "_"), right = b.split(separator: "_")
        guard left.count == right.count, left.count > 1 else { return true }
        return zip(left, right).allSatisfy { word, other in
            editDistance(String(word), String(other)) <= max(1, min(word.count, other.count) / 3)
        }
    }

    /// Levenshtein distance, with a transposition counted as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = Swift.min(current[j], previousPrevious[j - 2] + 1)
                }
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}
