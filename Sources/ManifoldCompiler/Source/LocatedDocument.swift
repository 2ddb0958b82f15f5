public import JSONValue

/// A parsed YAML document as JSON, with the source location of every key and value.
public struct LocatedDocument: Sendable {
    public let file: String
    public let value: JSON
    let valueLocations: [JSONPointer: SourceLocation]
    let keyLocations: [JSONPointer: SourceLocation]

    /// Where the value at `pointer` starts; for a missing value, the nearest existing parent.
    public func location(of pointer: JSONPointer) -> SourceLocation {
        var current = pointer
        while true {
            if let location = valueLocations[current] { return location }
            if current.tokens.isEmpty { return SourceLocation(file: file, line: 1, column: 1) }
            current = current.parent
        }
    }

    /// Where the key naming the value at `pointer` stands (or the value itself, in a list).
    public func keyLocation(of pointer: JSONPointer) -> SourceLocation {
        keyLocations[pointer] ?? location(of: pointer)
    }
}
