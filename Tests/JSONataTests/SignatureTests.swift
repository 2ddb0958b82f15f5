@testable import JSONata
import JSONValue
import Testing

/// A call's arguments are checked by shortcuts when each matches its parameter in place; every built-in's signature
/// must give the same arguments (or the same error) by the shortcut as by the general match, whatever it is given.
@Suite struct SignatureTests {
    /// One value of each type a signature tells apart (and undefined), arrays of one type, of several, and empty.
    static func values() -> [Value?] { [
        nil, .null, .bool(true), .number(2), .string("s"), .object(ObjectValue()),
        .array(ArrayValue([.string("a"), .string("b")])), .array(ArrayValue([.number(1), .number(2)])),
        .array(ArrayValue([.number(1), .string("x")])), .array(ArrayValue()),
        Library.function(named: "string"),
    ] }

    static func describe(_ result: Result<[Value?], JSONataError>) -> String {
        switch result {
        case .success(let values):
            return values.map { value in
                guard let value else { return "undefined" }
                if case .function = value { return "function" }
                return value.json.serialized() + (value.isArray ? "(\(value.arrayValue!.isSequence))" : "")
            }.joined(separator: ", ")
        case .failure(let error): return "error \(error.code)"
        }
    }

    @Test func shortcutsAgreeWithTheGeneralMatchForEveryBuiltIn() {
        var compared = 0
        var accepted = 0
        let signatures = Library.definitions.values.compactMap(\.signature)
            + ["<s-nn?:s>", "<a<s>s?:s>", "<n-so?:s>", "<x-b?:b>", "<af?:a>", "<a<n>:n>", "<s-(sf)(sf)n?:s>"].map { try! Signature($0) }
        let values = Self.values()
        for signature in signatures {
            for count in 0...3 {
                var lists: [[Value?]] = [[]]
                for _ in 0..<count { lists = lists.flatMap { list in values.map { list + [$0] } } }
                for arguments in lists {
                    for context in [nil, Value.string("ctx")] as [Value?] {
                        let fast = Result { () throws(JSONataError) in try signature.validate(arguments, context: context) }
                        let general = Result { () throws(JSONataError) in try signature.validateGenerally(arguments, context: context) }
                        #expect(Self.describe(fast) == Self.describe(general),
                                "\(signature.definition) with \(arguments.map { $0?.typeName ?? "undefined" })")
                        compared += 1
                        if case .success = general { accepted += 1 }
                    }
                }
            }
        }
        #expect(compared > 50_000)
        #expect(accepted > 4_000, "calls that are valid, where the shortcuts apply")
    }
}
