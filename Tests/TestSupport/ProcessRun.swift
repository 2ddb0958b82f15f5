public import Foundation

/// A finished child process: its exit status and what it printed.
public struct ProcessRun: Sendable {
    public var status: Int32
    public var output: String
    public var error: String

    /// Runs `executable` with `arguments` and waits for it. Standard error goes through a file, so a
    /// process that writes a lot to both streams cannot block on a full pipe.
    public static func run(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                           environment: [String: String] = [:]) throws -> ProcessRun
    {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let errorFile = FileManager.default.temporaryDirectory.appending(path: "manifold-test-stderr-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: errorFile.path])
        }
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let errorHandle = try FileHandle(forWritingTo: errorFile)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = errorHandle
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try errorHandle.close()
        return ProcessRun(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                          error: String(decoding: FileManager.default.contents(atPath: errorFile.path) ?? Data(), as: UTF8.self))
    }

    /// `run`, waited for on a thread of its own. A test that waits for a long child this way leaves Swift's cooperative
    /// threads (two on a two-core machine) to the tests running beside it: a loaded run starved a lane test of all its
    /// calls for 60 s while children were waited for on those threads.
    public static func runAsync(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                                environment: [String: String] = [:]) async throws -> ProcessRun
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try run(executable, arguments, in: directory, environment: environment) })
            }
        }
    }

    /// `python`, waited for on a thread of its own (`runAsync`).
    public static func pythonAsync(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessRun {
        try await runAsync(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments, environment: environment)
    }

    /// Runs `python3` (found on the PATH) with `arguments`.
    public static func python(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessRun {
        try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments, environment: environment)
    }
}

extension Process {
    /// Waits for the process to end on a thread of its own, as `ProcessRun.runAsync` does: an engine that drains its
    /// lanes when stopped can take a while on a loaded machine, and `waitUntilExit` would hold a cooperative thread
    /// all that time.
    public func exited() async {
        let process = UncheckedProcess(process: self)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                process.process.waitUntilExit()
                continuation.resume()
            }
        }
    }
}

/// A `Process` handed to the thread that waits for it: only `waitUntilExit` is called there.
private struct UncheckedProcess: @unchecked Sendable {
    let process: Process
}
