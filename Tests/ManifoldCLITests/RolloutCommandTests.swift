import Foundation
import JSONValue
@testable import ManifoldCLI
import ManifoldStore
import ManifoldSQLite
import TestSupport
import Testing

/// `manifold rollout`, `history`, `rollback --to` and `diff --store`, against a store and connectors of their own.
@Suite struct RolloutCommandTests {
    static let example = GoldenFile.packageRoot.appending(path: "connectors/stripe-to-hubspot.yaml")

    /// A folder with the example connector, its environment, a candidate (another lifecycle stage), and a store.
    static func folder(_ body: (URL, [String]) async throws -> Void) async throws {
        try await TemporaryDirectory.withAsync { folder in
            let connectors = folder.appending(path: "connectors")
            try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
            let text = try String(contentsOf: Self.example, encoding: .utf8)
            try text.write(to: connectors.appending(path: "stripe-to-hubspot.yaml"), atomically: true, encoding: .utf8)
            try text.replacingOccurrences(of: "lifecyclestage: customer", with: "lifecyclestage: opportunity")
                .write(to: folder.appending(path: "candidate.yaml"), atomically: true, encoding: .utf8)
            try "STRIPE_WEBHOOK_SECRET=s\nHUBSPOT_CLIENT_ID=i\nHUBSPOT_CLIENT_SECRET=c\nSLACK_SALES_HOOK_PATH=p\n"
                .write(to: folder.appending(path: "e.env"), atomically: true, encoding: .utf8)
            try SQLiteEventStore(path: folder.appending(path: "m.db").path).close()
            try await body(folder, ["--store", folder.appending(path: "m.db").path, "--connectors", connectors.path,
                                    "--env-file", folder.appending(path: "e.env").path])
        }
    }

    @Test func startShowsTheChangeThenShareRollbackAndTheLogWithWhoAndWhen() async throws {
        try await Self.folder { folder, options in
            let candidate = folder.appending(path: "candidate.yaml").path
            let start = try await RolloutStartCommand.parse(["stripe-to-hubspot", "--candidate", candidate, "--share", "10"] + options).perform()
            #expect(start.status == 0, "\(start.standardError)")
            #expect(start.standardOutput.contains("of stripe-to-hubspot: 10% of events to the candidate, canary (routed and delivered by the candidate)"))
            // What the candidate changes, as `manifold diff` says it.
            #expect(start.standardOutput.contains("safe      route contact  body.inputs[0].properties.lifecyclestage: customer → opportunity"),
                    "\(start.standardOutput)")
            let store = Array(options[0...1])
            let share = try await RolloutShareCommand.parse(["stripe-to-hubspot", "25"] + store).perform()
            #expect(share.standardOutput == "stripe-to-hubspot: 25% of events to the candidate\n")
            // Events since the start, by the version that handled them: two of the current plan's, one of another (the candidate's).
            let base = try #require(try JSONParser.parse(try await RolloutStatusCommand.parse(["--format", "json"] + store).perform().standardOutput)
                .arrayValue?.first?["base_version"]?.stringValue)
            let opened = try SQLiteEventStore(path: store[1], create: false)
            for (id, version) in [("e1", base), ("e2", base), ("e3", "sha256:candidate")] {
                _ = try await opened.append(NewEvent(connector: "stripe-to-hubspot", eventID: id, eventType: nil, planVersion: version,
                                                     receivedAt: Date(), contentType: "json", headers: [], body: [], remoteAddress: nil,
                                                     status: .received, detail: nil))
            }
            opened.close()
            let status = try await RolloutStatusCommand.parse(["stripe-to-hubspot"] + store).perform()
            #expect(status.standardOutput.contains("  events    2 current, 1 candidate\n"), "\(status.standardOutput)")
            #expect(status.standardOutput.contains("active  canary 25%"), "\(status.standardOutput)")
            #expect(status.standardOutput.contains("rolls back when the candidate fails 5.0 points more than the current over 5m (from 20 attempts), or quarantines an event"))
            #expect(status.standardOutput.contains("  start  by cli:") && status.standardOutput.contains("  set-share  by cli:"))
            let rollback = try await RolloutRollbackCommand.parse(["stripe-to-hubspot", "--reason", "wrong stage"] + store).perform()
            #expect(rollback.standardOutput == "stripe-to-hubspot: rolled back; every event goes to the current version\n")
            let after = try await RolloutStatusCommand.parse(["stripe-to-hubspot", "--format", "json"] + store).perform()
            let row = try #require(try JSONParser.parse(after.standardOutput).arrayValue?.first)
            #expect(row["status"] == "rolled_back" && row["ended_reason"] == "wrong stage")
            #expect(row["log"]?.arrayValue?.map { $0["action"]?.stringValue ?? "" } == ["start", "set-share", "rollback"])
            #expect(row["candidate_text"] == nil, "the status does not print the candidate's text")
            let none = try await RolloutShareCommand.parse(["stripe-to-hubspot", "5"] + store).perform()
            #expect(none.status == 2 && none.standardError.contains("stripe-to-hubspot has no active rollout"))
        }
    }

    @Test func aCandidateOfAnotherConnectorOrWithoutChangeIsRefused() async throws {
        try await Self.folder { folder, options in
            let same = try await RolloutStartCommand.parse(["stripe-to-hubspot", "--candidate", Self.example.path] + options).perform()
            #expect(same.status == 2 && same.standardError.contains("the candidate behaves as the current version does"))
            let other = folder.appending(path: "other.yaml")
            try String(contentsOf: Self.example, encoding: .utf8).replacingOccurrences(of: "connector: stripe-to-hubspot", with: "connector: other")
                .write(to: other, atomically: true, encoding: .utf8)
            let wrong = try await RolloutStartCommand.parse(["stripe-to-hubspot", "--candidate", other.path] + options).perform()
            #expect(wrong.status == 2 && wrong.standardError.contains("the candidate is connector other, not stripe-to-hubspot"))
            let source = folder.appending(path: "source.yaml")
            try String(contentsOf: Self.example, encoding: .utf8).replacingOccurrences(of: "tolerance: 5m", with: "tolerance: 10m")
                .write(to: source, atomically: true, encoding: .utf8)
            let changed = try await RolloutStartCommand.parse(["stripe-to-hubspot", "--candidate", source.path] + options).perform()
            #expect(changed.status == 2 && changed.standardError.contains("the candidate changes the connector's source"), "\(changed.standardError)")
            let share = try? RolloutStartCommand.parse(["stripe-to-hubspot", "--candidate", other.path, "--share", "120"] + options)
            #expect(share == nil, "a share above 100 is refused")
        }
    }

    @Test func promoteWritesTheCandidateOverTheConnectorsFile() async throws {
        try await Self.folder { folder, options in
            _ = try await RolloutStartCommand.parse(["stripe-to-hubspot", "--candidate", folder.appending(path: "candidate.yaml").path] + options)
                .perform()
            let promote = try await RolloutPromoteCommand.parse(["stripe-to-hubspot"] + options).perform()
            #expect(promote.status == 0, "\(promote.standardError)")
            let file = try String(contentsOf: folder.appending(path: "connectors/stripe-to-hubspot.yaml"), encoding: .utf8)
            #expect(file.contains("lifecyclestage: opportunity"))
            let status = try await RolloutStatusCommand.parse(["--format", "json"] + Array(options[0...1])).perform()
            #expect(try JSONParser.parse(status.standardOutput).arrayValue?.first?["status"] == "promoted")
        }
    }

    @Test func compareCountsIdenticalEventsAndEachDifference() async throws {
        try await Self.folder { folder, options in
            let store = try SQLiteEventStore(path: options[1], create: false)
            let record = RolloutRecord(id: "ro_1", connector: "stripe-to-hubspot", mode: .shadow, basisPoints: 10_000, stickBy: nil,
                                       candidateText: "", candidatePath: "c.yaml", candidateVersion: "c", baseVersion: "b",
                                       startedAt: Date(), startedBy: "test")
            try await store.startRollout(record, by: "test")
            func call(_ event: String, _ arm: String, _ body: JSON, call: String = "hubspot.upsert_contact") -> ShadowCall {
                ShadowCall(rollout: "ro_1", event: event, arm: arm, route: "contact", call: call,
                           request: ["method": "POST", "url": "https://api.hubapi.com/x", "headers": [["Idempotency-Key", .string(event)]], "body": body])
            }
            try await store.recordShadow([
                call("e1", "current", ["email": "a"]), call("e1", "candidate", ["email": "a"]),
                call("e2", "current", ["email": "b"]), call("e2", "candidate", ["email": "b", "phone": "1"]),
                call("e3", "current", ["email": "c"]), call("e3", "candidate", ["email": "c", "phone": "2"], call: "hubspot.create"),
            ])
            store.close()
            let text = try await RolloutCompareCommand.parse(["stripe-to-hubspot", "--store", options[1]]).perform()
            #expect(text.standardOutput.contains("1 identical; 2 differ: `body.phone` added (route contact) in 2, `call` changed from hubspot.upsert_contact to hubspot.create (route contact) in 1"),
                    "\(text.standardOutput)")
            #expect(text.standardOutput.contains("event e3\n  route contact: call changed: hubspot.upsert_contact → hubspot.create\n  route contact: body.phone added: \"2\""))
            let json = try await RolloutCompareCommand.parse(["stripe-to-hubspot", "--store", options[1], "--format", "json"]).perform()
            let parsed = try JSONParser.parse(json.standardOutput)
            #expect(parsed["identical"] == 1 && parsed["differ"] == 2 && parsed["events"]?.arrayValue?.count == 2)
            let markdown = try await RolloutCompareCommand.parse(["stripe-to-hubspot", "--store", options[1], "--format", "markdown"]).perform()
            #expect(markdown.standardOutput.contains("| `body.phone` added (route contact) | 2 |"))
        }
    }

    @Test func historyListsAppliedPlansAndRollbackRestoresAKeptOne() async throws {
        try await Self.folder { folder, options in
            let path = folder.appending(path: "connectors/stripe-to-hubspot.yaml").path
            let old = try String(contentsOfFile: path, encoding: .utf8)
            let store = try SQLiteEventStore(path: options[1], create: false)
            try await store.keepPlan(version: "sha256:old", sources: [PlanSource(path: path, text: old)])
            try await store.recordApplied(version: "sha256:old", trigger: "start", summary: "1 connector")
            try await store.recordApplied(version: "sha256:inline", trigger: "file change", summary: "1 change in behaviour: 1 risky")
            store.close()
            let history = try await HistoryCommand.parse(["--store", options[1]]).perform()
            #expect(history.standardOutput.contains("sha256:inline") && history.standardOutput.contains("file change")
                    && history.standardOutput.contains("(sources not kept)"), "\(history.standardOutput)")
            // The file changes; the kept version is restored, and a connector it did not have is set aside.
            try old.replacingOccurrences(of: "timeout: 10s", with: "timeout: 20s").write(toFile: path, atomically: true, encoding: .utf8)
            let extra = folder.appending(path: "connectors/extra.yaml")
            try old.replacingOccurrences(of: "connector: stripe-to-hubspot", with: "connector: extra")
                .replacingOccurrences(of: "path: /hooks/stripe", with: "path: /hooks/extra").write(to: extra, atomically: true, encoding: .utf8)
            let connectors = ["--connectors", folder.appending(path: "connectors").path, "--store", options[1]]
            let rollback = try await PlanRollbackCommand.parse(["--to", "sha256:old"] + connectors).perform()
            #expect(rollback.status == 0, "\(rollback.standardError)")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == old)
            #expect(FileManager.default.fileExists(atPath: extra.path + ".rolled-back") && !FileManager.default.fileExists(atPath: extra.path))
            let inline = try await PlanRollbackCommand.parse(["--to", "sha256:inline"] + connectors).perform()
            #expect(inline.status == 2 && inline.standardError.contains("are not kept (a plan with a secret written inline keeps none"))
            let unknown = try await PlanRollbackCommand.parse(["--to", "sha256:nope"] + connectors).perform()
            #expect(unknown.status == 2 && unknown.standardError.contains("no plan sha256:nope was kept"))
        }
    }

    @Test func testRunsEveryCaseAgainstTheCandidateAndSaysWhereRequestsDiffer() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let candidate = folder.appending(path: "stripe-to-hubspot.yaml")
            try String(contentsOf: Self.example, encoding: .utf8).replacingOccurrences(of: "lifecyclestage: customer", with: "lifecyclestage: lead")
                .write(to: candidate, atomically: true, encoding: .utf8)
            let tests = GoldenFile.packageRoot.appending(path: "connectors/stripe-to-hubspot.test.yaml").path
            let run = try await TestCommand.parse([tests, "--candidate", candidate.path]).perform()
            #expect(run.status == 0, "the current version's cases decide the status: \(run.standardError)")
            #expect(run.standardOutput.contains("against stripe-to-hubspot's 8 cases: 2 identical; 6 differ: `body.inputs[0].properties.lifecyclestage` changed (route contact) in 6"),
                    "\(run.standardOutput)")
            #expect(run.standardOutput.contains("    route contact: body.inputs[0].properties.lifecyclestage changed: \"customer\" → \"lead\""))
            #expect(!run.standardOutput.contains("traceparent"), "a trace differs on every call: not a difference")
            let other = try await TestCommand.parse([tests, "--candidate", folder.appending(path: "nothing.yaml").path]).perform()
            #expect(other.status == 2)
        }
    }

    @Test func diffComparesTwoKeptVersions() async throws {
        try await Self.folder { folder, options in
            let old = try String(contentsOf: Self.example, encoding: .utf8)
            let store = try SQLiteEventStore(path: options[1], create: false)
            try await store.keepPlan(version: "sha256:a", sources: [PlanSource(path: "s.yaml", text: old)])
            try await store.keepPlan(version: "sha256:b", sources: [PlanSource(path: "s.yaml", text: old.replacingOccurrences(of: "timeout: 10s", with: "timeout: 30s"))])
            store.close()
            let diff = try await DiffCommand.parse(["--store", options[1], "sha256:a", "sha256:b"]).perform()
            #expect(diff.status == 1 && diff.standardOutput.contains("target hubspot  timeout: 10s → 30s"), "\(diff.standardOutput)\(diff.standardError)")
            let missing = try await DiffCommand.parse(["--store", options[1], "sha256:a", "sha256:zzz"]).perform()
            #expect(missing.status == 2 && missing.standardError.contains("the sources of sha256:zzz are not kept"), "\(missing.standardError)")
        }
    }
}
