import Foundation
import JSONValue
import ManifoldIngress
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one line per entry to standard error: JSON (for a log pipeline) or logfmt
/// (for a person at a terminal). Each line has the time, level, logger, message and the metadata as fields;
/// values under a key `CredentialName` says carries a credential are written `[redacted]` whatever they hold.
public struct StructuredLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case json, logfmt

        /// logfmt when standard error is a terminal, JSON otherwise.
        public static var automatic: Format { isatty(2) == 1 ? .logfmt : .json }
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format
    private let write: @Sendable (String) -> Void

    public init(label: String, format: Format, level: Logger.Level,
                write: @escaping @Sendable (String) -> Void = StructuredLogHandler.standardError)
    {
        self.label = label
        self.format = format
        logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        var pairs: [(String, String)] = [("ts", time), ("level", event.level.rawValue), ("logger", label),
                                         ("msg", event.message.description)]
        for key in fields.keys.sorted() {
            pairs.append((key, CredentialName.matches(key) ? "[redacted]" : Self.text(fields[key]!)))
        }
        write(format == .json ? Self.json(pairs) : Self.logfmt(pairs))
    }

    static func json(_ pairs: [(String, String)]) -> String {
        JSON.object(JSONObject(pairs.map { ($0.0, JSON.string($0.1)) })).serialized() + "\n"
    }

    static func logfmt(_ pairs: [(String, String)]) -> String {
        pairs.map { key, value in
            let plain = !value.isEmpty && value.allSatisfy { $0 != " " && $0 != "\"" && $0 != "=" && $0 != "\\" && !$0.isNewline }
            return key + "=" + (plain ? value : JSON.string(value).serialized())
        }.joined(separator: " ") + "\n"
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        case .array(let values): "[" + values.map(text).joined(separator: ",") + "]"
        case .dictionary(let values): "{" + values.keys.sorted().map { "\($0)=\(text(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// Writes a line to standard error in one call, so that lines from several threads never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }
}
