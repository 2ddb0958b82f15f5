import Foundation
import JSONValue
import ManifoldCompiler

/// Prints diagnostics compiler-style, with the source line and a caret under the column.
struct DiagnosticRenderer {
    /// The files, for source lines; only those with a diagnostic are ever decoded.
    let files: [String: SourceFile]
    /// How many files were compiled (a path named twice counts twice, as the compiler saw it).
    let fileCount: Int

    init(files: [SourceFile]) {
        self.files = Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        fileCount = files.count
    }

    /// `file:line:col: severity: message`, the source line, a caret, then the notes.
    func text(_ diagnostics: [Diagnostic]) -> String {
        var output = ""
        var lines: [String: [Substring]] = [:]
        for diagnostic in diagnostics {
            output += diagnostic.description + "\n"
            if let location = diagnostic.location, let file = files[location.file] {
                if lines[location.file] == nil {
                    lines[location.file] = file.text.split(separator: "\n", omittingEmptySubsequences: false)
                }
                output += Self.snippet(at: location, in: lines[location.file]!)
            }
            for note in diagnostic.notes {
                output += (note.location.map { "\($0): " } ?? "") + "note: \(note.message)\n"
            }
        }
        return output
    }

    /// The diagnostics, then the count line: what `validate` prints, and `plan` when it refuses.
    func report(_ diagnostics: [Diagnostic]) -> String {
        text(diagnostics) + Self.summary(diagnostics, files: fileCount)
    }

    private static func snippet(at location: SourceLocation, in lines: [Substring]) -> String {
        guard location.line >= 1, location.line <= lines.count else { return "" }
        let line = lines[location.line - 1].replacingTabs()
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty,
            !line.unicodeScalars.contains(where: { $0 == "\u{FFFD}" || ($0.value < 0x20 && $0 != "\t") })
        else { return "" }
        let shown = line.unicodeScalars.count > 160 ? String(String.UnicodeScalarView(line.unicodeScalars.prefix(160))) + "..." : line
        let caretColumn = min(max(location.column - 1, 0), 160)
        return "  " + shown + "\n  " + String(repeating: " ", count: caretColumn) + "^\n"
    }

    /// "2 errors and 1 warning in 3 files."
    private static func summary(_ diagnostics: [Diagnostic], files: Int) -> String {
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.filter { $0.severity == .warning }.count
        func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }
        return "\(count(errors, "error")) and \(count(warnings, "warning")) in \(count(files, "file")).\n"
    }

    /// The diagnostics as JSON, for tools.
    func json(_ diagnostics: [Diagnostic]) -> JSON {
        func location(_ location: SourceLocation?) -> [(String, JSON)] {
            guard let location else { return [] }
            return [("file", .string(location.file)), ("line", .number(Double(location.line))), ("column", .number(Double(location.column)))]
        }
        let items: [JSON] = diagnostics.map { diagnostic in
            var members: [(String, JSON)] = [("severity", .string(diagnostic.severity.rawValue))]
            members += location(diagnostic.location)
            members.append(("message", .string(diagnostic.message)))
            if !diagnostic.notes.isEmpty {
                members.append(("notes", .array(diagnostic.notes.map { note in
                    .object(JSONObject(location(note.location) + [("message", .string(note.message))]))
                })))
            }
            return .object(JSONObject(members))
        }
        return .object(JSONObject([
            ("files", .number(Double(fileCount))),
            ("errors", .number(Double(diagnostics.filter { $0.severity == .error }.count))),
            ("warnings", .number(Double(diagnostics.filter { $0.severity == .warning }.count))),
            ("diagnostics", .array(items)),
        ]))
    }
}

extension Substring {
    /// The line with tabs shown as one space each, so the caret stays under its column.
    fileprivate func replacingTabs() -> String {
        String(map { $0 == "\t" ? " " : $0 })
    }
}
