extension PlanDiff {
    /// One line of counts: `3 changes in behaviour: 1 breaking, 1 risky, 1 safe`.
    public var summary: String {
        guard !isEmpty else { return "no changes in behaviour" }
        let counts = PlanChange.Severity.allCases.reversed().filter { count($0) > 0 }.map { "\(count($0)) \($0.rawValue)" }
        return "\(changes.count) change\(changes.count == 1 ? "" : "s") in behaviour: " + counts.joined(separator: ", ")
    }

    /// For a terminal: grouped by connector, each change with its reason below; ANSI colours when `colour`.
    ///
    ///     stripe-to-hubspot
    ///       breaking  target hubspot  base_url: https://api.hubapi.com → https://crm.example.com
    ///                 deliveries go to another host
    public func text(colour: Bool) -> String {
        func paint(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        var lines = [paint(summary, "1")]
        var connector: String?
        for change in changes {
            if change.connector != connector {
                connector = change.connector
                lines.append("")
                lines.append(paint(change.connector, "1"))
            }
            let label = change.severity.rawValue.padding(to: 8)
            let code = switch change.severity { case .breaking: "31"; case .risky: "33"; case .safe: "32" }
            lines.append("  \(paint(label, code))  \(change.scope)  \(change.what())")
            lines.append("            " + change.reason)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// For a pull-request comment: a heading with the counts and a table, most severe first.
    public var markdown: String {
        var lines = ["### Manifold: \(summary)"]
        guard !isEmpty else { return lines[0] + "\n" }
        lines += ["", "| | Connector | Where | Change | What it does |", "|---|---|---|---|---|"]
        let ordered = changes.enumerated().sorted { lhs, rhs in
            lhs.element.severity != rhs.element.severity ? lhs.element.severity > rhs.element.severity : lhs.offset < rhs.offset
        }.map(\.element)
        for change in ordered {
            let badge = switch change.severity { case .breaking: "🔴 **breaking**"; case .risky: "🟠 **risky**"; case .safe: "🟢 safe" }
            let what = change.what(quoting: Self.code)
            lines.append("| \(badge) | \(Self.code(change.connector)) | \(Self.cell(change.scope)) | \(what) | \(Self.cell(change.reason)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A code span that survives backticks and pipes in the value.
    private static func code(_ text: String) -> String {
        let fence = text.contains("`") ? "``" : "`"
        let padding = text.hasPrefix("`") || text.hasSuffix("`") ? " " : ""
        return fence + padding + cell(text) + padding + fence
    }

    private static func cell(_ text: String) -> String {
        text.replacing("|", with: "\\|").replacing("\n", with: " ")
    }
}

extension PlanChange {
    /// `field: before → after`, `added: value`, or `removed (was value)`, each value passed through `quote`.
    public func what(quoting quote: (String) -> String = { $0 }) -> String {
        switch (field, before, after) {
        case (nil, nil, let after?): "added: \(quote(after))"
        case (nil, let before?, nil): "removed (was \(quote(before)))"
        default: "\(quote(field ?? "")): \(quote(before ?? "(not set)")) → \(quote(after ?? "(not set)"))"
        }
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
