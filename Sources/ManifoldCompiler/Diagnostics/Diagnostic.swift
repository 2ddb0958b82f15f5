/// A finding about a connector file, compiler-style: `file:line:col: error: message`.
public struct Diagnostic: Sendable, Hashable, Error, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Comparable {
        case error, warning, note

        public static func < (lhs: Severity, rhs: Severity) -> Bool {
            lhs.rank < rhs.rank
        }

        private var rank: Int {
            switch self {
            case .error: 0
            case .warning: 1
            case .note: 2
            }
        }
    }

    public var severity: Severity
    /// Where; `nil` for findings about no file in particular.
    public var location: SourceLocation?
    public var message: String
    /// Further lines that help: "did you mean", where a duplicate was first defined.
    public var notes: [Note]

    /// A secondary remark attached to a diagnostic, optionally at its own location.
    public struct Note: Sendable, Hashable {
        public var location: SourceLocation?
        public var message: String

        public init(_ message: String, at location: SourceLocation? = nil) {
            self.message = message
            self.location = location
        }
    }

    public init(_ severity: Severity, _ message: String, at location: SourceLocation?, notes: [Note] = []) {
        self.severity = severity
        self.location = location
        self.message = message
        self.notes = notes
    }

    public static func error(_ message: String, at location: SourceLocation?, notes: [Note] = []) -> Diagnostic {
        Diagnostic(.error, message, at: location, notes: notes)
    }

    public static func warning(_ message: String, at location: SourceLocation?, notes: [Note] = []) -> Diagnostic {
        Diagnostic(.warning, message, at: location, notes: notes)
    }

    /// The first line: `file:line:col: severity: message`.
    public var description: String {
        (location.map { "\($0): " } ?? "") + "\(severity.rawValue): \(message)"
    }
}

extension [Diagnostic] {
    /// Whether any diagnostic is an error.
    public var hasErrors: Bool {
        contains { $0.severity == .error }
    }

    /// In file order (file, line, column), then errors before warnings; duplicates removed.
    public func sortedForDisplay() -> [Diagnostic] {
        var seen = Set<Diagnostic>()
        return filter { seen.insert($0).inserted }.enumerated().sorted { lhs, rhs in
            switch (lhs.element.location, rhs.element.location) {
            case (let a?, let b?) where a != b: return a < b
            case (nil, _?): return true
            case (_?, nil): return false
            default:
                if lhs.element.severity != rhs.element.severity { return lhs.element.severity < rhs.element.severity }
                return lhs.offset < rhs.offset
            }
        }.map(\.element)
    }
}
