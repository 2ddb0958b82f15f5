import Foundation
import Yams

extension YAMLLoader {
    /// A located diagnostic for a Yams error, in words an author can act on.
    static func diagnostic(for error: YamlError, file: SourceFile, text: String, bytes: [UInt8]) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file.path, line: max(mark.line, 1), column: max(mark.column, 1))
        }
        func contextNote(_ context: YamlError.Context?) -> [Diagnostic.Note] {
            guard let context else { return [] }
            return [Diagnostic.Note(context.text, at: at(context.mark))]
        }
        switch error {
        case .scanner(let context, let problem, let mark, _):
            if character(at: mark, in: text) == "\t" || problem.contains("tab") {
                return .error("tab character in indentation; YAML indents with spaces only", at: at(mark))
            }
            return .error("invalid YAML: \(problem)", at: at(mark), notes: contextNote(context))
        case .parser(let context, let problem, let mark, _):
            if character(at: mark, in: text) == "\t" {
                return .error("tab character in indentation; YAML indents with spaces only", at: at(mark))
            }
            return .error("invalid YAML: \(problem)", at: at(mark), notes: contextNote(context))
        case .composer(let context, let problem, let mark, _):
            if problem.contains("single document") || problem.contains("another document") {
                return .error("a connector file holds one YAML document; remove the second `---` document", at: at(mark))
            }
            return .error("invalid YAML: \(problem)", at: at(mark), notes: contextNote(context))
        case .reader(let problem, let offset, _, _):
            return .error("invalid YAML text: \(problem)", at: location(ofByte: offset ?? 0, in: bytes, file: file.path))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? ""
            let first = at(context.mark)
            let second = secondOccurrence(of: key, after: context.mark, in: text, file: file.path) ?? first
            return .error("duplicate key '\(key)': a key may appear once in a mapping", at: second,
                          notes: second == first ? [] : [Diagnostic.Note("'\(key)' first appears here", at: first)])
        default:
            return .error("invalid YAML: \(error)", at: SourceLocation(file: file.path, line: 1, column: 1))
        }
    }

    private static func character(at mark: Mark, in text: String) -> Character? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        // libyaml reports a tab either at the tab itself or just past the indentation that holds it.
        for index in [mark.column - 1, mark.column - 2] where scalars.indices.contains(index) && scalars[index] == "\t" {
            return "\t"
        }
        if scalars.prefix(max(mark.column - 1, 0)).contains("\t"), scalars.prefix(max(mark.column - 1, 0)).allSatisfy({ $0 == " " || $0 == "\t" }) {
            return "\t"
        }
        return scalars.indices.contains(mark.column - 1) ? Character(scalars[mark.column - 1]) : nil
    }

    /// Where `key` appears again at the same indentation after `mark`: the duplicate an author should look at.
    private static func secondOccurrence(of key: String, after mark: Mark, in text: String, file: String) -> SourceLocation? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let indent = mark.column - 1
        for number in mark.line..<lines.count {
            let line = lines[number]
            let leading = line.prefix { $0 == " " || $0 == "-" }.count
            if leading < indent, !line.trimmingCharacters(in: .whitespaces).isEmpty,
                !line.trimmingCharacters(in: .whitespaces).hasPrefix("#")
            {
                return nil
            }
            let rest = line.dropFirst(indent)
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where leading == indent && rest.hasPrefix(candidate) {
                let after = rest.dropFirst(candidate.count).drop { $0 == " " }
                if after.hasPrefix(":") { return SourceLocation(file: file, line: number + 1, column: indent + 1) }
            }
        }
        return nil
    }
}
