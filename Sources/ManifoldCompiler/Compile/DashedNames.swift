/// Finds names with a dash written bare in a JSONata expression: `event-data.id` is `event` minus `data.id` in
/// JSONata, which evaluates to nothing on a Mailgun payload; the author meant the field `event-data`, which JSONata
/// spells `` `event-data`.id ``. Strings and backticked names are skipped, and so are a dash with spaces around it
/// (`total - discount`), a number after it (`n-1`) and a variable before it (`$count-1`): those are meant.
enum DashedNames {
    /// Each bare dashed name, as written (`event-data`), in order.
    static func find(in source: String) -> [String] {
        var found: [String] = []
        var quote: Character?
        var token = ""
        var variable = false
        var previous: Character = " "
        func isNameCharacter(_ character: Character) -> Bool { character.isLetter || character.isNumber || character == "_" }
        func flush() {
            let parts = token.split(separator: "-", omittingEmptySubsequences: false)
            if !variable, parts.count > 1, parts.allSatisfy({ $0.first.map { $0.isLetter || $0 == "_" } ?? false }) {
                found.append(token)
            }
            token = ""
        }
        for character in source {
            if let open = quote {
                if character == open, previous != "\\" { quote = nil }
            } else if character == "'" || character == "\"" || character == "`" {
                flush()
                quote = character
            } else if isNameCharacter(character) || (character == "-" && !token.isEmpty && isNameCharacter(previous)) {
                if token.isEmpty { variable = previous == "$" }
                token.append(character)
            } else {
                flush()
            }
            previous = character
        }
        flush()
        return found
    }
}
