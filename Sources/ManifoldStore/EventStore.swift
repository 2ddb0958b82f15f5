public import Foundation
public import JSONValue

/// The durable record of every event: append-only, the engine's source of truth.
///
/// SQLite (`SQLiteEventStore`) is the embedded implementation; a PostgreSQL one will implement the same
/// protocol when several engines share a store.
public protocol EventStore: Sendable {
    /// Appends a received event and its first status, durably: when this returns, the event survives a crash.
    /// A second event with the same connector and event id is not stored again; it is recorded as a duplicate
    /// of the first.
    func append(_ event: NewEvent) async throws -> AppendOutcome
    /// Appends several events in one transaction (the events of one batch request): all are durable when this
    /// returns, or none is. Each is stored or recorded as a duplicate, as `append` does, in order.
    func append(all events: [NewEvent]) async throws -> [AppendOutcome]
    /// Appends a status record to an event's history.
    func recordStatus(_ status: EventStatus, of id: String, detail: JSON?) async throws
    /// Events matching `query`, newest first.
    func events(_ query: EventQuery) async throws -> [EventSummary]
    /// One event with its whole history, or `nil`.
    func event(id: String) async throws -> EventRecord?
    /// Throws unless the store can commit a write now.
    func checkWritable() async throws
    /// Commits what is waiting and stops writing; later writes fail.
    func close()
}

/// An event to append.
public struct NewEvent: Sendable {
    public var connector: String
    /// The deduplication key, unique per connector.
    public var eventID: String
    public var eventType: String?
    /// The plan version that received it.
    public var planVersion: String
    public var receivedAt: Date
    /// `json` or `form`.
    public var contentType: String
    /// The headers as received, credentials already redacted.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var remoteAddress: String?
    /// The first status: `received`, or `quarantined` with the reason in `detail`.
    public var status: EventStatus
    public var detail: JSON?
    /// The jobs its routes made, created in the same transaction (the event is then `routed`, or `skipped` when
    /// no route matched); `nil` when it was not routed (quarantined).
    public var jobs: [NewJob]?
    /// The engine that leases the jobs at once, and until when.
    public var lease: (owner: String, until: Date)?
    /// Whether a repeat is written into the first one's history (a vendor's redelivery is; a pull's re-read is not).
    public var recordsDuplicate = true

    public init(connector: String, eventID: String, eventType: String?, planVersion: String, receivedAt: Date,
                contentType: String, headers: [(name: String, value: String)], body: [UInt8], remoteAddress: String?,
                status: EventStatus, detail: JSON?, jobs: [NewJob]? = nil, lease: (owner: String, until: Date)? = nil)
    {
        self.jobs = jobs
        self.lease = lease
        self.connector = connector
        self.eventID = eventID
        self.eventType = eventType
        self.planVersion = planVersion
        self.receivedAt = receivedAt
        self.contentType = contentType
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.status = status
        self.detail = detail
    }
}

/// What `append` did.
public enum AppendOutcome: Sendable, Equatable {
    /// Stored under this id.
    case stored(id: String)
    /// Already stored under this id; the delivery was recorded on it as a duplicate.
    case duplicate(of: String)

    public var id: String {
        switch self {
        case .stored(let id), .duplicate(let id): id
        }
    }
}

/// A step in an event's story.
public struct EventStatus: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    /// Verified and stored, waiting to be routed.
    public static let received: EventStatus = "received"
    /// Verified but not usable (a body that does not parse, an id that cannot be read): kept, not processed.
    public static let quarantined: EventStatus = "quarantined"
    /// Delivered again by the vendor; not processed again. Does not change the event's status.
    public static let duplicate: EventStatus = "duplicate"
    /// Its routes were evaluated; the jobs they made are in `detail`.
    public static let routed: EventStatus = "routed"
    /// No route matched.
    public static let skipped: EventStatus = "skipped"
    /// A job of it was delivered.
    public static let delivered: EventStatus = "delivered"
    /// A job of it failed for good and is a dead letter.
    public static let deadLettered: EventStatus = "dead_lettered"
    /// It was replayed: new jobs were made for it.
    public static let replayed: EventStatus = "replayed"
    /// A vendor's handshake, answered in the request: a record, never routed or delivered.
    public static let handshake: EventStatus = "handshake"
}

/// A filter on the event list.
public struct EventQuery: Sendable {
    public var connector: String?
    public var status: EventStatus?
    public var since: Date?
    /// Received before this time.
    public var until: Date?
    public var limit: Int

    public init(connector: String? = nil, status: EventStatus? = nil, since: Date? = nil, until: Date? = nil, limit: Int = 100) {
        self.connector = connector
        self.status = status
        self.since = since
        self.until = until
        self.limit = limit
    }
}

/// An event as the list shows it.
public struct EventSummary: Sendable, Equatable {
    public var id: String
    public var connector: String
    public var eventID: String
    public var eventType: String?
    public var planVersion: String
    public var receivedAt: Date
    /// The latest status other than `duplicate`.
    public var status: EventStatus
    /// How many times the vendor delivered it again.
    public var duplicates: Int

    public init(id: String, connector: String, eventID: String, eventType: String?, planVersion: String, receivedAt: Date, status: EventStatus, duplicates: Int) {
        self.id = id
        self.connector = connector
        self.eventID = eventID
        self.eventType = eventType
        self.planVersion = planVersion
        self.receivedAt = receivedAt
        self.status = status
        self.duplicates = duplicates
    }
}

/// An event with everything the store holds about it.
public struct EventRecord: Sendable {
    public var summary: EventSummary
    public var contentType: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var remoteAddress: String?
    /// The status records in order, the first being `received` or `quarantined`.
    public var history: [StatusRecord]

    public init(summary: EventSummary, contentType: String, headers: [(name: String, value: String)], body: [UInt8], remoteAddress: String?, history: [StatusRecord]) {
        self.summary = summary
        self.contentType = contentType
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.history = history
    }
}

/// One record of an event's history.
public struct StatusRecord: Sendable, Equatable {
    public var at: Date
    public var status: EventStatus
    public var detail: JSON?

    public init(at: Date, status: EventStatus, detail: JSON?) {
        self.at = at
        self.status = status
        self.detail = detail
    }
}

/// Errors of the store, said for the person running the engine.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String
    /// The job is not the recording engine's to settle (another engine holds it, or it is finished): the engine lets
    /// it go instead of trying the record again.
    public var isFenced = false
    public init(_ description: String) { self.description = description }

    public static func fenced(_ description: String) -> StoreError {
        var error = StoreError(description)
        error.isFenced = true
        return error
    }
}

/// Event ids: `ev_` and a ULID (48 bits of milliseconds, 80 random bits, Crockford base32), sortable by time.
public enum EventIdentifier {
    private static let alphabet: StaticString = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    public static func make(at date: Date) -> String {
        let (high, low) = PooledRandom.pair()
        return make(milliseconds: UInt64(max(0, date.timeIntervalSince1970 * 1000)), high: high, low: low)
    }

    static func make(milliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> String {
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return make(milliseconds: milliseconds, high: high, low: low)
    }

    /// `ev_`, 10 characters of time, 16 of random bits (80 of them: the high word's top 60, the low word's 20 lowest),
    /// written straight into the string's storage.
    private static func make(milliseconds: UInt64, high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 29) { out in
            let digits = alphabet.utf8Start
            out[0] = UInt8(ascii: "e")
            out[1] = UInt8(ascii: "v")
            out[2] = UInt8(ascii: "_")
            for (offset, shift) in stride(from: 45, through: 0, by: -5).enumerated() {
                out[3 + offset] = digits[Int((milliseconds >> UInt64(shift)) & 0x1F)]
            }
            for index in 0..<16 {
                let bits = index < 12 ? high >> UInt64(4 + 5 * (11 - index)) : low >> UInt64(5 * (15 - index))
                out[13 + index] = digits[Int(bits & 0x1F)]
            }
            return 29
        }
    }
}

/// Everything an engine keeps: what the SQLite, PostgreSQL and in-memory stores each implement, and what the store
/// conformance suite checks of each.
public typealias EngineStore = EventStore & JobStore & EndpointStore & PullStateStore & RolloutStore & LaneLeaseStore & RetentionStore

/// Retention: what `manifold store prune --older-than` removes.
public protocol RetentionStore: Sendable {
    /// Removes the events received before `horizon` with everything about them (history, jobs, attempts), except an
    /// event that still has a job pending or a dead letter (dead or quarantined: work not done, replayable): those
    /// stay, whole. A removed event's id can be received again as a new event.
    func prune(receivedBefore horizon: Date) async throws -> PruneReport
}

/// What a prune removed and kept.
public struct PruneReport: Sendable, Equatable {
    public var events = 0
    public var jobs = 0
    /// Events older than the horizon kept for their unfinished jobs or dead letters.
    public var keptEvents = 0
    /// Whole partitions dropped (PostgreSQL), by name.
    public var droppedPartitions: [String] = []

    public init() {}
}
