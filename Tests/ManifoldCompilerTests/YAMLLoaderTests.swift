import Foundation
import JSONValue
@testable import ManifoldCompiler
import Testing

@Suite struct YAMLLoaderTests {
    private func load(_ text: String) throws -> LocatedDocument {
        try YAMLLoader.load(SourceFile(path: "t.yaml", text: text)).get()
    }

    private func failure(_ text: String) -> String? {
        if case .failure(let diagnostic) = YAMLLoader.load(SourceFile(path: "t.yaml", text: text)) { return diagnostic.description }
        return nil
    }

    @Test func resolvesScalarsByTheYAML12CoreSchema() throws {
        let document = try load("a: yes\nb: true\nc: 010\nd: 0x1F\ne: 1.5e3\nf: ~\ng: '42'\nh: on\ni: .inf\nj: 10s\n")
        #expect(document.value == ["a": "yes", "b": true, "c": 10, "d": 31, "e": 1500, "f": nil, "g": "42", "h": "on",
                                   "i": .number(.infinity), "j": "10s"])
    }

    @Test func keysAreStringsInOrder() throws {
        let document = try load("z: 1\n1: a\ntrue: b\n")
        #expect(document.value.objectValue?.keys == ["z", "1", "true"])
    }

    @Test func recordsKeyAndValueLocations() throws {
        let document = try load("outer:\n  inner: [1, 2]\n  list:\n    - name: x\n")
        #expect(document.keyLocation(of: JSONPointer(tokens: ["outer", "inner"])).description == "t.yaml:2:3")
        #expect(document.location(of: JSONPointer(tokens: ["outer", "inner", "1"])).description == "t.yaml:2:14")
        #expect(document.location(of: JSONPointer(tokens: ["outer", "list", "0", "name"])).description == "t.yaml:4:13")
        #expect(document.location(of: JSONPointer(tokens: ["outer", "missing", "deeper"])).description == "t.yaml:2:3")
    }

    @Test func mergeKeysBringInMembersWithoutOverriding() throws {
        let document = try load("base: &base { a: 1, b: 2 }\nthing:\n  <<: *base\n  b: 3\n")
        #expect(document.value["thing"] == ["b": 3, "a": 1])
    }

    @Test func refusesWhatIsNotOneDocumentOfText() {
        #expect(failure("a: 1\n---\nb: 2\n") == "t.yaml:2:1: error: a connector file holds one YAML document; remove the second `---` document")
        #expect(failure("   \n# only a comment\n") == "t.yaml:1:1: error: file is empty: a connector file is a mapping with `connector`, `source`, `targets` and `routes`")
        #expect(failure("a: *nowhere\n") == "t.yaml:1:4: error: invalid YAML: found undefined alias")
        #expect(failure("a: 1\n\u{0}") == "t.yaml:2:1: error: file contains the control character 0x00; a connector file is YAML text")
        #expect(failure("? [a, b]\n: 1\n") == "t.yaml:1:3: error: a key must be a plain string, not a list")
    }

    @Test func refusesHugeAndDeepFilesBeforeParsing() {
        let huge = String(repeating: "# padding\n", count: 110_000)
        #expect(failure(huge) == "t.yaml:1:1: error: file is too large (1100000 bytes; the limit is 1048576 bytes)")
        let deep = "a: " + String(repeating: "[", count: 5000)
        #expect(failure(deep)?.hasPrefix("t.yaml:1:68: error: nesting is deeper than 64 levels") == true)
        var indented = ""
        for level in 0..<100 { indented += String(repeating: " ", count: level) + "k\(level):\n" }
        #expect(failure(indented)?.contains("nesting is deeper than 64 levels") == true)
    }

    @Test func aliasBombsAreRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...6 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        #expect(failure(text)?.contains("expands to more than 200000 values") == true)
    }
}
