@testable import JSONValue
import TestSupport
import Testing

/// The key search that compares short ASCII keys by their bits finds what `firstIndex(of:)` finds, whatever way each
/// key is held: short in its bits, short in storage of its own, long, non-ASCII, canonically equivalent to another.
@Suite struct StringBitsTests {
    /// The same text held in storage of its own, not in its bits (as text built by appending can be).
    static func inStorage(_ text: String) -> String {
        var stored = String()
        stored.reserveCapacity(text.utf8.count + 32)
        stored.append(contentsOf: text)
        return stored
    }

    @Test func theSearchFindsWhatEqualityFinds() {
        #expect(StringBits.marksShortASCII, "on this platform the search compares short ASCII keys by their bits")
        let texts = ["", "a", "b", "id", "type", "K", "\u{212A}", ";", "\u{037E}", "caf\u{E9}", "cafe\u{301}",
                     "fifteen bytes!!", "fifteen bytes!?", "sixteen bytes!!!", "a key far longer than fifteen bytes", "中文"]
        // Each text in its usual form, in storage of its own, and rebuilt from its bytes.
        let forms = texts.flatMap { [$0, Self.inStorage($0), String(decoding: Array($0.utf8), as: UTF8.self)] }
        var generator = SeededGenerator(seed: 31)
        for round in 0..<4_000 {
            let keys = (0..<Int.random(in: 0...20, using: &generator)).map { _ in forms.randomElement(using: &generator)! }
            for wanted in forms {
                let found = StringBits.firstPosition(of: wanted, in: keys)
                #expect(found == keys.firstIndex(of: wanted), "round \(round): \(wanted.debugDescription) in \(keys)")
            }
        }
    }

    /// Objects find their members through it: a parsed object's keys are short ASCII, the expression's key may be
    /// held in storage.
    @Test func objectsFindTheirMembersHoweverTheKeyIsHeld() throws {
        let object = try #require(try JSONParser.parse(#"{"id": 1, "type": "push", "fifteen bytes!!": 2, "a key far longer than fifteen bytes": 3}"#).objectValue)
        for key in ["id", "type", "fifteen bytes!!", "a key far longer than fifteen bytes"] {
            #expect(object[Self.inStorage(key)] != nil && object[Self.inStorage(key)] == object[key], "\(key)")
        }
        #expect(object[Self.inStorage("typ")] == nil && object["types"] == nil)
    }
}
