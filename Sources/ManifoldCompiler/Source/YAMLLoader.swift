import Foundation
import JSONValue
import Yams

/// Reads a connector file: YAML with line and column marks, into JSON with a location for every node.
///
/// Scalars resolve by the YAML 1.2 core schema (`yes` and `on` are strings, not Booleans), keys are
/// always strings, and anything that is not a single YAML document of text is a located error.
public enum YAMLLoader {
    /// Files larger than this are refused before parsing.
    public static let maximumFileSize = 1 << 20
    /// Collections nested deeper than this are refused before parsing.
    public static let maximumNesting = 64
    /// Nodes a document may expand to, aliases included (a defence against "billion laughs").
    public static let maximumNodes = 200_000

    /// Parses `file`, or returns the diagnostics that say why it cannot be.
    public static func load(_ file: SourceFile) -> Result<LocatedDocument, Diagnostic> {
        let bytes = [UInt8](file.contents)
        func error(_ message: String, offset: Int) -> Result<LocatedDocument, Diagnostic> {
            .failure(.error(message, at: location(ofByte: offset, in: bytes, file: file.path)))
        }
        if bytes.count > maximumFileSize {
            return error("file is too large (\(bytes.count) bytes; the limit is \(maximumFileSize) bytes)", offset: 0)
        }
        if let offset = firstInvalidUTF8(bytes) {
            return error("file is not UTF-8 text (invalid byte 0x\(hex(bytes[offset])))", offset: offset)
        }
        if let offset = bytes.firstIndex(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D || $0 == 0x7F }) {
            return error("file contains the control character 0x\(hex(bytes[offset])); a connector file is YAML text", offset: offset)
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        if let (offset, depth) = excessiveNesting(bytes) {
            return error("nesting is deeper than \(maximumNesting) levels (\(depth)); a connector is not that deep", offset: offset)
        }

        let root: Node?
        do {
            root = try Parser(yaml: text, resolver: .basic, constructor: .default, encoding: .utf8).singleRoot()
        } catch let yamlError as YamlError {
            return .failure(diagnostic(for: yamlError, file: file, text: text, bytes: bytes))
        } catch let other {
            return error("cannot parse YAML: \(other)", offset: 0)
        }
        guard let root else {
            return error("file is empty: a connector file is a mapping with `connector`, `source`, `targets` and `routes`", offset: 0)
        }
        var converter = Converter(file: file.path)
        do {
            let value = try converter.convert(root, at: .root)
            return .success(LocatedDocument(file: file.path, value: value, valueLocations: converter.values,
                                            keyLocations: converter.keys))
        } catch let diagnostic as Diagnostic {
            return .failure(diagnostic)
        } catch {
            return .failure(.error("\(error)", at: SourceLocation(file: file.path, line: 1, column: 1)))
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }

    /// The 1-based line and column (in Unicode scalars) of the byte at `offset`.
    static func location(ofByte offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return SourceLocation(file: file, line: line, column: column)
    }

    /// The offset of the first byte that is not part of well-formed UTF-8, if any.
    private static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var offset = 0
        while offset < bytes.count {
            let lead = bytes[offset]
            let length: Int
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return offset
            }
            guard offset + length <= bytes.count else { return offset }
            for index in offset + 1 ..< offset + length where bytes[index] & 0xC0 != 0x80 {
                return index
            }
            if length > 1, String(validating: bytes[offset..<offset + length], as: UTF8.self) == nil { return offset }
            offset += length
        }
        return nil
    }

    /// The offset and depth where flow brackets or block indentation nest deeper than the limit.
    private static func excessiveNesting(_ bytes: [UInt8]) -> (Int, Int)? {
        var flowDepth = 0
        var indents: [Int] = []
        var atLineStart = true
        var column = 0
        var quote: UInt8? = nil
        var inComment = false
        for (offset, byte) in bytes.enumerated() {
            if byte == 0x0A {
                atLineStart = true
                column = 0
                inComment = false
                continue
            }
            if inComment { continue }
            if atLineStart {
                if byte == 0x20 || byte == UInt8(ascii: "-") { column += 1; continue }
                atLineStart = false
                if byte != UInt8(ascii: "#"), quote == nil, flowDepth == 0 {
                    while let last = indents.last, last >= column { indents.removeLast() }
                    indents.append(column)
                    if indents.count > maximumNesting { return (offset, indents.count) }
                }
            }
            if let open = quote {
                if byte == open { quote = nil }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                quote = byte
            case UInt8(ascii: "#"):
                inComment = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flowDepth += 1
                if flowDepth > maximumNesting { return (offset, flowDepth) }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                flowDepth = max(0, flowDepth - 1)
            default:
                break
            }
        }
        return nil
    }
}
