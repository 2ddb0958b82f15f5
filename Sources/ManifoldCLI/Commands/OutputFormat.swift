import ArgumentParser

/// How a command prints its result: for people, or for tools.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}
