import Foundation

/// The PostgreSQL schema: the same tables as the SQLite store's, with times in milliseconds since 1970 (`bigint`).
///
/// Events, their history and the attempts are partitioned by range of the event's arrival (`received_at`, copied to
/// the history and attempts as `event_at`), a partition a day, so that everything about an event sits in one day's
/// partitions and retention drops them whole. The de-duplication key lives in `event_keys`, which is not
/// partitioned: a unique constraint on a partitioned table must include the partition key, and a repeat arrives
/// days later. Jobs are a work queue (their rows change) and are not partitioned.
enum PostgresSchema {
    static let day: Int64 = 86_400_000
    /// Advisory lock keys: migrations, and creating partitions (several engines start at once).
    static let migrationLock: Int64 = 0x4D414E49_00000001
    static let partitionLock: Int64 = 0x4D414E49_00000002
    static let partitionedTables = ["events", "event_history", "job_attempts"]
    /// The channel of `NOTIFY`s for jobs stored unleased; the payload is the lane.
    static let wakeupChannel = "manifold_jobs"

    /// `events_p20261128`: the partition of `table` for the day starting at `day` (ms, UTC).
    static func partitionName(_ table: String, day: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(day) / 1000))
        return "\(table)_p" + String(format: "%04d%02d%02d", parts.year!, parts.month!, parts.day!)
    }

    /// The day (ms, UTC) a partition named by `partitionName` covers; `nil` for another name (the default partition).
    static func day(ofPartition name: String) -> Int64? {
        guard let marker = name.range(of: "_p", options: .backwards) else { return nil }
        let digits = name[marker.upperBound...]
        guard digits.count == 8, let year = Int(digits.prefix(4)), let month = Int(digits.dropFirst(4).prefix(2)),
              let dayOfMonth = Int(digits.suffix(2))
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: dayOfMonth)) else { return nil }
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    /// The statements of a migration: its text split at lines that end a statement (`;` at a line's end, outside the
    /// dollar-quoted function body).
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody, line.hasSuffix(";") {
                statements.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }

    /// The append-only tables refuse DELETE, except in a prune's transaction (`SET LOCAL manifold.pruning = 'on'`).
    static let pruning = """
        CREATE OR REPLACE FUNCTION manifold_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('manifold.pruning', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
        END
        $$;
        """

    static let initial = """
        CREATE FUNCTION manifold_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
        END
        $$;
        CREATE TABLE event_keys (
            connector text NOT NULL,
            event_id text NOT NULL,
            id text NOT NULL,
            received_at bigint NOT NULL,
            PRIMARY KEY (connector, event_id)
        );
        CREATE INDEX event_keys_by_time ON event_keys (received_at);
        CREATE TABLE events (
            seq bigserial NOT NULL,
            id text NOT NULL,
            connector text NOT NULL,
            event_id text NOT NULL,
            event_type text,
            plan_version text NOT NULL,
            received_at bigint NOT NULL,
            content_type text NOT NULL,
            headers text NOT NULL,
            body bytea NOT NULL,
            remote_address text,
            PRIMARY KEY (id, received_at)
        ) PARTITION BY RANGE (received_at);
        CREATE TABLE events_default PARTITION OF events DEFAULT;
        CREATE INDEX events_by_seq ON events (seq);
        CREATE INDEX events_by_connector ON events (connector, seq);
        CREATE TABLE event_history (
            seq bigserial NOT NULL,
            event text NOT NULL,
            event_at bigint NOT NULL,
            at bigint NOT NULL,
            status text NOT NULL,
            detail text
        ) PARTITION BY RANGE (event_at);
        CREATE TABLE event_history_default PARTITION OF event_history DEFAULT;
        CREATE INDEX event_history_by_event ON event_history (event, seq);
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION manifold_append_only();
        CREATE TRIGGER event_history_append_only BEFORE UPDATE OR DELETE ON event_history
            FOR EACH ROW EXECUTE FUNCTION manifold_append_only();
        CREATE TABLE jobs (
            seq bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE,
            event text NOT NULL,
            event_at bigint NOT NULL,
            connector text NOT NULL,
            route text NOT NULL,
            target text NOT NULL,
            lane text NOT NULL,
            plan_version text NOT NULL,
            ordering_key text,
            trace_id text NOT NULL,
            state text NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            created_at bigint NOT NULL,
            first_attempt_at bigint,
            not_before bigint,
            lease_owner text,
            fence integer NOT NULL DEFAULT 0,
            last_status integer,
            last_error text,
            updated_at bigint NOT NULL,
            replay_of text,
            pins_plan boolean NOT NULL DEFAULT false,
            flow text
        );
        CREATE INDEX jobs_pending ON jobs (seq) WHERE state = 'pending';
        CREATE INDEX jobs_pending_by_lane ON jobs (lane, seq) WHERE state = 'pending';
        CREATE INDEX jobs_by_owner ON jobs (lease_owner) WHERE state = 'pending';
        CREATE INDEX jobs_by_state ON jobs (state, updated_at);
        CREATE INDEX jobs_by_event ON jobs (event);
        CREATE TABLE job_attempts (
            seq bigserial NOT NULL,
            job text NOT NULL,
            event_at bigint NOT NULL,
            at bigint NOT NULL,
            duration_ms bigint NOT NULL,
            counts boolean NOT NULL,
            class text NOT NULL,
            request text,
            response_status integer,
            response_headers text NOT NULL,
            response_body text,
            error text
        ) PARTITION BY RANGE (event_at);
        CREATE TABLE job_attempts_default PARTITION OF job_attempts DEFAULT;
        CREATE INDEX job_attempts_by_job ON job_attempts (job, seq);
        CREATE TRIGGER job_attempts_append_only BEFORE UPDATE OR DELETE ON job_attempts
            FOR EACH ROW EXECUTE FUNCTION manifold_append_only();
        CREATE TABLE engine_leases (
            owner text PRIMARY KEY,
            until bigint NOT NULL
        );
        CREATE TABLE plans (
            version text PRIMARY KEY,
            kept_at bigint NOT NULL,
            sources text NOT NULL
        );
        CREATE TABLE engine_state (
            key text PRIMARY KEY,
            value text NOT NULL
        );
        INSERT INTO engine_state (key, value) VALUES ('endpoints_version', '0');
        CREATE TABLE endpoints (
            id text PRIMARY KEY,
            tenant text NOT NULL,
            url text NOT NULL,
            event_types text,
            headers text NOT NULL,
            rate_limit integer,
            description text,
            state text NOT NULL,
            state_reason text,
            failing_since bigint,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL
        );
        CREATE INDEX endpoints_by_tenant ON endpoints (tenant);
        CREATE TABLE endpoint_secrets (
            seq bigserial PRIMARY KEY,
            endpoint_id text NOT NULL REFERENCES endpoints (id),
            sealed bytea NOT NULL,
            created_at bigint NOT NULL,
            expires_at bigint
        );
        CREATE TABLE endpoint_history (
            seq bigserial PRIMARY KEY,
            endpoint_id text NOT NULL,
            at bigint NOT NULL,
            kind text NOT NULL,
            detail text NOT NULL
        );
        CREATE INDEX endpoint_history_by_endpoint ON endpoint_history (endpoint_id, seq);
        CREATE TABLE pull_state (
            connector text PRIMARY KEY,
            state text NOT NULL,
            updated_at bigint NOT NULL
        );
        CREATE TABLE rollouts (
            id text PRIMARY KEY,
            seq bigserial NOT NULL,
            connector text NOT NULL,
            status text NOT NULL,
            state text NOT NULL,
            updated_at bigint NOT NULL
        );
        CREATE INDEX rollouts_by_connector ON rollouts (connector, updated_at);
        CREATE TABLE rollout_log (
            seq bigserial PRIMARY KEY,
            connector text NOT NULL,
            rollout text NOT NULL,
            at bigint NOT NULL,
            action text NOT NULL,
            "by" text NOT NULL,
            detail text
        );
        CREATE TABLE shadow_calls (
            seq bigserial PRIMARY KEY,
            rollout text NOT NULL,
            event text NOT NULL,
            arm text NOT NULL,
            route text NOT NULL,
            "call" text NOT NULL,
            request text NOT NULL
        );
        CREATE INDEX shadow_calls_by_rollout ON shadow_calls (rollout, seq);
        CREATE TABLE applied_plans (
            seq bigserial PRIMARY KEY,
            version text NOT NULL,
            at bigint NOT NULL,
            "trigger" text NOT NULL,
            summary text NOT NULL
        );
        """
}
