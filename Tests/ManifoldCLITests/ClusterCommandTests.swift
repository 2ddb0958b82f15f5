import Foundation
import JSONValue
@testable import ManifoldCLI
import ManifoldPostgres
import ManifoldStore
import TestSupport
import Testing

/// `manifold cluster status` and `manifold store check` on a PostgreSQL store shared by engines.
@Suite(.timeLimit(.minutes(10))) struct ClusterCommandTests {
    @Test func listsLiveEnginesTheirPlansAndLanesAndSaysWhenPlansDiffer() async throws {
        let url = try await PrivatePostgres.freshDatabase()
        let store = try await PostgresStore.open(url: url, connections: 2)
        defer { store.close() }
        let now = Date()
        for (engine, plan) in [("engine-a", "sha256:aaa"), ("engine-b", "sha256:aaa"), ("engine-gone", "sha256:old")] {
            try await store.recordEngine(EngineRecord(owner: engine, info: ["plan": .string(plan), "listen": "127.0.0.1:8080"], recordedAt: now))
        }
        try await store.renewLeases(owner: "engine-a", until: now + 60)
        try await store.renewLeases(owner: "engine-b", until: now + 60)
        try await store.renewLeases(owner: "engine-gone", until: now - 60)
        _ = try await store.acquireLanes(["shop/crm", "shop/erp"], owner: "engine-a", until: now + 60, now: now)
        _ = try await store.acquireLanes(["billing/ledger"], owner: "engine-b", until: now + 60, now: now)
        _ = try await store.acquireLanes(["old/lane"], owner: "engine-gone", until: now - 30, now: now - 60)

        let text = try await ClusterStatusCommand.parse(["--store", url]).perform()
        #expect(text.status == 0, "\(text.standardOutput)")
        let lines = text.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("2 engines on postgres://127.0.0.1:") == true, "\(lines)")
        #expect(!text.standardOutput.contains("engine-gone"))
        #expect(lines.contains("  engine-a  plan sha256:aaa, listening on 127.0.0.1:8080"))
        #expect(lines.contains { $0.hasPrefix("    shop/crm  lease 1 until ") })
        #expect(lines.contains { $0.hasPrefix("    billing/ledger  lease 1 until ") })
        #expect(lines.last == "  lanes no engine holds: old/lane")
        // The address's password never shows.
        #expect(!text.standardOutput.contains("manifold@"))

        try await store.recordEngine(EngineRecord(owner: "engine-b", info: ["plan": "sha256:bbb"], recordedAt: now))
        let json = try await ClusterStatusCommand.parse(["--store", url, "--format", "json"]).perform()
        #expect(json.status == 1, "two plans among live engines")
        let body = try JSONParser.parse(json.standardOutput)
        #expect(body["plans_agree"] == false)
        #expect(body["engines"]?.arrayValue?.compactMap { $0["engine"]?.stringValue } == ["engine-a", "engine-b"])
        #expect(body["engines"]?.arrayValue?.first?["lanes"]?.arrayValue?.count == 2)
    }

    @Test func checksAPostgresStoreAndSaysWhyOneIsUnusable() async throws {
        let url = try await PrivatePostgres.freshDatabase()
        let sound = try await StoreCheckCommand.parse(["--store", url]).perform()
        #expect(sound.status == 0)
        #expect(sound.standardOutput.contains(": sound (0 events, 0 jobs, schema: events, jobs, endpoints, pulls and rollouts, lane leases, engines, pruning, pending jobs by ordering key, claims held until their lease's end)"),
                "\(sound.standardOutput)")
        // A database that does not exist: said, with where, without a password.
        var missing = URLComponents(string: url)!
        missing.path = "/no_such_database"
        missing.password = "s3cret"
        let refused = try await StoreCheckCommand.parse(["--store", missing.string!]).perform()
        #expect(refused.status == 1)
        #expect(refused.standardOutput.contains("no_such_database") && refused.standardOutput.contains("does not exist"), "\(refused.standardOutput)")
        #expect(!refused.standardOutput.contains("s3cret"))
    }
}
