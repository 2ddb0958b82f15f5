import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldMonitor
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import Synchronization
import TestSupport
import Testing

/// Rollouts through the real engine, router, store and runtime: which events the candidate gets, what each version
/// sends, and what a shadow records without sending.
@Suite struct RolloutTests {
    /// Answers every call with 200 (or 400 when the body says `"bad": true`) and records it.
    final class RecordingTransport: HTTPTransport {
        let calls = Mutex<[OutboundRequest]>([])

        func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse {
            calls.withLock { $0.append(request) }
            let text = String(decoding: request.body ?? [], as: UTF8.self)
            return InboundResponse(status: text.contains("\"bad\":true") ? 400 : 200, headers: [], body: Array("{}".utf8))
        }

        func bodies() -> [JSON] { calls.withLock { $0 }.compactMap { try? JSONParser.parse(bytes: $0.body ?? []) } }
    }

    final class Stopper: Sendable {
        let flag = Atomic<Bool>(false)
    }

    static func connector(body: String, version: Int = 1) -> String {
        """
        connector: orders
        version: \(version)
        source:
          webhook: { path: /in, verify: { scheme: none }, allow_ips: [127.0.0.1/32], event_id: id }
        targets:
          crm:
            base_url: https://crm.example
            retry: { max_attempts: 1 }
            operations:
              upsert: { method: POST, path: /contacts }
        routes:
          - name: contact
            call: crm.upsert
            body: \(body)
        """
    }

    static let current = connector(body: #"{ id: "{% id %}", email: "{% email %}" }"#)
    static let candidate = connector(body: #"{ id: "{% id %}", email: "{% email %}", phone: "{% phone %}" }"#, version: 2)

    struct Setup {
        let store: SQLiteEventStore
        let engine: Engine
        let runtime: DeliveryRuntime
        let transport: RecordingTransport
        let route: Engine.Route
        let stopper: Stopper
        let running: Task<Void, Never>

        func post(_ id: String, extra: String = "") async -> Int {
            let body = #"{"id":"\#(id)","email":"\#(id)@example.com","phone":"555-\#(id)"\#(extra)}"#
            let request = WebhookRequest(method: "POST", target: "/in", headers: ["Content-Type": "application/json"],
                                         body: Array(body.utf8), remoteAddress: "127.0.0.1")
            return await engine.receive(request, on: route).status
        }

        func settle(calls: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(120)
            while transport.calls.withLock({ $0.count }) < calls, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
        }

        func close() async {
            stopper.flag.store(true, ordering: .relaxed)
            await running.value
            store.close()
        }
    }

    static func setup(rollout: (Plan) -> RolloutRecord?) async throws -> Setup {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        let plan = try #require(ConnectorCompiler().compile([SourceFile(path: "orders.yaml", text: Self.current)]).plan)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = DeliveryRuntime.Configuration()
        configuration.sweepInterval = .milliseconds(20)
        let transport = RecordingTransport()
        let runtime = DeliveryRuntime(store: store, transport: transport, logger: logger, configuration: configuration)
        let engine = try Engine(plan: plan, store: store, resolver: ConfigResolver(environment: [:]), logger: logger, runtime: runtime)
        if let record = rollout(plan) {
            try await store.startRollout(record, by: "test")
            await engine.refreshRollouts()
        }
        let route = try #require(engine.route(for: "/in"))
        let stopper = Stopper()
        let running = Task { await runtime.run(until: { stopper.flag.load(ordering: .relaxed) }) }
        return Setup(store: store, engine: engine, runtime: runtime, transport: transport, route: route, stopper: stopper, running: running)
    }

    static func record(_ mode: RolloutRecord.Mode, basisPoints: Int, stickBy: String? = nil) -> RolloutRecord {
        RolloutRecord(id: "ro_test", connector: "orders", mode: mode, basisPoints: basisPoints, stickBy: stickBy,
                      candidateText: Self.candidate, candidatePath: "orders.candidate.yaml", candidateVersion: "c", baseVersion: "b",
                      startedAt: Date(), startedBy: "test", minimum: 5)
    }

    @Test(.timeLimit(.minutes(10)))
    func aCanaryGetsTheEventsItsKeysSelectAndDeliversWithItsOwnMapping() async throws {
        let setup = try await Self.setup { _ in Self.record(.canary, basisPoints: 3000) }
        let ids = (0..<60).map { "o\($0)" }
        for id in ids { #expect(await setup.post(id) == 200) }
        try await setup.settle(calls: 60)
        let candidateVersion = try #require(setup.engine.rollouts.running["orders"]).plan.version
        let events = try await setup.store.events(EventQuery(limit: 100))
        #expect(events.count == 60)
        // Every event's version is the one its key selects, and the candidate's calls carry its new field.
        for event in events {
            let chosen = RolloutSplit.toCandidate(event.eventID, basisPoints: 3000)
            #expect((event.planVersion == candidateVersion) == chosen, "\(event.eventID)")
        }
        let withPhone = Set(setup.transport.bodies().filter { $0["phone"] != nil }.compactMap { $0["id"]?.stringValue })
        let expected = Set(ids.filter { RolloutSplit.toCandidate($0, basisPoints: 3000) })
        #expect(withPhone == expected && !expected.isEmpty && expected.count < 60)
        #expect(setup.transport.calls.withLock { $0.count } == 60, "each event once, by one version")
        let figures = setup.engine.rollouts.armFigures["orders"] ?? [:]
        #expect(figures[.candidate]?.events == expected.count && figures[.current]?.events == 60 - expected.count)
        await setup.close()
    }

    @Test(.timeLimit(.minutes(10)))
    func aShadowSendsNothingOfTheCandidateAndRecordsBothVersionsCalls() async throws {
        let setup = try await Self.setup { _ in Self.record(.shadow, basisPoints: 10_000) }
        for id in ["a", "b", "c"] { #expect(await setup.post(id) == 200) }
        try await setup.settle(calls: 3)
        // Only the current version's calls went out.
        #expect(setup.transport.bodies().allSatisfy { $0["phone"] == nil })
        #expect(setup.transport.calls.withLock { $0.count } == 3)
        let shadow = try await setup.store.shadowCalls(rollout: "ro_test")
        #expect(shadow.count == 6)
        let candidate = shadow.filter { $0.arm == "candidate" }
        #expect(candidate.map(\.event).sorted() == ["a", "b", "c"])
        #expect(candidate.allSatisfy { $0.request["body"]?["phone"] != nil && $0.call == "crm.upsert" })
        #expect(shadow.filter { $0.arm == "current" }.allSatisfy { $0.request["body"]?["phone"] == nil })
        // The events are the current version's.
        #expect(try await setup.store.events(EventQuery(limit: 10)).allSatisfy { $0.planVersion == setup.engine.plan.version })
        await setup.close()
    }

    @Test(.timeLimit(.minutes(10)))
    func aStickByKeyKeepsTheSameVersionForTheSameCustomer() async throws {
        let setup = try await Self.setup { _ in Self.record(.canary, basisPoints: 5000, stickBy: "customer") }
        let candidateVersion = try #require(setup.engine.rollouts.running["orders"]).plan.version
        for index in 0..<20 { #expect(await setup.post("s\(index)", extra: #","customer":"cus_\#(index % 4)""#) == 200) }
        try await setup.settle(calls: 20)
        let events = try await setup.store.events(EventQuery(limit: 100))
        for event in events {
            let index = Int(event.eventID.dropFirst())!
            #expect((event.planVersion == candidateVersion) == RolloutSplit.toCandidate("cus_\(index % 4)", basisPoints: 5000))
        }
        await setup.close()
    }

    @Test(.timeLimit(.minutes(10)))
    func aCanaryThatMakesTheVendorRefuseIsRolledBackAndEveryLaterEventIsTheCurrents() async throws {
        let bad = Self.connector(body: #"{ id: "{% id %}", email: "{% email %}", bad: true }"#, version: 2)
        let setup = try await Self.setup { _ in
            var record = Self.record(.canary, basisPoints: 5000)
            record.candidateText = bad
            return record
        }
        for index in 0..<40 { #expect(await setup.post("r\(index)") == 200) }
        try await setup.settle(calls: 40)
        // Every attempt recorded, then judged: the candidate's are all 400s, the current's all delivered.
        let deadline = ContinuousClock.now + .seconds(300)
        var rolledBack: [(connector: String, reason: String)] = []
        while rolledBack.isEmpty, ContinuousClock.now < deadline {
            rolledBack = await setup.engine.checkRollouts()
            if rolledBack.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(rolledBack.first?.connector == "orders")
        #expect(rolledBack.first?.reason.contains("against the current's 0 of") == true, "\(rolledBack)")
        #expect(try await setup.store.rollouts().first?.status == .rolledBack)
        #expect(try await setup.store.rolloutLog(connector: "orders").last?.by == "auto-rollback")
        #expect(setup.engine.rollouts.running.isEmpty)
        #expect(await setup.engine.scrape().contains(#"manifold_rollout_rollbacks_total{connector="orders"} 1"#))
        // From now on every event is the current version's.
        let before = setup.transport.calls.withLock { $0.count }
        for index in 40..<60 { #expect(await setup.post("r\(index)") == 200) }
        try await setup.settle(calls: before + 20)
        #expect(setup.transport.bodies().suffix(20).allSatisfy { $0["bad"] == nil })
        // The current version's deliveries were all made; the candidate's refused ones are dead letters to replay.
        let current = setup.transport.bodies().filter { $0["bad"] == nil }.count
        #expect(current == 60 - (0..<40).filter { RolloutSplit.toCandidate("r\($0)", basisPoints: 5000) }.count)
        await setup.close()
    }

    @Test func theSplitIsStableAndItsShareHoldsOverManyKeys() {
        #expect(RolloutSplit.bucket("evt_1") == RolloutSplit.bucket("evt_1"))
        let chosen = (0..<10_000).filter { RolloutSplit.toCandidate("evt_\($0)", basisPoints: 1000) }.count
        #expect((800...1200).contains(chosen), "10% of 10,000 keys within ±2 points: \(chosen)")
        // A larger share keeps every key the smaller one had.
        #expect((0..<1000).allSatisfy { !RolloutSplit.toCandidate("k\($0)", basisPoints: 1000) || RolloutSplit.toCandidate("k\($0)", basisPoints: 2500) })
    }
}

/// The canary's guard on its own, on times given to it.
@Suite struct RollbackGuardTests {
    let start = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func aCandidateFailingMoreThanTheMarginIsRolledBackOnce() {
        var guarding = RollbackGuard(margin: 0.05, window: 60, minimum: 10, onQuarantine: true)
        for index in 0..<50 { guarding.attempted(.current, failed: index % 25 == 0, at: start + Double(index)) }
        for index in 0..<9 { guarding.attempted(.candidate, failed: true, at: start + Double(index)) }
        #expect(guarding.judge(at: start + 10) == nil, "fewer than 10 candidate attempts: not judged")
        guarding.attempted(.candidate, failed: false, at: start + 10)
        let reason = guarding.judge(at: start + 11)
        #expect(reason?.hasPrefix("the candidate failed 9 of 10 attempts (90.0%) against the current's") == true, "\(reason ?? "")")
        #expect(guarding.judge(at: start + 12) == nil, "once")
    }

    @Test func aCandidateAsGoodAsTheCurrentStaysAndOldAttemptsLeaveTheWindow() {
        var guarding = RollbackGuard(margin: 0.05, window: 60, minimum: 10, onQuarantine: true)
        for index in 0..<20 {
            guarding.attempted(.current, failed: index % 10 == 0, at: start)
            guarding.attempted(.candidate, failed: index % 10 == 0, at: start)
        }
        #expect(guarding.judge(at: start + 1) == nil)
        // Failures a minute and more ago no longer count.
        for _ in 0..<10 { guarding.attempted(.candidate, failed: true, at: start) }
        for _ in 0..<20 { guarding.attempted(.candidate, failed: false, at: start + 100) }
        #expect(guarding.judge(at: start + 101) == nil)
    }

    @Test func aQuarantineRollsBackAtOnceWhenAsked() {
        var strict = RollbackGuard(margin: 0.05, window: 60, minimum: 10, onQuarantine: true)
        strict.candidateQuarantined("routing failed: no such field", at: start)
        #expect(strict.judge(at: start) == "the candidate quarantined an event: routing failed: no such field")
        var lenient = RollbackGuard(margin: 0.05, window: 60, minimum: 10, onQuarantine: false)
        lenient.candidateQuarantined("x", at: start)
        #expect(lenient.judge(at: start) == nil)
    }
}
