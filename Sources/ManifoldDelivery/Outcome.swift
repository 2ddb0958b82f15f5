public import Foundation

/// What one attempt came to, by failure class.
public enum AttemptOutcome: Sendable, Equatable {
    /// 2xx.
    case delivered(status: Int)
    /// 408, 5xx, a timeout or a connection error: retried with backoff.
    case transient(status: Int?, retryAfter: Duration?, reason: String)
    /// 429: the lane waits (the vendor's reset time when it says one); does not use up an attempt.
    case rateLimited(retryAfter: Duration?)
    /// Any other answer (4xx, a redirect): dead-lettered at once.
    case permanent(status: Int?, reason: String)
    /// The mapping failed or the body fails its schema: quarantined, never sent.
    case badData(reason: String)

    /// Whether the vendor accepted the call.
    public var isDelivered: Bool {
        if case .delivered = self { true } else { false }
    }

    /// The class recorded with the attempt.
    public var errorClass: String {
        switch self {
        case .delivered: "delivered"
        case .transient: "transient"
        case .rateLimited: "rate_limited"
        case .permanent: "permanent"
        case .badData: "bad_data"
        }
    }

    /// Classifies a vendor's answer.
    public static func classify(_ response: InboundResponse, now: Date = Date()) -> AttemptOutcome {
        let status = response.status
        switch status {
        case 200..<300:
            return .delivered(status: status)
        case 429:
            return .rateLimited(retryAfter: waitHeader(response, now: now))
        case 408, 500...599:
            return .transient(status: status, retryAfter: waitHeader(response, now: now), reason: "the target answered \(status)")
        default:
            return .permanent(status: status, reason: "the target answered \(status)")
        }
    }

    /// How long the vendor asks us to wait: `Retry-After` (seconds or an HTTP date), else a rate-limit reset header
    /// (`RateLimit-Reset`, `X-RateLimit-Reset`: seconds from now, or a Unix time when it is that large). Capped at a day.
    public static func waitHeader(_ response: InboundResponse, now: Date) -> Duration? {
        let cap = 86_400.0
        if let value = response.header("Retry-After")?.trimmingCharacters(in: .whitespaces) {
            if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(min(seconds, cap) * 1000)) }
            if let date = httpDate(value) { return .milliseconds(Int64(min(max(0, date.timeIntervalSince(now)), cap) * 1000)) }
        }
        for name in ["RateLimit-Reset", "X-RateLimit-Reset", "X-Rate-Limit-Reset"] {
            guard let value = response.header(name), let number = Double(value.trimmingCharacters(in: .whitespaces)),
                  number >= 0
            else { continue }
            let seconds = number > 1_000_000_000 ? number - now.timeIntervalSince1970 : number
            return .milliseconds(Int64(min(max(0, seconds), cap) * 1000))
        }
        return nil
    }

    private static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
