/// Markdown pieces for reports whose text comes from connector files.
enum Markdown {
    /// `text` as a code span that survives backticks inside it (`` `event-data`.id `` is a JSONata name): the fence
    /// is one backtick longer than the longest run in the text, padded with spaces when the text starts or ends with
    /// one (CommonMark); a `|` is escaped, since spans often stand in table cells.
    static func code(_ text: String) -> String {
        var longest = 0, run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let padding = text.hasPrefix("`") || text.hasSuffix("`") ? " " : ""
        return fence + padding + text.replacingOccurrences(of: "|", with: "\\|") + padding + fence
    }
}
