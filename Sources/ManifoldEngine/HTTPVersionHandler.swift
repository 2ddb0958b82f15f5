import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Answers each request in its own HTTP version, and keeps the connection only when the client asked to: an
/// HTTP/1.0 client gets an HTTP/1.0 answer and a closed connection unless it sent `Connection: keep-alive`, and an
/// HTTP/1.1 client that sent `Connection: close` gets it closed after its answer. (The HTTP types the server speaks
/// have no version: without this every answer said HTTP/1.1 and every connection stayed open.)
final class HTTPVersionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The version and keep-alive wish of each request not answered yet, oldest first.
    private var requests: [(version: HTTPVersion, keepAlive: Bool)] = []
    private var closeAfterAnswer = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            requests.append((head.version, head.isKeepAlive))
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            let request = requests.isEmpty ? (version: HTTPVersion.http1_1, keepAlive: true) : requests.removeFirst()
            if request.version.major == 1, request.version.minor == 0 {
                head.version = .http1_0
                if request.keepAlive { head.headers.replaceOrAdd(name: "connection", value: "keep-alive") }
            }
            if !request.keepAlive {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            }
            closeAfterAnswer = !request.keepAlive || head.headers["connection"].contains { $0.lowercased() == "close" }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body, .end:
            let isEnd = if case .end = unwrapOutboundIn(data) { true } else { false }
            context.write(data, promise: promise)
            if isEnd, closeAfterAnswer {
                closeAfterAnswer = false
                context.flush()
                context.close(promise: nil)
            }
        }
    }
}

/// Bounds the time a request's body may take to arrive, on the event loop: one timer per request, scheduled at its
/// head and cancelled at its end (a task racing each body cost a task and a dispatch timer per request). When it
/// fires, the client gets 408 and the connection closes.
final class BodyTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// Whether an answer to the current request has begun (then the timer only closes).
    private var answering = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            answering = false
            timer?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: timeout) { [weak self] in self?.expired(loopBound.value) }
        case .end:
            timer?.cancel()
            timer = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head = unwrapOutboundIn(data) { answering = true }
        context.write(data, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    private func expired(_ context: ChannelHandlerContext) {
        timer = nil
        guard !answering else { return context.close(promise: nil) }
        answering = true
        let body = ByteBuffer(string: #"{"error":"body_timeout","message":"the body did not arrive in time"}"# + "\n")
        var head = HTTPResponseHead(version: .http1_1, status: .requestTimeout)
        head.headers.add(name: "content-type", value: "application/json")
        head.headers.add(name: "content-length", value: String(body.readableBytes))
        head.headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}

/// Hummingbird's HTTP/1 channel with `HTTPVersionHandler` and `BodyTimeoutHandler` between the HTTP/1 coder and
/// the HTTP types.
struct EngineHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let bodyTimeout: TimeAmount

    var responder: HTTPChannelHandler.Responder { inner.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // Right after the HTTP/1 decoder: it sees requests with their version, and answers before the encoder.
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let version = HTTPVersionHandler()
            try channel.pipeline.syncOperations.addHandler(version, position: .after(decoder))
            try channel.pipeline.syncOperations.addHandler(BodyTimeoutHandler(timeout: bodyTimeout), position: .after(version))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
