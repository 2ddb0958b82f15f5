import Foundation
import ManifoldCompiler
import TestSupport
import Testing

/// A generated corpus of broken connector files: mutations of the examples. None may crash the
/// compiler, and every diagnostic must point at a line and column inside its file.
@Suite struct MutationCorpusTests {
    static let fragments = ["\t", ":", "- ", "{", "}", "[", "]", "\"", "'", "&a", "*a", "<<: *a", "---", "? ", "|", ">",
                            "${env:", "{%", "%}", "!!str ", "\u{0}", "é", "0x", "~", "#", "  ", "\n", "null", "-1", "1e999"]

    static func mutate(_ text: String, using generator: inout SeededGenerator) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            guard !lines.isEmpty else { break }
            let index = Int.random(in: 0..<lines.count, using: &generator)
            switch Int.random(in: 0..<7, using: &generator) {
            case 0: lines.remove(at: index)
            case 1: lines.insert(lines[index], at: index)
            case 2: lines[index] = String(repeating: " ", count: Int.random(in: 0...6, using: &generator)) + lines[index].trimmingCharacters(in: .whitespaces)
            case 3:
                var characters = Array(lines[index])
                let position = Int.random(in: 0...characters.count, using: &generator)
                characters.insert(contentsOf: fragments.randomElement(using: &generator)!, at: position)
                lines[index] = String(characters)
            case 4:
                var characters = Array(lines[index])
                if !characters.isEmpty { characters.remove(at: Int.random(in: 0..<characters.count, using: &generator)) }
                lines[index] = String(characters)
            case 5: lines = Array(lines.prefix(index))
            default: lines.swapAt(index, Int.random(in: 0..<lines.count, using: &generator))
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test func mutatedExamplesNeverCrashAndAlwaysLocateErrors() throws {
        let examples = try Fixtures.exampleConnectors()
        var generator = SeededGenerator(seed: 20_261_123)
        var compiledCleanly = 0
        var failures: [String] = []
        let count = 1500
        for round in 0..<count {
            let example = examples[round % examples.count]
            let text = Self.mutate(example.text, using: &generator)
            let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
            let result = ConnectorCompiler().compile([SourceFile(path: "mutant-\(round).yaml", text: text)])
            if result.plan != nil, !result.diagnostics.hasErrors { compiledCleanly += 1 }
            if result.plan == nil, !result.diagnostics.hasErrors {
                failures.append("round \(round): no plan and no error")
            }
            for diagnostic in result.diagnostics {
                guard let location = diagnostic.location else {
                    failures.append("round \(round): unlocated: \(diagnostic)")
                    continue
                }
                if location.line < 1 || location.line > lineCount + 1 || location.column < 1 {
                    failures.append("round \(round): \(diagnostic) outside the file's \(lineCount) lines")
                }
            }
        }
        print("mutation corpus: \(count) files, \(count - compiledCleanly) with errors, \(compiledCleanly) still valid")
        #expect(failures.isEmpty, "\(failures.prefix(10))")
        #expect(compiledCleanly < count / 2)
    }
}
