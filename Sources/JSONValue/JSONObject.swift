/// A JSON object: string keys in insertion order.
///
/// Equality and hashing ignore key order, as JSON does; iteration and printing keep it.
public struct JSONObject: Sendable, Hashable, Sequence {
    public private(set) var keys: [String]
    private var values: [String: JSON]

    /// An empty object.
    public init() {
        keys = []
        values = [:]
    }

    /// An object with these members in this order; a repeated key keeps its first place and last value.
    public init(_ members: some Sequence<(String, JSON)>) {
        self.init()
        for (key, value) in members { self[key] = value }
    }

    /// The number of members.
    public var count: Int { keys.count }

    /// Whether the object has no members.
    public var isEmpty: Bool { keys.isEmpty }

    /// The value of `key`; assigning `nil` removes it.
    public subscript(key: String) -> JSON? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// The members in order.
    public func makeIterator() -> some IteratorProtocol<(key: String, value: JSON)> {
        keys.lazy.map { key in (key: key, value: self.values[key]!) }.makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.values == rhs.values
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(values)
    }
}
