/// `manifold run --target NAME=URL`: a target's base URL replaced for this run, to point connectors at a local
/// or staging vendor without editing them (or their tests). `NAME` is a target's name (every connector's target
/// of that name) or `connector/target`.
public struct TargetOverride: Sendable, Hashable {
    public var connector: String?
    public var target: String
    public var baseURL: String

    /// Parses `NAME=URL`; the error says what is wrong.
    public init(parsing text: String) throws(Failure) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw Failure("'\(text)' is not NAME=URL (such as hubspot=http://127.0.0.1:9000)")
        }
        let name = text[..<equals], url = String(text[text.index(after: equals)...])
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8 else {
            throw Failure("'\(url)' is not an http:// or https:// URL (in --target \(text))")
        }
        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
        connector = parts.count == 2 ? parts[0] : nil
        target = parts.last ?? ""
        baseURL = url
    }

    public init(connector: String?, target: String, baseURL: String) {
        self.connector = connector
        self.target = target
        self.baseURL = baseURL
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Whether it names `target` of `connector`.
    func applies(to target: String, of connector: String) -> Bool {
        self.target == target && (self.connector == nil || self.connector == connector)
    }
}

extension Plan {
    /// The plan with the overrides' base URLs; an override that names no target of the plan is an error (a typo
    /// would otherwise call the real vendor).
    public func overriding(_ overrides: [TargetOverride]) throws(TargetOverride.Failure) -> Plan {
        guard !overrides.isEmpty else { return self }
        for override in overrides where !connectors.contains(where: { connector in
            connector.targets.contains { override.applies(to: $0.name, of: connector.name) }
        }) {
            let known = connectors.flatMap { connector in connector.targets.map { "\(connector.name)/\($0.name)" } }
            throw TargetOverride.Failure("--target \(override.connector.map { $0 + "/" } ?? "")\(override.target): no connector has that target (targets: \(known.joined(separator: ", ")))")
        }
        return Plan(connectors: connectors.map { connector in
            var connector = connector
            connector.targets = connector.targets.map { target in
                var target = target
                if let override = overrides.last(where: { $0.applies(to: target.name, of: connector.name) }) {
                    // An OAuth token endpoint on the vendor's own host moves with it (a local vendor issues tokens too).
                    let original = target.baseURL.description
                    if case .oauth2(var settings) = target.auth, settings.tokenURL.description.hasPrefix(original) {
                        settings.tokenURL = ConfigString(literal: override.baseURL + settings.tokenURL.description.dropFirst(original.count))
                        target.auth = .oauth2(settings)
                    }
                    target.baseURL = ConfigString(literal: override.baseURL)
                }
                return target
            }
            return connector
        })
    }
}
