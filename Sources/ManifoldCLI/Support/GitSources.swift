import Foundation
import ManifoldCompiler

/// Connector files as committed at a git ref, read with `git` from the current directory's repository.
enum GitSources {
    /// The connector files at `path` in `ref` (a file, or a directory's connector files), named `REF:path`;
    /// none when `path` does not exist there (every connector is then new).
    static func files(at ref: String, path: String) throws -> [SourceFile] {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        let type = try git(["cat-file", "-t", "\(ref):./\(trimmed)"], allowFailure: true)
        switch type?.trimmingCharacters(in: .whitespacesAndNewlines) {
        case "blob":
            return [try file(ref: ref, path: trimmed)]
        case "tree":
            let listing = try git(["ls-tree", "--name-only", ref, "--", trimmed + "/"]) ?? ""
            return try listing.split(separator: "\n").map(String.init)
                .filter { SourceLoader.isConnectorFileName(($0 as NSString).lastPathComponent) }
                .sorted()
                .map { try file(ref: ref, path: $0) }
        default:
            // Not at that ref: make sure the ref itself exists, so that a typo is not "everything was added".
            guard try git(["rev-parse", "--verify", "--quiet", ref + "^{commit}"], allowFailure: true) != nil else {
                throw Failure(message: "no such git ref: \(ref)")
            }
            return []
        }
    }

    private static func file(ref: String, path: String) throws -> SourceFile {
        let process = try run(["show", "\(ref):./\(path)"])
        guard process.status == 0 else { throw Failure(message: "git show \(ref):\(path): \(process.error)") }
        return SourceFile(path: "\(ref):\(path)", contents: process.output)
    }

    /// The command's standard output as text; `nil` when it fails and `allowFailure`.
    private static func git(_ arguments: [String], allowFailure: Bool = false) throws -> String? {
        let process = try run(arguments)
        guard process.status == 0 else {
            if allowFailure { return nil }
            throw Failure(message: "git \(arguments.joined(separator: " ")): \(process.error)")
        }
        return String(decoding: process.output, as: UTF8.self)
    }

    private static func run(_ arguments: [String]) throws -> (status: Int32, output: Data, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        do {
            try process.run()
        } catch {
            throw Failure(message: "git cannot be run: \(error.localizedDescription)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data, String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Why the committed files could not be read.
    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
