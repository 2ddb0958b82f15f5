import ArgumentParser
import Foundation
import JSONValue
import Logging
import ManifoldCompiler
import ManifoldDelivery
import ManifoldEngine
import ManifoldMonitor
import ManifoldIngress
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import Tracing

/// The options of the commands that load connectors as the engine does: every `${env:}` must be set.
struct EngineOptions: ParsableArguments {
    @Option(help: "The directory (or file) of connectors.")
    var connectors = "connectors"

    @Option(name: .customLong("env-file"), help: "Read environment variables from a dotenv file as well as the process environment.")
    var environmentFile: String?

    @Option(name: .customLong("target"),
            help: "Send a target's calls to another base URL for this run, NAME=URL, NAME a target or connector/target (repeatable): hubspot=http://127.0.0.1:9000 calls a local vendor instead of api.hubapi.com.")
    var targets: [String] = []

    /// The `--target` overrides, parsed.
    func overrides() -> Result<[TargetOverride], CommandOutputError> {
        do {
            return .success(try targets.map { text throws(TargetOverride.Failure) in try TargetOverride(parsing: text) })
        } catch {
            return .failure(CommandOutputError(.failure(error.description)))
        }
    }

    /// The compiled plan and the environment, or what stops the engine (diagnostics on standard error, status 1;
    /// an I/O failure, status 2).
    func load() -> Result<(plan: Plan, environment: [String: String]), CommandOutputError> {
        loadWithSources().map { ($0.plan, $0.environment) }
    }

    /// As `load`, with the sources to keep with the plan version (none when a secret is written inline, so that
    /// no secret reaches the store).
    func loadWithSources() -> Result<(plan: Plan, environment: [String: String], sources: [PlanSource], overrides: [TargetOverride]),
                                      CommandOutputError>
    {
        overrides().flatMap { overrides in
            Self.load(connectors: connectors, environmentFile: environmentFile, overrides: overrides)
                .map { ($0.plan, $0.environment, $0.sources, overrides) }
        }
    }

    /// The files and the environment as they are now, compiled for a reload: the plan, or the errors one per line.
    static func compilation(connectors: String, environmentFile: String?, overrides: [TargetOverride] = []) -> PlanCompilation {
        switch load(connectors: connectors, environmentFile: environmentFile, overrides: overrides, renderErrors: false) {
        case .success(let loaded):
            return .compiled(loaded.plan, sources: loaded.sources, resolver: ConfigResolver(environment: loaded.environment))
        case .failure(let failure):
            return .refused(diagnostics: failure.output.standardError.split(separator: "\n").map(String.init))
        }
    }

    private static func load(connectors: String, environmentFile: String?, overrides: [TargetOverride], renderErrors: Bool = true)
        -> Result<(plan: Plan, environment: [String: String], sources: [PlanSource]), CommandOutputError>
    {
        var compile = CompileOptions()
        compile.paths = [connectors]
        compile.environmentFile = environmentFile
        let files: [SourceFile], environment: [String: String]
        switch compile.inputs() {
        case .failure(let failure): return .failure(CommandOutputError(.failure(failure.message)))
        case .success(let loaded): (files, environment) = loaded
        }
        let result = ConnectorCompiler(environment: .require(environment)).compile(files)
        guard let plan = result.plan else {
            // For a person, with source lines and carets; for a reload's log and answer, one error per line.
            let report = renderErrors ? DiagnosticRenderer(files: files).report(result.diagnostics)
                : result.diagnostics.filter { $0.severity == .error }.map(\.description).joined(separator: "\n")
            return .failure(CommandOutputError(CommandOutput(standardError: report, status: 1)))
        }
        let inlineSecret = result.diagnostics.contains { $0.message.contains("is written inline") }
        let sources = inlineSecret ? [] : files.map { PlanSource(path: $0.path, text: $0.text) }
        do {
            return .success((try plan.overriding(overrides), environment, sources))
        } catch {
            return .failure(CommandOutputError(.failure(error.description)))
        }
    }
}

/// A command's early end, carrying what to print.
struct CommandOutputError: Error {
    var output: CommandOutput
    init(_ output: CommandOutput) { self.output = output }
}

/// `manifold run`: the engine, serving webhooks into the event store until SIGTERM or SIGINT.
struct RunCommand: AsyncParsableCommand, AsyncOutputCommand {
    /// This machine's name as the kernel has it (`ProcessInfo.hostName` may ask the resolver for a canonical name: a
    /// DNS query at every start, for a label).
    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve the connectors' webhooks into the event store.",
        discussion: """
            Compiles every connector (any error stops it, with file:line:col), opens the event store (a SQLite \
            file in WAL mode, created if missing; or a PostgreSQL database, which any number of engines share) and \
            listens. Each webhook is verified on its raw body, stored durably, then \
            acknowledged. GET /healthz answers while the process is up, GET /readyz when the store commits and a \
            plan is loaded; GET /metrics serves Prometheus metrics. SIGTERM or SIGINT drain requests in flight, \
            then close the store.

            Hot reload: a change to the connector files (or SIGHUP, or POST /admin/reload, or `manifold reload`) \
            compiles them all; only if every file is valid does the new plan swap in. Otherwise the running plan \
            stays and the errors are logged and shown by /readyz.
            """
    )

    @OptionGroup var options: EngineOptions

    @Option(help: ArgumentHelp(stringLiteral: StoreAccess.help))
    var store = "manifold.db"

    @Option(help: "The address to listen on, HOST:PORT (port 0 picks a free one).")
    var listen = "127.0.0.1:8080"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(name: .customLong("log-format"), help: "json (one object per line), logfmt, or auto: logfmt on a terminal, JSON otherwise.")
    var logFormat = "auto"

    @Option(help: "The engine's global configuration (alert rules and sinks), validated against schemas/manifold.schema.json.")
    var config: String?

    @Flag(name: .customLong("open-dashboard"),
          help: "Serve the dashboard to anyone who can reach the engine, without a token (for a local engine). Otherwise it needs MANIFOLD_DASHBOARD_TOKEN or MANIFOLD_ADMIN_TOKEN.")
    var openDashboard = false

    @Flag(name: .customLong("no-watch"), help: "Do not watch the connectors for changes (reload on SIGHUP or POST /admin/reload only).")
    var noWatch = false

    @Flag(name: .customLong("no-pull"), help: "Run no pull source (poll, schedule, files): this engine receives webhooks and delivers only.")
    var noPull = false

    @Flag(name: .customLong("keep-delivered-bodies"),
          help: "Keep the body of each delivered call in its attempt's record (cut at 4 KB), not only its SHA-256 and size. Failed calls always keep theirs; `manifold test --record` needs it to expect a delivered call's body.")
    var keepDeliveredBodies = false

    func validate() throws {
        guard Self.address(listen) != nil else {
            throw ValidationError("--listen must be HOST:PORT, such as 127.0.0.1:8080 (got \(listen))")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard logFormat == "auto" || StructuredLogHandler.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format must be json, logfmt or auto")
        }
    }

    static func address(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port), colon != text.startIndex
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    func perform() async -> CommandOutput {
        let plan: Plan, environment: [String: String], sources: [PlanSource], overrides: [TargetOverride]
        switch options.loadWithSources() {
        case .failure(let failure): return failure.output
        case .success(let loaded): (plan, environment, sources, overrides) = loaded
        }
        var configuration = EngineConfiguration()
        if let config {
            switch EngineConfigurationFile.load(config, environment: .require(environment)) {
            case .failure(let failure): return failure.output
            case .success(let loaded): configuration = loaded
            }
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = StructuredLogHandler.Format(rawValue: logFormat) ?? .automatic
        LoggingSystem.bootstrap { label in StructuredLogHandler(label: label, format: format, level: level) }
        let logger = Logger(label: "manifold")
        // Spans are logged at debug level; an OpenTelemetry tracer bootstrapped instead would export them.
        let spanLogger = Logger(label: "manifold.trace")
        InstrumentationSystem.bootstrap(W3CTracer { span in
            guard spanLogger.logLevel <= .debug else { return }
            var metadata: Logger.Metadata = [
                "trace_id": "\(span.traceID)", "span_id": "\(span.spanID)", "parent_span_id": "\(span.parentSpanID ?? "-")",
                "kind": "\(span.kind)", "duration_ms": "\(String(format: "%.2f", span.durationMilliseconds))",
            ]
            for (key, value) in span.attributes { metadata[key] = "\(value)" }
            if let status = span.status { metadata["span_status"] = "\(status.code)" }
            spanLogger.debug("span \(span.name)", metadata: metadata)
        })
        // Spans go only to the debug log: below that level none is made (a span per request and per attempt was a
        // twelfth of ingest's time for logs nobody wrote). Trace ids and the `traceparent` vendors get do not need them.
        let tracer: (any Tracer)? = level <= .debug ? InstrumentationSystem.tracer : nil
        let eventStore: any EngineStore
        let lock: StoreLock?
        do {
            // One engine per store file, and never on a damaged one; any number on one PostgreSQL database.
            lock = StoreAccess.isPostgres(store) ? nil : try StoreLock(storePath: store)
            eventStore = try await StoreAccess.open(store, create: true, verify: true)
        } catch {
            return .failure("\(error)")
        }
        defer { withExtendedLifetime(lock) {} }
        let engine: Engine
        let alerts: AlertCenter?
        let transport = AsyncHTTPTransport()
        let resolver = ConfigResolver(environment: environment)
        var delivery = DeliveryRuntime.Configuration()
        delivery.tracer = tracer
        // Engines sharing a PostgreSQL store run each lane on one engine at a time (exact limits and order).
        delivery.sharesStore = StoreAccess.isPostgres(store)
        delivery.keepsDeliveredBodies = keepDeliveredBodies
        // Customers' endpoints: their secrets are sealed with MANIFOLD_ENDPOINT_KEY; with endpoints and no key, no start.
        let endpoints: EndpointRegistry
        let endpointBox: SecretBox?
        do {
            endpointBox = try EndpointRegistry.box(environment: environment)
            endpoints = EndpointRegistry(store: eventStore, box: endpointBox)
            try await endpoints.refresh()
        } catch {
            eventStore.close()
            await transport.shutdown()
            return .failure("\(error)")
        }
        let runtime = DeliveryRuntime(store: eventStore, transport: transport, logger: logger, configuration: delivery,
                                      planLoader: { version in
            // Replays on the original plan: compile the sources kept with that version.
            try await KeptPlans.plan(version: version, in: eventStore).map { try DeliveryPlan(plan: $0, resolver: resolver) }
        }, endpoints: endpoints)
        do {
            // The admin API is on only with a token, from the environment (or the --env-file).
            let admin = environment["MANIFOLD_ADMIN_TOKEN"].flatMap { token in
                token.isEmpty ? nil : AdminAPI(store: eventStore, token: token, endpoints: endpointBox.map { (eventStore, $0) })
            }
            // The rolling figures cover the longest window and baseline a rule compares (two hours at least).
            let longest = (configuration.alerts?.rules ?? []).map { $0.window + $0.baseline }.max() ?? .zero
            let metrics = EngineMetrics(retention: max(.seconds(7200), longest + .seconds(60)))
            engine = try Engine(plan: plan, store: eventStore, resolver: resolver, logger: logger, runtime: runtime, admin: admin,
                                metrics: metrics, tracer: tracer)
            alerts = try configuration.alerts.map { plan in
                try AlertCenter(plan: plan, engine: engine, transport: transport, resolver: resolver,
                                logger: Logger(label: "manifold.alerts"), dashboardURL: configuration.dashboardURL)
            }
            if !sources.isEmpty { try await eventStore.keepPlan(version: plan.version, sources: sources) }
            try await eventStore.recordApplied(version: plan.version, trigger: "start",
                                               summary: "\(plan.connectors.count) connector\(plan.connectors.count == 1 ? "" : "s")")
            let (metricsOfEngine, center) = (engine.metrics, alerts)
            endpoints.whenDisabled { disabled in
                logger.warning("endpoint disabled", metadata: ["endpoint": "\(disabled.endpoint)", "tenant": "\(disabled.tenant)",
                                                               "reason": "\(disabled.reason)"])
                metricsOfEngine.endpointDisabled(tenant: disabled.tenant)
                let now = Date()
                center?.announce(AlertNotification(
                    status: .firing, rule: "endpoint-disabled", kind: .endpointDisabled, severity: .warning,
                    connector: disabled.tenant, target: disabled.endpoint,
                    summary: "endpoint \(disabled.endpoint) of \(disabled.tenant) disabled: \(disabled.reason); "
                        + "`manifold endpoints enable \(disabled.endpoint) --replay` delivers what failed meanwhile",
                    value: 1, threshold: 0, startedAt: now, at: now, sinks: nil))
            }
        } catch {
            eventStore.close()
            await transport.shutdown()
            return .failure("\(error)")
        }
        defer { Task { await transport.shutdown() } }
        // Pulled connectors (polls, schedules, files) run on their schedules, and follow every reload.
        let puller = Puller(engine: engine, fetcher: runtime, clock: runtime.clock, logger: Logger(label: "manifold.pull"),
                            locate: Puller.locate(resolver: resolver))
        if !noPull {
            engine.whenPlanApplied { puller.sync() }
            puller.sync()
        }
        // Rollouts: those in the store run from the start; a reload recompiles their candidates against the new plan;
        // every second the store's changes (a share set, a promote elsewhere) are taken and the canaries judged.
        await engine.refreshRollouts()
        engine.whenPlanApplied { Task { await engine.refreshRollouts() } }
        let watching = Task { [alerts] in
            while !Task.isCancelled {
                for (connector, reason) in await engine.checkRollouts() {
                    let now = Date()
                    alerts?.announce(AlertNotification(
                        status: .firing, rule: "rollout-rolled-back", kind: .rolloutRolledBack, severity: .critical,
                        connector: connector, target: nil,
                        summary: "the canary of \(connector) was rolled back: \(reason); every event goes to the current version "
                            + "(`manifold rollout status \(connector)`)",
                        value: 1, threshold: 0, startedAt: now, at: now, sinks: nil))
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { watching.cancel() }
        defer { puller.stop() }
        let (host, port) = Self.address(listen)!
        let (connectors, environmentFile) = (options.connectors, options.environmentFile)
        let reloader = ConfigReloader(engine: engine, logger: logger, compile: {
            EngineOptions.compilation(connectors: connectors, environmentFile: environmentFile, overrides: overrides)
        }, keepSources: { version, sources in
            try await eventStore.keepPlan(version: version, sources: sources)
        })
        let reloading = EngineServer.Reloading(reloader: reloader, watch: noWatch ? nil : connectors)
        let configuredDashboard = configuration.dashboardURL
        do {
            let dashboard = DashboardAccess(open: openDashboard,
                                            tokens: [environment["MANIFOLD_DASHBOARD_TOKEN"], environment["MANIFOLD_ADMIN_TOKEN"]])
            // What this engine runs, in the store for `manifold cluster status`: at start, and at each plan applied.
            let started = Date()
            let announce: @Sendable (String) -> Void = { [owner = runtime.owner] listening in
                Task {
                    let info: JSON = ["plan": .string(engine.plan.version), "manifold": .string(ManifoldCommand.version),
                                      "listen": .string(listening), "host": .string(Self.hostName),
                                      "pid": .number(Double(ProcessInfo.processInfo.processIdentifier)),
                                      "started_at": .string(JobJSON.time(started))]
                    do {
                        try await eventStore.recordEngine(EngineRecord(owner: owner, info: info, recordedAt: Date()))
                    } catch {
                        logger.warning("recording this engine in the store failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            try await EngineServer.run(engine: engine, host: host, port: port, logger: logger, reloading: reloading,
                                       alerts: alerts, dashboard: dashboard) { bound in
                announce("\(host):\(bound)")
                engine.whenPlanApplied { announce("\(host):\(bound)") }
                if let alerts, configuredDashboard == nil { alerts.dashboardURL = "http://\(host):\(bound)/" }
                var lines = ["manifold \(ManifoldCommand.version): listening on http://\(host):\(bound)",
                             "  plan \(plan.version), \(plan.connectors.count) connector(s), store \(StoreAccess.describe(store))"]
                for connector in plan.connectors {
                    if let source = connector.source {
                        lines.append("  POST \(source.path)  -> \(connector.name) (\(source.verification.scheme.rawValue))")
                    } else if let pull = connector.pull {
                        lines.append("  \(pull.kind) \(pull.timing.text)  -> \(connector.name)")
                    }
                }
                let access = !dashboard.isOn ? " (off: set MANIFOLD_DASHBOARD_TOKEN, or --open-dashboard)"
                    : openDashboard ? " (open, no token)" : " (sign in with the dashboard or admin token)"
                lines.append("  dashboard http://\(host):\(bound)/\(access), metrics http://\(host):\(bound)/metrics")
                if let alerts {
                    lines.append("  alerts: \(alerts.plan.rules.count) rule(s) every \(alerts.plan.evaluateEvery.manifoldText) -> "
                                 + alerts.plan.sinks.map { "\($0.name) (\($0.kind.rawValue))" }.joined(separator: ", "))
                }
                FileOutput.standardError(lines.joined(separator: "\n") + "\n")
            }
        } catch {
            return .failure("the server stopped: \(error)")
        }
        return CommandOutput(standardError: "manifold: stopped; the event store is closed\n")
    }
}
