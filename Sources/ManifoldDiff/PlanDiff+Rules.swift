import JSONValue
import ManifoldPlan

/// How much each kind of change matters, and what it does, in a reviewer's words.
///
/// `breaking`: a route or connector removed, a webhook path moved, deliveries sent to another host or target, the
/// auth method changed. `risky`: verification weakened or removed, retries lowered, a timeout raised past the retry
/// budget, a rate limit raised or removed, plain http allowed, credentials or de-duplication keys changed.
/// Everything else is `safe`.
enum Rules {
    /// Target settings compared whole: one line for "auth changed", not one per member.
    static let targetUnits: Set<String> = ["auth", "rate_limit", "sign"]
    /// Webhook settings compared whole: a contract or a handshake changed is one line.
    static let webhookUnits: Set<String> = ["payload_schema", "payload_schemas", "handshake"]

    /// A pull source's settings (`poll.cursor.field`, `files.directory`, ...).
    static func pull(_ field: String) -> (PlanChange.Severity, String) {
        let leaf = field.split(separator: ".").dropFirst().joined(separator: ".")
        switch leaf {
        case "event_id":
            return (.breaking, "records get other event ids: every record already stored is read again as a new event")
        case _ where leaf.hasPrefix("cursor.field") || leaf.hasPrefix("cursor.type") || leaf.hasPrefix("cursor.format"):
            return (.breaking, "the kept cursor was written for the old field: records may be skipped or read again; reset the poll (manifold poll reset) if so")
        case "cursor.start":
            return (.safe, "applies only to a poll without a kept cursor (new, or after manifold poll reset)")
        case _ where leaf.hasPrefix("cursor"):
            return (.risky, "changes which records each run asks for")
        case "records", "directory", "format", "call":
            return (.risky, "changes what is read: check the test cases' events")
        case _ where leaf.hasPrefix("schedule") || leaf == "every" || leaf == "settle" || leaf == "max_pages":
            return (.safe, "changes when or how much it reads, not what")
        case _ where leaf.hasPrefix("paginate") || leaf.hasPrefix("partitions"):
            return (.risky, "changes how pages are read: a wrong stop reads too little, and a run stops with an error when a page repeats")
        default:
            return (.risky, "changes what is read or the events made of it")
        }
    }

    static func webhook(_ field: String, _ old: WebhookSource, _ new: WebhookSource) -> (PlanChange.Severity, String) {
        switch field {
        case "path":
            return (.breaking, "the vendor still posts to the old path, which will answer 404")
        case "verify.scheme":
            if new.verification.scheme == .none { return (.risky, "verification removed: unsigned requests are accepted") }
            if old.verification.scheme == .none { return (.risky, "requests are now refused unless signed with \(new.verification.scheme.rawValue)") }
            return (.risky, "the vendor must sign with the new scheme, or every request is refused")
        case "verify.secrets":
            let removed = Set(old.verification.secrets).subtracting(new.verification.secrets)
            return removed.isEmpty ? (.safe, "another accepted secret (a rotation)")
                : (.risky, "requests signed with a removed secret are refused")
        case "verify.public_keys":
            let removed = Set(old.verification.publicKeys).subtracting(new.verification.publicKeys)
            return removed.isEmpty ? (.safe, "another accepted public key (a rotation)")
                : (.risky, "requests signed with a removed key's private key are refused")
        case "verify.tolerance":
            let before = old.verification.tolerance ?? .zero, after = new.verification.tolerance ?? .zero
            return after > before || new.verification.tolerance == nil && old.verification.tolerance != nil
                ? (.risky, "older signed requests are accepted: a wider replay window")
                : (.safe, "a narrower replay window")
        case "verify.id_header":
            return (.risky, "redeliveries are recognised by another header: one arriving across the change is stored twice")
        case "event_id":
            return (.risky, "events are de-duplicated by another key: a redelivery across the change is stored twice")
        case "event_type":
            return (.safe, "events are typed by another expression")
        case "split":
            if new.split == nil { return (.risky, "a batch request is stored as one event: its routes see the whole batch") }
            if old.split == nil { return (.risky, "each element of a request becomes an event of its own: routes see elements, not the whole body") }
            return (.risky, "events are taken from batch requests differently: a batch redelivered across the change may be stored again")
        case "payload_schema", "payload_schemas":
            return (.risky, "events are checked against another contract: those that break it are quarantined, not delivered")
        case "handshake":
            return (.risky, "the vendor's endpoint check is answered differently: a wrong answer disables the vendor's subscription")
        case "max_body_bytes":
            return new.maxBodyBytes < old.maxBodyBytes ? (.risky, "larger bodies are refused (413)") : (.safe, "larger bodies are accepted")
        case "allow_ips":
            return new.allowedNetworks.isEmpty ? (.risky, "any address may post") : (.risky, "requests from other networks are refused")
        case "content_types":
            return Set(old.contentTypes).isSubset(of: new.contentTypes) ? (.safe, "another body format is accepted")
                : (.risky, "bodies of a removed format are refused (415)")
        default:
            // The rest of `verify`: algorithm, encoding, headers, signed string, public URL.
            if field == "verify.hmac.algorithm", new.verification.hmac?.algorithm == .sha1 {
                return (.risky, "verification weakened: SHA-1")
            }
            return (.risky, "signatures are checked differently: the vendor's must match")
        }
    }

    static func target(_ field: String, _ old: TargetPlan, _ new: TargetPlan) -> (PlanChange.Severity, String) {
        switch field {
        case "base_url":
            let before = Endpoint(old.baseURL.description), after = Endpoint(new.baseURL.description)
            if before.host != after.host { return (.breaking, "deliveries go to another host") }
            if before.scheme == "https", after.scheme == "http" { return (.risky, "calls travel unencrypted (http)") }
            return (.risky, "calls go to another base path")
        case "allow_insecure":
            return new.allowInsecure ? (.risky, "plain http is allowed for this target") : (.safe, "plain http is refused again")
        case "auth":
            return old.auth.kind != new.auth.kind ? (.breaking, "the vendor must accept the new auth method")
                : (.risky, "calls authenticate with other credentials")
        case "timeout":
            guard new.timeout > old.timeout else { return (.safe, "slow answers time out sooner and are retried") }
            let fits = { (target: TargetPlan) in target.retry.timeForAllAttempts(timeout: target.timeout) <= target.retry.maxElapsed }
            return fits(new) || !fits(old)
                ? (.safe, "slower answers are waited for")
                : (.risky, "the timeout is past the retry budget: not every attempt fits in max_elapsed")
        case "concurrency":
            return (.safe, new.concurrency > old.concurrency ? "more calls in parallel" : "fewer calls in parallel")
        case "rate_limit":
            guard let after = new.rateLimit else { return (.risky, "no rate limit: the vendor's own limit will refuse calls") }
            guard let before = old.rateLimit else { return (.safe, "calls are rate-limited") }
            if before.pool != after.pool { return (.risky, "the limit is shared with other connectors differently") }
            return after.perSecond > before.perSecond ? (.risky, "rate limit raised: the vendor may answer 429 or block the client")
                : (.safe, "rate limit lowered")
        case "retry.max_attempts":
            return new.retry.maxAttempts < old.retry.maxAttempts ? (.risky, "retries lowered: fewer attempts before a dead letter")
                : (.safe, "more attempts before a dead letter")
        case "retry.max_elapsed":
            return new.retry.maxElapsed < old.retry.maxElapsed ? (.risky, "deliveries give up sooner")
                : (.safe, "deliveries keep trying longer")
        case "retry_budget":
            return new.worstCaseRetryBudget < old.worstCaseRetryBudget
                ? (.risky, "a failing vendor is retried for less time before a dead letter")
                : (.safe, "a failing vendor is retried for longer")
        case "sign":
            if new.signing == nil { return (.risky, "calls are no longer signed") }
            return old.signing == nil ? (.safe, "calls are signed") : (.risky, "calls are signed differently")
        default:
            if field.hasPrefix("retry.backoff.") { return (.safe, "retries are spaced differently") }
            if field.hasPrefix("circuit_breaker.") { return (.safe, "the circuit breaker opens differently") }
            if field.hasPrefix("headers.") { return (.safe, "a header sent with every call") }
            return (.safe, "the target is called differently")
        }
    }

    static func operation(_ field: String) -> (PlanChange.Severity, String) {
        switch field {
        case "method": (.risky, "the operation is called with another method")
        case "path": (.risky, "calls go to another endpoint")
        case "body_schema": (.safe, "request bodies are checked against another schema")
        default: (.safe, "the operation sends other fixed values")
        }
    }

    static func route(_ field: String, _ old: RoutePlan, _ new: RoutePlan) -> (PlanChange.Severity, String) {
        switch field {
        case "when":
            return (.safe, "another set of events matches")
        case "call":
            return old.target != new.target ? (.breaking, "matching events go to another target")
                : (.risky, "matching events call another operation")
        case "idempotency_key":
            return (.risky, "the vendor cannot recognise a retry across the change as a duplicate")
        case "ordering_key":
            return (.safe, "deliveries are ordered by another key")
        default:
            return (.safe, "the request is mapped differently")
        }
    }

    /// A setting's value as a reviewer reads it; a secret written inline is never shown.
    static func display(_ field: String, _ value: JSON?) -> String? {
        guard let value else { return field == "when" ? "always" : nil }
        switch field {
        case "rate_limit":
            let requests = value["requests"]?.numberValue.map { String(Int($0)) } ?? "?"
            let pool = value["pool"]?.stringValue.map { " (pool \($0))" } ?? ""
            return "\(requests) per \(value["per"]?.stringValue ?? "?")\(pool)"
        case "auth", "sign", "verify.secrets":
            return text(masked(value))
        default:
            return text(value)
        }
    }

    /// Credentials as `${env:NAME}` references are shown; one written inline becomes `[inline secret]`.
    private static func masked(_ value: JSON) -> JSON {
        switch value {
        case .object(let object):
            return .object(JSONObject(object.map { key, member in
                let secretMember = ["value", "token", "password", "client_secret", "refresh_token", "secret"].contains(key)
                return (key, secretMember ? maskedSecret(member) : masked(member))
            }))
        case .array(let items):
            return .array(items.map(maskedSecret))
        default:
            return value
        }
    }

    private static func maskedSecret(_ value: JSON) -> JSON {
        guard let text = value.stringValue else { return value }
        return text.contains("${env:") || text.contains("${file:") ? value : "[inline secret]"
    }

    private static func text(_ value: JSON) -> String {
        switch value {
        case .string(let text): text
        case .array(let items): items.map(text).joined(separator: ", ")
        case .object(let object) where object.count == 1 && object.keys[0] != "requests":
            // `{"bearer": {"token": ...}}` reads as `bearer token=...`.
            "\(object.keys[0]) " + (object[object.keys[0]].map { member in
                if case .object(let inner) = member {
                    inner.map { "\($0.key)=\(text($0.value))" }.joined(separator: " ")
                } else { text(member) }
            } ?? "")
        case .object(let object): object.map { "\($0.key)=\(text($0.value))" }.joined(separator: " ")
        default: value.serialized()
        }
    }
}

/// The scheme and host of a base URL as written (`${env:HOST}` stays a reference).
struct Endpoint {
    var scheme: String
    var host: String

    init(_ url: String) {
        var rest = Substring(url)
        if let separator = url.firstRange(of: "://") {
            scheme = url[..<separator.lowerBound].lowercased()
            rest = url[separator.upperBound...]
        } else {
            scheme = ""
        }
        host = String(rest.prefix { $0 != "/" && $0 != "?" }).lowercased()
    }
}

extension RateLimit {
    /// Calls per second, to compare limits written over different windows.
    var perSecond: Double { Double(requests) / max(0.001, Double(per.milliseconds) / 1000) }
}
