import JSONSchema
import JSONValue
import Testing

/// `pattern` and `patternProperties` on ICU, which backtracks without bound: a schema's pattern runs on the
/// engine's delivery path, so a match that runs past its time limit counts as no match.
@Suite struct PatternTests {
    @Test(.timeLimit(.minutes(10)))
    func aCatastrophicPatternIsAbandonedAsNoMatch() {
        let hostile = JSON.string(String(repeating: "a", count: 30) + "!")
        let validator = JSONSchemaValidator(schema: ["type": "string", "pattern": "^(.*a){25}$"])
        #expect(validator.validate(hostile).map(\.keyword) == ["pattern"])
        let properties = JSONSchemaValidator(schema: ["patternProperties": ["^(.*a){25}$": false]])
        #expect(properties.validate(.object([String(repeating: "a", count: 30) + "!": 1])).isEmpty)
    }

    @Test func ordinaryPatternsStillMatch() {
        let validator = JSONSchemaValidator(schema: ["pattern": "^[a-z]+@example\\.com$"])
        #expect(validator.validate("ada@example.com").isEmpty)
        #expect(validator.validate("ada@example.org").map(\.keyword) == ["pattern"])
    }
}
