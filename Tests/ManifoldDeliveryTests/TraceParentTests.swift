import ManifoldDelivery
import Synchronization
import Testing
import Tracing

/// W3C trace context in and out, and the tracer the engine bootstraps.
@Suite struct TraceParentTests {
    @Test func validHeadersParseAndMalformedOnesAreIgnored() {
        let parsed = TraceParent(header: " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ")
        #expect(parsed == TraceParent(traceID: "0af7651916cd43dd8448eb211c80319c", spanID: "b7ad6b7169203331", sampled: true))
        #expect(TraceParent(header: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")?.sampled == false)
        for header in ["00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   // upper case
                       "00-00000000000000000000000000000000-b7ad6b7169203331-01",   // zero trace id
                       "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   // zero span id
                       "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   // forbidden version
                       "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", // version 00 has four parts
                       "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01", "", "garbage"]
        {
            #expect(TraceParent(header: header) == nil, "\(header)")
        }
        #expect(TraceParent(header: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future")?.traceID
            == "0af7651916cd43dd8448eb211c80319c", "a later version is read as 00")
        #expect(TraceParent(headers: [("TraceParent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]) != nil)
    }

    /// New ids are what a `traceparent` header carries: 32 and 16 lower-case hex digits, each one new.
    @Test func newIdsAreValidInAHeaderAndNeverRepeat() {
        let traces = (0..<2_000).map { _ in TraceContext.newTraceID() }
        let spans = (0..<2_000).map { _ in TraceContext.newSpanID() }
        #expect(Set(traces).count == traces.count && Set(spans).count == spans.count)
        for (trace, span) in zip(traces, spans) {
            #expect(trace.count == 32 && span.count == 16)
            #expect(TraceParent(header: TraceContext.traceparent(traceID: trace, spanID: span))
                == TraceParent(traceID: trace, spanID: span, sampled: true), "\(trace) \(span)")
        }
        // Every hex digit turns up in every position of a trace id: the digits are not drawn from part of the bytes.
        for position in 0..<32 {
            #expect(Set(traces.map { Array($0)[position] }).count == 16, "position \(position)")
        }
    }

    @Test func spansJoinTheirParentsTraceAndInjectTheirOwnContext() {
        let finished = Mutex<[FinishedSpan]>([])
        let tracer = W3CTracer { span in finished.withLock { $0.append(span) } }
        let parent = TraceContext.eventContext(traceID: "0af7651916cd43dd8448eb211c80319c")
        let span = parent.startSpan("deliver orders/crm", ofKind: .client, with: tracer)
        span.attributes["manifold.attempt"] = 2
        var carrier: [(name: String, value: String)] = []
        tracer.inject(span.context, into: &carrier, using: HeaderPairsInjector())
        span.setStatus(SpanStatus(code: .error, message: "503"))
        span.end()
        span.end()
        let spans = finished.withLock { $0 }
        #expect(spans.count == 1, "ended once")
        let ended = spans[0]
        #expect(ended.traceID == parent.traceID && ended.parentSpanID == parent.spanID && ended.spanID != parent.spanID)
        #expect(carrier.map(\.value) == ["00-\(parent.traceID)-\(ended.spanID)-01"])
        #expect(ended.attributes["manifold.attempt"] == "2" && ended.status?.code == .error)
        #expect(TraceContext.eventSpanID(traceID: parent.traceID) == parent.spanID, "derived the same every time")
    }
}
