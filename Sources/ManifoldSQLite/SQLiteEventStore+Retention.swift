public import Foundation
import GRDB
public import ManifoldStore

extension SQLiteEventStore: RetentionStore {
    /// Deletes, in one transaction, the events received before `horizon` that have no job pending or dead-lettered,
    /// with their history, jobs and attempts. The tables' append-only triggers are lifted for that transaction only
    /// (dropped and made again inside it: a crash midway rolls back both).
    public func prune(receivedBefore horizon: Date) async throws -> PruneReport {
        let before = Self.milliseconds(horizon)
        return try await writer.write { db in
            try db.execute(sql: """
                CREATE TEMP TABLE prune_events AS SELECT seq FROM events e WHERE e.received_at < ?
                  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_seq = e.seq AND j.state IN ('pending', 'dead', 'quarantined'))
                """, arguments: [before])
            var report = PruneReport()
            let old = try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE received_at < ?", arguments: [before]) ?? 0
            for table in Self.deleteGuards.keys.sorted() {
                try db.execute(sql: "DROP TRIGGER \(table)_append_only_delete")
            }
            try db.execute(sql: "DELETE FROM job_attempts WHERE job_seq IN (SELECT seq FROM jobs WHERE event_seq IN (SELECT seq FROM prune_events))")
            try db.execute(sql: "DELETE FROM jobs WHERE event_seq IN (SELECT seq FROM prune_events)")
            report.jobs = db.changesCount
            try db.execute(sql: "DELETE FROM event_history WHERE event_seq IN (SELECT seq FROM prune_events)")
            try db.execute(sql: "DELETE FROM events WHERE seq IN (SELECT seq FROM prune_events)")
            report.events = db.changesCount
            report.keptEvents = old - report.events
            for table in Self.deleteGuards.keys.sorted() { try db.execute(sql: Self.deleteGuards[table]!) }
            try db.execute(sql: "DROP TABLE prune_events")
            return report
        }
    }

    /// The triggers that refuse DELETE on the append-only tables, by table: made by the migrations, and made again by
    /// a prune after its deletes (the one place they are lifted), from this one text.
    static let deleteGuards: [String: String] = [
        "events": "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events\n    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
        "event_history": "CREATE TRIGGER event_history_append_only_delete BEFORE DELETE ON event_history\n"
            + "    BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;",
        "job_attempts": "CREATE TRIGGER job_attempts_append_only_delete BEFORE DELETE ON job_attempts\n"
            + "    BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;",
    ]
}
