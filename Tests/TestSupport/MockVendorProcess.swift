public import Foundation

/// `manifold-mock-vendor` as a process on a port it picks, for tests of the real binaries.
public enum MockVendorProcess {
    /// Starts it and waits for the port it writes into `folder` (`Eventually`: the file is read once more after the
    /// bound, so a test whose waiting task ran late, on a machine whose cooperative threads were busy with other tests,
    /// still finds it); a vendor that exits first is reported with its status.
    public static func start(in folder: URL) async throws -> (process: Process, port: Int) {
        let portFile = folder.appending(path: "vendor-\(UUID().uuidString).port")
        let vendor = Process()
        vendor.executableURL = TestPaths.mockVendor
        vendor.arguments = ["--port", "0", "--port-file", portFile.path]
        vendor.standardOutput = FileHandle.nullDevice
        try vendor.run()
        var port: Int?
        try await Eventually.until {
            let text = (try? String(contentsOf: portFile, encoding: .utf8)) ?? ""
            if let written = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), written > 0 { port = written }
            return port != nil || !vendor.isRunning
        }
        if let port { return (vendor, port) }
        if !vendor.isRunning {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: portFile.path,
                                                           NSLocalizedDescriptionKey: "the mock vendor exited (status \(vendor.terminationStatus)) before listening"])
        }
        vendor.terminate()
        throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: portFile.path,
                                                       NSLocalizedDescriptionKey: "the mock vendor wrote no port within \(Eventually.bound)"])
    }
}
