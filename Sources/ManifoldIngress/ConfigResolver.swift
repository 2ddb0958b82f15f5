import Foundation
public import ManifoldPlan

/// Resolves the plan's `${env:NAME}` and `${file:PATH}` references when the engine starts.
///
/// Errors name the variable or file, never a value.
public struct ConfigResolver: Sendable {
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    private let environment: [String: String]
    /// Relative `${file:}` paths are read from here.
    private let directory: String
    /// Resolves every reference to itself (`${env:NAME}`): how records show a value that holds a secret.
    private var showsReferences = false

    /// `directory` defaults to the working directory.
    public init(environment: [String: String], directory: String? = nil) {
        self.environment = environment
        self.directory = directory ?? FileManager.default.currentDirectoryPath
    }

    /// A resolver that leaves references as written: `${env:SLACK_PATH}` stays `${env:SLACK_PATH}`.
    public static var showingReferences: ConfigResolver {
        var resolver = ConfigResolver(environment: [:])
        resolver.showsReferences = true
        return resolver
    }

    public func resolve(_ string: ConfigString) throws(Failure) -> String {
        if showsReferences { return string.description }
        var out = ""
        for part in string.parts {
            switch part {
            case .literal(let text):
                out += text
            case .environment(let name):
                guard let value = environment[name] else {
                    throw Failure(description: "the environment variable \(name) is not set")
                }
                out += value
            case .file(let path):
                let full = path.hasPrefix("/") ? path : directory + "/" + path
                guard let data = FileManager.default.contents(atPath: full),
                      let text = String(data: data, encoding: .utf8)
                else { throw Failure(description: "cannot read the file \(path)") }
                // A secret file usually ends with a newline that is not part of the secret.
                out += text.hasSuffix("\n") ? String(text.dropLast()) : text
            }
        }
        return out
    }
}
