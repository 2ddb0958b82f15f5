public import JSONata
public import JSONValue
public import ManifoldPlan
public import ManifoldStore

/// Decides which routes an event takes: every route whose `when` holds makes a job. Needs no secrets, so the CLI
/// can route (for replays) without the engine's environment.
public struct Router: Sendable {
    public let planVersion: String
    private let connectors: [String: [Rule]]
    private let readsHeaders: Set<String>
    /// The connectors whose routing takes time bounded by the event's size (every condition, ordering key and
    /// endpoint selector `JSONataExpression.isBounded`).
    private let boundedConnectors: Set<String>

    private struct Rule: Sendable {
        let name: String
        let target: String
        let lane: String
        let condition: JSONataExpression?
        let orderingKey: JSONataExpression?
        /// For a route to an endpoints target: the event's tenant and type, which pick the endpoints.
        let endpoints: (tenant: JSONataExpression, eventType: JSONataExpression?)?
        /// A flow: its job starts at its first step, on its first call's lane.
        let isFlow: Bool
    }

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Why an event could not be routed: bad data, so it is quarantined.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(plan: Plan) throws(SetupError) {
        planVersion = plan.version
        var connectors: [String: [Rule]] = [:]
        var readsHeaders: Set<String> = []
        for connector in plan.connectors {
            do {
                connectors[connector.name] = try connector.routes.map { route in
                    let endpoints = try connector.targets.first { $0.name == route.target }?.endpoints.map { settings in
                        (tenant: try JSONataExpression(settings.tenant.source),
                         eventType: try settings.eventType.map { try JSONataExpression($0.source) })
                    }
                    return Rule(name: route.name, target: route.target,
                                lane: DeliveryPlan.lane(connector: connector.name, target: route.target),
                                condition: try route.condition.map { try JSONataExpression($0.source) },
                                orderingKey: try route.orderingKey.map { try JSONataExpression($0.source) },
                                endpoints: endpoints, isFlow: route.isFlow)
                }
            } catch {
                throw SetupError(description: "connector '\(connector.name)': \(error)")
            }
            if HeaderBindings.read(by: connector.routes.flatMap { [$0.condition, $0.orderingKey].compactMap { $0 } }) {
                readsHeaders.insert(connector.name)
            }
        }
        self.connectors = connectors
        self.readsHeaders = readsHeaders
        boundedConnectors = Set(connectors.filter { _, rules in
            rules.allSatisfy { rule in
                [rule.condition, rule.orderingKey, rule.endpoints?.tenant, rule.endpoints?.eventType].allSatisfy { $0?.isBounded ?? true }
            }
        }.keys)
    }

    /// Whether routing an event of `connector` takes time bounded by the event's size (see `boundedConnectors`).
    public func routesInBoundedTime(_ connector: String) -> Bool {
        boundedConnectors.contains(connector)
    }

    /// Whether the plan has this connector (and this route of it).
    public func has(connector: String, route: String? = nil) -> Bool {
        guard let rules = connectors[connector] else { return false }
        return route.map { name in rules.contains { $0.name == name } } ?? true
    }

    /// The jobs an event makes: one per route whose condition holds, in the routes' order, all in the event's
    /// trace (`traceID`; a new one by default).
    ///
    /// A route to an endpoints target makes one job per endpoint of the event's tenant that takes its type (from
    /// `directory`), each in the endpoint's own lane; without a directory it makes none.
    public func route(connector name: String, payload: JSON, headers: [(name: String, value: String)],
                      traceID: String = TraceContext.newTraceID(), directory: (any EndpointDirectory)? = nil,
                      replayOf: (String) -> String? = { _ in nil }, pinsPlan: Bool = false) throws(Failure) -> [NewJob]
    {
        guard let rules = connectors[name] else { return [] }
        let bindings = readsHeaders.contains(name) ? HeaderBindings.bindings(headers) : [:]
        var jobs: [NewJob] = []
        for rule in rules {
            do {
                if let condition = rule.condition {
                    guard let value = try condition.evaluate(payload, bindings: bindings), Self.isTrue(value) else { continue }
                }
                var orderingKey: String?
                if let expression = rule.orderingKey, let value = try expression.evaluate(payload, bindings: bindings) {
                    orderingKey = CompiledTemplate.text(of: value)
                }
                if let selector = rule.endpoints {
                    guard let tenant = try selector.tenant.evaluate(payload, bindings: bindings).flatMap(CompiledTemplate.scalarText),
                          !tenant.isEmpty
                    else { throw Failure(description: "route '\(rule.name)': the tenant gave nothing, so no endpoint may receive the event") }
                    let type = try selector.eventType?.evaluate(payload, bindings: bindings).flatMap(CompiledTemplate.scalarText)
                    for endpoint in directory?.endpoints(tenant: tenant, eventType: type) ?? [] {
                        jobs.append(NewJob(route: rule.name, target: rule.target, lane: rule.lane + "@" + endpoint,
                                           orderingKey: orderingKey, traceID: traceID, replayOf: replayOf(rule.name),
                                           planVersion: planVersion, pinsPlan: pinsPlan))
                    }
                    continue
                }
                jobs.append(NewJob(route: rule.name, target: rule.target, lane: rule.lane, orderingKey: orderingKey,
                                   traceID: traceID, replayOf: replayOf(rule.name),
                                   planVersion: planVersion, pinsPlan: pinsPlan, flow: rule.isFlow ? FlowProgress.start.json : JSON?.none))
            } catch {
                throw Failure(description: "route '\(rule.name)': \(error)")
            }
        }
        return jobs
    }

    /// JSONata's truthiness for a condition's value.
    static func isTrue(_ value: JSON) -> Bool {
        switch value {
        case .bool(let flag): flag
        case .null: false
        case .number(let number): number != 0
        case .string(let text): !text.isEmpty
        case .array(let elements): elements.contains(where: isTrue)
        case .object: true
        }
    }
}
