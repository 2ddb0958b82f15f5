import JSONValue
import ManifoldStore
import TestSupport
import Testing

/// What every store writes for headers: the JSON text of `[name, value]` pairs, exactly as `JSON.serialized()` prints
/// them (text that stores written before read back), and read back as they were.
@Suite struct StoredTextTests {
    @Test func headersAreTheTextJSONPrintsAndReadBackAsTheyWere() {
        let pieces = ["", "a", "Content-Type", "application/json; charset=utf-8", "quote \" inside", "back\\slash", "tab\there",
                      "line\nbreak", "\u{01}control", "caf\u{E9}", "cafe\u{301}", "中文", "emoji 🙂", "t=1,v1=abc", "/"]
        var generator = SeededGenerator(seed: 77)
        for round in 0..<2_000 {
            let headers = (0..<Int.random(in: 0...6, using: &generator)).map { _ in
                (name: pieces.randomElement(using: &generator)!, value: pieces.randomElement(using: &generator)!)
            }
            let text = StoredText.headers(headers)
            #expect(text == JSON.array(headers.map { .array([.string($0.name), .string($0.value)]) }).serialized(),
                    "round \(round)")
            let back = StoredText.headers(text)
            #expect(back.map(\.name) == headers.map(\.name) && back.map(\.value) == headers.map(\.value), "round \(round)")
        }
    }

    /// An outcome's detail in an event's history is the text `JSON.serialized()` prints for the same object.
    @Test func anOutcomesDetailIsTheTextJSONPrints() {
        let pieces = ["", "job_01J", "orders", "crm.create", "quote \" inside", "back\\slash", "line\nbreak", "\u{01}control",
                      "caf\u{E9}", "中文", "emoji 🙂", "/"]
        var generator = SeededGenerator(seed: 78)
        for round in 0..<2_000 {
            let (job, route, target) = (pieces.randomElement(using: &generator)!, pieces.randomElement(using: &generator)!,
                                        pieces.randomElement(using: &generator)!)
            let status = Bool.random(using: &generator) ? Int.random(in: 100...599, using: &generator) : nil
            let reason = Bool.random(using: &generator) ? pieces.randomElement(using: &generator)! : nil
            var members: [(String, JSON)] = [("job", .string(job)), ("route", .string(route)), ("target", .string(target))]
            if let status { members.append(("status", .number(Double(status)))) }
            if let reason { members.append(("reason", .string(reason))) }
            #expect(StoredText.outcome(job: job, route: route, target: target, status: status, reason: reason)
                == JSON.object(JSONObject(members)).serialized(), "round \(round)")
        }
    }
}
