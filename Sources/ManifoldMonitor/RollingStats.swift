public import Foundation
import Synchronization

/// A lane: one target of one connector.
public struct LaneKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var connector: String
    public var target: String

    public init(connector: String, target: String) {
        self.connector = connector
        self.target = target
    }

    public var description: String { connector + "/" + target }
    public static func < (lhs: LaneKey, rhs: LaneKey) -> Bool { (lhs.connector, lhs.target) < (rhs.connector, rhs.target) }
}

/// What an attempt was, as counted.
public enum AttemptKind: Int, Sendable, CaseIterable {
    case delivered, transient, rateLimited, permanent, badData

    public init(errorClass: String) {
        switch errorClass {
        case "delivered": self = .delivered
        case "rate_limited": self = .rateLimited
        case "permanent": self = .permanent
        case "bad_data": self = .badData
        default: self = .transient
        }
    }
}

/// What became of an event at the door.
public enum IngressKind: Int, Sendable, CaseIterable {
    case accepted, duplicate, rejected, quarantined
}

/// A lane's figures over a window.
public struct LaneSummary: Sendable, Equatable {
    /// Attempts that say something about the vendor's health: every attempt but 429s.
    public var attempts = 0
    public var delivered = 0
    /// Transient, permanent and bad-data attempts.
    public var failed = 0
    public var rateLimited = 0
    /// Jobs that ended dead-lettered or quarantined.
    public var deadLettered = 0
    public var quarantined = 0
    /// Call latency, milliseconds (estimated from histogram buckets).
    public var p50: Double?
    public var p99: Double?
    /// Event received → delivered, milliseconds.
    public var endToEndP50: Double?
    public var endToEndP99: Double?

    /// failed / attempts; nil without attempts.
    public var errorRate: Double? { attempts == 0 ? nil : Double(failed) / Double(attempts) }
    public var successRate: Double? { attempts == 0 ? nil : Double(delivered) / Double(attempts) }
}

/// Recent figures per lane and per connector, in 10-second buckets kept for a retention period (2 hours by
/// default: a 5-minute window and its 1-hour baseline fit): what the dashboard shows and alert rules judge.
/// Memory is fixed: per lane, retention / 10 s buckets of a few counters and two latency histograms.
public final class RollingStats: Sendable {
    public static let bucketSeconds: Int64 = 10
    /// Upper bounds of the latency buckets, milliseconds; a last bucket takes everything above.
    public static let latencyBounds: [Double] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000]

    /// A ring slot: its bucket index, so that a slot holding an older bucket is emptied before it is counted in.
    protocol Bucket {
        var index: Int64 { get }
        init(index: Int64)
    }

    static func update<B: Bucket>(_ bucket: inout B, _ index: Int64, _ change: (inout B) -> Void) {
        if bucket.index != index { bucket = B(index: index) }
        change(&bucket)
    }

    struct LaneBucket: Bucket {
        var index: Int64 = .min
        var attempts = [Int](repeating: 0, count: AttemptKind.allCases.count)
        var deadLettered = 0
        var quarantined = 0
        var latency = [Int](repeating: 0, count: RollingStats.latencyBounds.count + 1)
        var endToEnd = [Int](repeating: 0, count: RollingStats.latencyBounds.count + 1)

        init(index: Int64 = .min) { self.index = index }
    }

    struct EventBucket: Bucket {
        var index: Int64 = .min
        var counts = [Int](repeating: 0, count: IngressKind.allCases.count)

        init(index: Int64 = .min) { self.index = index }
    }

    private struct State {
        var lanes: [LaneKey: [LaneBucket]] = [:]
        var connectors: [String: [EventBucket]] = [:]
    }

    private let capacity: Int
    private let state = Mutex(State())

    public init(retention: Duration = .seconds(7200)) {
        capacity = Int(max(retention.components.seconds / Self.bucketSeconds, 1)) + 1
    }

    static func bucket(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) / bucketSeconds }

    static func slot(_ value: Double) -> Int {
        latencyBounds.firstIndex { value <= $0 } ?? latencyBounds.count
    }

    /// Counts an attempt: its kind, call latency, and for a finished job whether it was dead-lettered or
    /// quarantined, and its end-to-end latency when delivered.
    public func recordAttempt(_ lane: LaneKey, kind: AttemptKind, milliseconds: Double, endToEndMilliseconds: Double? = nil,
                              deadLettered: Bool = false, quarantined: Bool = false, at date: Date)
    {
        let index = Self.bucket(date)
        let capacity = self.capacity
        let position = Int(index % Int64(capacity))
        state.withLock { state in
            // Changed in place: copying the lane's buckets out and back would copy all of them on every attempt.
            Self.update(&state.lanes[lane, default: Array(repeating: LaneBucket(), count: capacity)][position], index) { bucket in
                bucket.attempts[kind.rawValue] += 1
                if kind != .rateLimited { bucket.latency[Self.slot(milliseconds)] += 1 }
                if let endToEnd = endToEndMilliseconds { bucket.endToEnd[Self.slot(endToEnd)] += 1 }
                if deadLettered { bucket.deadLettered += 1 }
                if quarantined { bucket.quarantined += 1 }
            }
        }
    }

    /// Counts an event at the door.
    public func recordEvent(connector: String, kind: IngressKind, at date: Date) {
        let index = Self.bucket(date)
        let capacity = self.capacity
        let position = Int(index % Int64(capacity))
        state.withLock { state in
            Self.update(&state.connectors[connector, default: Array(repeating: EventBucket(), count: capacity)][position], index) {
                $0.counts[kind.rawValue] += 1
            }
        }
    }

    /// The bucket indexes of the window that ends at `end`: the bucket `end` falls in (partly over) and as many
    /// whole buckets before it as the window holds, so a window always covers at least its length.
    private static func range(window: Duration, endingAt end: Date) -> ClosedRange<Int64> {
        let last = bucket(end)
        let count = max(Int64((Double(window.components.seconds) / Double(bucketSeconds)).rounded(.up)), 1)
        return (last - count)...last
    }

    /// A lane's figures over `window`, ending at `end`.
    public func summary(_ lane: LaneKey, window: Duration, endingAt end: Date) -> LaneSummary {
        let range = Self.range(window: window, endingAt: end)
        let buckets = state.withLock { state in (state.lanes[lane] ?? []).filter { range.contains($0.index) } }
        var summary = LaneSummary()
        var latency = [Int](repeating: 0, count: Self.latencyBounds.count + 1)
        var endToEnd = latency
        for bucket in buckets {
            summary.delivered += bucket.attempts[AttemptKind.delivered.rawValue]
            summary.rateLimited += bucket.attempts[AttemptKind.rateLimited.rawValue]
            summary.failed += bucket.attempts[AttemptKind.transient.rawValue] + bucket.attempts[AttemptKind.permanent.rawValue]
                + bucket.attempts[AttemptKind.badData.rawValue]
            summary.deadLettered += bucket.deadLettered
            summary.quarantined += bucket.quarantined
            for slot in latency.indices {
                latency[slot] += bucket.latency[slot]
                endToEnd[slot] += bucket.endToEnd[slot]
            }
        }
        summary.attempts = summary.delivered + summary.failed
        summary.p50 = Self.quantile(0.5, latency)
        summary.p99 = Self.quantile(0.99, latency)
        summary.endToEndP50 = Self.quantile(0.5, endToEnd)
        summary.endToEndP99 = Self.quantile(0.99, endToEnd)
        return summary
    }

    /// Events a connector saw over `window`, ending at `end`, by kind.
    public func events(_ connector: String, window: Duration, endingAt end: Date) -> [IngressKind: Int] {
        let range = Self.range(window: window, endingAt: end)
        let buckets = state.withLock { state in (state.connectors[connector] ?? []).filter { range.contains($0.index) } }
        var counts: [IngressKind: Int] = [:]
        for kind in IngressKind.allCases { counts[kind] = buckets.reduce(0) { $0 + $1.counts[kind.rawValue] } }
        return counts
    }

    /// The lanes and connectors seen so far.
    public var lanes: [LaneKey] { state.withLock { $0.lanes.keys.sorted() } }
    public var connectors: [String] { state.withLock { $0.connectors.keys.sorted() } }

    /// The q-quantile of a histogram, interpolated within its bucket; nil when empty.
    static func quantile(_ q: Double, _ counts: [Int]) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var seen = 0
        for (slot, count) in counts.enumerated() where count > 0 {
            if Double(seen + count) >= rank {
                guard slot < latencyBounds.count else { return latencyBounds.last }
                let lower = slot == 0 ? 0 : latencyBounds[slot - 1]
                let fraction = max(0, min(1, (rank - Double(seen)) / Double(count)))
                return lower + (latencyBounds[slot] - lower) * fraction
            }
            seen += count
        }
        return latencyBounds.last
    }
}
