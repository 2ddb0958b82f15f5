import Foundation
public import Tracing
import Synchronization

/// A W3C trace context (`traceparent`): a trace id, the span id of the caller, and whether it is sampled.
public struct TraceParent: Sendable, Equatable, CustomStringConvertible {
    public var traceID: String
    public var spanID: String
    public var sampled: Bool

    public init(traceID: String, spanID: String, sampled: Bool = true) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
    }

    /// Parses a `traceparent` header (version 00, or a later version read as 00); nil when malformed or all zeros.
    public init?(header: String) {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16,
              parts[3].count == 2, parts[0] != "00" || parts.count == 4,
              parts.prefix(4).allSatisfy({ $0.allSatisfy(\.isLowercaseHexDigit) }),
              parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" }),
              let flags = UInt8(parts[3], radix: 16)
        else { return nil }
        self.init(traceID: String(parts[1]), spanID: String(parts[2]), sampled: flags & 1 == 1)
    }

    public var description: String { "00-\(traceID)-\(spanID)-\(sampled ? "01" : "00")" }

    /// The `traceparent` among header pairs (names compared without case), when it is valid.
    public init?(headers: [(name: String, value: String)]) {
        guard let header = HeaderPairsExtractor().extract(key: "traceparent", from: headers) else { return nil }
        self.init(header: header)
    }

    /// Starts a span of `tracer` as a child of this context. The context goes through the tracer's own extraction,
    /// so that any W3C-propagating tracer (this one, swift-otel) places the span in this trace.
    public func startSpan(_ name: String, ofKind kind: SpanKind, with tracer: any Tracer) -> any Span {
        var context = InstrumentationContext.topLevel
        tracer.extract([("traceparent", description)], into: &context, using: HeaderPairsExtractor())
        return tracer.startSpan(name, context: context, ofKind: kind)
    }
}

extension Character {
    fileprivate var isLowercaseHexDigit: Bool { ("0"..."9").contains(self) || ("a"..."f").contains(self) }
}

/// A span as it ended, for whoever records spans (a log, a test).
public struct FinishedSpan: Sendable {
    public var name: String
    public var kind: SpanKind
    public var traceID: String
    public var spanID: String
    public var parentSpanID: String?
    public var startNanoseconds: UInt64
    public var endNanoseconds: UInt64
    public var attributes: [String: String]
    /// nil when no status was set; otherwise ok or error with its message.
    public var status: SpanStatus?

    public var durationMilliseconds: Double { Double(endNanoseconds &- startNanoseconds) / 1_000_000 }
}

/// A tracer that speaks W3C trace context (`traceparent` in and out) and hands each finished span to `onEnd`.
/// `manifold run` uses it when no other tracer is bootstrapped, logging spans at debug level; an OpenTelemetry
/// tracer (swift-otel) can replace it through `InstrumentationSystem.bootstrap`, since the engine only asks for
/// `any Tracer`.
public final class W3CTracer: Tracer, Sendable {
    public typealias Span = W3CSpan
    private let onEnd: @Sendable (FinishedSpan) -> Void

    public init(onEnd: @escaping @Sendable (FinishedSpan) -> Void) {
        self.onEnd = onEnd
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> W3CSpan {
        var context = context()
        let parent = context.traceParent
        let own = TraceParent(traceID: parent?.traceID ?? TraceContext.newTraceID(), spanID: TraceContext.newSpanID(),
                              sampled: parent?.sampled ?? true)
        context.traceParent = own
        return W3CSpan(name: operationName, kind: kind, context: context, parentSpanID: parent?.spanID,
                       start: instant().nanosecondsSinceEpoch, onEnd: onEnd)
    }

    public func forceFlush() {}

    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext,
                                                     using extractor: Extract) where Extract.Carrier == Carrier
    {
        if let header = extractor.extract(key: "traceparent", from: carrier), let parent = TraceParent(header: header) {
            context.traceParent = parent
        }
    }

    public func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier,
                                                  using injector: Inject) where Inject.Carrier == Carrier
    {
        if let own = context.traceParent { injector.inject(own.description, forKey: "traceparent", into: &carrier) }
    }
}

/// A span of the `W3CTracer`.
public final class W3CSpan: Tracing.Span, Sendable {
    public let context: InstrumentationContext
    public let kind: SpanKind
    private let parentSpanID: String?
    private let start: UInt64
    private let onEnd: @Sendable (FinishedSpan) -> Void
    private struct State {
        var name: String
        var attributes = SpanAttributes()
        var status: SpanStatus?
        var ended = false
    }
    private let state: Mutex<State>

    init(name: String, kind: SpanKind, context: InstrumentationContext, parentSpanID: String?, start: UInt64,
         onEnd: @escaping @Sendable (FinishedSpan) -> Void)
    {
        self.context = context
        self.kind = kind
        self.parentSpanID = parentSpanID
        self.start = start
        self.onEnd = onEnd
        state = Mutex(State(name: name))
    }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public var isRecording: Bool { state.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }
    public func addEvent(_ event: SpanEvent) {}
    public func addLink(_ link: SpanLink) {}

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes,
                                                    at instant: @autoclosure () -> Instant)
    {
        state.withLock { $0.status = SpanStatus(code: .error, message: "\(error)") }
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let ended = instant().nanosecondsSinceEpoch
        let finished: FinishedSpan? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            var attributes: [String: String] = [:]
            state.attributes.forEach { key, value in attributes[key] = Self.text(value) }
            let own = context.traceParent
            return FinishedSpan(name: state.name, kind: kind, traceID: own?.traceID ?? "", spanID: own?.spanID ?? "",
                                parentSpanID: parentSpanID, startNanoseconds: start, endNanoseconds: ended,
                                attributes: attributes, status: state.status)
        }
        if let finished { onEnd(finished) }
    }
}

extension W3CSpan {
    /// An attribute's value as a log shows it: `2`, not `int64(2)`.
    static func text(_ attribute: SpanAttribute) -> String {
        switch attribute {
        case .int32(let value): "\(value)"
        case .int64(let value): "\(value)"
        case .double(let value): "\(value)"
        case .bool(let value): "\(value)"
        case .string(let value): value
        case .stringConvertible(let value): value.description
        case .int32Array(let values): values.map(String.init).joined(separator: ",")
        case .int64Array(let values): values.map(String.init).joined(separator: ",")
        case .doubleArray(let values): values.map { "\($0)" }.joined(separator: ",")
        case .boolArray(let values): values.map { "\($0)" }.joined(separator: ",")
        case .stringArray(let values): values.joined(separator: ",")
        case .stringConvertibleArray(let values): values.map(\.description).joined(separator: ",")
        default: "\(attribute)"
        }
    }
}

private enum TraceParentKey: InstrumentationContextKey {
    typealias Value = TraceParent
}

extension InstrumentationContext {
    /// The W3C trace context of the span this context belongs to (or of the caller, once extracted).
    public var traceParent: TraceParent? {
        get { self[TraceParentKey.self] }
        set { self[TraceParentKey.self] = newValue }
    }
}

/// Reads `traceparent` (and any other key) from header pairs, names compared without case.
public struct HeaderPairsExtractor: Extractor {
    public init() {}
    public func extract(key: String, from carrier: [(name: String, value: String)]) -> String? {
        carrier.first { $0.name.lowercased() == key }?.value
    }
}

/// Writes a tracer's propagation headers into header pairs, replacing any of the same name.
public struct HeaderPairsInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [(name: String, value: String)]) {
        carrier.removeAll { $0.name.lowercased() == key }
        carrier.append((key, value))
    }
}
