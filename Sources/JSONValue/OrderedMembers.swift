import Foundation

/// Members under string keys, in insertion order: searched linearly while few (most objects in
/// webhooks are small), through a hash index past `indexThreshold` keys.
///
/// Keys are the same only when their code points are (`ExactKey`), as in JSON and JavaScript: Swift's `==` and
/// `Dictionary` take canonically equivalent text for the same key, so a composed "é" and an "e" with a combining accent
/// were one member, and parsing an object with both kept only the last.
///
/// Generic across modules, so its members are `@inlinable` to be specialised where they are used.
public struct OrderedMembers<Element> {
    @usableFromInline var storedKeys: [String] = []
    @usableFromInline var storedValues: [Element] = []

    /// The keys in order.
    @inlinable public var keys: [String] { storedKeys }
    /// The values, in the order of their keys.
    @inlinable public var values: [Element] { storedValues }
    /// Past `indexThreshold` keys, each key's position, under `String`'s own hashing: canonically equivalent keys share
    /// one entry, the first one's. A lookup checks that the entry's key is the same text, and searches exactly when not.
    @usableFromInline var index: [String: Int]?

    /// Collections with more keys than this keep a hash index.
    @inlinable public static var indexThreshold: Int { 16 }

    /// Whether some key may have a byte past ASCII (keys given all at once are not scanned). While none has, the key
    /// that `==` takes for equal to a key looked up is the same text, so that lookups in ASCII objects (nearly all of
    /// them) cost nothing more than before keys were compared exactly. The exception is a key looked up with one of
    /// the few code points canonically equivalent to a single ASCII character (the Kelvin sign for "K", the Greek
    /// question mark for ";", the Greek varia for "`"): it still reads the ASCII key. Assigning one is exact: it marks
    /// the object before it searches.
    @usableFromInline var mayHaveNonASCIIKeys = false

    @inlinable public init() {}

    @inlinable static func isASCII(_ key: String) -> Bool {
        key.utf8.allSatisfy { $0 < 0x80 }
    }

    /// Members from distinct keys and their values, in order (as for `Dictionary(uniqueKeysWithValues:)`).
    @inlinable public init(uniqueKeys keys: [String], values: [Element]) {
        precondition(keys.count == values.count, "as many keys as values")
        self.storedKeys = keys
        self.storedValues = values
        // Not scanned (objects built from an expression's keys are made at every evaluation, and rarely searched):
        // their lookups compare exactly.
        mayHaveNonASCIIKeys = true
        if keys.count > Self.indexThreshold {
            index = Self.index(of: keys)
        } else {
            assert(Set(keys.map(ExactKey.init)).count == keys.count, "duplicate keys in OrderedMembers(uniqueKeys:values:)")
        }
    }

    @inlinable public var count: Int { keys.count }

    @inlinable public mutating func reserveCapacity(_ capacity: Int) {
        storedKeys.reserveCapacity(capacity)
        storedValues.reserveCapacity(capacity)
    }

    @inlinable func position(of key: String) -> Int? {
        let first: Int? = if let index { index[key] } else { StringBits.firstPosition(of: key, in: storedKeys) }
        guard let found = first else { return nil }
        // While every key is ASCII, the key `==` takes for equal is the same text (see `mayHaveNonASCIIKeys`); otherwise
        // `exactPosition` decides.
        if !mayHaveNonASCIIKeys { return found }
        return exactPosition(of: key, found: found)
    }

    /// The position of the key that is the same text as `key`, given the first that `==` takes for equal (`found`):
    /// that one when it is the same text, else one found by searching exactly (canonically equivalent text came
    /// first). With no key `==` takes for equal, none is the same text, so `position` does not come here.
    @usableFromInline func exactPosition(of key: String, found: Int) -> Int? {
        if ExactKey.same(storedKeys[found], key) { return found }
        return storedKeys.firstIndex { ExactKey.same($0, key) }
    }

    /// The value at `position` when the key there is `key`, the same text exactly, else `nil`: the check a remembered
    /// position needs before it is used. A position outside the members is `nil`. Two short ASCII keys are compared by
    /// their bits (see `StringBits`); any other pair by their bytes.
    @inlinable public func value(at position: Int, ifKeyIs key: String) -> Element? {
        guard position >= 0, position < storedKeys.count else { return nil }
        #if arch(x86_64) || arch(arm64)
        let wanted = unsafeBitCast(key, to: (UInt64, UInt64).self)
        let bits = storedKeys.withUnsafeBufferPointer { buffer in
            UnsafeRawBufferPointer(buffer).loadUnaligned(fromByteOffset: position * MemoryLayout<String>.stride,
                                                          as: (UInt64, UInt64).self)
        }
        if bits == wanted { return storedValues[position] }
        if StringBits.isShortASCII(wanted) && StringBits.isShortASCII(bits) && StringBits.marksShortASCII { return nil }
        #endif
        return value(at: position, ifSameBytesAs: key)
    }

    /// The value at `position` when its key has the same bytes as `key`: out of line, so that the check above stays
    /// small where it is inlined.
    @inline(never) @usableFromInline func value(at position: Int, ifSameBytesAs key: String) -> Element? {
        ExactKey.same(storedKeys[position], key) ? storedValues[position] : nil
    }

    /// The value of `key` and its position, as `self[key]` finds it.
    @inlinable public func valueAndPosition(of key: String) -> (value: Element, position: Int)? {
        guard let position = position(of: key) else { return nil }
        return (storedValues[position], position)
    }

    @inlinable static func index(of keys: [String]) -> [String: Int] {
        Dictionary(keys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The value of `key`; assigning `nil` removes it, assigning to a new key appends it.
    @inlinable public subscript(key: String) -> Element? {
        get { position(of: key).map { values[$0] } }
        set {
            if let newValue {
                if !mayHaveNonASCIIKeys, !Self.isASCII(key) { mayHaveNonASCIIKeys = true }
                if let position = position(of: key) {
                    storedValues[position] = newValue
                } else {
                    storedKeys.append(key)
                    storedValues.append(newValue)
                    if index != nil {
                        if index![key] == nil { index![key] = keys.count - 1 }
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
        index = keys.count > Self.indexThreshold ? Self.index(of: keys) : nil
    }
}

extension OrderedMembers: Sendable where Element: Sendable {}

/// A linear search for a key without a call per key. A short ASCII string (up to 15 bytes) is held in its own bits,
/// with its count and a marker, and no storage: two of them are the same text exactly when their bits are, so most
/// keys of a webhook's objects are compared in two integer comparisons. `==` (an out-of-line call that compares
/// bytes) decides every other pair: a long key, a non-ASCII one, a short one kept in storage.
@usableFromInline enum StringBits {
    /// Whether this build's strings mark short ASCII ones as the search expects (the layout of 64-bit platforms):
    /// checked once on known strings, and when it does not hold, every pair is compared by `==`.
    @usableFromInline static let marksShortASCII: Bool = {
        #if arch(x86_64) || arch(arm64)
        func marked(_ text: String) -> Bool { isShortASCII(unsafeBitCast(text, to: (UInt64, UInt64).self)) }
        var stored = String()
        stored.reserveCapacity(32)
        stored += "ab"
        return marked("a") && marked("fifteen bytes!!") && !marked("\u{E9}") && !marked("\u{212A}")
            && !marked("sixteen bytes!!!") && !marked(stored)
        #else
        return false
        #endif
    }()

    @inlinable static func isShortASCII(_ bits: (UInt64, UInt64)) -> Bool { bits.1 >> 60 == 0xE }

    /// The position of the first of `keys` that `==` takes for equal to `key`, as `keys.firstIndex(of: key)`.
    @inlinable static func firstPosition(of key: String, in keys: [String]) -> Int? {
        #if arch(x86_64) || arch(arm64)
        guard marksShortASCII else { return keys.firstIndex(of: key) }
        let wanted = unsafeBitCast(key, to: (UInt64, UInt64).self)
        let wantedIsShortASCII = isShortASCII(wanted)
        return keys.withUnsafeBufferPointer { buffer -> Int? in
            let raw = UnsafeRawBufferPointer(buffer)
            for position in 0..<buffer.count {
                let bits = raw.loadUnaligned(fromByteOffset: position * MemoryLayout<String>.stride, as: (UInt64, UInt64).self)
                if bits == wanted { return position }
                if wantedIsShortASCII && isShortASCII(bits) { continue }
                if buffer[position] == key { return position }
            }
            return nil
        }
        #else
        return keys.firstIndex(of: key)
        #endif
    }
}

/// A string compared and hashed by its code points (its UTF-8 bytes), as JSON and JavaScript compare keys and text.
public struct ExactKey: Hashable, Sendable {
    public let text: String

    @inlinable public init(_ text: String) {
        self.text = text
    }

    /// Whether `a` and `b` have the same code points: the same UTF-8 bytes. Two strings with the same bits are the
    /// same text (a short string's bytes are in its bits, a long one's bits point at its storage), and two short ASCII
    /// strings with different bits are different texts (see `StringBits`): that settles most pairs of short keys
    /// here; otherwise `sameBytes` decides.
    @inlinable public static func same(_ a: String, _ b: String) -> Bool {
        same(a, b, shortASCIIMarked: StringBits.marksShortASCII)
    }

    /// `same(_:_:)`, with `StringBits.marksShortASCII` given by a caller that compares many pairs and reads it once
    /// (it is read here only for two short ASCII strings with different bits).
    @inlinable @inline(__always) static func same(_ a: String, _ b: String, shortASCIIMarked marked: @autoclosure () -> Bool) -> Bool {
        #if arch(x86_64) || arch(arm64)
        let x = unsafeBitCast(a, to: (UInt64, UInt64).self), y = unsafeBitCast(b, to: (UInt64, UInt64).self)
        if x == y { return true }
        if StringBits.isShortASCII(x) && StringBits.isShortASCII(y) && marked() { return false }
        #endif
        return sameBytes(a, b)
    }

    /// Whether `a` and `b` have the same UTF-8 bytes: their counts, known without counting, then their bytes.
    public static func sameBytes(_ a: String, _ b: String) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        let compared = x.withContiguousStorageIfAvailable { p in
            y.withContiguousStorageIfAvailable { q in
                p.isEmpty || memcmp(p.baseAddress!, q.baseAddress!, p.count) == 0
            }
        }
        if let compared, let equal = compared { return equal }
        return x.elementsEqual(y)
    }

    @inlinable public static func == (lhs: ExactKey, rhs: ExactKey) -> Bool {
        same(lhs.text, rhs.text)
    }

    @inlinable public func hash(into hasher: inout Hasher) {
        // The same bytes hashed the same way whether the text is contiguous or has to be copied first.
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil {
            Array(text.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
