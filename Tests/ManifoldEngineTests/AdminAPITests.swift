import AsyncHTTPClient
import Foundation
import JSONValue
import Logging
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import ManifoldCompiler
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TestSupport
import Testing

/// The admin API over HTTP: a bearer token or nothing; dead letters listed, shown, replayed, purged.
@Suite struct AdminAPITests {
    @Test func deadLettersAreServedOnlyWithTheTokenAndReplayedThroughTheAPI() async throws {
        let path = EngineHTTPTests.storePath()
        let store = try SQLiteEventStore(path: path)
        let plan = try TestConnector.plan(name: "shop", webhook: EngineHTTPTests.webhook)
        // One event with one job that failed for good.
        let job = NewJob(route: "all", target: "sink", lane: "shop/sink", orderingKey: nil, traceID: TraceContext.newTraceID(),
                         planVersion: plan.version)
        let event = NewEvent(connector: "shop", eventID: "evt_1", eventType: nil, planVersion: plan.version, receivedAt: Date(),
                             contentType: "json", headers: [], body: Array(#"{"id":"evt_1"}"#.utf8), remoteAddress: nil,
                             status: .received, detail: nil, jobs: [job])
        let eventID = try await store.append(event).id
        try await store.record(AttemptRecord(jobID: job.id, startedAt: Date(), duration: .milliseconds(3), countsAsAttempt: true,
                                             errorClass: "permanent", request: ["method": "POST"], responseStatus: 400,
                                             responseHeaders: [], responseBody: "{}", error: "the target answered 400"),
                               outcome: .dead(reason: "the target answered 400"))

        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = try Engine(plan: plan, store: store, resolver: EngineHTTPTests.resolver, logger: logger,
                                admin: AdminAPI(store: store, token: "s3cret-admin"))
        let server = try await AdminServer.start(engine: engine, logger: logger)
        let port = server.port

        func call(_ method: HTTPMethod, _ path: String, token: String? = "s3cret-admin", body: String? = nil) async throws
            -> (Int, JSON?)
        {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), try? JSONParser.parse(bytes: Array(bytes.readableBytesView)))
        }

        #expect(try await call(.GET, "/admin/dlq", token: nil).0 == 401)
        #expect(try await call(.GET, "/admin/dlq", token: "guess").0 == 401)
        let (status, list) = try await call(.GET, "/admin/dlq")
        #expect(status == 200)
        #expect(list?["dead_letters"]?.arrayValue?.map { $0["id"]?.stringValue } == [job.id])
        let (_, shown) = try await call(.GET, "/admin/jobs/\(job.id)")
        #expect(shown?["reason"] == "the target answered 400")
        #expect(shown?["attempts_detail"]?.arrayValue?.first?["status"] == 400)

        let (replayStatus, report) = try await call(.POST, "/admin/dlq/replay", body: #"{"jobs": ["\#(job.id)"]}"#)
        #expect(replayStatus == 200)
        let newJob = try #require(report?["replayed"]?.arrayValue?.first?["jobs"]?.arrayValue?.first?.stringValue)
        #expect(try await store.job(id: newJob)?.summary.replayOf == job.id)
        #expect(try await call(.GET, "/admin/dlq").1?["dead_letters"]?.arrayValue?.isEmpty == true)
        let (eventReplay, eventReport) = try await call(.POST, "/admin/replay", body: #"{"events": ["\#(eventID)"]}"#)
        #expect(eventReplay == 200)
        #expect(eventReport?["replayed"]?.arrayValue?.count == 1)
        #expect(try await call(.POST, "/admin/dlq/replay", body: "[]").0 == 400)
        let history = try #require(try await store.event(id: eventID)).history
        #expect(history.filter { $0.status == .replayed }.compactMap { $0.detail?["by"]?.stringValue } == ["admin-api", "admin-api"])

        try await server.stop()
    }
}

/// Replays on the original plan: the kept sources of the version that first ran are compiled again and the new job
/// pins that version; a version that was not kept is refused with a reason.
@Suite struct OriginalPlanReplayTests {
    @Test func aReplayOnTheOriginalPlanPinsTheKeptVersion() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        defer { store.close() }
        let old = try TestConnector.plan(name: "shop", webhook: EngineHTTPTests.webhook)
        let current = try TestConnector.plan(name: "shop", webhook: EngineHTTPTests.webhook.replacingOccurrences(of: "2KB", with: "4KB"))
        #expect(old.version != current.version)
        let text = TestConnector.source(name: "shop", webhook: EngineHTTPTests.webhook)
        #expect(try await KeptPlans.plan(version: old.version, in: store) == nil)
        try await store.keepPlan(version: old.version, sources: [PlanSource(path: "shop.yaml", text: text)])
        #expect(try await KeptPlans.plan(version: old.version, in: store)?.version == old.version)

        func deadLetter(_ id: String, plan version: String) async throws -> JobSummary {
            let job = NewJob(route: "all", target: "sink", lane: "shop/sink", orderingKey: nil,
                             traceID: TraceContext.newTraceID(), planVersion: version)
            _ = try await store.append(NewEvent(connector: "shop", eventID: id, eventType: nil, planVersion: version,
                                                receivedAt: Date(), contentType: "json", headers: [],
                                                body: Array(#"{"id":"\#(id)"}"#.utf8), remoteAddress: nil,
                                                status: .received, detail: nil, jobs: [job]))
            try await store.record(AttemptRecord(jobID: job.id, startedAt: Date(), duration: .zero, countsAsAttempt: true,
                                                 errorClass: "permanent", request: nil, responseStatus: 400,
                                                 responseHeaders: [], responseBody: nil, error: "400"),
                                   outcome: .dead(reason: "400"))
            return try #require(try await store.job(id: job.id)).summary
        }
        let kept = try await deadLetter("e1", plan: old.version)
        let lost = try await deadLetter("e2", plan: "sha256:0000000000000000")
        let replayer = Replayer(store: store, router: try Router(plan: current), loadRouter: { version in
            try await KeptPlans.plan(version: version, in: store).map { try Router(plan: $0) }
        })
        let report = try await replayer.replay(jobs: [kept, lost], originalPlan: true, by: "test")
        let newID = try #require(report.replayed.first?.jobs.first)
        let replayed = try #require(try await store.job(id: newID)).summary
        #expect(replayed.planVersion == old.version)
        #expect(replayed.pinsPlan)
        #expect(report.skipped.map(\.id) == [lost.id])
        #expect(report.skipped.first?.reason.contains("was not kept") == true)
        // On the running plan instead, the same dead letter would take the current version.
        let onCurrent = try await replayer.replay(jobs: [lost], originalPlan: false, by: "test")
        let currentID = try #require(onCurrent.replayed.first?.jobs.first)
        let currentJob = try #require(try await store.job(id: currentID)).summary
        #expect(currentJob.planVersion == current.version && !currentJob.pinsPlan)
    }
}

/// An engine's HTTP server (webhooks, dashboard, admin API) on a free port of 127.0.0.1, for tests that call it.
struct AdminServer {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static func start(engine: Engine, logger: Logger) async throws -> AdminServer {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = ServiceGroup(configuration: .init(
            services: EngineServer.services(engine: engine, host: "127.0.0.1", port: 0, logger: logger) { continuation.yield($0) },
            logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        return AdminServer(port: try #require(await iterator.next()), group: group, task: task)
    }

    /// Stops it gracefully and waits until it has.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}
