import Foundation
import TestSupport
import Testing

/// The JSONata test suite of `../shared/conformance/jsonata`, run through `manifold eval --jsonl` with
/// the suite's own runner. Conformance may only go up: the test fails below the level reached.
@Suite struct JSONataConformanceTests {
    /// The number of cases that passed when this was last raised; raise it as conformance improves.
    static let reached = 1199

    @Test func suitePassesAtLeastTheLevelReached() async throws {
        let conformance = TestPaths.shared.appending(path: "conformance/jsonata")
        try #require(FileManager.default.fileExists(atPath: conformance.appending(path: "run_suite.py").path),
                     "the JSONata suite is expected at \(conformance.path)")
        // Waited for off Swift's cooperative threads: the suite's run is the longest child of the whole test run.
        let run = try await ProcessRun.pythonAsync(
            [conformance.appending(path: "run_suite.py").path, conformance.appending(path: "suite").path,
             "--timeout", "300", "--stall-timeout", "60", "--", TestPaths.manifold.path, "eval", "--jsonl"],
            environment: ["PYTHONIOENCODING": "utf-8:backslashreplace"])
        let output = run.output + run.error
        let summary = try #require(output.split(separator: "\n").last { $0.hasSuffix(" failed") && $0.contains(" passed, ") },
                                   "no summary line in the runner's output:\n\(output.suffix(2000))")
        let passed = Int(summary.split(separator: " ")[0]) ?? 0
        let failed = Int(summary.split(separator: " ")[2]) ?? 0
        print("JSONata conformance (\(passed + failed) cases): \(passed) passed, \(failed) failed; level reached \(Self.reached)")
        #expect(passed >= Self.reached, "conformance fell below the level reached:\n\(output.suffix(4000))")
    }
}
