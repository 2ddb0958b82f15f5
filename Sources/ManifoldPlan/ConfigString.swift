/// A configuration string that may reference secrets or settings: `${env:NAME}` or `${file:PATH}`.
///
/// The plan keeps the references, never the values, so that a plan (and its version hash) can be
/// printed, stored and diffed without leaking a secret. The engine resolves them when it starts.
public struct ConfigString: Sendable, Hashable, CustomStringConvertible {
    /// A piece of the string.
    public enum Part: Sendable, Hashable {
        case literal(String)
        case environment(String)
        case file(String)
    }

    public var parts: [Part]

    public init(parts: [Part]) {
        self.parts = parts
    }

    /// A string with no references.
    public init(literal: String) {
        self.parts = literal.isEmpty ? [] : [.literal(literal)]
    }

    /// Whether the string holds a reference to the environment or a file.
    public var hasReferences: Bool {
        parts.contains { if case .literal = $0 { false } else { true } }
    }

    /// The text when there are no references.
    public var literalValue: String? {
        hasReferences ? nil : parts.map { if case .literal(let text) = $0 { text } else { "" } }.joined()
    }

    /// The string as written, with `${env:NAME}` and `${file:PATH}` for references.
    public var description: String {
        parts.map { part in
            switch part {
            case .literal(let text): text
            case .environment(let name): "${env:\(name)}"
            case .file(let path): "${file:\(path)}"
            }
        }.joined()
    }
}
