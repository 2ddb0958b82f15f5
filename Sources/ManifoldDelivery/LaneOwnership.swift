public import Foundation
public import ManifoldStore

/// Which lanes this engine runs when engines share a store: one engine per lane, through a lease in the store, so that
/// a lane's rate limit, concurrency, breaker and order are one engine's and exact across the cluster.
///
/// A pure state on wall time: the runtime asks it what to ask the store for (`request`), tells it what the store
/// granted (`granted`), and asks which lanes to give up so that every live engine runs its share (`surplus`). An
/// engine renews its leases each third of their length and stops starting calls on a lane a third before its lease
/// ends, so a lane it cannot renew (the store is gone, it stalled) goes quiet before another engine may take it.
public struct LaneOwnership: Sendable {
    /// How long a lane's lease lasts without renewal.
    public let leaseDuration: TimeInterval
    /// The leases held, by lane.
    public private(set) var held: [String: LaneLease] = [:]
    /// When the held leases were last renewed (asked for, all of them).
    private var lastRenewal: Date?
    /// Lanes given up to other engines, and when: not asked for again for one lease, so that another engine can take
    /// them (and an engine does not take back what it just gave).
    private var givenUp: [String: Date] = [:]

    public init(leaseDuration: TimeInterval) {
        self.leaseDuration = leaseDuration
    }

    /// A third of the lease: how often leases are renewed, and how long before its end a lane stops starting calls.
    public var margin: TimeInterval { leaseDuration / 3 }

    /// Whether this engine may start calls on `lane` at `now`.
    public func holds(_ lane: String, at now: Date) -> Bool {
        held[lane].map { $0.until.timeIntervalSince(now) > margin } ?? false
    }

    /// The lanes to ask the store for at `now`, given the lanes with work (`wanted`): the held ones when a renewal is
    /// due, with every wanted lane not held; `nil` when there is nothing to ask.
    public func request(wanted: Set<String>, at now: Date) -> [String]? {
        let renewalDue = lastRenewal.map { now.timeIntervalSince($0) >= margin } ?? true
        let resting = Set(givenUp.filter { now.timeIntervalSince($0.value) < leaseDuration }.keys)
        let missing = wanted.subtracting(held.keys).subtracting(resting)
        guard renewalDue || !missing.isEmpty else { return nil }
        let asked = renewalDue ? Set(held.keys).union(missing) : missing
        return asked.isEmpty ? nil : asked.sorted()
    }

    /// What changed when the store answered a request for `asked` at `now` with `leases` (those this engine holds now):
    /// lanes gained (with the lease, its `previousEnd` telling how long to stay quiet), and lanes lost (asked, held
    /// before, not granted: another engine took them after this one's lease ran out).
    public mutating func granted(_ leases: [LaneLease], asked: [String], at now: Date) -> (gained: [LaneLease], lost: [String]) {
        // A renewal when every lane held was asked for; a request for missing lanes only renews nothing.
        if Set(held.keys).isSubset(of: asked) { lastRenewal = now }
        let granted = Dictionary(leases.map { ($0.lane, $0) }, uniquingKeysWith: { _, last in last })
        var gained: [LaneLease] = []
        var lost: [String] = []
        for lane in asked {
            if var lease = granted[lane] {
                if let before = held[lane], before.token == lease.token {
                    // A renewal: the quiet after the takeover still counts from the previous holder's end.
                    lease.previousEnd = before.previousEnd
                } else {
                    gained.append(lease)
                }
                held[lane] = lease
            } else if held.removeValue(forKey: lane) != nil {
                lost.append(lane)
            }
        }
        // A lease not renewed in time is lost even when it was not asked for.
        lost += expire(at: now)
        return (gained.sorted { $0.lane < $1.lane }, lost.sorted())
    }

    /// Lanes whose lease ran out at `now` without a renewal (the store could not be reached): no longer held.
    public mutating func expire(at now: Date) -> [String] {
        let lapsed = held.filter { $0.value.until <= now }.map(\.key).sorted()
        for lane in lapsed { held[lane] = nil }
        return lapsed
    }

    /// The lanes to give up so that, of `lanesWithWork` lanes shared by `engines` live engines, this one runs no more
    /// than its share (rounded up): the ones with the least work here (`resident` jobs), so the fewest jobs move.
    /// Nothing is given up by the only engine.
    public func surplus(lanesWithWork: Int, engines: Int, resident: [String: Int]) -> [String] {
        guard engines > 1 else { return [] }
        let share = Int((Double(max(lanesWithWork, held.count)) / Double(engines)).rounded(.up))
        guard held.count > share else { return [] }
        return held.keys.sorted { (resident[$0] ?? 0, $0) < (resident[$1] ?? 0, $1) }.prefix(held.count - share).map { $0 }
    }

    /// `lanes` were given up at `now`.
    public mutating func released(_ lanes: [String], at now: Date) {
        for lane in lanes {
            held[lane] = nil
            givenUp[lane] = now
        }
        givenUp = givenUp.filter { now.timeIntervalSince($0.value) < leaseDuration }
    }
}
