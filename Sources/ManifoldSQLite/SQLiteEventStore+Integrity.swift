import Foundation
import GRDB
public import ManifoldStore
#if canImport(Glibc)
import Glibc
#endif

/// What `manifold store check` and the engine's start find of a store file.
public struct StoreCheck: Sendable {
    /// Problems found, each a sentence; empty when the store is sound.
    public var problems: [String]
    /// Migrations the file records, in order.
    public var migrations: [String]
    /// Events and jobs held, when they could be counted.
    public var events: Int?
    public var jobs: Int?

    public var isSound: Bool { problems.isEmpty }
}

extension SQLiteEventStore {
    /// What to do with a damaged store, said with every refusal to open one.
    public static func recovery(_ path: String) -> String {
        """
        to recover: stop every engine using it; keep a copy of \(path) (and its -wal and -shm files); \
        then either restore the latest backup, or salvage what SQLite can read with \
        `sqlite3 \(path) ".recover" | sqlite3 recovered.db` and start the engine with `--store recovered.db` \
        (check it first with `manifold store check --store recovered.db`)
        """
    }

    /// Checks the file at `path` without changing it: that it is an SQLite database (not empty, not cut short),
    /// that `PRAGMA quick_check` (or the full `integrity_check`) passes, and that its schema is one this
    /// version knows.
    public static func check(path: String, full: Bool = false) -> StoreCheck {
        var result = StoreCheck(problems: [], migrations: [])
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            result.problems.append("there is no event store at \(path)")
            return result
        }
        if (attributes[.size] as? Int ?? 0) == 0 {
            result.problems.append("\(path) is empty (0 bytes): a store is never empty, so it was cut short or is not a store")
            return result
        }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            try queue.read { db in
                let pragma = full ? "PRAGMA integrity_check" : "PRAGMA quick_check"
                let findings = try String.fetchAll(db, sql: pragma)
                if findings != ["ok"] {
                    result.problems += findings.prefix(10).map { "\(pragma.dropFirst(7)): \($0)" }
                }
                let known = Set(migrator.migrations)
                result.migrations = try migrator.appliedIdentifiers(db).sorted()
                let unknown = result.migrations.filter { !known.contains($0) }
                if !unknown.isEmpty {
                    result.problems.append("the store was written by a newer Manifold (schema \(unknown.joined(separator: ", "))): run that version, or a restored backup")
                }
                if result.problems.isEmpty, !result.migrations.isEmpty {
                    result.events = try Int.fetchOne(db, sql: "SELECT count(*) FROM events")
                    result.jobs = try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs")
                }
            }
        } catch {
            result.problems.append("\(path) cannot be read as an event store: \(error)")
        }
        return result
    }
}

/// The lock an engine holds on its store for as long as it runs, so that a second engine on the same file is
/// refused (leases keep two engines from delivering a job twice, but nothing else would tell the operator).
/// An advisory `flock` on `PATH.lock`, released by the kernel when the process ends, however it ends.
public final class StoreLock: Sendable {
    private let descriptor: Int32

    public init(storePath: String) throws {
        let path = storePath + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError("cannot open the event store at \(storePath): its lock file \(path) cannot be created (\(String(cString: strerror(errno))))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var holder = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &holder, holder.count, 0)
            close(descriptor)
            let pid = count > 0 ? String(decoding: holder.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw StoreError("""
                another engine (pid \(pid)) is running on the store \(storePath): two engines on one SQLite file \
                would compete for its jobs. Stop the other one, or give this one its own --store
                """)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
        self.descriptor = descriptor
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
