import CNumberFormat
import Foundation

/// Parsed picture strings (`$formatNumber`, `$formatInteger`, `$fromMillis`, `$toMillis`), kept by their text: a
/// mapping passes the same few constant pictures at every evaluation, and parsing one cost more than formatting with
/// it. Bounded: when full it starts again, so pictures built from data cannot grow it without limit. Shared by every
/// evaluation of the process, behind a lock held only to read or store an entry.
final class PictureCache<Picture>: @unchecked Sendable {
    // Guarded by `lock`.
    private var entries: [String: Picture] = [:]
    private let lock = NSLock()
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    /// The picture parsed from `text`, parsed now and kept if it was not yet.
    func picture(_ text: String, parse: (String) throws(JSONataError) -> Picture) throws(JSONataError) -> Picture {
        lock.lock()
        let kept = entries[text]
        lock.unlock()
        if let kept { return kept }
        let parsed = try parse(text)
        lock.lock()
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[text] = parsed
        lock.unlock()
        return parsed
    }
}

extension DateTimePicture {
    static let cache = PictureCache<DateTimePicture>()

    /// `text` parsed, from the cache when it was parsed before.
    static func cached(_ text: String) throws(JSONataError) -> DateTimePicture {
        try cache.picture(text) { (text) throws(JSONataError) in try DateTimePicture(text) }
    }
}

extension NumberPicture {
    /// Pictures of the default decimal format (no options object); a caller's own format is compiled each time.
    static let cache = PictureCache<Compiled>()

    /// `text` compiled with the default decimal format, from the cache when it was compiled before.
    static func cached(_ text: String) throws(JSONataError) -> Compiled {
        try cache.picture(text) { (text) throws(JSONataError) in try compile(text, properties: defaults) }
    }
}

extension IntegerPicture {
    static let cache = PictureCache<IntegerPicture>()

    /// `text` parsed, from the cache when it was parsed before.
    static func cached(_ text: String) throws(JSONataError) -> IntegerPicture {
        try cache.picture(text) { (text) throws(JSONataError) in try IntegerPicture(text) }
    }
}

/// `value` printed with `places` decimals, as C's `%.*f` prints it (the exact binary value, rounded half to even), or
/// with `exponent` as `%.*e`. `String(format:)` gave the same text through Foundation's formatter, and `vsnprintf`
/// through a `va_list` whose building cost more than the printing; whole numbers below 2^53 need neither.
func fixedDecimal(_ value: Double, places: Int, exponent: Bool = false) -> String {
    if !exponent, places == 0, value.isFinite, abs(value) < 9_007_199_254_740_992 {
        let whole = value.rounded(.toNearestOrEven)
        return whole == 0 && value.sign == .minus ? "-0" : String(Int64(whole))
    }
    var size = 64 + max(0, places)
    while true {
        var buffer = [CChar](repeating: 0, count: size)
        let written = cnumberformat_print(&buffer, size, value, Int32(clamping: places), exponent ? 1 : 0)
        if written < 0 { return String(format: exponent ? "%.\(places)e" : "%.\(places)f", value) }
        if Int(written) < size { return String(cString: buffer) }
        size = Int(written) + 1
    }
}
