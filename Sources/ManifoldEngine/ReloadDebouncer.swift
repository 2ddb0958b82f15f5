/// When a burst of file changes has settled enough to reload: an editor's save is several writes and renames, and
/// a deploy rewrites many files. Due when no change came for `quiet`, or, while changes keep coming, `longest` after
/// the first. A state machine on given instants, tested without a clock.
public struct ReloadDebouncer: Sendable, Equatable {
    public let quiet: Duration
    public let longest: Duration
    private var firstChange: Duration?
    private var lastChange: Duration?

    public init(quiet: Duration = .milliseconds(20), longest: Duration = .milliseconds(250)) {
        self.quiet = quiet
        self.longest = longest
    }

    /// A file changed at `now`.
    public mutating func changed(at now: Duration) {
        if firstChange == nil { firstChange = now }
        lastChange = now
    }

    /// When the pending reload is due; `nil` when nothing changed.
    public var due: Duration? {
        guard let firstChange, let lastChange else { return nil }
        return min(lastChange + quiet, firstChange + longest)
    }

    /// Whether to reload at `now`; if so, the changes so far are taken.
    public mutating func take(at now: Duration) -> Bool {
        guard let due, now >= due else { return false }
        firstChange = nil
        lastChange = nil
        return true
    }
}
