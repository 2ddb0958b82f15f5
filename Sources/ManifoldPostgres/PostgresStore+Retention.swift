public import Foundation
public import ManifoldStore
import PostgresNIO

extension PostgresStore: RetentionStore {
    /// Drops each day's partitions (events, history, attempts) wholly before `horizon` whose events have no job pending
    /// or dead-lettered, with those events' jobs and keys; then deletes, row by row, what is left before `horizon`
    /// (the days that keep some events, the default partition). One transaction: all of it, or none.
    public func prune(receivedBefore horizon: Date) async throws -> PruneReport {
        let before = Self.milliseconds(horizon)
        return try await transaction { connection in
            try await connection.query("SET LOCAL manifold.pruning = 'on'", logger: self.logger)
            var report = PruneReport()
            report.keptEvents = try await connection.query("""
                SELECT count(*) FROM events e WHERE e.received_at < \(before) AND EXISTS (SELECT 1 FROM jobs j
                  WHERE j.event = e.id AND j.event_at = e.received_at AND j.state IN ('pending', 'dead', 'quarantined'))
                """, logger: self.logger).collect().first?.decode(Int.self) ?? 0
            let partitions = try await connection.query("""
                SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'events'::regclass ORDER BY c.relname
                """, logger: self.logger).collect().map { try $0.decode(String.self) }
            for name in partitions {
                guard let day = PostgresSchema.day(ofPartition: name), day + PostgresSchema.day <= before else { continue }
                let end = day + PostgresSchema.day
                let unresolved = try await connection.query("""
                    SELECT count(*) FROM jobs WHERE event_at >= \(day) AND event_at < \(end) AND state IN ('pending', 'dead', 'quarantined')
                    """, logger: self.logger).collect().first?.decode(Int.self) ?? 0
                guard unresolved == 0 else { continue }
                report.events += try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(name)"), logger: self.logger)
                    .collect().first?.decode(Int.self) ?? 0
                report.jobs += try await connection.query("DELETE FROM jobs WHERE event_at >= \(day) AND event_at < \(end) RETURNING seq",
                                                          logger: self.logger).collect().count
                try await connection.query("DELETE FROM event_keys WHERE received_at >= \(day) AND received_at < \(end)", logger: self.logger)
                for table in PostgresSchema.partitionedTables {
                    let partition = PostgresSchema.partitionName(table, day: day)
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(partition)"), logger: self.logger)
                    report.droppedPartitions.append(partition)
                }
            }
            // What is left before the horizon, row by row.
            let removable = """
                SELECT e.id, e.received_at FROM events e WHERE e.received_at < \(before) AND NOT EXISTS (SELECT 1 FROM jobs j
                  WHERE j.event = e.id AND j.event_at = e.received_at AND j.state IN ('pending', 'dead', 'quarantined'))
                """
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE TEMP TABLE prune_events ON COMMIT DROP AS \(removable)"), logger: self.logger)
            try await connection.query("""
                DELETE FROM job_attempts a USING jobs j, prune_events p
                WHERE a.job = j.id AND j.event = p.id AND j.event_at = p.received_at AND a.event_at = p.received_at
                """, logger: self.logger)
            report.jobs += try await connection.query("""
                DELETE FROM jobs j USING prune_events p WHERE j.event = p.id AND j.event_at = p.received_at RETURNING j.seq
                """, logger: self.logger).collect().count
            try await connection.query("""
                DELETE FROM event_history h USING prune_events p WHERE h.event = p.id AND h.event_at = p.received_at
                """, logger: self.logger)
            try await connection.query("DELETE FROM event_keys k USING prune_events p WHERE k.id = p.id", logger: self.logger)
            report.events += try await connection.query("""
                DELETE FROM events e USING prune_events p WHERE e.id = p.id AND e.received_at = p.received_at RETURNING e.seq
                """, logger: self.logger).collect().count
            return report
        }
    }
}
