import Foundation
import ManifoldDelivery
import ManifoldIngress
import ManifoldPlan
import Synchronization

/// The network of a connector test: each target answers from its script, in order (then 200 `{}`), and an OAuth
/// token endpoint hands out a test token. Nothing leaves the process.
final class ScriptedTransport: HTTPTransport {
    private let targets: [(prefix: String, name: String)]
    private let tokenURLs: Set<String>
    private let scripts: Mutex<[String: [ConnectorTestSuite.ScriptedResponse]]>
    private let clock: any RuntimeClock
    private let sentRequests = Mutex<[Sent]>([])

    /// A call as it reached the network, exactly (unredacted), at the virtual time it was made.
    struct Sent: Sendable {
        var target: String
        var request: OutboundRequest
        var at: Date
    }

    /// Every call made so far, in order.
    var sent: [Sent] { sentRequests.withLock { $0 } }

    /// `connector`'s targets with their base URLs resolved (the longest prefix names the target).
    /// Customers' endpoints answer at `https://NAME.endpoints.test/` from the script of their name.
    init(connector: ConnectorPlan, resolver: ConfigResolver, scripts: [String: [ConnectorTestSuite.ScriptedResponse]],
         clock: any RuntimeClock, endpoints: [String] = [])
    {
        var targets: [(String, String)] = endpoints.map { (ConnectorTestRunner.endpointURL($0), $0) }
        var tokens: Set<String> = []
        for target in connector.targets {
            if let base = try? resolver.resolve(target.baseURL) { targets.append((base, target.name)) }
            if case .oauth2(let settings) = target.auth, let url = try? resolver.resolve(settings.tokenURL) { tokens.insert(url) }
        }
        self.targets = targets.sorted { $0.0.count > $1.0.count }
        tokenURLs = tokens
        self.scripts = Mutex(scripts)
        self.clock = clock
    }

    func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse {
        if tokenURLs.contains(request.url) {
            return InboundResponse(status: 200, headers: [("Content-Type", "application/json")],
                                   body: Array(#"{"access_token":"manifold-test-token","token_type":"bearer","expires_in":3600}"#.utf8))
        }
        guard let target = targets.first(where: { request.url.hasPrefix($0.prefix) })?.name else {
            throw .connection("no target of the connector has this URL (\(request.url)); a test calls nothing else")
        }
        let at = clock.wall
        sentRequests.withLock { $0.append(Sent(target: target, request: request, at: at)) }
        let next = scripts.withLock { scripts -> ConnectorTestSuite.ScriptedResponse? in
            // A flow step's own script (`route.step`) first, then its target's.
            for key in [request.origin, target].compactMap({ $0 }) {
                guard var list = scripts[key], !list.isEmpty else { continue }
                let first = list.removeFirst()
                scripts[key] = list
                return first
            }
            return nil
        }
        switch next {
        case nil:
            return InboundResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
        case .answer(let status, let headers, let body)?:
            return InboundResponse(status: status, headers: headers, body: body)
        case .timeout?:
            throw .timeout(timeout)
        case .connectionError(let reason)?:
            throw .connection(reason)
        }
    }
}

/// Time that jumps ahead to whatever is awaited: a backoff of minutes, a breaker open for a while or a Retry-After
/// pass at once, in order, so a case with eight attempts takes milliseconds and runs the same way every time.
final class VirtualClock: RuntimeClock {
    private let current = Mutex<Duration>(.zero)
    private let origin: Date

    /// `origin` is the wall time at its start (a pull's case starts where it says).
    init(origin: Date = Date()) {
        self.origin = origin
    }

    var now: Duration { current.withLock { $0 } }

    var wall: Date { origin.addingTimeInterval(Double(now.milliseconds) / 1000) }

    func sleep(until deadline: Duration) async throws {
        current.withLock { $0 = max($0, deadline) }
        await Task.yield()
    }
}
