import Foundation
import ManifoldCompiler
public import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Watches the connector directory and reloads when a connector file is written, created, removed or renamed
/// (`inotify` on Linux; a scan every 200 ms elsewhere, and on Linux while inotify cannot be had). Bursts are debounced
/// (`ReloadDebouncer`). Runs on a thread of its own, so that waiting on the kernel never holds one of the few
/// cooperative threads.
///
/// When the system is out of inotify instances or watches (each user has a few hundred instances and browsers,
/// editors and language servers take many), the watcher says so once, scans the directory instead, and tries inotify
/// again every 30 s: hot reload keeps working either way, and the log says which way.
public struct ConnectorWatcher: Service {
    let path: String
    let reloader: ConfigReloader
    let debouncer: ReloadDebouncer
    let onWatching: @Sendable () -> Void
    /// Makes an inotify instance (`inotify_init1`): a descriptor, or -1 with `errno` set. Tests make it fail.
    var makeInstance: @Sendable () -> Int32 = ConnectorWatcher.inotifyInstance
    /// How long a watcher that scans waits before it tries inotify again.
    var retryInotifyAfter: Duration = .seconds(30)

    /// Watches `path`: a directory of connectors, or one connector file (its directory is watched for it).
    /// `onWatching` is called once changes are being watched.
    public init(path: String, reloader: ConfigReloader, debouncer: ReloadDebouncer = ReloadDebouncer(),
                onWatching: @escaping @Sendable () -> Void = {})
    {
        self.path = path
        self.reloader = reloader
        self.debouncer = debouncer
        self.onWatching = onWatching
    }

    public func run() async throws {
        let stop = StopFlag()
        let reloader = self.reloader
        let logger = reloader.logger
        let thread = Thread { [path, debouncer, onWatching, makeInstance, retryInotifyAfter] in
            let directory = Self.target(of: path).directory
            var changes = ChangeSource(directory: directory, makeInstance: makeInstance, retryAfter: retryInotifyAfter)
            Self.watch(path: path, changes: &changes, debouncer: debouncer, stop: stop, onWatching: onWatching,
                       say: { news in
                           switch news {
                           case .scanning(let reason):
                               logger.warning("connector watcher: inotify is not available, scanning the directory every 200 ms instead (trying inotify again every \(retryInotifyAfter))",
                                              metadata: ["directory": "\(directory)", "reason": "\(reason)"])
                           case .watching:
                               logger.notice("connector watcher: inotify is available again; watching with it",
                                             metadata: ["directory": "\(directory)"])
                           }
                       }) {
                Task { await reloader.reload(trigger: "watch") }
            }
        }
        thread.name = "manifold-connector-watcher"
        thread.start()
        try? await gracefulShutdown()
        stop.set()
    }

    static func inotifyInstance() -> Int32 {
        #if canImport(Glibc)
        inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        #else
        -1
        #endif
    }

    /// The directory to watch and, when `path` is a file, the one name that matters in it.
    static func target(of path: String) -> (directory: String, only: String?) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return (path, nil)
        }
        let url = URL(fileURLWithPath: path)
        return (url.deletingLastPathComponent().path, url.lastPathComponent)
    }

    static func matters(_ name: String, only: String?) -> Bool {
        only.map { $0 == name } ?? SourceLoader.isConnectorFileName(name)
    }

    private static func watch(path: String, changes: inout ChangeSource, debouncer: ReloadDebouncer, stop: StopFlag,
                              onWatching: () -> Void, say: (ChangeSource.News) -> Void, reload: @escaping () -> Void)
    {
        let only = target(of: path).only
        var debouncer = debouncer
        let clock = ContinuousClock()
        let origin = clock.now
        if let news = changes.takeNews() { say(news) }
        onWatching()
        while !stop.isSet {
            let now = clock.now - origin
            let wait = debouncer.due.map { max(.zero, $0 - now) } ?? .milliseconds(200)
            let names = changes.next(waiting: min(wait, .milliseconds(200)))
            if let news = changes.takeNews() { say(news) }
            let seen = clock.now - origin
            if names.contains(where: { $0 == nil || matters($0!, only: only) }) { debouncer.changed(at: seen) }
            if debouncer.take(at: seen) { reload() }
        }
        changes.close()
    }
}

/// The names of files that changed in a directory (`nil`: something happened to the directory itself).
private struct ChangeSource {
    /// What the watcher has to say about how it watches.
    enum News {
        /// inotify could not be had (the reason, from `errno`): the directory is scanned instead.
        case scanning(String)
        /// inotify works again after a time of scanning.
        case watching
    }

    let directory: String
    private var news: News?
    /// The directory as last scanned, while inotify cannot be had (always where there is no inotify).
    private var scanner: DirectoryScanner?

    mutating func takeNews() -> News? {
        defer { news = nil }
        return news
    }

    #if canImport(Glibc)
    private let makeInstance: @Sendable () -> Int32
    /// When a watcher that scans tries inotify again.
    private var retryAt: ContinuousClock.Instant
    private let retryAfter: Duration
    private var descriptor: Int32 = -1
    private var watching = false

    init(directory: String, makeInstance: @escaping @Sendable () -> Int32, retryAfter: Duration) {
        self.directory = directory
        self.makeInstance = makeInstance
        self.retryAfter = retryAfter
        retryAt = .now + retryAfter
        if let problem = startInotify() { scan(because: problem) }
    }

    /// Scans the directory from now on, and says why; inotify is tried again after `retryAfter`.
    private mutating func scan(because problem: String) {
        news = .scanning(problem)
        scanner = DirectoryScanner(directory: directory)
        retryAt = .now + retryAfter
    }

    /// Makes the instance if there is none and adds the watch. The problem when inotify cannot be had; nil when it
    /// watches, or when only the directory is missing (it is watched again once it is back).
    private mutating func startInotify() -> String? {
        if descriptor < 0 {
            descriptor = makeInstance()
            if descriptor < 0 { return "inotify_init1: \(String(cString: strerror(errno)))" }
        }
        watching = addWatch()
        if !watching, errno != ENOENT, errno != ENOTDIR { return "inotify_add_watch: \(String(cString: strerror(errno)))" }
        return nil
    }

    private func addWatch() -> Bool {
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB
            | IN_DELETE_SELF | IN_MOVE_SELF)
        return inotify_add_watch(descriptor, directory, mask) >= 0
    }

    func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
    }

    /// Waits up to `waiting` for changes and returns their names.
    mutating func next(waiting: Duration) -> [String?] {
        if scanner != nil { return nextScanned(waiting: waiting) }
        if !watching {
            // Again after the directory was removed or renamed: once it is back, that is a change.
            if let problem = startInotify() {
                scan(because: problem)
                return [nil]
            }
            guard watching else {
                usleep(UInt32(waiting.milliseconds * 1000))
                return []
            }
            return [nil]
        }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(max(1, waiting.milliseconds))) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { return [] }
        var names: [String?] = []
        var offset = 0
        while offset + 16 <= count {
            let mask = buffer[offset + 4..<offset + 8].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
            let length = buffer[offset + 12..<offset + 16].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            let nameBytes = buffer[offset + 16..<min(count, offset + 16 + length)].prefix { $0 != 0 }
            if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW) != 0 {
                if mask & UInt32(IN_IGNORED) != 0 { watching = false }
                names.append(nil)
            } else {
                names.append(String(decoding: nameBytes, as: UTF8.self))
            }
            offset += 16 + length
        }
        return names
    }

    /// Scanning: waits, scans, and now and then tries inotify again (the last scan's changes are still returned).
    private mutating func nextScanned(waiting: Duration) -> [String?] {
        usleep(UInt32(max(1, min(waiting, .milliseconds(200)).milliseconds) * 1000))
        let names = scanner?.changes() ?? []
        if ContinuousClock.now >= retryAt {
            retryAt = .now + retryAfter
            if startInotify() == nil, watching {
                scanner = nil
                news = .watching
            }
        }
        return names
    }
    #else
    init(directory: String, makeInstance: @escaping @Sendable () -> Int32, retryAfter: Duration) {
        self.directory = directory
        scanner = DirectoryScanner(directory: directory)
    }

    func close() {}

    mutating func next(waiting: Duration) -> [String?] {
        Thread.sleep(forTimeInterval: min(0.2, Double(waiting.milliseconds) / 1000))
        return scanner?.changes() ?? []
    }
    #endif
}

/// A directory's files by modification time and size, scanned again to find what changed.
private struct DirectoryScanner {
    struct Stamp: Equatable {
        var modified: Date
        var size: Int
    }

    let directory: String
    private var last: [String: Stamp]

    init(directory: String) {
        self.directory = directory
        last = Self.scan(directory)
    }

    /// The names that were added, removed or changed since the last scan.
    mutating func changes() -> [String?] {
        let now = Self.scan(directory)
        defer { last = now }
        return Set(now.keys).union(last.keys).filter { now[$0] != last[$0] }.sorted()
    }

    private static func scan(_ directory: String) -> [String: Stamp] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var result: [String: Stamp] = [:]
        for name in names {
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            result[name] = Stamp(modified: attributes?[.modificationDate] as? Date ?? .distantPast,
                                 size: (attributes?[.size] as? NSNumber)?.intValue ?? -1)
        }
        return result
    }
}
