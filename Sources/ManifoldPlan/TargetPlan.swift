/// A third-party API and the policies of its lane, with defaults filled in.
public struct TargetPlan: Sendable, Hashable {
    public var name: String
    public var baseURL: ConfigString
    public var allowInsecure: Bool
    public var auth: AuthMethod
    public var timeout: Duration
    public var concurrency: Int
    public var rateLimit: RateLimit?
    public var retry: RetryPolicy
    public var circuitBreaker: CircuitBreakerPolicy
    /// Headers sent with every call, by name.
    public var headers: [Header]
    public var signing: OutboundSigning?
    /// Operations ordered by name.
    public var operations: [OperationPlan]
    /// A target whose endpoints are customers' own, registered at runtime (`manifold endpoints`): each call goes to
    /// every endpoint of the event's tenant that takes its type, signed with that endpoint's secrets.
    public var endpoints: EndpointsSettings?
    /// What the API is, in a sentence (for the runbook).
    public var description: String?

    public init(name: String, baseURL: ConfigString, allowInsecure: Bool, auth: AuthMethod, timeout: Duration,
                concurrency: Int, rateLimit: RateLimit?, retry: RetryPolicy, circuitBreaker: CircuitBreakerPolicy,
                headers: [Header], signing: OutboundSigning?, operations: [OperationPlan])
    {
        self.name = name
        self.baseURL = baseURL
        self.allowInsecure = allowInsecure
        self.auth = auth
        self.timeout = timeout
        self.concurrency = concurrency
        self.rateLimit = rateLimit
        self.retry = retry
        self.circuitBreaker = circuitBreaker
        self.headers = headers
        self.signing = signing
        self.operations = operations.sorted { $0.name < $1.name }
    }

    /// The one operation of an endpoints target: POST to each endpoint's URL.
    public static let endpointsOperation = "send"

    /// The operation named `name`.
    public func operation(named name: String) -> OperationPlan? {
        operations.first { $0.name == name }
    }

    /// The longest a delivery to this target may keep trying: every attempt timing out, every wait at
    /// its cap, bounded by `max_elapsed`.
    public var worstCaseRetryBudget: Duration {
        retry.worstCaseBudget(timeout: timeout)
    }
}

/// A header or query parameter: a name and a templated value.
public struct Header: Sendable, Hashable {
    public var name: String
    public var value: Template

    public init(name: String, value: Template) {
        self.name = name
        self.value = value
    }
}

/// How calls to a target authenticate.
public enum AuthMethod: Sendable, Hashable {
    case none
    case apiKey(placement: APIKeyPlacement, value: ConfigString)
    case bearer(token: ConfigString)
    case basic(username: ConfigString, password: ConfigString)
    case oauth2(OAuth2Settings)

    /// Where an API key travels.
    public enum APIKeyPlacement: Sendable, Hashable {
        case header(String)
        case query(String)
    }

    /// The method's name as the connector file writes it.
    public var kind: String {
        switch self {
        case .none: "none"
        case .apiKey: "api_key"
        case .bearer: "bearer"
        case .basic: "basic"
        case .oauth2: "oauth2"
        }
    }
}

/// OAuth 2.0 settings: client credentials, or a refresh token.
public struct OAuth2Settings: Sendable, Hashable {
    public enum Grant: String, Sendable, Hashable {
        case clientCredentials = "client_credentials"
        case refreshToken = "refresh_token"
    }

    public var grant: Grant
    public var tokenURL: ConfigString
    public var clientID: ConfigString
    public var clientSecret: ConfigString
    public var refreshToken: ConfigString?
    public var scope: String?
    public var audience: String?

    public init(grant: Grant, tokenURL: ConfigString, clientID: ConfigString, clientSecret: ConfigString,
                refreshToken: ConfigString?, scope: String?, audience: String?)
    {
        self.grant = grant
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
        self.scope = scope
        self.audience = audience
    }
}

/// Never more than `requests` calls in any window of length `per`.
public struct RateLimit: Sendable, Hashable {
    public var requests: Int
    public var per: Duration
    /// A pool shared by every connector that names it.
    public var pool: String?

    public init(requests: Int, per: Duration, pool: String?) {
        self.requests = requests
        self.per = per
        self.pool = pool
    }
}

/// How transient failures are retried.
public struct RetryPolicy: Sendable, Hashable {
    public enum Jitter: String, Sendable, Hashable { case full, equal, none }

    public var maxAttempts: Int
    public var maxElapsed: Duration
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var multiplier: Double
    public var jitter: Jitter
    /// The waits before the second, third, ... attempt, when given instead of an exponential backoff (no jitter).
    public var schedule: [Duration]?

    /// Svix's schedule, the default of endpoints targets: at once, then 5s, 5m, 30m, 2h, 5h, 10h, 10h.
    public static let endpointsSchedule: [Duration] = [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200),
                                                       .seconds(18_000), .seconds(36_000), .seconds(36_000)]

    public static let defaults = RetryPolicy(maxAttempts: 8, maxElapsed: .seconds(86_400), initialBackoff: .seconds(1),
                                             maxBackoff: .seconds(600), multiplier: 2, jitter: .full)

    public init(maxAttempts: Int, maxElapsed: Duration, initialBackoff: Duration, maxBackoff: Duration,
                multiplier: Double, jitter: Jitter)
    {
        self.maxAttempts = maxAttempts
        self.maxElapsed = maxElapsed
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The longest wait before attempt `attempt + 1` (jitter only shortens it): initial × multiplier^(attempt−1), capped.
    public func maximumWait(after attempt: Int) -> Duration {
        if let schedule, !schedule.isEmpty { return schedule[min(max(1, attempt), schedule.count) - 1] }
        let initial = Double(initialBackoff.milliseconds)
        let wait = initial * pow(multiplier, Double(attempt - 1))
        let capped = min(wait, Double(maxBackoff.milliseconds))
        return .milliseconds(Int64(capped))
    }

    /// The worst-case time from the first attempt to giving up, when every attempt takes `timeout`.
    public func worstCaseBudget(timeout: Duration) -> Duration {
        min(timeForAllAttempts(timeout: timeout), maxElapsed)
    }

    /// How long every attempt (each taking `timeout`) and every wait between them would take, were `max_elapsed`
    /// not there: more than `max_elapsed` means the last attempts never happen.
    public func timeForAllAttempts(timeout: Duration) -> Duration {
        var total: Duration = .zero
        for attempt in 1...maxAttempts {
            total += timeout
            if attempt < maxAttempts { total += maximumWait(after: attempt) }
        }
        return total
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(exponent) { result *= base; if result > 1e15 { break } }
        return result
    }
}

/// An endpoints target's settings: whose endpoints an event goes to, and how failing endpoints are handled.
public struct EndpointsSettings: Sendable, Hashable {
    /// The tenant (customer) whose endpoints receive the event.
    public var tenant: ExpressionSource
    /// The event's type, matched against each endpoint's filter.
    public var eventType: ExpressionSource?
    /// An endpoint whose every attempt failed for this long is disabled.
    public var autoDisableAfter: Duration
    /// Endpoints may be on private networks (loopback, 10.x, ...): for tests and internal receivers only.
    public var allowPrivateNetworks: Bool
    /// Plain http endpoints are accepted.
    public var allowInsecure: Bool

    public init(tenant: ExpressionSource, eventType: ExpressionSource?, autoDisableAfter: Duration,
                allowPrivateNetworks: Bool, allowInsecure: Bool)
    {
        self.tenant = tenant
        self.eventType = eventType
        self.autoDisableAfter = autoDisableAfter
        self.allowPrivateNetworks = allowPrivateNetworks
        self.allowInsecure = allowInsecure
    }
}

/// When a target's lane stops calling it.
public struct CircuitBreakerPolicy: Sendable, Hashable {
    public var failures: Int
    public var openFor: Duration

    public static let defaults = CircuitBreakerPolicy(failures: 5, openFor: .seconds(30))

    public init(failures: Int, openFor: Duration) {
        self.failures = failures
        self.openFor = openFor
    }
}

/// Signing of outgoing calls, for receivers that verify them: each attempt is signed anew over the bytes sent.
public struct OutboundSigning: Sendable, Hashable {
    /// `standardWebhooks`, `stripe` or `hmac`.
    public var scheme: SignatureScheme
    /// The signing secrets: every one signs where the scheme's header can carry several signatures (a rotation).
    public var secrets: [ConfigString]
    /// The generic `hmac` scheme's settings.
    public var hmac: HMACSettings?

    /// The schemes a target can sign with.
    public static let schemes: [SignatureScheme] = [.standardWebhooks, .stripe, .hmac]

    public init(scheme: SignatureScheme, secrets: [ConfigString], hmac: HMACSettings?) {
        self.scheme = scheme
        self.secrets = secrets
        self.hmac = hmac
    }

    /// The same scheme read as a receiver would: what signs a call is what verifies it.
    public var verification: Verification {
        Verification(scheme: scheme, secrets: secrets, tolerance: scheme.signsTimestamp || hmac?.timestampHeader != nil ? .seconds(300) : nil,
                     publicURL: nil, idHeader: nil, hmac: hmac)
    }
}
