/// Which version an event goes to during a rollout: its key (the event id, or the rollout's `stick_by` value) hashed
/// to one of 10,000 buckets; the candidate takes the buckets below its share. The same key always lands in the same
/// bucket — across restarts and across engines — and a larger share keeps every key the smaller one had.
public enum RolloutSplit {
    public static let buckets = 10_000

    /// The bucket of `key`: FNV-1a (64 bits) of its UTF-8 bytes, then a finalizer that spreads near keys apart.
    public static func bucket(_ key: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return Int(hash % UInt64(buckets))
    }

    /// Whether `key` goes to the candidate at a share of `basisPoints` (hundredths of a percent).
    public static func toCandidate(_ key: String, basisPoints: Int) -> Bool {
        bucket(key) < basisPoints
    }
}
