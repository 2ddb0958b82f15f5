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

/// A remembered position is only a guess: the value there is given only when the key there is the same text as the
/// one looked up, whatever way each is held; any other key, or a position outside the members, gives nothing.
@Suite struct RememberedPositionTests {
    @Test func aPositionGivesItsValueOnlyForTheSameText() {
        let texts = ["a", "b", "id", "K", "\u{212A}", "caf\u{E9}", "cafe\u{301}", "fifteen bytes!!", "sixteen bytes!!!",
                     "a key far longer than fifteen bytes", "中文"]
        let forms = texts.flatMap { [$0, StringBitsTests.inStorage($0), String(decoding: Array($0.utf8), as: UTF8.self)] }
        var generator = SeededGenerator(seed: 47)
        var hits = 0
        for round in 0..<2_000 {
            // Distinct texts (one form of each), in a random order, with some past the hash index's threshold.
            var keys: [String] = []
            // (By index: `==` takes "K" and the Kelvin sign, or a composed and a decomposed "é", for the same text.)
            for index in texts.indices.shuffled(using: &generator) where Int.random(in: 0..<3, using: &generator) != 0 {
                keys.append(forms[index * 3 + Int.random(in: 0..<3, using: &generator)])
            }
            if Bool.random(using: &generator) { keys += (0..<12).map { "filler\($0)" } }
            let values = keys.indices.map { JSON.number(Double($0)) }
            let object = JSONObject(uniqueKeys: keys, values: values)
            for wanted in forms {
                for position in [-1, keys.count, keys.count + 3] {
                    #expect(object.value(at: position, ifKeyIs: wanted) == nil, "round \(round): \(position)")
                }
                for position in keys.indices {
                    let same = Array(keys[position].utf8) == Array(wanted.utf8)
                    #expect(object.value(at: position, ifKeyIs: wanted) == (same ? Optional(values[position]) : JSON?.none),
                            "round \(round): \(wanted.debugDescription) at \(position) of \(keys)")
                    if same { hits += 1 }
                }
                // Where `self[key]` finds it, and the same value.
                let found = object.valueAndPosition(of: wanted)
                #expect(found?.value == object[wanted], "round \(round): \(wanted.debugDescription)")
                if let found { #expect(values[found.position] == found.value) }
            }
        }
        #expect(hits > 10_000)
    }
}
