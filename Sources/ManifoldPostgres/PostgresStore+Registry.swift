public import Foundation
public import JSONValue
public import ManifoldStore
import PostgresNIO

// Customers' endpoints, pulls' state, rollouts and applied plans: small tables, the same rows as the SQLite store's.

extension PostgresStore: EndpointStore {
    private func endpointChanged(_ connection: PostgresConnection, _ id: String, _ kind: String, _ detail: String, _ at: Date) async throws {
        try await connection.query("""
            INSERT INTO endpoint_history (endpoint_id, at, kind, detail) VALUES (\(id), \(Self.milliseconds(at)), \(kind), \(detail))
            """, logger: logger)
        try await connection.query("UPDATE engine_state SET value = (value::bigint + 1)::text WHERE key = 'endpoints_version'", logger: logger)
    }

    private func requireEndpoint(_ connection: PostgresConnection, _ id: String) async throws {
        let state = try await connection.query("SELECT state FROM endpoints WHERE id = \(id) FOR UPDATE", logger: logger).collect()
            .first?.decode(String.self)
        guard let state, state != EndpointState.removed.rawValue else { throw StoreError("there is no endpoint \(id)") }
    }

    private static func headersJSON(_ headers: [String: String]) -> String {
        JSON.object(JSONObject(headers.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })).serialized()
    }

    public func addEndpoint(_ endpoint: StoredEndpoint, sealedSecret: [UInt8], at: Date) async throws {
        let types: String? = endpoint.eventTypes.map { JSON.array($0.map(JSON.string)).serialized() }
        let time = Self.milliseconds(at)
        try await transaction { connection in
            let added = try await connection.query("""
                INSERT INTO endpoints (id, tenant, url, event_types, headers, rate_limit, description, state, state_reason, failing_since,
                                       created_at, updated_at)
                VALUES (\(endpoint.id), \(endpoint.tenant), \(endpoint.url), \(types), \(Self.headersJSON(endpoint.headers)), \(endpoint.rateLimit),
                        \(endpoint.description), 'enabled', NULL, NULL, \(time), \(time))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: self.logger).collect()
            guard !added.isEmpty else { throw StoreError("there is an endpoint \(endpoint.id) already") }
            try await connection.query("""
                INSERT INTO endpoint_secrets (endpoint_id, sealed, created_at, expires_at) VALUES (\(endpoint.id), \(Data(sealedSecret)), \(time), NULL)
                """, logger: self.logger)
            try await self.endpointChanged(connection, endpoint.id, "created", "tenant \(endpoint.tenant), \(endpoint.url)", at)
        }
    }

    public func endpoints(includingRemoved: Bool) async throws -> [StoredEndpoint] {
        try await connection { connection in
            var secrets: [String: [SealedSecret]] = [:]
            for found in try await connection.query("SELECT endpoint_id, sealed, created_at, expires_at FROM endpoint_secrets ORDER BY seq",
                                                    logger: self.logger).collect() {
                let row = found.makeRandomAccess()
                secrets[try row["endpoint_id"].decode(String.self), default: []].append(SealedSecret(
                    sealed: Array(try row["sealed"].decode(Data.self)), createdAt: Self.date(try row["created_at"].decode(Int64.self)),
                    expiresAt: try row["expires_at"].decode(Int64?.self).map(Self.date)))
            }
            return try await connection.query("""
                SELECT * FROM endpoints WHERE \(includingRemoved) OR state <> 'removed' ORDER BY created_at, id
                """, logger: self.logger).collect().map { found in
                let row = found.makeRandomAccess()
                let id = try row["id"].decode(String.self)
                let types = try row["event_types"].decode(String?.self).flatMap { try? JSONParser.parse($0) }?.arrayValue?.compactMap(\.stringValue)
                let headers = ((try? JSONParser.parse(try row["headers"].decode(String.self)))?.objectValue ?? JSONObject())
                    .map { ($0.key, $0.value.stringValue ?? "") }
                return StoredEndpoint(
                    id: id, tenant: try row["tenant"].decode(String.self), url: try row["url"].decode(String.self), eventTypes: types,
                    headers: Dictionary(headers, uniquingKeysWith: { _, last in last }), rateLimit: try row["rate_limit"].decode(Int?.self),
                    description: try row["description"].decode(String?.self),
                    state: EndpointState(rawValue: try row["state"].decode(String.self)) ?? .disabled,
                    stateReason: try row["state_reason"].decode(String?.self),
                    failingSince: try row["failing_since"].decode(Int64?.self).map(Self.date),
                    createdAt: Self.date(try row["created_at"].decode(Int64.self)), updatedAt: Self.date(try row["updated_at"].decode(Int64.self)),
                    secrets: secrets[id] ?? [])
            }
        }
    }

    public func updateEndpoint(_ endpoint: StoredEndpoint, at: Date, note: String) async throws {
        let types: String? = endpoint.eventTypes.map { JSON.array($0.map(JSON.string)).serialized() }
        try await transaction { connection in
            try await self.requireEndpoint(connection, endpoint.id)
            try await connection.query("""
                UPDATE endpoints SET url = \(endpoint.url), event_types = \(types), headers = \(Self.headersJSON(endpoint.headers)),
                    rate_limit = \(endpoint.rateLimit), description = \(endpoint.description), updated_at = \(Self.milliseconds(at))
                WHERE id = \(endpoint.id)
                """, logger: self.logger)
            try await self.endpointChanged(connection, endpoint.id, "updated", note, at)
        }
    }

    public func setEndpointState(id: String, state: EndpointState, reason: String, at: Date) async throws {
        try await transaction { connection in
            try await self.requireEndpoint(connection, id)
            try await connection.query("""
                UPDATE endpoints SET state = \(state.rawValue), state_reason = \(reason), failing_since = NULL, updated_at = \(Self.milliseconds(at))
                WHERE id = \(id)
                """, logger: self.logger)
            try await self.endpointChanged(connection, id, state.rawValue, reason, at)
        }
    }

    public func rotateEndpointSecret(id: String, sealedSecret: [UInt8], previousExpireAt: Date, at: Date) async throws {
        let expiry = Self.milliseconds(previousExpireAt)
        try await transaction { connection in
            try await self.requireEndpoint(connection, id)
            try await connection.query("""
                UPDATE endpoint_secrets SET expires_at = least(coalesce(expires_at, \(expiry)), \(expiry)) WHERE endpoint_id = \(id)
                """, logger: self.logger)
            try await connection.query("""
                INSERT INTO endpoint_secrets (endpoint_id, sealed, created_at, expires_at) VALUES (\(id), \(Data(sealedSecret)), \(Self.milliseconds(at)), NULL)
                """, logger: self.logger)
            try await self.endpointChanged(connection, id, "rotated",
                                           "the previous secrets sign until \(ISO8601DateFormatter().string(from: previousExpireAt))", at)
        }
    }

    public func recordEndpointAttempt(id: String, succeeded: Bool, at: Date) async throws {
        let time = Self.milliseconds(at)
        try await connection { connection in
            if succeeded {
                try await connection.query("UPDATE endpoints SET failing_since = NULL WHERE id = \(id) AND failing_since IS NOT NULL",
                                           logger: self.logger)
            } else {
                try await connection.query("UPDATE endpoints SET failing_since = \(time) WHERE id = \(id) AND failing_since IS NULL",
                                           logger: self.logger)
            }
        }
    }

    public func endpointHistory(id: String) async throws -> [EndpointHistoryEntry] {
        try await connection { connection in
            try await connection.query("SELECT at, kind, detail FROM endpoint_history WHERE endpoint_id = \(id) ORDER BY seq", logger: self.logger)
                .collect().map { row in
                    let (at, kind, detail) = try row.decode((Int64, String, String).self)
                    return EndpointHistoryEntry(at: Self.date(at), kind: kind, detail: detail)
                }
        }
    }

    public func endpointsVersion() async throws -> Int64 {
        try await connection { connection in
            try await connection.query("SELECT value::bigint FROM engine_state WHERE key = 'endpoints_version'", logger: self.logger)
                .collect().first?.decode(Int64.self) ?? 0
        }
    }
}

extension PostgresStore: PullStateStore {
    public func pullState(_ connector: String) async throws -> PullStateRecord? {
        try await connection { connection in
            try await connection.query("SELECT connector, state, updated_at FROM pull_state WHERE connector = \(connector)", logger: self.logger)
                .collect().first.map(Self.pullRecord)
        }
    }

    public func pullStates() async throws -> [PullStateRecord] {
        try await connection { connection in
            try await connection.query("SELECT connector, state, updated_at FROM pull_state ORDER BY connector", logger: self.logger)
                .collect().map(Self.pullRecord)
        }
    }

    public func append(all events: [NewEvent], pullState: JSON, of connector: String) async throws -> [AppendOutcome] {
        let ids = events.map { EventIdentifier.make(at: $0.receivedAt) }
        let text = pullState.serialized()
        let at = Self.milliseconds(Date())
        return try await transaction { connection in
            var outcomes: [AppendOutcome] = []
            for (event, id) in zip(events, ids) { outcomes.append(try await self.insert(connection, event, id: id)) }
            try await self.writePullState(connection, connector: connector, text: text, at: at)
            return outcomes
        }
    }

    public func setPullState(_ state: JSON?, of connector: String) async throws {
        let text: String? = state?.serialized()
        let at = Self.milliseconds(Date())
        try await connection { connection in
            if let text {
                try await self.writePullState(connection, connector: connector, text: text, at: at)
            } else {
                try await connection.query("DELETE FROM pull_state WHERE connector = \(connector)", logger: self.logger)
            }
        }
    }

    private func writePullState(_ connection: PostgresConnection, connector: String, text: String, at: Int64) async throws {
        try await connection.query("""
            INSERT INTO pull_state (connector, state, updated_at) VALUES (\(connector), \(text), \(at))
            ON CONFLICT (connector) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
            """, logger: logger)
    }

    private static func pullRecord(_ row: PostgresRow) throws -> PullStateRecord {
        let (connector, state, at) = try row.decode((String, String, Int64).self)
        return PullStateRecord(connector: connector, state: (try? JSONParser.parse(state)) ?? .null, updatedAt: date(at))
    }
}

extension PostgresStore: RolloutStore {
    private static func rollouts(_ rows: [PostgresRow]) throws -> [RolloutRecord] {
        try rows.compactMap { row in (try? JSONParser.parse(try row.decode(String.self))).flatMap(RolloutRecord.init(json:)) }
    }

    public func rollouts() async throws -> [RolloutRecord] {
        try await connection { connection in
            try Self.rollouts(try await connection.query("SELECT state FROM rollouts ORDER BY connector, updated_at DESC, seq",
                                                         logger: self.logger).collect())
        }
    }

    public func activeRollouts() async throws -> [RolloutRecord] {
        try await connection { connection in
            try Self.rollouts(try await connection.query("SELECT state FROM rollouts WHERE status = 'active' ORDER BY connector, seq",
                                                         logger: self.logger).collect())
        }
    }

    private func save(_ connection: PostgresConnection, _ rollout: RolloutRecord, at: Int64) async throws {
        try await connection.query("""
            INSERT INTO rollouts (id, connector, status, state, updated_at)
            VALUES (\(rollout.id), \(rollout.connector), \(rollout.status.rawValue), \(rollout.json.serialized()), \(at))
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at = excluded.updated_at
            """, logger: logger)
    }

    private func log(_ connection: PostgresConnection, _ rollout: RolloutRecord, at: Int64, action: String, by: String, detail: JSON?) async throws {
        let text: String? = detail?.serialized()
        try await connection.query("""
            INSERT INTO rollout_log (connector, rollout, at, action, "by", detail)
            VALUES (\(rollout.connector), \(rollout.id), \(at), \(action), \(by), \(text))
            """, logger: logger)
    }

    public func startRollout(_ rollout: RolloutRecord, by: String) async throws {
        let at = Self.milliseconds(Date())
        try await transaction { connection in
            // One active rollout per connector: a new one ends the last (locked, so two starts at once end in order).
            let active = try Self.rollouts(try await connection.query("""
                SELECT state FROM rollouts WHERE connector = \(rollout.connector) AND status = 'active' ORDER BY seq FOR UPDATE
                """, logger: self.logger).collect())
            for var old in active {
                old.status = .rolledBack
                old.endedReason = "replaced by rollout \(rollout.id)"
                try await self.save(connection, old, at: at)
                try await self.log(connection, old, at: at, action: "replaced", by: by, detail: nil)
            }
            try await self.save(connection, rollout, at: at)
            try await self.log(connection, rollout, at: at, action: "start", by: by, detail: [
                "mode": .string(rollout.mode.rawValue), "share": .string(rollout.shareText), "candidate": .string(rollout.candidateVersion),
            ])
        }
    }

    public func changeRollout(_ connector: String, action: String, by: String, detail: JSON?,
                              _ change: @escaping @Sendable (inout RolloutRecord) -> Void) async throws -> RolloutRecord?
    {
        let at = Self.milliseconds(Date())
        return try await transaction { connection in
            guard var rollout = try Self.rollouts(try await connection.query("""
                SELECT state FROM rollouts WHERE connector = \(connector) AND status = 'active' ORDER BY seq LIMIT 1 FOR UPDATE
                """, logger: self.logger).collect()).first
            else { return nil }
            change(&rollout)
            try await self.save(connection, rollout, at: at)
            try await self.log(connection, rollout, at: at, action: action, by: by, detail: detail)
            return RolloutRecord(json: rollout.json)
        }
    }

    public func rolloutLog(connector: String?) async throws -> [RolloutLogEntry] {
        try await connection { connection in
            try await connection.query("""
                SELECT connector, rollout, at, action, "by", detail FROM rollout_log WHERE \(connector)::text IS NULL OR connector = \(connector) ORDER BY seq
                """, logger: self.logger).collect().map { row in
                let (connector, rollout, at, action, by, detail) = try row.decode((String, String, Int64, String, String, String?).self)
                return RolloutLogEntry(connector: connector, rollout: rollout, at: Self.date(at), action: action, by: by,
                                       detail: detail.flatMap { try? JSONParser.parse($0) })
            }
        }
    }

    public func recordShadow(_ calls: [ShadowCall]) async throws {
        guard !calls.isEmpty else { return }
        try await transaction { connection in
            for call in calls {
                try await connection.query("""
                    INSERT INTO shadow_calls (rollout, event, arm, route, "call", request)
                    VALUES (\(call.rollout), \(call.event), \(call.arm), \(call.route), \(call.call), \(call.request.serialized()))
                    """, logger: self.logger)
            }
        }
    }

    public func shadowCalls(rollout: String) async throws -> [ShadowCall] {
        try await connection { connection in
            try await connection.query("""
                SELECT rollout, event, arm, route, "call", request FROM shadow_calls WHERE rollout = \(rollout) ORDER BY seq
                """, logger: self.logger).collect().map { row in
                let (rollout, event, arm, route, call, request) = try row.decode((String, String, String, String, String, String).self)
                return ShadowCall(rollout: rollout, event: event, arm: arm, route: route, call: call,
                                  request: (try? JSONParser.parse(request)) ?? .null)
            }
        }
    }

    public func recordApplied(version: String, trigger: String, summary: String) async throws {
        let at = Self.milliseconds(Date())
        try await connection { connection in
            try await connection.query("""
                INSERT INTO applied_plans (version, at, "trigger", summary) VALUES (\(version), \(at), \(trigger), \(summary))
                """, logger: self.logger)
        }
    }

    public func appliedPlans(limit: Int) async throws -> [AppliedPlan] {
        try await connection { connection in
            try await connection.query("""
                SELECT a.version, a.at, a."trigger", a.summary, EXISTS (SELECT 1 FROM plans p WHERE p.version = a.version)
                FROM applied_plans a ORDER BY a.seq DESC LIMIT \(limit)
                """, logger: self.logger).collect().map { row in
                let (version, at, trigger, summary, kept) = try row.decode((String, Int64, String, String, Bool).self)
                return AppliedPlan(version: version, at: Self.date(at), trigger: trigger, summary: summary, sourcesKept: kept)
            }
        }
    }

    public func eventCounts(connector: String, since: Date) async throws -> [String: Int] {
        let from = Self.milliseconds(since)
        return try await connection { connection in
            var counts: [String: Int] = [:]
            for row in try await connection.query("""
                SELECT plan_version, count(*) FROM events WHERE connector = \(connector) AND received_at >= \(from) GROUP BY plan_version
                """, logger: self.logger).collect() {
                let (version, count) = try row.decode((String, Int).self)
                counts[version] = count
            }
            return counts
        }
    }
}
