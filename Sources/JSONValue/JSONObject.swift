/// A JSON object: string keys in insertion order.
///
/// Equality and hashing ignore key order, as JSON does; iteration and printing keep it. Small objects
/// (most of a webhook's) are searched linearly; a hash index is kept only past `indexThreshold` keys.
public struct JSONObject: Sendable, Hashable, Sequence {
    public private(set) var keys: [String]
    private var storage: [JSON]
    private var index: [String: Int]?

    /// Objects with more keys than this keep a hash index.
    static let indexThreshold = 16

    /// An empty object.
    public init() {
        keys = []
        storage = []
        index = nil
    }

    /// An object with these members in this order; a repeated key keeps its first place and last value.
    public init(_ members: some Sequence<(String, JSON)>) {
        self.init()
        for (key, value) in members { self[key] = value }
    }

    /// An object with these members in this order; the keys must be distinct (as for a `Dictionary`).
    public init(uniqueKeysWithValues members: [(String, JSON)]) {
        keys = members.map(\.0)
        storage = members.map(\.1)
        if keys.count > Self.indexThreshold {
            index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        } else {
            index = nil
            assert(Set(keys).count == keys.count, "duplicate keys in JSONObject(uniqueKeysWithValues:)")
        }
    }

    /// The number of members.
    public var count: Int { keys.count }

    /// Whether the object has no members.
    public var isEmpty: Bool { keys.isEmpty }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return keys.firstIndex(of: key)
    }

    /// The value of `key`; assigning `nil` removes it.
    public subscript(key: String) -> JSON? {
        get { position(of: key).map { storage[$0] } }
        set {
            if let newValue {
                if let position = position(of: key) {
                    storage[position] = newValue
                } else {
                    keys.append(key)
                    storage.append(newValue)
                    if index != nil {
                        index![key] = keys.count - 1
                    } else if keys.count > Self.indexThreshold {
                        index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
                    }
                }
            } else if let position = position(of: key) {
                keys.remove(at: position)
                storage.remove(at: position)
                index = keys.count > Self.indexThreshold ? Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) }) : nil
            }
        }
    }

    /// The members in order.
    public func makeIterator() -> some IteratorProtocol<(key: String, value: JSON)> {
        zip(keys, storage).lazy.map { (key: $0.0, value: $0.1) }.makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs.keys, lhs.storage).allSatisfy { key, value in rhs[key] == value }
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent: the members' hashes are combined commutatively.
        var combined = 0
        for (key, value) in zip(keys, storage) {
            var member = Hasher()
            member.combine(key)
            member.combine(value)
            combined &+= member.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }
}
