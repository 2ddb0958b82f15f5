#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A network in CIDR notation (`10.0.0.0/8`, `2600:1f18::/32`) that an address can be matched against.
public struct NetworkRange: Sendable, Hashable {
    private let bytes: [UInt8]
    private let prefixLength: Int

    /// `nil` if `cidr` is not a valid network.
    public init?(_ cidr: String) {
        let parts = cidr.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let bytes = NetworkRange.address(String(parts[0])), let length = Int(parts[1]),
              length >= 0, length <= bytes.count * 8
        else { return nil }
        self.bytes = bytes
        self.prefixLength = length
    }

    /// Whether `address` (IPv4 or IPv6 text) lies in the network. IPv4-mapped IPv6 addresses match IPv4 networks.
    public func contains(_ address: String) -> Bool {
        guard var candidate = NetworkRange.address(address) else { return false }
        if candidate.count == 16, bytes.count == 4, candidate[0..<10].allSatisfy({ $0 == 0 }),
           candidate[10] == 0xFF, candidate[11] == 0xFF
        {
            candidate = Array(candidate[12...])
        }
        guard candidate.count == bytes.count else { return false }
        var remaining = prefixLength
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if candidate[index] & mask != bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// The 4 or 16 bytes of an IP address in text, or `nil`.
    static func address(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
