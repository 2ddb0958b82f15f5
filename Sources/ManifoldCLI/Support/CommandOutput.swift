import Foundation

/// What a command printed and how it ended: kept as values so tests read exactly what a user sees.
public struct CommandOutput: Sendable, Equatable {
    public var standardOutput = ""
    public var standardError = ""
    public var status: Int32 = 0

    public init(standardOutput: String = "", standardError: String = "", status: Int32 = 0) {
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.status = status
    }

    /// A usage or I/O failure: the message on standard error, status 2.
    static func failure(_ message: String) -> CommandOutput {
        CommandOutput(standardError: "error: \(message)\n", status: 2)
    }

    /// Writes both streams to the process's.
    func write() {
        FileOutput.standardOutput(standardOutput)
        FileOutput.standardError(standardError)
    }
}

/// Writes to the process's standard streams.
enum FileOutput {
    static func standardOutput(_ text: String) {
        guard !text.isEmpty else { return }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func standardError(_ text: String) {
        guard !text.isEmpty else { return }
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// A subcommand whose work is a pure function to a `CommandOutput`.
public protocol OutputCommand {
    /// Does the work and returns what to print and the exit status.
    func perform() -> CommandOutput
}

/// A subcommand whose work is asynchronous (it serves, reads the store or talks HTTP).
public protocol AsyncOutputCommand {
    /// Does the work and returns what is left to print and the exit status.
    func perform() async -> CommandOutput
}
