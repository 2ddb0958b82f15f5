import Foundation
import JSONValue
@testable import ManifoldCLI
import ManifoldStore
import ManifoldSQLite
import TestSupport
import Testing

/// `manifold poll`: what an operator reads and changes about the pulled connectors, against a store of their own.
@Suite struct PollCommandTests {
    static let connectors = GoldenFile.packageRoot.appending(path: "connectors")

    /// A store with two pulls' states: Stripe's finished, GitHub's in the middle of a run after a failure.
    static func seeded(_ folder: URL) async throws -> String {
        let path = folder.appending(path: "poll.db").path
        let store = try SQLiteEventStore(path: path)
        defer { store.close() }
        try await store.setPullState([
            "cursors": ["": 1_717_240_000],
            "run": .null,
            "stats": ["runs": 3, "pages": 7, "records": 300, "failing_runs": 0,
                      "last_run_at": 1_717_243_200_000, "last_success_at": 1_717_243_201_000],
        ], of: "stripe-charges-poll")
        try await store.setPullState([
            "cursors": ["": "2024-06-01T11:00:00Z"],
            "run": ["started_at": 1_717_243_200_000, "listing": false, "page": 2, "next_url": "https://api.github.com/repositories/42/issues?page=3"],
            "stats": ["runs": 1, "pages": 2, "records": 200, "failing_runs": 1, "last_run_at": 1_717_243_200_000,
                      "last_error": "page 3 (https://api.github.com/repositories/42/issues?page=3): the target answered 502, 8 attempts"],
        ], of: "github-issues-poll")
        return path
    }

    static var engine: [String] { ["--connectors", connectors.path, "--env-file", connectors.appending(path: "example.env").path] }

    @Test func statusSaysWhereEachPullStands() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let store = try await Self.seeded(folder)
            let text = try await PollStatusCommand.parse(["--store", store] + Self.engine).perform()
            #expect(text.status == 0)
            let output = text.standardOutput
            #expect(output.contains("stripe-charges-poll  poll every 5m\n  cursor    1717240000\n  last run  2024-06-01T12:00:00Z\n  last ok   2024-06-01T12:00:01Z\n"), "\(output)")
            #expect(output.contains("  read      300 records in 7 pages over 3 runs\n"))
            #expect(output.contains("github-issues-poll  poll every 10m\n  cursor    \"2024-06-01T11:00:00Z\"\n  run       under way, 2 page(s) committed: it resumes there\n"), "\(output)")
            #expect(output.contains("  error     page 3 (https://api.github.com/repositories/42/issues?page=3): the target answered 502, 8 attempts (1 run(s) in a row)\n"))
            // The pulled connectors never run are listed too; webhook connectors are not.
            #expect(output.contains("weekly-balance-report  schedule cron 0 7 * * 1 (UTC)\n"))
            #expect(!output.contains("stripe-to-hubspot"))
            let json = try await PollStatusCommand.parse(["--store", store, "--format", "json"] + Self.engine).perform()
            let rows = try JSONParser.parse(json.standardOutput).arrayValue ?? []
            let github = try #require(rows.first { $0["connector"] == "github-issues-poll" })
            #expect(github["run_under_way"] == true && github["failing_runs"] == 1)
            #expect(rows.first { $0["connector"] == "warehouse-returns-files" }?["state"] == "never run")
        }
    }

    @Test func backfillSetsTheCursorBackAndRefusesDuringARun() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let store = try await Self.seeded(folder)
            let stripe = try await PollBackfillCommand.parse(["stripe-charges-poll", "--since", "2024-05-01", "--store", store] + Self.engine).perform()
            #expect(stripe.status == 0 && stripe.standardOutput == "stripe-charges-poll: the cursor is 1714521600; the next run reads from there\n",
                    "\(stripe.standardOutput)\(stripe.standardError)")
            let during = try await PollBackfillCommand.parse(["github-issues-poll", "--since", "2024-05-01", "--store", store] + Self.engine).perform()
            #expect(during.status == 1 && during.standardError.contains("a run of github-issues-poll is under way (page 2 committed)"))
            let forced = try await PollBackfillCommand.parse(["github-issues-poll", "--since", "2024-05-01", "--force", "--store", store] + Self.engine).perform()
            #expect(forced.status == 0)
            let files = try await PollBackfillCommand.parse(["warehouse-returns-files", "--since", "1d", "--store", store] + Self.engine).perform()
            #expect(files.status == 2 && files.standardError.contains("has no datetime cursor to set back"), "\(files.standardError)")
            let opened = try SQLiteEventStore(path: store, create: false)
            defer { opened.close() }
            #expect(try await opened.pullState("stripe-charges-poll")?.state["cursors"] == ["": 1_714_521_600])
            let github = try #require(try await opened.pullState("github-issues-poll")).state
            #expect(github["cursors"] == ["": "2024-05-01T00:00:00Z"] && github["run"] == .null)
            // The figures are kept.
            #expect(github["stats"]?["records"] == 200)
        }
    }

    @Test func resetForgetsTheCursor() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let store = try await Self.seeded(folder)
            let reset = try await PollResetCommand.parse(["stripe-charges-poll", "--store", store]).perform()
            #expect(reset.status == 0 && reset.standardOutput == "stripe-charges-poll: reset; the next run starts from the beginning\n")
            let opened = try SQLiteEventStore(path: store, create: false)
            defer { opened.close() }
            #expect(try await opened.pullState("stripe-charges-poll")?.state["cursors"] == .object([:]))
        }
    }

    @Test func runOnceReadsAFolderAndSaysWhatItDid() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let drop = folder.appending(path: "returns")
            try FileManager.default.createDirectory(at: drop, withIntermediateDirectories: true)
            try "return_id,order_id,sku,quantity,condition,email\nR-1,1,A,1,damaged,a@example.com\nR-2,2,B,1\n"
                .write(to: drop.appending(path: "r.csv"), atomically: true, encoding: .utf8)
            // The example's folder comes from the environment: this test's own.
            let example = try String(contentsOf: Self.connectors.appending(path: "example.env"), encoding: .utf8)
            let environment = folder.appending(path: "test.env")
            try (example.split(separator: "\n").filter { !$0.hasPrefix("WAREHOUSE_RETURNS_DIR=") }.joined(separator: "\n")
                 + "\nWAREHOUSE_RETURNS_DIR=\(drop.path)\n").write(to: environment, atomically: true, encoding: .utf8)
            let store = folder.appending(path: "run.db").path
            let arguments = ["warehouse-returns-files", "--once", "--store", store, "--connectors", Self.connectors.path,
                             "--env-file", environment.path]
            // A file is read once it was last written `settle` (5s) ago. Its time set ahead, however slow the machine, a run
            // has nothing to do; set a minute back (no waiting), it is read.
            let file = drop.appending(path: "r.csv").path
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(3600)], ofItemAtPath: file)
            let fresh = try await PollRunCommand.parse(arguments).perform()
            #expect(fresh.standardOutput == "warehouse-returns-files: nothing to do (0 stored)\n", "\(fresh.standardOutput)")
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: file)
            let run = try await PollRunCommand.parse(arguments).perform()
            #expect(run.status == 0)
            #expect(run.standardOutput == "warehouse-returns-files: finished (1 stored, 1 quarantined, files: r.csv -> done/ (2 rows))\n",
                    "\(run.standardOutput)\(run.standardError)")
            let opened = try SQLiteEventStore(path: store, create: false)
            defer { opened.close() }
            let quarantined = try await opened.events(EventQuery(status: .quarantined))
            let first = try #require(quarantined.first)
            let record = try #require(try await opened.event(id: first.id))
            #expect(record.history.first?.detail?["reason"] == "r.csv line 3: 4 fields where the header names 6")
            // The good row's type is its event_type expression's.
            #expect(try await opened.events(EventQuery(status: .routed)).map(\.eventType) == ["return.damaged"])
            // Its job waits in the store for the engine (nothing delivered by this command).
            #expect(try await opened.jobs(JobQuery(limit: 10)).count == 1)
            let webhook = try await PollRunCommand.parse(["stripe-to-hubspot", "--store", store] + Self.engine).perform()
            #expect(webhook.status == 2 && webhook.standardError.contains("stripe-to-hubspot receives webhooks; it pulls nothing"))
        }
    }
}
