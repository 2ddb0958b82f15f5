public import JSONValue

/// What a candidate version would have sent against what the current version sent, event by event: the calls of each,
/// matched by route, compared field by field (the call, the method, the URL, each header and each body member).
public struct CallComparison: Sendable {
    /// One call as recorded: its route (a flow's `route.step`), `target.operation`, and its request (method, url,
    /// headers as `[name, value]` pairs, body).
    public struct Call: Sendable {
        public var route: String
        public var call: String
        public var request: JSON

        public init(route: String, call: String, request: JSON) {
            self.route = route
            self.call = call
            self.request = request
        }
    }

    /// A difference in one event's calls: `body.properties.phone` added, `call` changed from a to b, a route's call
    /// only one version makes.
    public struct Difference: Sendable, Hashable {
        public enum Kind: String, Sendable { case added, removed, changed }
        public var kind: Kind
        /// Where: `route contact: body.properties.phone`, `route big-sale`.
        public var route: String
        public var field: String
        public var before: String?
        public var after: String?

        /// The words of the aggregate ("`body.properties.phone` added"), without the values that vary by event.
        public var pattern: String {
            switch kind {
            case .added: "`\(field)` added (route \(route))"
            case .removed: "`\(field)` removed (route \(route))"
            case .changed where field == "call": "`call` changed from \(before ?? "") to \(after ?? "") (route \(route))"
            case .changed: "`\(field)` changed (route \(route))"
            }
        }
    }

    public struct Event: Sendable {
        public var event: String
        public var differences: [Difference]
        public var identical: Bool { differences.isEmpty }
    }

    public private(set) var events: [Event] = []

    /// Compares, for each event, the current version's calls with the candidate's. Events with calls of one version
    /// only are compared with none of the other (every call of it added or removed).
    public init(current: [String: [Call]], candidate: [String: [Call]], order: [String]) {
        for event in order {
            events.append(Event(event: event, differences: Self.compare(current[event] ?? [], candidate[event] ?? [])))
        }
    }

    static func compare(_ current: [Call], _ candidate: [Call]) -> [Difference] {
        var differences: [Difference] = []
        let routes = (current.map(\.route) + candidate.map(\.route)).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for route in routes {
            let before = current.first { $0.route == route }, after = candidate.first { $0.route == route }
            switch (before, after) {
            case (nil, let made?):
                differences.append(Difference(kind: .added, route: route, field: "call", before: nil, after: made.call))
            case (let made?, nil):
                differences.append(Difference(kind: .removed, route: route, field: "call", before: made.call, after: nil))
            case (let old?, let new?):
                if old.call != new.call {
                    differences.append(Difference(kind: .changed, route: route, field: "call", before: old.call, after: new.call))
                }
                for field in ["method", "url", "bad_data", "quarantined"] where old.request[field] != new.request[field] {
                    differences.append(change(route, field, old.request[field], new.request[field]))
                }
                differences += headerDifferences(route, old.request["headers"], new.request["headers"])
                leaves(route, "body", old.request["body"], new.request["body"], into: &differences)
            case (nil, nil):
                break
            }
        }
        return differences
    }

    static func change(_ route: String, _ field: String, _ old: JSON?, _ new: JSON?) -> Difference {
        switch (old, new) {
        case (nil, let value?): Difference(kind: .added, route: route, field: field, before: nil, after: value.serialized())
        case (let value?, nil): Difference(kind: .removed, route: route, field: field, before: value.serialized(), after: nil)
        default: Difference(kind: .changed, route: route, field: field, before: old?.serialized(), after: new?.serialized())
        }
    }

    /// Headers that differ on every call whatever the version (a trace, a signing time): not compared.
    static let volatileHeaders: Set<String> = ["traceparent", "tracestate", "webhook-timestamp", "date"]

    static func headerDifferences(_ route: String, _ old: JSON?, _ new: JSON?) -> [Difference] {
        func pairs(_ json: JSON?) -> [String: String] {
            var result: [String: String] = [:]
            for pair in json?.arrayValue ?? [] {
                guard let items = pair.arrayValue, items.count == 2, let name = items[0].stringValue else { continue }
                result[name.lowercased()] = items[1].stringValue ?? ""
            }
            return result
        }
        let before = pairs(old), after = pairs(new)
        return Set(before.keys).union(after.keys).subtracting(volatileHeaders).sorted().compactMap { name in
            guard before[name] != after[name] else { return nil }
            return change(route, "headers.\(name)", before[name].map(JSON.string), after[name].map(JSON.string))
        }
    }

    /// Member by member: an object's keys, an array's elements by position, anything else whole.
    static func leaves(_ route: String, _ path: String, _ old: JSON?, _ new: JSON?, into differences: inout [Difference]) {
        switch (old, new) {
        case (.object(let a)?, .object(let b)?):
            let keys = a.map(\.key) + b.map(\.key).filter { a[$0] == nil }
            for key in keys { leaves(route, "\(path).\(key)", a[key], b[key], into: &differences) }
        case (.array(let a)?, .array(let b)?):
            for index in 0..<max(a.count, b.count) {
                leaves(route, "\(path)[\(index)]", index < a.count ? a[index] : nil, index < b.count ? b[index] : nil, into: &differences)
            }
        default:
            if old != new { differences.append(change(route, path, old, new)) }
        }
    }

    /// The aggregate: how many events are identical, and each kind of difference with the number of events it is in,
    /// most common first.
    public var aggregate: (identical: Int, differing: Int, patterns: [(pattern: String, events: Int)]) {
        var counts: [String: Int] = [:]
        for event in events {
            for pattern in Set(event.differences.map(\.pattern)) { counts[pattern, default: 0] += 1 }
        }
        let identical = events.filter(\.identical).count
        let patterns = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
        return (identical, events.count - identical, patterns)
    }

    /// "9,412 identical; 588 differ: `body.properties.phone` added in 588, ..."
    public var summary: String {
        let (identical, differing, patterns) = aggregate
        var text = "\(Self.number(identical)) identical; \(Self.number(differing)) differ"
        if !patterns.isEmpty { text += ": " + patterns.map { "\($0.pattern) in \(Self.number($0.events))" }.joined(separator: ", ") }
        return text
    }

    public func text(limit: Int = 20) -> String {
        var lines = [summary]
        let differing = events.filter { !$0.identical }
        for event in differing.prefix(limit) {
            lines.append("")
            lines.append("event \(event.event)")
            for difference in event.differences { lines.append("  " + Self.line(difference)) }
        }
        if differing.count > limit { lines += ["", "(\(differing.count - limit) more events differ; --format json lists them all)"] }
        return lines.joined(separator: "\n") + "\n"
    }

    public func markdown(limit: Int = 20) -> String {
        let (identical, differing, patterns) = aggregate
        var lines = ["**\(Self.number(identical)) identical, \(Self.number(differing)) differ**", ""]
        if !patterns.isEmpty {
            lines += ["| difference | events |", "|---|---|"] + patterns.map { "| \($0.pattern) | \(Self.number($0.events)) |" } + [""]
        }
        for event in events.filter({ !$0.identical }).prefix(limit) {
            lines.append("- `\(event.event)`: " + event.differences.map { Self.line($0) }.joined(separator: "; "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public var json: JSON {
        let (identical, differing, patterns) = aggregate
        return [
            "identical": .number(Double(identical)), "differ": .number(Double(differing)),
            "differences": .array(patterns.map { ["difference": .string($0.pattern), "events": .number(Double($0.events))] }),
            "events": .array(events.filter { !$0.identical }.map { event in
                ["event": .string(event.event), "differences": .array(event.differences.map { difference in
                    var object: JSONObject = ["kind": .string(difference.kind.rawValue), "route": .string(difference.route),
                                              "field": .string(difference.field)]
                    if let before = difference.before { object["before"] = .string(before) }
                    if let after = difference.after { object["after"] = .string(after) }
                    return .object(object)
                })]
            }),
        ]
    }

    public static func line(_ difference: Difference) -> String {
        let place = "route \(difference.route): \(difference.field)"
        switch difference.kind {
        case .added: return "\(place) added: \(difference.after ?? "")"
        case .removed: return "\(place) removed (was \(difference.before ?? ""))"
        case .changed: return "\(place) changed: \(difference.before ?? "") → \(difference.after ?? "")"
        }
    }

    static func number(_ value: Int) -> String {
        let digits = String(value)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return out
    }
}
