import AsyncHTTPClient
import Foundation
import JSONValue
import ManifoldIngress
import ManifoldStore
import ManifoldSQLite
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// Mutated webhooks against the running engine (loopback, bounded in count and time): never a 5xx, never a crash,
/// nothing acknowledged that is not stored, nothing stored half.
@Suite struct IngressFuzzTests {
    /// A count, not a time window: every round runs, however busy the machine; the time bound only stops a hang.
    static let iterations = 800
    static let timeBudget = Duration.seconds(600)

    @Test func mutatedRequestsGetOnlyClientErrorsOrAreStoredWhole() async throws {
        let path = EngineHTTPTests.storePath()
        let store = try SQLiteEventStore(path: path)
        let running = try await EngineHTTPTests.Running(store: store)
        var random = SeededGenerator(seed: 20261123)
        let endpoint = running.vendor
        let start = ContinuousClock.now
        var statuses: [Int: Int] = [:]
        var acknowledged: [String: String] = [:]   // store id -> event id it was acknowledged for
        var round = 0
        while round < Self.iterations && ContinuousClock.now - start < Self.timeBudget {
            round += 1
            var body = Array(#"{"id":"evt_\#(round % 700)","type":"invoice.paid","data":{"amount":\#(round)}}"#.utf8)
            var headers: [(String, String)] = [("Content-Type", "application/json")]
            var path = "/hooks/stripe"
            var method = HTTPMethod.POST
            // Sign first, then maybe break the request; or break the body first and sign it (a vendor's bad JSON).
            let signFirst = Bool.random(using: &random)
            func sign() {
                let request = WebhookRequest(method: "POST", target: path, headers: [:], body: body, remoteAddress: nil)
                let skew = Int64.random(in: -400...400, using: &random)
                for field in endpoint.signature.sign(request, now: Int64(Date().timeIntervalSince1970) + skew, deliveryID: "d") {
                    headers.append((field.name, field.value))
                }
            }
            if signFirst { sign() }
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                Self.mutate(&body, &headers, &path, &method, using: &random)
            }
            if !signFirst { sign() }

            var request = HTTPClientRequest(url: "http://127.0.0.1:\(running.port)\(path)")
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            let answer = try await response.body.collect(upTo: 1 << 16)
            let status = Int(response.status.code)
            statuses[status, default: 0] += 1
            #expect(status < 500, "round \(round): \(status) \(String(buffer: answer))")
            if response.headers.first(name: "content-type")?.hasPrefix("text/html") == true {
                // The dashboard, the one page the engine serves: only to GET /.
                #expect(method == .GET && path == "/" && status == 200, "round \(round): HTML for \(method) \(path)")
            } else if (200..<300).contains(status) {
                let reply = try JSONParser.parse(bytes: Array(answer.readableBytesView))
                if let id = reply["id"]?.stringValue, reply["status"] != "duplicate" {
                    acknowledged[id] = reply["status"]?.stringValue
                }
            } else {
                // A refusal says why in JSON and never echoes the secret.
                #expect(!String(buffer: answer).contains(EngineHTTPTests.secret))
            }
        }
        #expect(try await running.get("/healthz").status == 200)
        try await running.stop()
        print("ingress fuzz: \(round) requests; answers \(statuses.sorted { $0.key < $1.key })")

        let reopened = try SQLiteEventStore(path: path, create: false)
        defer { reopened.close() }
        for (id, status) in acknowledged {
            let record = try #require(try await reopened.event(id: id), "\(id) acknowledged but not stored")
            #expect(record.history.first?.status.rawValue == (status == "accepted" ? "received" : "quarantined"))
        }
        #expect(try await reopened.count() == acknowledged.count, "stored events that were never acknowledged")
        // Every kind of answer happened: the fuzz reached past the signature check.
        #expect(statuses[200, default: 0] > 0 && statuses[202, default: 0] > 0 && statuses[401, default: 0] > 0,
                "\(statuses)")
        #expect(round == Self.iterations, "only \(round) rounds ran before the bound on time")
    }

    static func mutate(_ body: inout [UInt8], _ headers: inout [(String, String)], _ path: inout String,
                       _ method: inout HTTPMethod, using random: inout SeededGenerator)
    {
        switch Int.random(in: 0..<14, using: &random) {
        case 0 where !body.isEmpty:   // flip a byte
            let index = Int.random(in: 0..<body.count, using: &random)
            body[index] ^= UInt8.random(in: 1...255, using: &random)
        case 1 where !body.isEmpty:   // truncate
            body.removeLast(Int.random(in: 1...body.count, using: &random))
        case 2:   // insert random bytes, sometimes invalid UTF-8
            let bytes = (0..<Int.random(in: 1...16, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            body.insert(contentsOf: bytes, at: Int.random(in: 0...body.count, using: &random))
        case 3:   // a huge body, over max_body
            body += Array(repeating: UInt8(ascii: " "), count: Int.random(in: 2000...9000, using: &random))
        case 4:   // drop a header
            if !headers.isEmpty { headers.remove(at: Int.random(in: 0..<headers.count, using: &random)) }
        case 5:   // garbage in the signature header
            let junk = ["t=abc,v1=zz", "", "v1=", "t=99999999999999999999,v1=00", String(repeating: "v1=ab,", count: 500),
                        "t=1,v1=" + String(repeating: "f", count: 64), "ümlaut"]
            headers.removeAll { $0.0 == "Stripe-Signature" }
            headers.append(("Stripe-Signature", junk[Int.random(in: 0..<junk.count, using: &random)]))
        case 6:   // another content type
            let types = ["text/plain", "application/json; charset=utf-8", "application/x-www-form-urlencoded",
                         "application/vnd.api+json", "", "multipart/form-data; boundary=x", "APPLICATION/JSON"]
            headers.removeAll { $0.0 == "Content-Type" }
            headers.append(("Content-Type", types[Int.random(in: 0..<types.count, using: &random)]))
        case 7:   // another path
            let paths = ["/hooks/stripe/", "/hooks/STRIPE", "/", "/hooks/stripe?x=1", "/hooks/%73tripe", "/hooks//stripe",
                         "/healthz", "/" + String(repeating: "a", count: 3000)]
            path = paths[Int.random(in: 0..<paths.count, using: &random)]
        case 8:   // another method
            let methods: [HTTPMethod] = [.GET, .PUT, .DELETE, .PATCH, .OPTIONS, .HEAD]
            method = methods[Int.random(in: 0..<methods.count, using: &random)]
        case 9:   // a duplicated signature header
            if let signature = headers.first(where: { $0.0 == "Stripe-Signature" }) { headers.append(signature) }
        case 10:   // JSON that parses but is not an object, or is deeply nested
            let shapes = ["[]", "null", "\"text\"", "1e999", String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
                          #"{"id":{"nested":true}}"#, #"{"id":""}"#, #"{"id":12.5}"#]
            body = Array(shapes[Int.random(in: 0..<shapes.count, using: &random)].utf8)
        case 11:   // many headers
            for index in 0..<Int.random(in: 1...60, using: &random) { headers.append(("X-Junk-\(index)", "v\(index)")) }
        case 12:   // a lying Content-Length is set by the client; a long header value instead
            headers.append(("X-Long", String(repeating: "x", count: Int.random(in: 100...7000, using: &random))))
        default:   // an empty body
            body = []
        }
    }
}
