import Foundation
@testable import ManifoldStore
import Testing

/// The ids' random bits: from the shared pool, and written where the ids have always had them.
@Suite struct PooledRandomTests {
    /// A generator that gives the words it was given, in turn.
    struct Words: RandomNumberGenerator {
        var words: [UInt64]
        mutating func next() -> UInt64 { words.removeFirst() }
    }

    static let crockford = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    static func decode(_ text: Substring) -> UInt64 {
        text.reduce(0) { $0 << 5 | UInt64(crockford.firstIndex(of: $1)!) }
    }

    @Test func anEventIdSpellsItsTimeAndEightyRandomBits() {
        for (milliseconds, high, low) in [(UInt64(1_795_430_000_123), UInt64(0xFEDC_BA98_7654_3210), UInt64(0x0123_4567_89AB_CDEF)),
                                          (0, .max, .max), ((1 << 48) - 1, 0, 0), (86_400_000, 0x8000_0000_0000_000F, 0xF_FFFF)]
        {
            var words = Words(words: [high, low])
            let id = EventIdentifier.make(milliseconds: milliseconds, using: &words)
            #expect(id.count == 29 && id.hasPrefix("ev_"))
            #expect(Self.decode(id.dropFirst(3).prefix(10)) == milliseconds)
            // The high word's top 60 bits, then the low word's lowest 20.
            #expect(Self.decode(id.dropFirst(13).prefix(12)) == high >> 4)
            #expect(Self.decode(id.dropFirst(25)) == low & 0xF_FFFF)
        }
    }

    /// Many tasks draw at once, across many refills of the pool: no number comes twice (64 random bits: a repeat
    /// means the pool handed out a block again, or handed out unfilled memory), and each bit is set about half the time.
    @Test func pooledNumbersAreNeverRepeatedAndLookRandom() async {
        let draws = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var random = PooledRandom()
                    return (0..<1_500).flatMap { index in
                        index.isMultiple(of: 2) ? [random.next()] : [PooledRandom.pair().0, PooledRandom.pair().1]
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(draws.count == 4 * (750 + 750 * 2))
        #expect(Set(draws).count == draws.count)
        for bit in 0..<64 {
            let set = draws.count { $0 >> UInt64(bit) & 1 == 1 }
            #expect((0.45...0.55).contains(Double(set) / Double(draws.count)), "bit \(bit): set in \(set) of \(draws.count)")
        }
    }

    @Test func eventIdsMadeTogetherDiffer() {
        let ids = (0..<5_000).map { _ in EventIdentifier.make(at: .init(timeIntervalSince1970: 1_795_430_000)) }
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids.map { $0.prefix(13) }).count == 1)
    }
}
