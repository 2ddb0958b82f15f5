public import Foundation
public import JSONValue
public import ManifoldPlan

/// What asking for one page came to.
public enum PageAnswer: Sendable {
    /// A 2xx with a JSON body: `url` is the request as recorded (secrets hidden).
    case page(body: JSON, headers: [(name: String, value: String)], url: String)
    /// 429: wait (the vendor's time when it gives one) and ask again; uses no attempt.
    case rateLimited(retryAfter: Duration?, url: String)
    /// 408, 5xx, a timeout, a connection error: ask again after a backoff, up to the target's `max_attempts`.
    case transient(reason: String, retryAfter: Duration?, url: String)
    /// Any other answer, or one that is not JSON: the run stops here (its place kept).
    case refused(reason: String, url: String)
}

extension DeliveryRuntime {
    /// Asks for one page of `connector`'s poll through its target: the target's base URL, auth and headers, the
    /// request's query and path values (reading the machine's `$cursor`, `$partition`...), the pagination's
    /// parameters or next URL, within the target's timeout and rate limit (shared with its deliveries).
    public func fetchPage(connector: String, fetch: PollMachine.Fetch) async -> PageAnswer {
        guard let plan, let program = plan.connectors[connector],
              let route = program.pollRequests[fetch.parent ? "partitions" : "poll"],
              let target = program.targets[route.plan.target]
        else { return .refused(reason: "the running plan has no poll for \(connector)", url: "") }
        let job = DeliveryJob(id: "poll", eventStoreID: "", connector: connector, route: route.plan.name, target: target.plan.name,
                              lane: target.lane, orderingKey: nil, traceID: "", planVersion: plan.version, pinsPlan: false,
                              vendorEventID: "", payload: fetch.bindings["partition"] ?? .object(JSONObject()), headers: [],
                              receivedAt: clock.wall, attempts: 0)
        var prepared: PreparedRequest
        do {
            prepared = try RequestBuilder.prepare(job: job, connector: program, route: route, now: Int64(clock.wall.timeIntervalSince1970),
                                                  extra: fetch.bindings, sendsKey: false)
        } catch {
            return .refused(reason: "the request cannot be made: \(error.description)", url: "")
        }
        if let next = fetch.url {
            // The next page's URL comes from the answer: resolved against the request, and only ever on the target's
            // own origin, so its credentials go nowhere else.
            guard let resolved = URL(string: next, relativeTo: URL(string: prepared.request.url))?.absoluteURL,
                  let base = URL(string: target.baseURL.value), resolved.scheme == base.scheme, resolved.host == base.host,
                  resolved.port == base.port
            else {
                return .refused(reason: "the next page's URL \(next) is not on the target's origin (\(target.baseURL.display)): not followed, the target's credentials stay with it", url: prepared.displayURL)
            }
            var url = resolved.absoluteString
            if case .query(let name, let value) = target.auth, !url.contains(PercentEncoding.component(name) + "=") {
                url += (url.contains("?") ? "&" : "?") + PercentEncoding.component(name) + "=" + PercentEncoding.component(value)
            }
            prepared.request.url = url
            prepared.displayURL = resolved.absoluteString
        }
        if !fetch.query.isEmpty {
            let separator = prepared.request.url.contains("?") ? "&" : "?"
            let text = fetch.query.map { PercentEncoding.component($0.name) + "=" + PercentEncoding.component($0.value) }.joined(separator: "&")
            prepared.request.url += separator + text
            prepared.displayURL += separator + text
        }
        // A target whose breaker is open (its deliveries keep failing) is not asked for pages either: the poll waits the
        // breaker's time and asks again, as a transient failure, up to the target's attempts.
        if lanes.withLock({ $0[target.lane] })?.status.breaker == "open" {
            return .transient(reason: "the target's circuit breaker is open (its calls keep failing)", retryAfter: target.plan.circuitBreaker.openFor,
                              url: prepared.displayURL)
        }
        // The target's rate limit, shared with its lane (and its pool): a poll waits its turn like a delivery.
        if let limiter = limiter(for: target) {
            while let free = limiter.acquire(at: clock.now) {
                try? await clock.sleep(until: free)
            }
        }
        if case .oauth2(let client) = target.auth {
            do {
                let token = try await client.token(transport: transport)
                prepared.request.headers.append(("Authorization", "Bearer " + token))
            } catch {
                return .transient(reason: "the OAuth token could not be fetched: \(error)", retryAfter: nil, url: prepared.displayURL)
            }
        }
        let response: InboundResponse
        do {
            response = try await transport.execute(prepared.request, timeout: target.plan.timeout)
        } catch {
            return .transient(reason: error.description, retryAfter: nil, url: prepared.displayURL)
        }
        switch AttemptOutcome.classify(response, now: clock.wall) {
        case .delivered:
            do {
                let body = response.body.isEmpty ? JSON.null : try JSONParser.parse(bytes: response.body)
                return .page(body: body, headers: response.headers, url: prepared.displayURL)
            } catch {
                return .refused(reason: "the answer (\(response.status)) is not JSON: \(error)", url: prepared.displayURL)
            }
        case .rateLimited(let retryAfter):
            return .rateLimited(retryAfter: retryAfter, url: prepared.displayURL)
        case .transient(_, let retryAfter, let reason):
            return .transient(reason: reason, retryAfter: retryAfter, url: prepared.displayURL)
        case .permanent(_, let reason), .badData(let reason):
            return .refused(reason: reason, url: prepared.displayURL)
        }
    }

    /// The retry policy of the target a poll's request calls.
    public func pollRetryPolicy(connector: String, parent: Bool) -> RetryPolicy {
        guard let program = plan?.connectors[connector], let route = program.pollRequests[parent ? "partitions" : "poll"],
              let target = program.targets[route.plan.target]
        else { return .defaults }
        return target.plan.retry
    }
}
