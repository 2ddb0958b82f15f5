// A vendor for the delivery proofs, benchmarks and observability tests, on loopback: records every call (time,
// path, idempotency key, the X-Proof-Tag header a proof's mapping may set, traceparent, the body's first 4 KB) —
// also an alert sink
// and answers as told — fast, slow, failing, rate-limiting or flapping — per path prefix.
//
//   manifold-mock-vendor --port 0 --port-file F     (prints the bound port into F)
//   POST /_mode?prefix=/a&status=503&delay_ms=0&for_ms=60000   behaviour for paths under /a (for_ms: then back to 200)
//   POST /_mode?prefix=/a&status=503&calls=2                  the same for the next 2 calls only, then back to 200
//   POST /_mode?prefix=/a&limit=100&window_ms=10000           answer 429 (Retry-After) past that rate
//   GET  /_log                                                 one JSON line per call: t_ms, wall_ms, path, key, tag, status, webhook headers
//   GET  /_stats                                               counts
import ArgumentParser
import Foundation
import Hummingbird
import NIOCore
import Synchronization

struct Behaviour: Sendable {
    var status = 200
    var delay: Duration = .zero
    var until: ContinuousClock.Instant?
    /// Calls left before the behaviour reverts to 200 (`calls=N`): a count, not a time, so a busy machine
    /// cannot make a test's calls miss it.
    var remaining: Int?
    var limit: Int?
    var window: Duration = .seconds(1)
}

final class Vendor: Sendable {
    struct Call: Sendable {
        var at: Duration
        var wall: Double
        var path: String
        var key: String
        var tag: String
        var status: Int
        var traceparent: String
        var body: String
        /// Standard Webhooks' headers, when the call has them (for a verifier to check the log afterwards).
        var webhook: [String: String]
    }

    let origin = ContinuousClock.now
    let behaviours = Mutex<[String: Behaviour]>([:])
    let calls = Mutex<[Call]>([])
    let recent = Mutex<[String: [Duration]]>([:])

    /// How to answer one call to `path` (each call counts against `calls=N`).
    func behaviour(for path: String) -> (prefix: String, behaviour: Behaviour) {
        behaviours.withLock { all in
            let match = all.keys.filter { path.hasPrefix($0) }.max { $0.count < $1.count }
            guard let prefix = match, var found = all[prefix] else { return ("", Behaviour()) }
            if let until = found.until, ContinuousClock.now >= until {
                found = Behaviour(limit: found.limit, window: found.window)
                all[prefix] = found
            }
            if let remaining = found.remaining {
                if remaining <= 0 {
                    found = Behaviour(limit: found.limit, window: found.window)
                    all[prefix] = found
                } else {
                    all[prefix]?.remaining = remaining - 1
                }
            }
            return (prefix, found)
        }
    }
}

struct VendorResponder: HTTPResponder {
    let vendor: Vendor

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let path = request.uri.path
        let query = request.uri.queryParameters
        switch path {
        case "/_mode":
            var behaviour = Behaviour()
            behaviour.status = query["status"].flatMap { Int(String($0)) } ?? 200
            behaviour.delay = .milliseconds(query["delay_ms"].flatMap { Int(String($0)) } ?? 0)
            if let ms = query["for_ms"].flatMap({ Int(String($0)) }) { behaviour.until = .now + .milliseconds(ms) }
            behaviour.remaining = query["calls"].flatMap { Int(String($0)) }
            behaviour.limit = query["limit"].flatMap { Int(String($0)) }
            behaviour.window = .milliseconds(query["window_ms"].flatMap { Int(String($0)) } ?? 1000)
            let prefix = query["prefix"].map(String.init) ?? "/"
            vendor.behaviours.withLock { $0[prefix] = behaviour }
            return text(200, "ok\n")
        case "/_log":
            let lines = vendor.calls.withLock { calls in
                calls.map { call in
                    let ms = Double(call.at.components.seconds) * 1000 + Double(call.at.components.attoseconds) / 1e15
                    let line: [String: Any] = ["t_ms": ms, "wall_ms": call.wall, "path": call.path, "key": call.key, "tag": call.tag,
                                               "status": call.status, "traceparent": call.traceparent, "body": call.body,
                                               "webhook": call.webhook]
                    let data = (try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])) ?? Data("{}".utf8)
                    return String(decoding: data, as: UTF8.self)
                }
            }
            return text(200, lines.joined(separator: "\n") + "\n")
        case "/_stats":
            let count = vendor.calls.withLock { $0.count }
            return text(200, #"{"calls":\#(count)}"# + "\n")
        default:
            break
        }
        let body = try await request.body.collect(upTo: 1 << 20)
        // An OAuth 2 token request (a form with grant_type): a token, so that connectors with OAuth work against it.
        if String(buffer: body).contains("grant_type=") {
            return text(200, #"{"access_token":"mock-vendor-token","token_type":"bearer","expires_in":3600}"#)
        }
        let (prefix, behaviour) = vendor.behaviour(for: path)
        let now = vendor.origin.duration(to: .now)
        var status = behaviour.status
        if let limit = behaviour.limit {
            let over = vendor.recent.withLock { recent -> Bool in
                var times = recent[prefix, default: []].filter { $0 > now - behaviour.window }
                let over = times.count >= limit
                if !over { times.append(now) }
                recent[prefix] = times
                return over
            }
            if over { status = 429 }
        }
        let key = request.headers.first { $0.name.canonicalName == "idempotency-key" }?.value ?? ""
        let tag = request.headers.first { $0.name.canonicalName == "x-proof-tag" }?.value ?? ""
        let traceparent = request.headers.first { $0.name.canonicalName == "traceparent" }?.value ?? ""
        let bodyText = String(decoding: body.readableBytesView.prefix(4096), as: UTF8.self)
        var webhook: [String: String] = [:]
        for field in request.headers where field.name.canonicalName.hasPrefix("webhook-") { webhook[field.name.canonicalName] = field.value }
        vendor.calls.withLock {
            $0.append(.init(at: now, wall: Date().timeIntervalSince1970 * 1000, path: path, key: key, tag: tag, status: status,
                            traceparent: traceparent, body: bodyText, webhook: webhook))
        }
        if behaviour.delay > .zero { try await Task.sleep(for: behaviour.delay) }
        var response = text(status, #"{"ok":\#(status < 300)}"#)
        if status == 429 { response.headers[.retryAfter] = "1" }
        return response
    }

    func text(_ status: Int, _ body: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// The command line: where to listen; the modes are set over HTTP while it runs.
struct MockVendorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifold-mock-vendor",
        abstract: "A vendor API on 127.0.0.1 for trying connectors and proving delivery: fast, slow, failing, rate-limiting.",
        discussion: """
        Every call to any path is recorded and answered 200 {"ok":true}, unless a mode says otherwise. Modes apply to \
        the paths under a prefix (the longest matching prefix wins) and are set while it runs:

          POST /_mode?prefix=/crm&status=503                 answer 503 under /crm (any status)
          POST /_mode?prefix=/crm&status=503&calls=2         ... for the next 2 calls only, then 200 again
          POST /_mode?prefix=/crm&status=503&for_ms=60000    ... for 60 s, then 200 again
          POST /_mode?prefix=/crm&delay_ms=800               answer after 800 ms (a slow vendor)
          POST /_mode?prefix=/crm&limit=100&window_ms=10000  answer 429 with Retry-After past 100 calls in 10 s
          POST /_mode?prefix=/crm&status=200                 back to normal
          GET  /_log                                         one JSON line per call: t_ms, wall_ms, path, key \
        (Idempotency-Key), tag (X-Proof-Tag), status, traceparent, body (first 4 KB), webhook (Standard Webhooks' headers)
          GET  /_stats                                       {"calls": N}

        An OAuth 2 token request (a form with grant_type, at any path) gets a token. Point a target's base_url at it (e.g. `manifold run --target hubspot=http://127.0.0.1:9000`) to see what a \
        connector sends; it also takes alert notifications (webhook and Slack sinks).
        """
    )

    @Option(help: "The port to listen on (0 picks a free one).")
    var port = 0

    @Option(name: .customLong("port-file"), help: "Write the bound port to this file once listening.")
    var portFile: String?

    func run() async throws {
        let vendor = Vendor()
        let portFile = self.portFile
        let port = self.port
        let application = Application(
            responder: VendorResponder(vendor: vendor),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "mock-vendor", backlog: 1024),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                print("mock vendor on http://127.0.0.1:\(bound)")
            })
        try await application.runService()
    }
}

// Parsed and run by hand: from top-level code, `main()` of an async command takes the synchronous path.
do {
    let command = try MockVendorCommand.parse(Array(CommandLine.arguments.dropFirst()))
    try await command.run()
} catch {
    MockVendorCommand.exit(withError: error)
}
