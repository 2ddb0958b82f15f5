import Foundation
import ManifoldPlan

/// Hex, base64 and form-urlencoded helpers for signatures and bodies.
enum Encoding {
    static func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

    /// The bytes of a hex string (either case), or `nil` if it is not one.
    static func fromHex(_ text: Substring) -> [UInt8]? { Hex.decode(text) }

    static func base64(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    static func fromBase64(_ text: Substring) -> [UInt8]? {
        Data(base64Encoded: String(text)).map { Array($0) }
    }

    /// The name/value pairs of an `application/x-www-form-urlencoded` body, decoded (`+` is a space).
    /// `nil` when a pair is not valid percent-encoded UTF-8.
    static func formPairs(_ body: some Collection<UInt8>) -> [(name: String, value: String)]? {
        var pairs: [(name: String, value: String)] = []
        for piece in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = piece.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = formDecode(parts[0]) else { return nil }
            let value = parts.count > 1 ? formDecode(parts[1]) : ""
            guard let value else { return nil }
            pairs.append((name: name, value: value))
        }
        return pairs
    }

    private static func formDecode(_ bytes: some Collection<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                let first = bytes.index(after: index)
                guard first != bytes.endIndex else { return nil }
                let second = bytes.index(after: first)
                guard second != bytes.endIndex,
                      let decoded = fromHex(Substring(decoding: [bytes[first], bytes[second]], as: UTF8.self))
                else { return nil }
                out.append(decoded[0])
                index = second
            } else {
                out.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(validating: out, as: UTF8.self)
    }
}

extension StringProtocol where UTF8View: BidirectionalCollection {
    /// Without leading and trailing whitespace, as `trimmingCharacters(in: .whitespaces)` gives it (tabs and Unicode's
    /// space separators). A value that starts and ends with a printable ASCII character, as nearly every header value
    /// does, is returned as it is without going through Foundation, which took about 2.7 µs a call: several calls
    /// a webhook, to read its content type and signature header.
    var trimmingWhitespace: String {
        let isPrintableASCII = { (byte: UInt8) in byte > 0x20 && byte < 0x7F }
        if let first = utf8.first, let last = utf8.last, isPrintableASCII(first), isPrintableASCII(last) {
            return String(self)
        }
        return trimmingCharacters(in: .whitespaces)
    }
}
