public import Foundation
public import JSONata
public import JSONSchema
public import JSONValue
public import ManifoldIngress
public import ManifoldPlan
public import ManifoldStore

/// A plan made ready to deliver: every expression parsed, every template compiled, every reference resolved,
/// every auth provider built. Made once per plan; routing and mapping then only evaluate.
public struct DeliveryPlan: Sendable {
    public let plan: Plan
    let connectors: [String: ConnectorProgram]

    public var version: String { plan.version }

    /// Fails naming the connector and what could not be resolved or parsed.
    public init(plan: Plan, resolver: ConfigResolver, tokens: OAuth2TokenCache = OAuth2TokenCache()) throws(SetupError) {
        self.plan = plan
        var connectors: [String: ConnectorProgram] = [:]
        for connector in plan.connectors {
            do {
                connectors[connector.name] = try ConnectorProgram(connector, resolver: resolver, tokens: tokens)
            } catch {
                throw SetupError(description: "connector '\(connector.name)': \(error)")
            }
        }
        self.connectors = connectors
        var lanes: [String: TargetProgram] = [:]
        for connector in connectors.values {
            for target in connector.targets.values { lanes[target.lane] = target }
        }
        targetsByLane = lanes
    }

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The lane of a connector's target.
    public static func lane(connector: String, target: String) -> String { "\(connector)/\(target)" }

    /// The connector's route program, if the plan has it.
    func route(_ connector: String, _ route: String) -> (ConnectorProgram, RouteProgram)? {
        guard let program = connectors[connector], let route = program.routes.first(where: { $0.plan.name == route })
        else { return nil }
        return (program, route)
    }

    /// Whether the plan can deliver `job`: it has the job's route, and its lane (for a flow, a target of its steps).
    func delivers(_ job: DeliveryJob) -> Bool {
        guard let (_, route) = route(job.connector, job.route) else { return false }
        if let flow = route.flow { return job.isFlow && flow.targets.contains(job.target) }
        return !job.isFlow && route.plan.target == job.target
    }

    /// Every target of the plan, by lane.
    let targetsByLane: [String: TargetProgram]

    /// The target that delivers a lane: `connector/target`, or an endpoint's lane `connector/target@endpoint`.
    func target(forLane lane: String) -> TargetProgram? {
        if let target = targetsByLane[lane] { return target }
        guard let at = lane.lastIndex(of: "@"), let target = targetsByLane[String(lane[..<at])], target.plan.endpoints != nil
        else { return nil }
        return target
    }

    /// The endpoint of an endpoint's lane (`connector/target@endpoint`), or `nil`.
    static func endpoint(ofLane lane: String) -> String? {
        lane.lastIndex(of: "@").map { String(lane[lane.index(after: $0)...]) }
    }

    /// The targets that send to customers' endpoints.
    var endpointsTargets: [TargetProgram] { targetsByLane.values.filter { $0.plan.endpoints != nil }.sorted { $0.lane < $1.lane } }
}

/// A connector's compiled routes and targets.
struct ConnectorProgram: Sendable {
    let name: String
    let targets: [String: TargetProgram]
    let routes: [RouteProgram]
    let readsHeaders: Bool
    /// A poll's request and its partitions' parent request, as calls without a body (`poll`, `partitions`).
    let pollRequests: [String: RouteProgram]

    init(_ connector: ConnectorPlan, resolver: ConfigResolver, tokens: OAuth2TokenCache) throws {
        name = connector.name
        var targets: [String: TargetProgram] = [:]
        for target in connector.targets {
            targets[target.name] = try TargetProgram(target, connector: connector.name, resolver: resolver, tokens: tokens)
        }
        self.targets = targets
        routes = try connector.routes.map { try RouteProgram($0, connector: connector.name, resolver: resolver) }
        // Conditions and ordering keys are the router's; the mapping is evaluated here.
        readsHeaders = HeaderBindings.read(by: connector.routes.flatMap(\.mappingExpressions))
        var pollRequests: [String: RouteProgram] = [:]
        if case .poll(let poll)? = connector.pull {
            for (name, request) in [("poll", poll.request), ("partitions", poll.partitions?.request)] {
                guard let request else { continue }
                let route = RoutePlan(name: name, condition: nil, target: request.target, operation: request.operation, body: nil,
                                      headers: [], query: request.query, pathParameters: request.pathParameters, idempotencyKey: nil)
                pollRequests[name] = try RouteProgram(route, connector: connector.name, resolver: resolver)
            }
        }
        self.pollRequests = pollRequests
    }

    func bindings(headers: [(name: String, value: String)]) -> [String: JSON] {
        readsHeaders ? HeaderBindings.bindings(headers) : [:]
    }
}

/// A named templated value (header, query parameter, path value) and whether it carries a secret.
struct NamedTemplate: Sendable {
    let name: String
    let template: CompiledTemplate
    /// How the record shows the value: the same template with its `${env:}`/`${file:}` references left as written,
    /// when it reads any; `nil` when it reads none.
    let shown: CompiledTemplate?
    /// A credential by its name (`Authorization`, `api_key`, ...): shown `[redacted]` unless it is a reference.
    let credential: Bool

    init(_ header: Header, resolver: ConfigResolver) throws {
        name = header.name
        template = try CompiledTemplate(header.value, resolver: resolver)
        shown = CompiledTemplate.readsSecrets(header.value)
            ? try CompiledTemplate(header.value, resolver: .showingReferences) : nil
        credential = CredentialName.matches(header.name)
    }

    /// The value as records show it: references as written (the one rule, as for base URLs and paths), a
    /// credential named as such `[redacted]`, anything else as sent.
    func display(_ value: String, payload: JSON, bindings: [String: JSON]) -> String {
        if let shown, let text = (try? shown.evaluate(payload, bindings: bindings)).flatMap({ $0 }).map(CompiledTemplate.text(of:)) {
            return text
        }
        return credential ? "[redacted]" : value
    }
}

/// A string with resolved references, and the same string with `${env:NAME}` in their place, for the record.
struct ResolvedString: Sendable {
    /// The pieces as written: literal text, or a reference with its resolved value and how it is shown.
    let parts: [(value: String, display: String, literal: Bool)]
    var value: String { parts.map(\.value).joined() }
    var display: String { parts.map(\.display).joined() }

    init(_ string: ConfigString, resolver: ConfigResolver) throws {
        parts = try string.parts.map { part in
            switch part {
            case .literal(let text):
                (text, text, true)
            case .environment, .file:
                (try resolver.resolve(ConfigString(parts: [part])), ConfigString(parts: [part]).description, false)
            }
        }
    }
}

/// A target: its URL, auth, fixed headers and operations, and its lane's policies.
struct TargetProgram: Sendable {
    let plan: TargetPlan
    let connector: String
    let lane: String
    let baseURL: ResolvedString
    let auth: AuthProvider
    let headers: [NamedTemplate]
    let operations: [String: OperationProgram]
    /// Signs every attempt, when the target says `sign:`.
    let signer: OutboundSigner?

    init(_ target: TargetPlan, connector: String, resolver: ConfigResolver, tokens: OAuth2TokenCache) throws {
        plan = target
        self.connector = connector
        lane = DeliveryPlan.lane(connector: connector, target: target.name)
        baseURL = try ResolvedString(target.baseURL, resolver: resolver)
        auth = try AuthProvider(target.auth, resolver: resolver, tokens: tokens, key: lane)
        headers = try target.headers.map { try NamedTemplate($0, resolver: resolver) }
        signer = try target.signing.map { try OutboundSigner($0, resolver: resolver) }
        var operations: [String: OperationProgram] = [:]
        for operation in target.operations {
            operations[operation.name] = try OperationProgram(operation, resolver: resolver)
        }
        self.operations = operations
    }

    /// The limiter's key: the pool's name when it names one, else the lane.
    var limiterKey: String? {
        guard let limit = plan.rateLimit else { return nil }
        return limit.pool.map { "pool:\($0)" } ?? "lane:\(lane)"
    }
}

/// An operation: method, path with placeholders, fixed headers and query, and its body schema.
struct OperationProgram: Sendable {
    let plan: OperationPlan
    let path: ResolvedString
    let headers: [NamedTemplate]
    let query: [NamedTemplate]
    let bodySchema: JSONSchemaValidator?

    init(_ operation: OperationPlan, resolver: ConfigResolver) throws {
        plan = operation
        path = try ResolvedString(operation.path, resolver: resolver)
        headers = try operation.headers.map { try NamedTemplate($0, resolver: resolver) }
        query = try operation.query.map { try NamedTemplate($0, resolver: resolver) }
        bodySchema = operation.bodySchema.map { JSONSchemaValidator(schema: $0) }
    }
}

/// A route's mapping and idempotency key, compiled (its condition and ordering key are the `Router`'s).
struct RouteProgram: Sendable {
    let plan: RoutePlan
    let lane: String
    let body: CompiledTemplate?
    let headers: [NamedTemplate]
    let query: [NamedTemplate]
    let path: [NamedTemplate]
    let idempotencyKey: JSONataExpression?
    /// A flow's steps, compiled; `nil` for a route's one call.
    let flow: FlowProgram?
    /// What a 2xx answer must also meet (`success_when`).
    let successWhen: JSONataExpression?
    /// A route's one call whose mapping takes time bounded by the event (every template and the key bounded, see
    /// `JSONataExpression.isBounded`): with a small event and no body schema it is mapped where the attempt runs.
    let mapsInBoundedTime: Bool

    init(_ route: RoutePlan, connector: String, resolver: ConfigResolver) throws {
        plan = route
        flow = route.isFlow ? try FlowProgram(route, connector: connector, resolver: resolver) : nil
        lane = DeliveryPlan.lane(connector: connector, target: route.target)
        body = try route.body.map { try CompiledTemplate($0, resolver: resolver) }
        headers = try route.headers.map { try NamedTemplate($0, resolver: resolver) }
        query = try route.query.map { try NamedTemplate($0, resolver: resolver) }
        path = try route.pathParameters.map { try NamedTemplate($0, resolver: resolver) }
        idempotencyKey = try route.idempotencyKey.map { try JSONataExpression($0.source) }
        successWhen = try route.successWhen.map { try JSONataExpression($0.source) }
        let templates = [body].compactMap { $0 } + (headers + query + path).flatMap { [$0.template] + [$0.shown].compactMap { $0 } }
        mapsInBoundedTime = flow == nil && templates.allSatisfy(\.isBounded) && (idempotencyKey?.isBounded ?? true)
    }
}

/// A flow's steps and failure steps, compiled: each call step's mapping as a route's, its condition and list.
struct FlowProgram: Sendable {
    let steps: [StepProgram]
    let onFailure: [StepProgram]
    /// Every target a step calls.
    let targets: Set<String>

    init(_ route: RoutePlan, connector: String, resolver: ConfigResolver) throws {
        steps = try route.steps.map { try StepProgram($0, connector: connector, resolver: resolver) }
        onFailure = try route.onFailure.map { try StepProgram($0, connector: connector, resolver: resolver) }
        targets = Set((route.steps + route.onFailure).compactMap(\.call?.target))
    }

    func steps(of handler: FlowProgress.Handler) -> [StepProgram] {
        handler == .steps ? steps : onFailure
    }
}

/// One step, compiled.
struct StepProgram: Sendable {
    let plan: StepPlan
    let call: RouteProgram?
    let condition: JSONataExpression?
    let forEach: JSONataExpression?
    let value: CompiledTemplate?

    init(_ step: StepPlan, connector: String, resolver: ConfigResolver) throws {
        plan = step
        call = try step.call.map { try RouteProgram($0, connector: connector, resolver: resolver) }
        condition = try step.condition.map { try JSONataExpression($0.source) }
        forEach = try step.forEach.map { try JSONataExpression($0.source) }
        value = try step.value.map { try CompiledTemplate($0, resolver: resolver) }
    }

    var machine: FlowMachine.Step {
        FlowMachine.Step(name: plan.name, target: plan.call?.target, hasCondition: condition != nil,
                         forEach: plan.forEach.map { _ in (plan.maxItems, plan.onElementFailure == .continue) })
    }
}

/// W3C trace context ids.
public enum TraceContext {
    /// 32 random hex digits.
    public static func newTraceID() -> String { randomHex(bytes: 16) }

    /// 16 random hex digits.
    public static func newSpanID() -> String { randomHex(bytes: 8) }

    /// The `traceparent` header of a call.
    public static func traceparent(traceID: String, spanID: String) -> String { "00-\(traceID)-\(spanID)-01" }

    /// The span id of an event's own span, the parent of its ingress span and of every attempt's span: derived from
    /// the trace id (FNV-1a), so that an attempt made after a restart, or a replay, joins the same tree.
    public static func eventSpanID(traceID: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in traceID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        if hash == 0 { hash = 1 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The context of an event's span, from which its ingress and attempt spans start.
    public static func eventContext(traceID: String) -> TraceParent {
        TraceParent(traceID: traceID, spanID: eventSpanID(traceID: traceID))
    }

    /// `bytes` (at most 16) random bytes as hex, from two numbers of the shared pool (`PooledRandom`), written
    /// straight into the string's storage.
    private static func randomHex(bytes: Int) -> String {
        precondition(bytes <= 16, "at most 16 random bytes")
        let (first, second) = PooledRandom.pair()
        return String(unsafeUninitializedCapacity: bytes * 2) { out in
            let digits: StaticString = "0123456789abcdef"
            for index in 0..<bytes {
                let word = index < 8 ? first : second
                let byte = UInt8(truncatingIfNeeded: word >> UInt64(8 * (index % 8)))
                out[2 * index] = digits.utf8Start[Int(byte >> 4)]
                out[2 * index + 1] = digits.utf8Start[Int(byte & 0x0F)]
            }
            return bytes * 2
        }
    }
}

extension RoutePlan {
    /// The expressions evaluated at delivery time: the templates of body, headers, query and path, and the
    /// idempotency key.
    var mappingExpressions: [ExpressionSource] {
        let templates: [Template] = (body.map { [$0] } ?? []) + (headers + query + pathParameters).map(\.value)
        let own = templates.flatMap(\.expressions) + (idempotencyKey.map { [$0] } ?? [])
        return own + (steps + onFailure).flatMap { step in
            (step.call?.mappingExpressions ?? []) + (step.value?.expressions ?? [])
                + [step.condition, step.forEach].compactMap { $0 }
        }
    }
}

/// The `$headers` binding expressions may read: the event's headers by lower-case name, bound only when some
/// expression reads it.
enum HeaderBindings {
    static func read(by expressions: [ExpressionSource]) -> Bool {
        expressions.contains { $0.source.contains("$headers") }
    }

    static func bindings(_ headers: [(name: String, value: String)]) -> [String: JSON] {
        ["headers": .object(JSONObject(headers.map { ($0.name.lowercased(), .string($0.value)) }))]
    }
}
