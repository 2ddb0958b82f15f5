import Foundation
import Logging
import ManifoldCompiler
@testable import ManifoldEngine
import ManifoldIngress
import ManifoldPlan
import ManifoldSQLite
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc

/// Without inotify (the system out of instances or watches), the connector watcher scans the directory, says so once,
/// and goes back to inotify when it can be had: hot reload never stops silently.
@Suite struct WatcherFallbackTests {
    /// Log lines at notice and above, kept for the test to read.
    final class RecordedLog: Sendable {
        let lines = Mutex<[(Logger.Level, String)]>([])

        func messages(at level: Logger.Level) -> [String] {
            lines.withLock { $0.filter { $0.0 == level }.map(\.1) }
        }

        struct Handler: LogHandler {
            let log: RecordedLog
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .notice

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                     file: String, function: String, line: UInt)
            {
                let details = (metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                log.lines.withLock { $0.append((level, "\(message) \(details)")) }
            }
        }
    }

    /// A folder with one connector, an engine on it, and a watcher whose inotify instances come from `makeInstance`.
    /// `body` edits the connector through `edit`, which waits for the reload that applies the edit.
    static func withWatcher(makeInstance: @escaping @Sendable () -> Int32, retryInotifyAfter: Duration,
                            _ body: (_ edit: (String) async throws -> ReloadOutcome?, _ log: RecordedLog) async throws -> Void)
        async throws
    {
        try await TemporaryDirectory.withAsync { folder in
            let write = { (text: String) in
                try text.write(to: folder.appending(path: "orders.yaml"), atomically: false, encoding: .utf8)
            }
            try write(ReloadHarness.connector("orders", port: 9))
            let compile = ReloadHarness.compiler(folder: folder)
            guard case .compiled(let plan, _, let resolver) = compile() else { Issue.record("initial files"); return }
            let log = RecordedLog()
            let logger = Logger(label: "test") { _ in RecordedLog.Handler(log: log) }
            let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
            let engine = try Engine(plan: plan, store: store, resolver: resolver, logger: logger)
            let reloader = ConfigReloader(engine: engine, logger: logger, compile: compile)
            let (watching, ready) = AsyncStream.makeStream(of: Void.self)
            var watcher = ConnectorWatcher(path: folder.path, reloader: reloader, onWatching: { ready.yield() })
            watcher.makeInstance = makeInstance
            watcher.retryInotifyAfter = retryInotifyAfter
            let group = ServiceGroup(configuration: .init(services: [watcher], logger: Logger(label: "quiet") { _ in SwiftLogNoOpLogHandler() }))
            let running = Task { try await group.run() }
            var iterator = watching.makeAsyncIterator()
            await iterator.next()

            /// Writes the connector with `field` in its body; the first reload after it that changed something (past a
            /// reload of the file caught mid-write), within a generous bound.
            func edit(_ field: String) async throws -> ReloadOutcome? {
                let before = reloader.recent.count
                try write(ReloadHarness.connector("orders", port: 9, body: "{ total: \"{% \(field) %}\" }"))
                var changed: ReloadOutcome?
                try await Eventually.until {
                    let (count, outcomes) = reloader.recent
                    changed = outcomes.suffix(count - before).first { $0.result != .unchanged && !$0.readAFileCaughtMidWrite }
                    return changed != nil
                }
                return changed
            }
            try await body(edit, log)
            await group.triggerGracefulShutdown()
            try await running.value
            store.close()
        }
    }

    @Test func withoutInotifyTheWatcherScansSaysSoOnceAndStillReloads() async throws {
        let asked = Atomic<Int>(0)
        try await Self.withWatcher(makeInstance: {
            asked.add(1, ordering: .relaxed)
            errno = EMFILE
            return -1
        }, retryInotifyAfter: .seconds(3600)) { edit, log in
            let warnings = log.messages(at: .warning)
            #expect(warnings.count == 1, "\(warnings)")
            #expect(warnings.first?.contains("inotify is not available, scanning the directory") == true, "\(warnings)")
            #expect(warnings.first?.contains("inotify_init1: Too many open files") == true, "\(warnings)")

            let outcome = try await edit("amount_scanned")
            #expect(outcome?.result == .applied)
            #expect(outcome?.trigger == "watch")
            #expect(log.messages(at: .warning).count == 1, "said once, not at every scan")
        }
        #expect(asked.load(ordering: .relaxed) == 1, "not tried again before its time")
    }

    @Test func theWatcherGoesBackToInotifyWhenItCanBeHad() async throws {
        let failures = Atomic<Int>(1)
        try await Self.withWatcher(makeInstance: {
            if failures.subtract(1, ordering: .relaxed).oldValue > 0 {
                errno = ENFILE
                return -1
            }
            return ConnectorWatcher.inotifyInstance()
        }, retryInotifyAfter: .milliseconds(100)) { edit, log in
            #expect(log.messages(at: .warning).first?.contains("inotify_init1: Too many open files in system") == true,
                    "\(log.messages(at: .warning))")
            // The notice comes when the watcher tries again: waited for, not timed.
            try await Eventually.until { !log.messages(at: .notice).isEmpty }
            #expect(log.messages(at: .notice).contains { $0.contains("inotify is available again") }, "\(log.messages(at: .notice))")

            let outcome = try await edit("amount_watched")
            #expect(outcome?.result == .applied)
            #expect(outcome?.trigger == "watch")
        }
    }
}
#endif
