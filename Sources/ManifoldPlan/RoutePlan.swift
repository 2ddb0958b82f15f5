/// A route: when its condition holds, call one target operation with a templated request.
public struct RoutePlan: Sendable, Hashable {
    public var name: String
    /// The condition; `nil` means always.
    public var condition: ExpressionSource?
    public var target: String
    public var operation: String
    public var body: Template?
    public var headers: [Header]
    public var query: [Header]
    public var pathParameters: [Header]
    /// The idempotency key expression; `nil` means the event id and the route name.
    public var idempotencyKey: ExpressionSource?
    /// Jobs with the same key are delivered in order, one at a time; `nil` means no ordering.
    public var orderingKey: ExpressionSource?
    /// What the route is for, in a sentence (for the runbook).
    public var description: String?

    public init(name: String, condition: ExpressionSource?, target: String, operation: String, body: Template?,
                headers: [Header], query: [Header], pathParameters: [Header], idempotencyKey: ExpressionSource?, orderingKey: ExpressionSource? = nil)
    {
        self.name = name
        self.condition = condition
        self.target = target
        self.operation = operation
        self.body = body
        self.headers = headers
        self.query = query
        self.pathParameters = pathParameters
        self.idempotencyKey = idempotencyKey
        self.orderingKey = orderingKey
    }

    /// `target.operation`.
    public var call: String { "\(target).\(operation)" }
}
