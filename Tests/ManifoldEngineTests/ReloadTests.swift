import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// An engine delivering to a mock vendor, whose connector "files" live in memory and are reloaded as an operator would.
final class ReloadHarness: Sendable {
    static let environment = ["HOOK_SECRET": "hook-secret", "CRM_SECRET": "crm-secret"]

    let vendor: MockVendor
    let store: SQLiteEventStore
    let runtime: DeliveryRuntime
    let engine: Engine
    let reloader: ConfigReloader
    let transport = AsyncHTTPTransport()
    /// The connector files by name.
    let disk: Disk

    final class Disk: Sendable {
        let files: Mutex<[String: String]>
        init(_ files: [String: String]) { self.files = Mutex(files) }
    }

    /// A connector named `name` at `/hooks/{name}`, calling `PUT /{name}/{id}` on the vendor with `body` (YAML flow).
    static func connector(_ name: String, port: Int, body: String = "{ total: \"{% total %}\" }", breaker: Int = 5,
                          openFor: String = "1m", concurrency: Int = 4, maxAttempts: Int = 5, backoff: String = "300ms") -> String
    {
        """
        connector: \(name)
        version: 1
        source:
          webhook:
            path: /hooks/\(name)
            verify: { scheme: github, secret: "${env:HOOK_SECRET}" }
            event_id: id
        targets:
          vendor:
            base_url: http://127.0.0.1:\(port)
            auth:
              oauth2:
                grant: client_credentials
                token_url: http://127.0.0.1:\(port)/token
                client_id: manifold
                client_secret: "${env:CRM_SECRET}"
            timeout: 5s
            concurrency: \(concurrency)
            circuit_breaker: { failures: \(breaker), open_for: \(openFor) }
            retry:
              max_attempts: \(maxAttempts)
              backoff: { initial: \(backoff), max: \(backoff), multiplier: 1, jitter: none }
            operations:
              put: { method: PUT, path: "/\(name)/{id}" }
        routes:
          - name: deliver
            call: vendor.put
            path: { id: "{% id %}" }
            body: \(body)
        """
    }

    /// Reads and compiles the connector files in `folder` as they are at each call, as `manifold run` does on a reload.
    static func compiler(folder: URL) -> @Sendable () -> PlanCompilation {
        {
            do {
                let files = try SourceLoader.load(paths: [folder.path])
                let result = ConnectorCompiler(environment: .require(ReloadHarness.environment)).compile(files)
                guard let plan = result.plan else {
                    return .refused(diagnostics: result.diagnostics.filter { $0.severity == .error }.map(\.description))
                }
                return .compiled(plan, sources: [], resolver: ConfigResolver(environment: ReloadHarness.environment))
            } catch {
                return .refused(diagnostics: ["\(error)"])
            }
        }
    }

    init(_ files: [String: String]? = nil, configure: (Int) -> [String: String] = { port in
        ["orders.yaml": ReloadHarness.connector("orders", port: port), "billing.yaml": ReloadHarness.connector("billing", port: port)]
    }) async throws {
        vendor = try await MockVendor()
        disk = Disk(files ?? configure(vendor.port))
        store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        runtime = DeliveryRuntime(store: store, transport: transport, logger: logger)
        let disk = self.disk
        let compile: @Sendable () -> PlanCompilation = {
            let files = disk.files.withLock { $0 }.sorted { $0.key < $1.key }.map { SourceFile(path: $0.key, text: $0.value) }
            let result = ConnectorCompiler(environment: .require(Self.environment)).compile(files)
            guard let plan = result.plan else {
                return .refused(diagnostics: result.diagnostics.filter { $0.severity == .error }.map(\.description))
            }
            return .compiled(plan, sources: [], resolver: ConfigResolver(environment: Self.environment))
        }
        guard case .compiled(let plan, _, let resolver) = compile() else { throw CocoaError(.featureUnsupported) }
        engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger, runtime: runtime)
        reloader = ConfigReloader(engine: engine, logger: logger, compile: compile)
    }

    func write(_ name: String, _ text: String?) {
        disk.files.withLock { $0[name] = text }
    }

    /// Posts a signed event to `/hooks/{connector}`.
    func post(_ connector: String, _ body: String) async -> Engine.Reply {
        var request = WebhookRequest(method: "POST", target: "/hooks/\(connector)", headers: ["Content-Type": "application/json"],
                                     body: Array(body.utf8), remoteAddress: nil)
        guard let route = engine.route(for: "/hooks/\(connector)") else { return Engine.Reply(.notFound) }
        for field in route.endpoint.signature.sign(request, now: Int64(Date().timeIntervalSince1970), deliveryID: "d") {
            request.headers.append(field.name, field.value)
        }
        return await engine.receive(request, on: route)
    }

    /// Waits until `condition` holds (at most 300 s: a bound for a hang, not a window).
    func until(_ condition: () async throws -> Bool) async throws -> Bool {
        try await Eventually.until(every: .milliseconds(20), condition)
    }

    /// The bodies the vendor got at `path`.
    func bodies(_ path: String) -> [JSON] {
        vendor.calls.filter { $0.path == path }.compactMap { try? JSONParser.parse($0.body) }
    }

    func stop() async throws {
        await runtime.drain()
        store.close()
        await transport.shutdown()
        try await vendor.stop()
    }
}

/// Hot reload as an operator relies on it: all or nothing, nothing lost, unchanged connectors undisturbed.
@Suite struct ReloadTests {
    @Test func aBadChangeIsRefusedWithItsLocationAndTheRunningPlanStays() async throws {
        let harness = try await ReloadHarness()
        let running = harness.engine.plan.version
        harness.write("billing.yaml", "connector: billing\nversion: [\n")
        let broken = await harness.reloader.reload(trigger: "test")
        #expect(broken.result == .rejected)
        #expect(broken.diagnostics.first?.hasPrefix("billing.yaml:3:1: error:") == true, "\(broken.diagnostics)")
        #expect(harness.engine.plan.version == running)
        #expect(harness.reloader.last?.result == .rejected)
        // The running plan still serves and delivers the connector whose file is broken.
        #expect(await harness.post("billing", #"{"id":"b1","total":1}"#).status == 200)
        #expect(try await harness.until { harness.bodies("/billing/b1") == [["total": 1]] })

        // A file that compiles but whose secret does not resolve is refused too, before anything is swapped.
        harness.write("billing.yaml", ReloadHarness.connector("billing", port: harness.vendor.port)
            .replacingOccurrences(of: "${env:CRM_SECRET}", with: "${env:MISSING_SECRET}"))
        let unresolved = await harness.reloader.reload(trigger: "test")
        #expect(unresolved.result == .rejected)
        #expect(unresolved.diagnostics.joined().contains("MISSING_SECRET"), "\(unresolved.diagnostics)")
        #expect(harness.engine.plan.version == running)
        let metrics = harness.engine.metrics.exposition
        #expect(metrics.contains(#"manifold_config_reloads_total{result="rejected"} 2"#))
        #expect(metrics.contains(#"manifold_config_reloads_total{result="applied"} 0"#))
        #expect(metrics.contains("manifold_config_last_reload_successful 0"))

        // Every file gone (a deploy half done): refused, not every webhook taken down.
        let saved = harness.disk.files.withLock { files in defer { files = [:] }; return files }
        let emptied = await harness.reloader.reload(trigger: "test")
        #expect(emptied.result == .rejected)
        #expect(emptied.diagnostics == ["error: no connector files: every connector would be removed; the running plan stays "
            + "(remove connectors one at a time, or stop the engine)"])
        #expect(harness.engine.route(for: "/hooks/orders") != nil)
        harness.disk.files.withLock { $0 = saved }

        // Fixed: applied, with what changed in behaviour.
        harness.write("billing.yaml", ReloadHarness.connector("billing", port: harness.vendor.port, maxAttempts: 2))
        let fixed = await harness.reloader.reload(trigger: "test")
        #expect(fixed.result == .applied)
        #expect(fixed.running != running && harness.engine.plan.version == fixed.running)
        #expect(fixed.diff.changes.map { "\($0.connector) \($0.scope) \($0.field ?? "")" }.contains("billing target vendor retry.max_attempts"))
        #expect(harness.engine.metrics.exposition.contains(#"manifold_config_reloads_total{result="applied"} 1"#))
        #expect(harness.engine.metrics.exposition.contains("manifold_config_last_reload_successful 1"))
        // Nothing changed since: unchanged.
        #expect(await harness.reloader.reload(trigger: "test").result == .unchanged)
        try await harness.stop()
    }

    @Test func eventsAfterTheSwapUseTheNewPlanAndRecordItsVersion() async throws {
        let harness = try await ReloadHarness()
        let before = harness.engine.plan.version
        #expect(await harness.post("orders", #"{"id":"o1","total":5}"#).status == 200)
        harness.write("orders.yaml", ReloadHarness.connector("orders", port: harness.vendor.port, body: "{ amount: \"{% total %}\" }"))
        let outcome = await harness.reloader.reload(trigger: "test")
        #expect(outcome.result == .applied)
        #expect(await harness.post("orders", #"{"id":"o2","total":7}"#).status == 200)
        #expect(try await harness.until { harness.bodies("/orders/o2") == [["amount": 7]] })
        let events = try await harness.store.events(EventQuery())
        #expect(events.first { $0.eventID == "o1" }?.planVersion == before)
        #expect(events.first { $0.eventID == "o2" }?.planVersion == outcome.running)
        try await harness.stop()
    }

    @Test func queuedJobsTakeTheNewMappingWhileACallInFlightFinishesOnItsOwn() async throws {
        let harness = try await ReloadHarness { port in
            ["orders.yaml": ReloadHarness.connector("orders", port: port, concurrency: 1)]
        }
        harness.vendor.delay("/orders/o1", by: .milliseconds(800))
        #expect(await harness.post("orders", #"{"id":"o1","total":1}"#).status == 200)
        #expect(await harness.post("orders", #"{"id":"o2","total":2}"#).status == 200)
        // o1 is in flight (sent; the vendor takes 800 ms to answer), o2 waits behind it (concurrency 1).
        #expect(try await harness.until { harness.vendor.arrivals.contains("/orders/o1") })
        harness.write("orders.yaml", ReloadHarness.connector("orders", port: harness.vendor.port, body: "{ amount: \"{% total %}\" }",
                                                             concurrency: 1))
        #expect(await harness.reloader.reload(trigger: "test").result == .applied)
        #expect(try await harness.until { harness.bodies("/orders/o1").count == 1 && harness.bodies("/orders/o2").count == 1 })
        #expect(harness.bodies("/orders/o1") == [["total": 1]])
        #expect(harness.bodies("/orders/o2") == [["amount": 2]])
        try await harness.stop()
    }

    @Test func aRemovedConnectorAnswers404AndItsQueuedJobsAreHeldUntilItComesBack() async throws {
        // A retry a minute away: the connector is removed while the job waits for it, however slow the machine (a
        // 300 ms wait could run out before the reload on a busy one, and the job was called again).
        let harness = try await ReloadHarness { port in
            ["orders.yaml": ReloadHarness.connector("orders", port: port),
             "billing.yaml": ReloadHarness.connector("billing", port: port, backoff: "1m")]
        }
        let billing = try #require(harness.disk.files.withLock { $0["billing.yaml"] })
        harness.vendor.answer("/billing/b1", with: [503])
        #expect(await harness.post("billing", #"{"id":"b1","total":3}"#).status == 200)
        // After the 503 the job waits in its lane to retry; remove the connector then.
        #expect(try await harness.until {
            harness.runtime.laneStatus("billing/vendor").map { $0.queued == 1 && $0.inFlight == 0 } == true
        })
        harness.write("billing.yaml", nil)
        let removed = await harness.reloader.reload(trigger: "test")
        #expect(removed.result == .applied)
        #expect(removed.diff.changes.first?.severity == .breaking)
        #expect(removed.heldJobs == ["billing/deliver": 1])
        #expect(await harness.post("billing", #"{"id":"b2","total":3}"#).status == 404)
        // Held at once: out of every lane (the lane is gone), so nothing can call it until the connector returns.
        #expect(harness.runtime.heldJobs == ["billing/deliver": 1])
        #expect(harness.runtime.laneStatus("billing/vendor") == nil)
        #expect(harness.vendor.calls.filter { $0.path == "/billing/b1" }.count == 1, "a held job is not called")
        let job = try #require(try await harness.store.jobs(JobQuery()).first { $0.connector == "billing" })
        #expect(job.state == .pending, "a held job stays in the store, pending")

        harness.write("billing.yaml", billing)
        let restored = await harness.reloader.reload(trigger: "test")
        #expect(restored.result == .applied)
        #expect(restored.heldJobs.isEmpty)
        // Back on its lane at once (not at its retry time), delivered at the second call.
        #expect(try await harness.until { try await harness.store.job(id: job.id)?.summary.state == .delivered })
        #expect(harness.vendor.calls.filter { $0.path == "/billing/b1" }.count == 2)
        try await harness.stop()
    }

    @Test func unchangedConnectorsKeepTheirBreakerAndToken() async throws {
        let harness = try await ReloadHarness { port in
            ["orders.yaml": ReloadHarness.connector("orders", port: port, breaker: 2, openFor: "30s", maxAttempts: 10),
             "billing.yaml": ReloadHarness.connector("billing", port: port)]
        }
        harness.vendor.answer("/orders/o1", with: [503, 503])
        #expect(await harness.post("orders", #"{"id":"o1","total":1}"#).status == 200)
        #expect(try await harness.until { harness.runtime.laneStatus("orders/vendor")?.breaker == "open" })
        #expect(harness.vendor.tokens == 1)
        harness.write("billing.yaml", ReloadHarness.connector("billing", port: harness.vendor.port, body: "{ sum: \"{% total %}\" }"))
        let outcome = await harness.reloader.reload(trigger: "test")
        #expect(outcome.result == .applied)
        #expect(Set(outcome.diff.changes.map(\.connector)) == ["billing"])
        #expect(harness.runtime.laneStatus("orders/vendor")?.breaker == "open", "the unchanged lane's breaker stays open")
        // The breaker's probe, after open_for, delivers with the token fetched before the reload.
        #expect(try await harness.until { harness.bodies("/orders/o1").count == 3 })
        #expect(try await harness.until { try await harness.store.jobs(JobQuery(states: [.delivered])).count == 1 })
        #expect(harness.vendor.tokens == 1, "no new OAuth token after a reload that kept the credentials")
        try await harness.stop()
    }

    @Test func theWatcherSeesWrittenAddedRemovedAndRenamedFiles() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let vendorPort = 9   // never called: no events are posted
            let write = { (name: String, text: String) in
                try text.write(to: folder.appending(path: name), atomically: false, encoding: .utf8)
            }
            try write("orders.yaml", ReloadHarness.connector("orders", port: vendorPort))
            try write("billing.yaml", ReloadHarness.connector("billing", port: vendorPort))
            try write("notes.txt", "not a connector")
            let compile = ReloadHarness.compiler(folder: folder)
            guard case .compiled(let plan, _, let resolver) = compile() else { Issue.record("initial files"); return }
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
            let engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger)
            let reloader = ConfigReloader(engine: engine, logger: logger, compile: compile)
            let (watching, ready) = AsyncStream.makeStream(of: Void.self)
            let watcher = ConnectorWatcher(path: folder.path, reloader: reloader, onWatching: { ready.yield() })
            let group = ServiceGroup(configuration: .init(services: [watcher], logger: logger))
            let running = Task { try await group.run() }
            var iterator = watching.makeAsyncIterator()
            await iterator.next()

            /// Waits for the watcher's reload after `change` that `shows` it: on a busy machine the watcher may also
            /// reload for something else (a burst split by a pause: the reload after the one that applied the change
            /// changes nothing), and two reloads may finish between two looks; every outcome since the change is read,
            /// not only the latest. A file written in place is emptied first: a pause between emptying and writing
            /// longer than the watcher's quiet time makes a reload of the empty file (rejected, the running plan kept),
            /// and the write's own events reload again; such a reload shows nothing about the change. The latest
            /// reload, or nil, when none shows it within a generous bound.
            func reload(after change: () throws -> Void, shows: (ReloadOutcome) -> Bool) async throws -> ReloadOutcome? {
                let before = reloader.recent.count
                try change()
                var latest: ReloadOutcome?
                try await Eventually.until {
                    let (count, outcomes) = reloader.recent
                    let since = outcomes.suffix(count - before).filter { !$0.readAFileCaughtMidWrite }
                    if let shown = since.first(where: shows) {
                        latest = shown
                        return true
                    }
                    latest = since.last ?? latest
                    return false
                }
                return latest
            }
            let edited = try await reload(after: {
                try write("orders.yaml", ReloadHarness.connector("orders", port: vendorPort, maxAttempts: 2))
            }, shows: { $0.result != .unchanged })
            #expect(edited?.result == .applied)
            #expect(edited?.trigger == "watch")
            let renamed = try await reload(after: {
                try FileManager.default.moveItem(at: folder.appending(path: "billing.yaml"), to: folder.appending(path: "ledger.yaml"))
            }, shows: { _ in true })
            #expect(renamed?.result == .unchanged, "a renamed file holds the same connector")
            let added = try await reload(after: { try write("refunds.yaml", ReloadHarness.connector("refunds", port: vendorPort)) },
                                         shows: { $0.result != .unchanged })
            #expect(added?.diff.changes.map { $0.what() } == ["added: /hooks/refunds"])
            #expect(engine.route(for: "/hooks/refunds") != nil)
            let removed = try await reload(after: { try FileManager.default.removeItem(at: folder.appending(path: "refunds.yaml")) },
                                           shows: { $0.result != .unchanged })
            #expect(removed?.diff.changes.map(\.severity) == [.breaking])
            #expect(engine.route(for: "/hooks/refunds") == nil)
            let broken = try await reload(after: { try write("orders.yaml", "connector: orders\nversion: [\n") },
                                          shows: { $0.result != .unchanged })
            #expect(broken?.result == .rejected)
            #expect(broken?.diagnostics.first?.contains("orders.yaml:3:1: error:") == true, "\(broken?.diagnostics ?? [])")
            // Files that are not connectors do not reload: the watcher's filter (a wait for nothing to happen would
            // prove nothing on a busy machine).
            #expect(!SourceLoader.isConnectorFileName("notes.txt") && !SourceLoader.isConnectorFileName("orders.test.yaml"))
            #expect(SourceLoader.isConnectorFileName("orders.yaml") && SourceLoader.isConnectorFileName("orders.yml"))

            await group.triggerGracefulShutdown()
            try await running.value
            store.close()
        }
    }

    @Test func aBurstOfChangesIsOneReloadOnceQuietOrAfterTheLongestWait() {
        var debouncer = ReloadDebouncer(quiet: .milliseconds(20), longest: .milliseconds(250))
        #expect(debouncer.due == nil)
        var taken = debouncer.take(at: .seconds(1))
        #expect(!taken)
        debouncer.changed(at: .milliseconds(0))
        debouncer.changed(at: .milliseconds(5))
        #expect(debouncer.due == .milliseconds(25))
        taken = debouncer.take(at: .milliseconds(24))
        #expect(!taken)
        taken = debouncer.take(at: .milliseconds(25))
        #expect(taken)
        #expect(debouncer.due == nil)
        // Changes every 10 ms never go quiet: due 250 ms after the first anyway, and again 250 ms after that.
        var fired: [Int] = []
        for time in stride(from: 1000, through: 1600, by: 10) {
            debouncer.changed(at: .milliseconds(time))
            if debouncer.take(at: .milliseconds(time)) { fired.append(time) }
        }
        #expect(fired == [1250, 1510])
    }
}

extension ReloadOutcome {
    /// A reload that read a connector file emptied by a write in place, before the write itself (on a busy machine the
    /// pause between the two can outlast the watcher's quiet time). It is rejected and the running plan kept; the
    /// write's own events reload again. Tests waiting for a change's reload pass over it.
    var readAFileCaughtMidWrite: Bool {
        result == .rejected && diagnostics.contains { $0.contains("error: file is empty") }
    }
}
