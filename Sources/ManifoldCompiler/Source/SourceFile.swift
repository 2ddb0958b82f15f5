public import Foundation

/// A connector file's path (as the user named it) and its bytes.
public struct SourceFile: Sendable, Hashable {
    public var path: String
    public var contents: Data

    public init(path: String, contents: Data) {
        self.path = path
        self.contents = contents
    }

    public init(path: String, text: String) {
        self.init(path: path, contents: Data(text.utf8))
    }

    /// The text, with invalid UTF-8 replaced, for showing source lines under diagnostics.
    public var text: String {
        String(decoding: contents, as: UTF8.self)
    }
}
