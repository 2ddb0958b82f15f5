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
    /// What a 2xx answer (`status`, `headers`, `body`) must also meet to count as done; `nil`: any 2xx.
    public var successWhen: ExpressionSource?
    /// What the route is for, in a sentence (for the runbook).
    public var description: String?
    /// A flow: the steps run in order, each on its own target's lane, each result stored before the next starts.
    /// Empty for a route that makes one call (`target`, `operation`, `body`...). For a flow, `target` and
    /// `operation` are its first call step's (where its job starts).
    public var steps: [StepPlan] = []
    /// Steps that run when the flow ends dead-lettered or quarantined; they read `$failure` (step, element, reason,
    /// status) and the results of the steps that completed.
    public var onFailure: [StepPlan] = []

    /// Whether the route is a flow of steps rather than one call.
    public var isFlow: Bool { !steps.isEmpty }

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

/// One step of a route's flow (`steps:` or `on_failure:`): a call whose mapping reads the event and earlier steps'
/// results (`$steps.NAME`), or a transform that computes values once for later steps; optionally only `when` its
/// condition holds, and for a call optionally once per element of a list (`for_each`, at most `max_items`).
public struct StepPlan: Sendable, Hashable {
    /// What a failing element of a `for_each` does: end the flow (its dead letter holds every result so far), or
    /// dead-letter only itself and let the flow go on.
    public enum ElementFailure: String, Sendable, Hashable { case fail, `continue` }

    public var name: String
    public var condition: ExpressionSource?
    /// The call, as a route makes it (its name is the step's; its condition is `condition`); `nil` for a transform.
    public var call: RoutePlan?
    /// The value a transform step computes (`set:`).
    public var value: Template?
    /// The list whose elements make one call each; the mapping reads the element as `$item`, its position as `$index`.
    public var forEach: ExpressionSource?
    public var maxItems: Int
    public var onElementFailure: ElementFailure
    /// What the step is for, in a sentence (for the runbook).
    public var description: String?

    public init(name: String, condition: ExpressionSource?, call: RoutePlan?, value: Template?, forEach: ExpressionSource?,
                maxItems: Int, onElementFailure: ElementFailure)
    {
        self.name = name
        self.condition = condition
        self.call = call
        self.value = value
        self.forEach = forEach
        self.maxItems = maxItems
        self.onElementFailure = onElementFailure
    }

    /// The bound of a `for_each` when none is written is an error; this is the most the schema allows.
    public static let maximumItems = 10_000
}

extension StepPlan {
    /// The steps it reads (`$steps.NAME`), in the order they first appear.
    public var reads: [String] { Self.references(in: json.serialized()) }

    /// Every `$steps.NAME` (or `$steps.`NAME``) in an expression's or template's text.
    public static func references(in source: String) -> [String] {
        var names: [String] = []
        var rest = Substring(source)
        while let range = rest.range(of: "$steps.") {
            var name = ""
            var cursor = range.upperBound
            let quoted = cursor < rest.endIndex && rest[cursor] == "`"
            if quoted { cursor = rest.index(after: cursor) }
            while cursor < rest.endIndex {
                let character = rest[cursor]
                if quoted ? character == "`" : !(character.isLetter || character.isNumber || character == "_") { break }
                name.append(character)
                cursor = rest.index(after: cursor)
            }
            if !name.isEmpty, !names.contains(name) { names.append(name) }
            rest = rest[range.upperBound...]
        }
        return names
    }
}
