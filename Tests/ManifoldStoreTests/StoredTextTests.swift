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
}
