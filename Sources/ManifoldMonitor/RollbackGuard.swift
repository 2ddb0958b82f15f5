public import Foundation

/// The automatic rollback of a canary, as a state machine on times given to it: attempts of the current and the
/// candidate version, and events the candidate quarantined, come in; `judge(at:)` says whether to roll back. The
/// candidate is rolled back when, over the last `window`, its failure rate exceeds the current's by more than `margin`
/// (judged once it made `minimum` attempts), or at once when it quarantined an event (bad data it made).
public struct RollbackGuard: Sendable {
    public enum Arm: String, Sendable { case current, candidate }

    public enum State: Sendable, Equatable {
        case watching
        /// Rolled back, with the reason; nothing more is judged.
        case rolledBack(String)
    }

    public let margin: Double
    public let window: TimeInterval
    public let minimum: Int
    public let onQuarantine: Bool
    public private(set) var state: State = .watching
    private var attempts: [(at: Date, arm: Arm, failed: Bool)] = []
    private var quarantined: (at: Date, reason: String)?

    public init(margin: Double, window: TimeInterval, minimum: Int, onQuarantine: Bool) {
        self.margin = margin
        self.window = window
        self.minimum = minimum
        self.onQuarantine = onQuarantine
    }

    /// An attempt of `arm` at `at`: failed (transient, permanent or bad data) or delivered; 429s are not counted.
    public mutating func attempted(_ arm: Arm, failed: Bool, at: Date) {
        guard state == .watching else { return }
        attempts.append((at, arm, failed))
    }

    /// The candidate quarantined an event or a job (its mapping made bad data).
    public mutating func candidateQuarantined(_ reason: String, at: Date) {
        guard state == .watching, quarantined == nil else { return }
        quarantined = (at, reason)
    }

    /// The figures of each arm over the window ending at `now`.
    public func figures(at now: Date) -> [Arm: (attempts: Int, failed: Int)] {
        var figures: [Arm: (attempts: Int, failed: Int)] = [.current: (0, 0), .candidate: (0, 0)]
        for attempt in attempts where now.timeIntervalSince(attempt.at) <= window {
            figures[attempt.arm, default: (0, 0)].attempts += 1
            if attempt.failed { figures[attempt.arm, default: (0, 0)].failed += 1 }
        }
        return figures
    }

    /// Judges at `now`: returns the reason when the candidate must be rolled back now (once), else `nil`.
    public mutating func judge(at now: Date) -> String? {
        guard state == .watching else { return nil }
        attempts.removeAll { now.timeIntervalSince($0.at) > window }
        if onQuarantine, let quarantined {
            return rollBack("the candidate quarantined an event: \(quarantined.reason)")
        }
        let figures = figures(at: now)
        guard let candidate = figures[.candidate], candidate.attempts >= max(minimum, 1) else { return nil }
        let current = figures[.current] ?? (0, 0)
        let candidateRate = Double(candidate.failed) / Double(candidate.attempts)
        let currentRate = current.attempts == 0 ? 0 : Double(current.failed) / Double(current.attempts)
        guard candidateRate > currentRate + margin else { return nil }
        return rollBack(String(format: "the candidate failed %d of %d attempts (%.1f%%) against the current's %d of %d (%.1f%%) over %.0f s: more than %.1f points worse",
                               candidate.failed, candidate.attempts, candidateRate * 100, current.failed, current.attempts,
                               currentRate * 100, window, margin * 100))
    }

    private mutating func rollBack(_ reason: String) -> String {
        state = .rolledBack(reason)
        return reason
    }
}
