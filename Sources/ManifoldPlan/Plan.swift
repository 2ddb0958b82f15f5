import Crypto
public import JSONValue

/// The compiled execution plan: every connector, checked and with defaults filled in.
///
/// Immutable and `Sendable`, so the runtime can hold it while a reload builds the next one;
/// its `version` is a content hash, the same for the same connectors whatever the files' layout.
public struct Plan: Sendable, Equatable {
    /// The connectors, ordered by name.
    public let connectors: [ConnectorPlan]
    /// `sha256:` and the first 16 hex digits of the hash of the plan's canonical JSON.
    public let version: String

    public init(connectors: [ConnectorPlan]) {
        self.connectors = connectors.sorted { $0.name < $1.name }
        let canonical = JSON.array(self.connectors.map(\.json)).serialized(.sortedKeys)
        let digest = SHA256.hash(data: Array(canonical.utf8))
        self.version = "sha256:" + digest.prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    /// The connector named `name`.
    public func connector(named name: String) -> ConnectorPlan? {
        connectors.first { $0.name == name }
    }

    /// The plan as JSON: its version and its connectors.
    public var json: JSON {
        ["version": .string(version), "connectors": .array(connectors.map(\.json))]
    }
}

/// One connector: its source (a webhook, or a pull), its targets and its routes.
public struct ConnectorPlan: Sendable, Equatable {
    public var name: String
    public var version: Int
    public var description: String?
    /// The file it was compiled from, as given; not part of the plan version.
    public var sourceFile: String?
    /// The webhook events arrive at; `nil` for a connector that pulls (`pull`).
    public var source: WebhookSource?
    /// What the engine pulls events from on a schedule; `nil` for a webhook connector.
    public var pull: PullSource?
    /// Targets ordered by name.
    public var targets: [TargetPlan]
    /// Routes in the order the file lists them.
    public var routes: [RoutePlan]

    public init(name: String, version: Int, description: String?, sourceFile: String?, source: WebhookSource?,
                targets: [TargetPlan], routes: [RoutePlan], pull: PullSource? = nil)
    {
        self.name = name
        self.version = version
        self.description = description
        self.sourceFile = sourceFile
        self.source = source
        self.pull = pull
        self.targets = targets.sorted { $0.name < $1.name }
        self.routes = routes
    }

    /// The target named `name`.
    public func target(named name: String) -> TargetPlan? {
        targets.first { $0.name == name }
    }

    public static func == (lhs: ConnectorPlan, rhs: ConnectorPlan) -> Bool {
        lhs.json == rhs.json
    }
}
