import Foundation
import ManifoldStore
import ManifoldSQLite
import TestSupport
import Testing

/// `manifold dlq` and `manifold replay` on a store with a dead letter, as an operator runs them.
@Suite struct DeadLetterCommandTests {
    @Test func anOperatorListsShowsReplaysAndPurgesDeadLetters() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "manifold-dlq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appending(path: "events.db").path
        let store = try SQLiteEventStore(path: path)
        var ids: [String] = []
        var events: [String] = []
        for number in 1...2 {
            let job = NewJob(route: "pr-opened", target: "slack", lane: "github-to-slack/slack", orderingKey: nil,
                             traceID: String(repeating: "a", count: 32), planVersion: "sha256:0123456789abcdef")
            events.append(try await store.append(NewEvent(
                connector: "github-to-slack", eventID: "delivery-\(number)", eventType: "pull_request",
                planVersion: "sha256:0123456789abcdef", receivedAt: Date(), contentType: "json",
                headers: [("X-GitHub-Event", "pull_request")], body: Array(#"{"action":"opened"}"#.utf8),
                remoteAddress: nil, status: .received, detail: nil, jobs: [job])).id)
            try await store.record(AttemptRecord(
                jobID: job.id, startedAt: Date(), duration: .milliseconds(12), countsAsAttempt: true, errorClass: "permanent",
                request: ["method": "POST", "url": "https://slack.com/api/chat.postMessage",
                          "headers": [["Authorization", "[redacted]"]]],
                responseStatus: 400, responseHeaders: [("Content-Type", "application/json")],
                responseBody: #"{"ok":false,"error":"channel_not_found"}"#, error: "the target answered 400"),
                outcome: .dead(reason: "the target answered 400"))
            ids.append(job.id)
        }
        store.close()
        let connectors = GoldenFile.packageRoot.appending(path: "connectors").path
        func manifold(_ arguments: [String]) async throws -> ProcessRun {
            try await ProcessRun.runAsync(TestPaths.manifold, arguments + ["--store", path])
        }

        let list = try await manifold(["dlq", "list"])
        #expect(list.status == 0)
        #expect(ids.allSatisfy { list.output.contains($0) })
        #expect(list.output.contains("the target answered 400"))
        let show = try await manifold(["dlq", "show", ids[0]])
        #expect(show.output.contains("attempt 1"))
        #expect(show.output.contains("Authorization: [redacted]"))
        #expect(show.output.contains("channel_not_found"))
        #expect(try await manifold(["dlq", "show", "job_missing"]).status == 1)
        #expect(try await manifold(["dlq", "purge"]).status != 0)

        let replay = try await manifold(["dlq", "replay", ids[0], "--connectors", connectors])
        #expect(replay.status == 0, "\(replay.error)")
        #expect(replay.output.hasPrefix("replayed 1 dead letter(s)\n  \(ids[0]) -> job_"))
        let original = try await manifold(["dlq", "replay", ids[1], "--connectors", connectors, "--original-plan"])
        #expect(original.status == 1)
        #expect(original.output.contains("plan sha256:0123456789abcdef was not kept"))
        let purge = try await manifold(["dlq", "purge", "--all"])
        #expect(purge.output == "purged 1 dead letter(s)\n")
        #expect(try await manifold(["dlq", "list"]).output == "no dead letters\n")

        // A misspelt time stops the command; it never widens the selection to every event.
        let misspelt = try await manifold(["replay", "--since", "yesterdayy", "--connectors", connectors])
        #expect(misspelt.status != 0)
        #expect(misspelt.error.contains("The value 'yesterdayy' is invalid for '--since <since>': expected a time such as"), "\(misspelt.error)")
        #expect(try await manifold(["dlq", "list", "--since", "banana"]).status != 0)

        let again = try await manifold(["replay", "--event", events[0], "--connectors", connectors, "--format", "json"])
        #expect(again.status == 0, "\(again.error)")
        #expect(again.output.contains(#""from" : "\#(events[0])""#) || again.output.contains(#""from": "\#(events[0])""#))
        let history = try await manifold(["events", "show", events[0]])
        // The timeline records both replays, with who ran them.
        #expect(history.output.split(separator: "\n").filter { $0.contains("  replayed  ") && $0.contains("by=cli:") }.count == 2)
    }
}
