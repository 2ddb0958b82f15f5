/// A JSON object: string keys in insertion order.
///
/// Equality and hashing ignore key order, as JSON does; iteration and printing keep it.
public struct JSONObject: Sendable, Hashable, Sequence {
    /// The members, in a box of their own: a JSON value is copied at every step of a walk over a document, and an
    /// object copied as three references (keys, values, index) cost three retains and releases where one does.
    /// Copy on write: a change to a shared box copies it first.
    @usableFromInline var storage: Storage

    @usableFromInline final class Storage: @unchecked Sendable {
        // Changed only through `members`' `_modify`, after making the box unique.
        @usableFromInline var members: OrderedMembers<JSON>

        @inlinable init(_ members: OrderedMembers<JSON>) {
            self.members = members
        }
    }

    @inlinable var members: OrderedMembers<JSON> {
        get { storage.members }
        _modify {
            if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.members) }
            yield &storage.members
        }
    }

    /// An empty object.
    @inlinable public init() {
        storage = Storage(OrderedMembers())
    }

    /// An object with these members in this order; a repeated key keeps its first place and last value.
    public init(_ members: some Sequence<(String, JSON)>) {
        self.init()
        for (key, value) in members { self[key] = value }
    }

    /// An object with these members in this order; the keys must be distinct (as for a `Dictionary`).
    @inlinable public init(uniqueKeysWithValues members: [(String, JSON)]) {
        self.init(uniqueKeys: members.map(\.0), values: members.map(\.1))
    }

    /// A parsed object: `keys` distinct by their code points, and their values; `allASCII` when no key has a byte past
    /// ASCII, so that lookups compare as they do in an object built key by key.
    init(parsedKeys keys: [String], values: [JSON], allASCII: Bool) {
        var members = OrderedMembers(uniqueKeys: keys, values: values)
        members.mayHaveNonASCIIKeys = !allASCII
        storage = Storage(members)
    }

    /// An object of distinct `keys` and their `values`, in order.
    @inlinable public init(uniqueKeys keys: [String], values: [JSON]) {
        storage = Storage(OrderedMembers(uniqueKeys: keys, values: values))
    }

    /// The keys in order.
    @inlinable public var keys: [String] { storage.members.keys }

    /// The number of members.
    @inlinable public var count: Int { storage.members.count }

    /// Whether the object has no members.
    public var isEmpty: Bool { storage.members.count == 0 }

    /// The value of `key`; assigning `nil` removes it.
    @inlinable public subscript(key: String) -> JSON? {
        get { storage.members[key] }
        set { members[key] = newValue }
    }

    /// The value at `position` when its key is `key`, the same text exactly; else `nil`. With `valueAndPosition(of:)`,
    /// a caller that looks one key up in many objects of one shape can try the position where it found it last.
    @inlinable public func value(at position: Int, ifKeyIs key: String) -> JSON? {
        storage.members.value(at: position, ifKeyIs: key)
    }

    /// The value of `key` and its position among the members: what `self[key]` gives, and where.
    @inlinable public func valueAndPosition(of key: String) -> (value: JSON, position: Int)? {
        storage.members.valueAndPosition(of: key)
    }

    /// The members in order.
    public func makeIterator() -> some IteratorProtocol<(key: String, value: JSON)> {
        zip(storage.members.keys, storage.members.values).lazy.map { (key: $0.0, value: $0.1) }.makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs.storage.members.keys, lhs.storage.members.values).allSatisfy { key, value in rhs[key] == value }
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent: the members' hashes are combined commutatively.
        var combined = 0
        for (key, value) in zip(storage.members.keys, storage.members.values) {
            var member = Hasher()
            member.combine(key)
            member.combine(value)
            combined &+= member.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }
}
