import Foundation
import ManifoldCompiler

/// Reads a dotenv file: `NAME=value` lines, `#` comments, optional `export ` and quotes.
enum EnvironmentFile {
    struct Failure: Error {
        var message: String
    }

    static func read(_ path: String) throws(Failure) -> [String: String] {
        let data: Data
        do {
            data = try SourceLoader.read(path)
        } catch {
            throw Failure(message: "environment file \(error.description)")
        }
        var values: [String: String] = [:]
        for (number, rawLine) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)) }
            guard let equals = line.firstIndex(of: "=") else {
                throw Failure(message: "\(path):\(number + 1): expected NAME=value")
            }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[name] = value
        }
        return values
    }
}
