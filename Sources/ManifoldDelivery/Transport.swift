import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1

/// A call as it goes out.
public struct OutboundRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Which flow step makes the call (`route.step`), for tests' scripted answers; never sent.
    public var origin: String?

    public init(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8]?) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A vendor's answer; the body is cut at the transport's limit.
public struct InboundResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// Why no answer came back: transient failures, retried.
public enum TransportError: Error, CustomStringConvertible, Equatable {
    case timeout(Duration)
    case connection(String)
    /// The URL is not kept: resolved, it may hold a secret.
    case invalidURL

    public var description: String {
        switch self {
        case .timeout(let limit): "no answer within \(limit)"
        case .connection(let reason): "connection failed: \(reason)"
        case .invalidURL: "not a valid URL (see the request's URL)"
        }
    }
}

/// Sends calls. The engine uses AsyncHTTPClient; tests may use anything.
public protocol HTTPTransport: Sendable {
    func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse
}

/// Outbound HTTP on AsyncHTTPClient: pooled keep-alive connections, no redirects followed (a redirect is an
/// answer, classed like any other), a deadline per call. The lanes bound how many calls run at once (per target, per
/// endpoint); the pool's per-host limit is set far above them, so that it is never the bound: customers' endpoints
/// often share a host, and a slow one must not hold the connections another needs.
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient
    /// Bytes of a response body kept; the rest is read and dropped so the connection can be reused.
    public let bodyLimit: Int

    public init(maximumConnectionsPerHost: Int = 1024, bodyLimit: Int = 64 * 1024) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5))
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: maximumConnectionsPerHost)
        configuration.decompression = .enabled(limit: .ratio(20))
        // The runtime makes the attempt's span itself, with the URL as recorded (secrets as their references);
        // the client's own span would carry the resolved URL (`url.full`, `url.path`) with any secret in it.
        configuration.tracing.tracer = nil
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.bodyLimit = bodyLimit
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Sends `request` and reads the answer, all within `timeout`: connecting, the head, and the body (a vendor
    /// that sends its head and then stalls the body is cut off at the deadline, a transient failure).
    ///
    /// The answer is gathered on the connection's event loop (`KeptAnswer`) and handed to the caller once, when it is
    /// whole: the client's streaming interface hands over the request body and every part of the response through
    /// async sequences, each a hop between the event loop and the task.
    public func execute(_ request: OutboundRequest, timeout: Duration) async throws(TransportError) -> InboundResponse {
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count)
        for header in request.headers { headers.add(name: header.name, value: header.value) }
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        // The client's deadline bounds the whole exchange: it fails the call when the response has not ended by then.
        let deadline = NIODeadline.now() + .nanoseconds(nanoseconds)
        do {
            let outbound = try HTTPClient.Request(url: request.url, method: HTTPMethod(rawValue: request.method),
                                                  headers: headers, body: request.body.map { .bytes($0) })
            let task = client.execute(request: outbound, delegate: KeptAnswer(limit: bodyLimit), deadline: deadline)
            return try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
        } catch let error as HTTPClientError {
            if [HTTPClientError.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error) {
                throw .timeout(timeout)
            }
            if [HTTPClientError.invalidURL, .emptyHost, .emptyScheme].contains(error) {
                throw .invalidURL
            }
            throw .connection(String(describing: error))
        } catch {
            throw .connection(String(describing: error))
        }
    }
}

/// A vendor's answer as it arrives: the head, and the body up to `limit` bytes; the rest is read and dropped, so the
/// connection can be reused. The client calls it on the connection's event loop, one call after another, which is
/// what makes its state safe without a lock.
private final class KeptAnswer: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = InboundResponse
    private let limit: Int
    private var status = 0
    private var headers: [(name: String, value: String)] = []
    private var kept: [UInt8] = []

    init(limit: Int) {
        self.limit = limit
    }

    func didReceiveHead(task: HTTPClient.Task<InboundResponse>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status = Int(head.status.code)
        headers = head.headers.map { (name: $0.name, value: $0.value) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<InboundResponse>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        if kept.count < limit {
            kept.append(contentsOf: buffer.readableBytesView.prefix(limit - kept.count))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<InboundResponse>) throws -> InboundResponse {
        InboundResponse(status: status, headers: headers, body: kept)
    }
}
