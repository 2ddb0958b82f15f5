extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Seconds with their fraction (`TimeInterval`), for dates and reports.
    public var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration as an author writes it: `250ms`, `10s`, `1m30s`, `2h`, `1d2h`.
    public var manifoldText: String {
        var remaining = milliseconds
        if remaining == 0 { return "0s" }
        var text = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if remaining >= size {
                text += "\(remaining / size)\(unit)"
                remaining %= size
            }
        }
        return text
    }

    /// A duration as an author writes one in a file: `250ms`, `10s`, `5m`, `1h`, `1d` (one unit); `nil` otherwise.
    public init?(manifoldText text: String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int64(digits), value < 1_000_000_000 else { return nil }
        switch text.dropFirst(digits.count) {
        case "ms": self = .milliseconds(value)
        case "s": self = .seconds(value)
        case "m": self = .seconds(value * 60)
        case "h": self = .seconds(value * 3600)
        case "d": self = .seconds(value * 86_400)
        default: return nil
        }
    }
}
