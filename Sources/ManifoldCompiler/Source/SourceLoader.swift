public import Foundation

/// Finds and reads connector files: each path is a file, or a directory whose `*.yaml` and `*.yml`
/// files (not `*.test.yaml`) are read, in name order.
public enum SourceLoader {
    /// Why files could not be read.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The files under `paths`, read.
    public static func load(paths: [String]) throws(Failure) -> [SourceFile] {
        var files: [SourceFile] = []
        for path in paths {
            for file in try connectorFiles(at: path) {
                files.append(SourceFile(path: file, contents: try read(file)))
            }
        }
        return files
    }

    /// The bytes of the file at `path`, or a failure that says why they cannot be read.
    public static func read(_ path: String) throws(Failure) -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = switch (error as? CocoaError)?.code {
            case .fileReadNoSuchFile?, .fileNoSuchFile?: "no such file"
            case .fileReadNoPermission?: "permission denied"
            default:
                FileManager.default.fileExists(atPath: path, isDirectory: nil) && (try? FileManager.default.contentsOfDirectory(atPath: path)) != nil
                    ? "it is a directory" : error.localizedDescription
            }
            throw Failure(path: path, reason: "cannot be read: \(reason)")
        }
    }

    /// The connector file paths at `path`.
    public static func connectorFiles(at path: String) throws(Failure) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Failure(path: path, reason: "no such file or directory")
        }
        guard isDirectory.boolValue else { return [path] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw Failure(path: path, reason: "cannot list the directory")
        }
        let separator = path.hasSuffix("/") ? "" : "/"
        return names.filter(isConnectorFileName).sorted().map { path + separator + $0 }
    }

    /// Whether a file name is a connector's (`*.yaml`, `*.yml`; not a test file, not hidden).
    public static func isConnectorFileName(_ name: String) -> Bool {
        (name.hasSuffix(".yaml") || name.hasSuffix(".yml")) && !name.hasPrefix(".")
            && !name.hasSuffix(".test.yaml") && !name.hasSuffix(".test.yml")
    }
}
