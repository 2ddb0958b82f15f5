import Foundation
import ManifoldCompiler
public import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Watches the connector directory and reloads when a connector file is written, created, removed or renamed
/// (`inotify` on Linux; a scan every 100 ms elsewhere). Bursts are debounced (`ReloadDebouncer`). Runs on a thread
/// of its own, so that waiting on the kernel never holds one of the few cooperative threads.
public struct ConnectorWatcher: Service {
    let path: String
    let reloader: ConfigReloader
    let debouncer: ReloadDebouncer
    let onWatching: @Sendable () -> Void

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
        let thread = Thread { [path, debouncer, onWatching] in
            Self.watch(path: path, debouncer: debouncer, stop: stop, onWatching: onWatching) {
                Task { await reloader.reload(trigger: "watch") }
            }
        }
        thread.name = "manifold-connector-watcher"
        thread.start()
        try? await gracefulShutdown()
        stop.set()
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

    private static func watch(path: String, debouncer: ReloadDebouncer, stop: StopFlag, onWatching: () -> Void,
                              reload: @escaping () -> Void)
    {
        let (directory, only) = target(of: path)
        var debouncer = debouncer
        let clock = ContinuousClock()
        let origin = clock.now
        var changes = ChangeSource(directory: directory)
        onWatching()
        while !stop.isSet {
            let now = clock.now - origin
            let wait = debouncer.due.map { max(.zero, $0 - now) } ?? .milliseconds(200)
            let names = changes.next(waiting: min(wait, .milliseconds(200)))
            let seen = clock.now - origin
            if names.contains(where: { $0 == nil || matters($0!, only: only) }) { debouncer.changed(at: seen) }
            if debouncer.take(at: seen) { reload() }
        }
        changes.close()
    }
}

/// The names of files that changed in a directory (`nil`: something happened to the directory itself).
private struct ChangeSource {
    let directory: String
    #if canImport(Glibc)
    private var descriptor: Int32 = -1
    private var watching = false

    init(directory: String) {
        self.directory = directory
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        watching = addWatch()
    }

    private func addWatch() -> Bool {
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB
            | IN_DELETE_SELF | IN_MOVE_SELF)
        return inotify_add_watch(descriptor, directory, mask) >= 0
    }

    func close() {
        _ = Glibc.close(descriptor)
    }

    /// Waits up to `waiting` for changes and returns their names.
    mutating func next(waiting: Duration) -> [String?] {
        if !watching {
            // Again after the directory was removed or renamed: once it is back, that is a change.
            watching = addWatch()
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
    #else
    private var fingerprint: [String: Date] = [:]

    init(directory: String) {
        self.directory = directory
        fingerprint = Self.scan(directory)
    }

    func close() {}

    mutating func next(waiting: Duration) -> [String?] {
        Thread.sleep(forTimeInterval: min(0.1, Double(waiting.milliseconds) / 1000))
        let now = Self.scan(directory)
        defer { fingerprint = now }
        return Set(now.keys).union(fingerprint.keys).filter { now[$0] != fingerprint[$0] }.map { $0 }
    }

    private static func scan(_ directory: String) -> [String: Date] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var result: [String: Date] = [:]
        for name in names {
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            result[name] = attributes?[.modificationDate] as? Date ?? .distantPast
        }
        return result
    }
    #endif
}
