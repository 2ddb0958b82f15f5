/// An HTTP request as it reached a webhook path, before anything is trusted: the server hands it over as it came.
public struct WebhookRequest: Sendable {
    public var method: String
    /// The request target: path and query as received, such as `/hooks/twilio?foo=1`.
    public var target: String
    public var headers: HeaderList
    /// The raw body, exactly as received: signatures are checked on these bytes.
    public var body: [UInt8]
    /// The client's IP address, if known.
    public var remoteAddress: String?

    public init(method: String, target: String, headers: HeaderList, body: [UInt8], remoteAddress: String?) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The query string after `?`, without it; empty when there is none.
    public var query: Substring {
        guard let mark = target.firstIndex(of: "?") else { return "" }
        return target[target.index(after: mark)...]
    }
}

/// HTTP header fields in their order, looked up without regard to case.
public struct HeaderList: Sendable, Equatable, ExpressibleByDictionaryLiteral, Sequence {
    public var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// The first value of the header `name`.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    public mutating func append(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (lhs: HeaderList, rhs: HeaderList) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension String {
    /// ASCII case-insensitive equality, as HTTP header names compare.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        let left = utf8, right = other.utf8
        guard left.count == right.count else { return false }
        return zip(left, right).allSatisfy { a, b in
            a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
        }
    }
}

extension String {
    /// Lower-cases ASCII letters only, as HTTP header names and media types compare; much cheaper than
    /// `lowercased()`, which maps all of Unicode.
    var asciiLowercased: String {
        guard utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else { return self }
        return String(decoding: utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 },
                      as: UTF8.self)
    }

}
