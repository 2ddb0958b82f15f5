import Foundation
import JSONValue
@testable import ManifoldCLI
import ManifoldSQLite
import ManifoldStore
import TestSupport
import Testing

/// `manifold store prune --older-than`: what an operator runs for retention, on the SQLite store file.
@Suite struct StorePruneCommandTests {
    @Test func removesOldEventsKeepsDeadLettersAndSaysSo() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let path = folder.appending(path: "events.db").path
            let store = try SQLiteEventStore(path: path)
            let old = Date() - 40 * 86_400
            func event(_ id: String, at: Date, job: NewJob?) -> NewEvent {
                NewEvent(connector: "shop", eventID: id, eventType: nil, planVersion: "v1", receivedAt: at, contentType: "json",
                         headers: [], body: Array("{}".utf8), remoteAddress: nil, status: .received, detail: nil,
                         jobs: job.map { [$0] } ?? [])
            }
            let dead = NewJob(route: "r", target: "crm", lane: "shop/crm", orderingKey: nil, traceID: "t", planVersion: "v1")
            _ = try await store.append(event("a", at: old, job: nil))
            _ = try await store.append(event("b", at: old, job: dead))
            try await store.record(AttemptRecord(jobID: dead.id, startedAt: old, duration: .zero, countsAsAttempt: true, errorClass: "permanent",
                                                 request: nil, responseStatus: 400, responseHeaders: [], responseBody: nil, error: "400"),
                                   outcome: .dead(reason: "400"))
            _ = try await store.append(event("c", at: Date(), job: nil))
            store.close()

            let refused = try await StorePruneCommand.parse(["--older-than", "5m", "--store", path]).perform()
            #expect(refused.status == 2 && refused.standardError.contains("at least an hour"))
            let output = try await StorePruneCommand.parse(["--older-than", "30d", "--store", path]).perform()
            #expect(output.status == 0)
            #expect(output.standardOutput.hasPrefix("\(path): removed 1 event received before "), "\(output.standardOutput)")
            #expect(output.standardOutput.contains("kept 1 older event with a job pending or a dead letter"))
            let json = try JSONParser.parse(try await StorePruneCommand.parse(["--older-than", "30d", "--store", path, "--format", "json"])
                .perform().standardOutput)
            #expect(json["events"] == 0 && json["kept_events"] == 1)
            let reopened = try SQLiteEventStore(path: path, verify: true)
            defer { reopened.close() }
            #expect(try await reopened.events(EventQuery()).map(\.eventID) == ["c", "b"])
            #expect(SQLiteEventStore.check(path: path).isSound)
        }
    }
}
