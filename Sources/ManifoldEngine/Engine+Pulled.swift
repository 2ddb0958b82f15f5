public import Foundation
public import JSONValue
import ManifoldDelivery
import ManifoldIngress
public import ManifoldStore
import Logging

/// A record a pull brought: an event to store (or quarantine), like a webhook's.
public struct PulledRecord: Sendable {
    public var eventID: String
    public var eventType: String?
    public var payload: JSON
    /// Why it cannot be processed (kept, quarantined, with where it came from).
    public var quarantine: String?
    /// Where it came from, kept in its first status (a file's line, a poll's page).
    public var origin: JSON?

    public init(eventID: String, eventType: String?, payload: JSON, quarantine: String? = nil, origin: JSON? = nil) {
        self.eventID = eventID
        self.eventType = eventType
        self.payload = payload
        self.quarantine = quarantine
        self.origin = origin
    }
}

/// What storing a page of pulled records came to.
public struct PulledCounts: Sendable, Equatable {
    public var stored = 0
    public var quarantined = 0
    public var duplicates = 0
}

extension Engine {
    /// Routes `records` and stores them with `state` in one transaction: every record is stored (with its jobs),
    /// quarantined or found a duplicate, and the pull's state moves past them, together or not at all. Jobs are then
    /// handed to this engine's lanes (or left for the sweep, unleased, when it delivers nothing itself).
    public func ingestPulled(connector: String, records: [PulledRecord], state: JSON, kind: String) async throws -> PulledCounts {
        guard let stateStore = store as? any PullStateStore else {
            throw StoreError("this event store keeps no pull state")
        }
        let plan = self.plan, router = self.router
        let received = Date()
        let traceIDs = records.map { _ in TraceContext.newTraceID() }
        let routed: [RoutedOutcome] = await ExpressionThreads.run {
            zip(records, traceIDs).map { record, traceID in
                if let reason = record.quarantine { return RoutedOutcome(jobs: nil, quarantine: reason) }
                return self.routeEvent(connector: connector, payload: record.payload, headers: [], eventID: record.eventID,
                                       traceID: traceID, router: router)
            }
        }
        let events = zip(records, routed).map { record, routed in
            var detail = JSONObject()
            if let reason = routed.quarantine { detail["reason"] = .string(reason) }
            if let origin = record.origin { detail["from"] = origin }
            var event = NewEvent(
                connector: connector, eventID: record.eventID, eventType: record.eventType,
                planVersion: routed.planVersion ?? plan.version,
                receivedAt: received, contentType: "json", headers: [], body: Array(record.payload.serialized().utf8),
                remoteAddress: kind, status: routed.quarantine == nil ? .received : .quarantined,
                detail: detail.isEmpty ? nil : .object(detail),
                jobs: routed.jobs, lease: routed.jobs.flatMap { $0.isEmpty ? nil : runtime?.leaseForNewJobs(lanes: $0.map(\.lane)) })
            event.recordsDuplicate = false
            return event
        }
        let outcomes = try await stateStore.append(all: events, pullState: state, of: connector)
        var counts = PulledCounts()
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case .stored(let id):
                await keepShadow(routed[index].shadow)
                let quarantined = routed[index].quarantine != nil
                metrics.received(connector, .accepted(quarantined: quarantined), at: received)
                if quarantined { counts.quarantined += 1 } else { counts.stored += 1 }
                let event = events[index]
                if let jobs = event.jobs, !jobs.isEmpty, event.lease != nil, let runtime {
                    runtime.enqueue(jobs, eventStoreID: id, connector: connector, vendorEventID: event.eventID,
                                    payload: records[index].payload, headers: [], receivedAt: received)
                } else if let jobs = event.jobs, !jobs.isEmpty {
                    runtime?.jobsStored(lanes: jobs.map(\.lane))
                }
            case .duplicate:
                metrics.received(connector, .duplicate, at: received)
                counts.duplicates += 1
            }
        }
        return counts
    }
}
