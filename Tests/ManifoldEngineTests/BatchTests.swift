import Foundation
import JSONValue
import ManifoldEngine
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite
import TestSupport
import Testing

/// A vendor that posts many events in one request (SendGrid's array, Segment's batch): `split` makes one event per
/// element, each with its own id and de-duplication, stored in one transaction under the one acknowledgement.
@Suite struct BatchTests {
    static func plan(split: String, eventID: String = "sg_event_id", extra: String = "") throws -> Plan {
        try TestConnector.plan(name: "shop", webhook: """
            path: /hooks/stripe
            verify: { scheme: stripe, secret: "${env:STRIPE_SECRET}" }
            split: "\(split)"
            event_id: \(eventID)
            event_type: event
            max_body: 1MB
            \(extra)
            """)
    }

    static func batch(_ ids: Range<Int>, extra: [String] = []) -> String {
        "[" + (ids.map { #"{"sg_event_id":"sg-\#($0)","event":"delivered","email":"u\#($0)@example.com"}"# } + extra)
            .joined(separator: ",") + "]"
    }

    @Test func aThousandElementsAreAThousandEventsInOneTransactionAndRedeliveriesAreDuplicatesElementByElement() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        try await InProcessEngine.with(store: store, plan: try Self.plan(split: "$")) { running in
            let before = store.commitStatistics.writes
            let answer = try await running.post(body: Self.batch(0..<1000))
            #expect(answer.status == 200, "\(String(describing: answer.body))")
            #expect(answer.body?["events"] == 1000 && answer.body?["stored"] == 1000 && answer.body?["duplicates"] == 0)
            #expect(answer.body?["ids"]?.arrayValue?.count == 1000)
            #expect(store.commitStatistics.writes - before == 1, "one transaction for the whole batch")
            let events = try await store.events(EventQuery(limit: 5000))
            #expect(events.count == 1000)
            #expect(Set(events.map(\.eventID)) == Set((0..<1000).map { "sg-\($0)" }))
            #expect(events.allSatisfy { $0.eventType == "delivered" })
            // Each event holds its own element, not the whole batch.
            let seventh = try #require(events.first { $0.eventID == "sg-7" })
            let one = try #require(try await store.event(id: seventh.id))
            #expect(try JSONParser.parse(bytes: one.body)["email"] == "u7@example.com")
            // The vendor sends the batch again with one more element: one new event, the rest duplicates.
            let again = try await running.post(body: Self.batch(0..<1001))
            #expect(again.body?["stored"] == 1 && again.body?["duplicates"] == 1000, "\(String(describing: again.body))")
            #expect(try await store.events(EventQuery(limit: 5000)).count == 1001)
        }
        store.close()
    }

    @Test func aBadElementIsQuarantinedWithoutDroppingItsSiblings() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        let contract = #"payload_schema: { type: object, required: [email] }"#
        try await InProcessEngine.with(store: store, plan: try Self.plan(split: "events", extra: contract)) { running in
            let body = #"{"events":[{"sg_event_id":"a","event":"open","email":"a@x"},{"event":"open","email":"b@x"},"#
                + #"{"sg_event_id":"c","event":"open"},{"sg_event_id":"a","event":"open","email":"a@x"}]}"#
            let answer = try await running.post(body: body)
            #expect(answer.body?["events"] == 4 && answer.body?["stored"] == 1 && answer.body?["quarantined"] == 2
                    && answer.body?["duplicates"] == 1, "\(String(describing: answer.body))")
            let events = try await store.events(EventQuery(limit: 10))
            #expect(events.filter { $0.status == .quarantined }.count == 2)
            let missing = try #require(events.first { $0.status == .quarantined && $0.eventID != "c" })
            let record = try #require(try await store.event(id: missing.id))
            #expect(record.history.first?.detail?["reason"]?.stringValue?.hasPrefix("event_id gave nothing") == true)
            let c = try #require(events.first { $0.eventID == "c" })
            let broken = try #require(try await store.event(id: c.id))
            #expect(broken.history.first?.detail?["reason"]?.stringValue?.contains("payload breaks its contract") == true)
        }
        store.close()
    }

    @Test func aSingleObjectIsOneEventAndARequestThatCannotBeSplitIsKeptWhole() async throws {
        let store = try SQLiteEventStore(path: EngineHTTPTests.storePath())
        try await InProcessEngine.with(store: store, plan: try Self.plan(split: "events")) { running in
            // JSONata gives a one-element array as its element: still one event.
            let single = try await running.post(body: #"{"events":[{"sg_event_id":"only","event":"open"}]}"#)
            #expect(single.body?["events"] == 1 && single.body?["stored"] == 1)
            // No `events` at all: nothing could be taken from it; the request is kept, quarantined, with the reason.
            let nothing = try await running.post(body: #"{"items":[{"sg_event_id":"x"}]}"#)
            #expect(nothing.body?["quarantined"] == 1, "\(String(describing: nothing.body))")
            let kept = try #require(try await store.events(EventQuery(status: .quarantined)).first)
            let record = try #require(try await store.event(id: kept.id))
            #expect(record.history.first?.detail?["reason"]?.stringValue?.hasPrefix("split gave nothing") == true)
            #expect(String(decoding: record.body, as: UTF8.self).contains("items"))
            // Unsigned batches are refused whole.
            #expect(try await running.post(body: Self.batch(0..<3), sign: false).status == 401)
        }
        store.close()
    }
}
