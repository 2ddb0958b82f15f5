/// Members under string keys, in insertion order: searched linearly while few (most objects in
/// webhooks are small), through a hash index past `indexThreshold` keys.
///
/// Generic across modules, so its members are `@inlinable` to be specialised where they are used.
public struct OrderedMembers<Element> {
    @usableFromInline var storedKeys: [String] = []
    @usableFromInline var storedValues: [Element] = []

    /// The keys in order.
    @inlinable public var keys: [String] { storedKeys }
    /// The values, in the order of their keys.
    @inlinable public var values: [Element] { storedValues }
    @usableFromInline var index: [String: Int]?

    /// Collections with more keys than this keep a hash index.
    @inlinable public static var indexThreshold: Int { 16 }

    @inlinable public init() {}

    /// Members from distinct keys and their values, in order (as for `Dictionary(uniqueKeysWithValues:)`).
    @inlinable public init(uniqueKeys keys: [String], values: [Element]) {
        precondition(keys.count == values.count, "as many keys as values")
        self.storedKeys = keys
        self.storedValues = values
        if keys.count > Self.indexThreshold {
            index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        } else {
            assert(Set(keys).count == keys.count, "duplicate keys in OrderedMembers(uniqueKeys:values:)")
        }
    }

    @inlinable public var count: Int { keys.count }

    @inlinable public mutating func reserveCapacity(_ capacity: Int) {
        storedKeys.reserveCapacity(capacity)
        storedValues.reserveCapacity(capacity)
    }

    @inlinable func position(of key: String) -> Int? {
        if let index { return index[key] }
        return keys.firstIndex(of: key)
    }

    /// The value of `key`; assigning `nil` removes it, assigning to a new key appends it.
    @inlinable public subscript(key: String) -> Element? {
        get { position(of: key).map { values[$0] } }
        set {
            if let newValue {
                if let position = position(of: key) {
                    storedValues[position] = newValue
                } else {
                    storedKeys.append(key)
                    storedValues.append(newValue)
                    if index != nil {
                        index![key] = keys.count - 1
                    } else if keys.count > Self.indexThreshold {
                        reindex()
                    }
                }
            } else if let position = position(of: key) {
                storedKeys.remove(at: position)
                storedValues.remove(at: position)
                reindex()
            }
        }
    }

    @inlinable mutating func reindex() {
        index = keys.count > Self.indexThreshold ? Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) }) : nil
    }
}

extension OrderedMembers: Sendable where Element: Sendable {}
