public import Foundation

/// `manifold-mock-vendor` as a process on a port it picks, for tests of the real binaries.
public enum MockVendorProcess {
    /// Starts it and waits (at most 180 s: a bound on a hang, generous for a machine busy with the whole suite and more)
    /// for the port it writes into `folder`; a vendor that exits first is reported with its status.
    public static func start(in folder: URL) async throws -> (process: Process, port: Int) {
        let portFile = folder.appending(path: "vendor-\(UUID().uuidString).port")
        let vendor = Process()
        vendor.executableURL = TestPaths.mockVendor
        vendor.arguments = ["--port", "0", "--port-file", portFile.path]
        vendor.standardOutput = FileHandle.nullDevice
        try vendor.run()
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: portFile, encoding: .utf8)) ?? ""
            if let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), port > 0 { return (vendor, port) }
            if !vendor.isRunning {
                throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: portFile.path,
                                                               NSLocalizedDescriptionKey: "the mock vendor exited (status \(vendor.terminationStatus)) before listening"])
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        vendor.terminate()
        throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: portFile.path])
    }
}
