public import JSONValue
import ManifoldIngress
public import ManifoldStore

/// `manifold test --record`: a stored event as a new test case, in the test file's YAML: its body and headers (no
/// signature, credential or transport header: the runner signs), each target's answers as they came, and what
/// happened as the expectations (routes, the first request of each, calls, outcomes).
public enum CaseRecorder {
    public static func yaml(event: EventRecord, jobs: [JobRecord]) -> String {
        let summary = event.summary
        var lines = ["  - name: \(quoted("recorded: \(summary.eventType ?? "event") \(summary.eventID) (\(summary.id))"))", "    webhook:"]
        let text = String(decoding: event.body, as: UTF8.self)
        if event.contentType.contains("json"), let json = try? JSONParser.parse(bytes: event.body) {
            lines.append("      body: \(json.serialized())")
        } else {
            lines.append("      body: \(quoted(text))")
            lines.append("      content_type: \(quoted(event.contentType))")
        }
        let transport: Set<String> = ["host", "content-length", "content-type", "user-agent", "accept", "accept-encoding",
                                      "connection", "x-forwarded-for", "x-forwarded-proto", "x-request-id"]
        let headers = event.headers.filter { header in
            let name = header.name.lowercased()
            return !transport.contains(name) && !CredentialName.matches(header.name) && header.value != "[redacted]"
                && !name.contains("timestamp")
        }
        if !headers.isEmpty {
            lines.append("      headers: {" + headers.map { "\(quoted($0.name)): \(quoted($0.value))" }.joined(separator: ", ") + "}")
        }
        if summary.duplicates > 0 { lines.append("      deliveries: \(summary.duplicates + 1)") }
        // The targets' answers, in the order the calls were made.
        var answers: [String: [String]] = [:]
        var order: [String] = []
        for job in jobs {
            for attempt in job.attempts where attempt.request != nil {
                if answers[job.summary.target] == nil { order.append(job.summary.target) }
                let answer: String
                if let status = attempt.responseStatus {
                    let retryAfter = attempt.responseHeaders.first { $0.name.lowercased() == "retry-after" }?.value
                    answer = "{status: \(status)" + (retryAfter.map { ", headers: {Retry-After: \(quoted($0))}" } ?? "") + "}"
                } else if attempt.error?.hasPrefix("no answer within") == true {
                    answer = "{timeout: true}"
                } else {
                    answer = "{error: \(quoted(attempt.error ?? "connection failed"))}"
                }
                answers[job.summary.target, default: []].append(answer)
            }
        }
        if !order.isEmpty {
            lines.append("    responses:")
            for target in order { lines.append("      \(target): [\(answers[target]!.joined(separator: ", "))]") }
        }
        lines.append("    expect:")
        if summary.duplicates > 0 { lines.append("      duplicate: true") }
        lines.append("      routes: [\(jobs.map(\.summary.route).map(quoted).joined(separator: ", "))]")
        let sent = jobs.compactMap { job in job.attempts.first { $0.request != nil }?.request.map { (job.summary.route, $0) } }
        if !sent.isEmpty {
            lines.append("      requests:")
            for (route, request) in sent {
                lines.append("        - route: \(quoted(route))")
                if let method = request["method"]?.stringValue { lines.append("          method: \(method)") }
                if let url = request["url"]?.stringValue { lines.append("          url: \(quoted(url))") }
                if request["body_truncated"] == nil, let body = request["body"]?.stringValue {
                    lines.append("          body: " + ((try? JSONParser.parse(body)).map { $0.serialized() } ?? quoted(body)))
                } else if let digest = request["body_sha256"]?.stringValue {
                    // A delivered call's record keeps only its body's digest unless the engine ran with
                    // --keep-delivered-bodies: said here, so that the case is not taken to check the body.
                    lines.append("          # body not kept by the engine (sha256 \(digest)); run it with --keep-delivered-bodies to record it")
                }
            }
        }
        // Calls and outcomes only of jobs that had finished: a job still retrying would make more calls.
        let finished = jobs.filter { [.delivered, .dead, .quarantined].contains($0.summary.state) }
        if !finished.isEmpty {
            let calls = finished.map { "\(quoted($0.summary.route)): \($0.attempts.filter { $0.request != nil }.count)" }
            lines.append("      attempts: {\(calls.joined(separator: ", "))}")
            let outcomes = finished.compactMap { job -> String? in
                let outcome: String? = switch job.summary.state {
                case .delivered: "delivered"
                case .dead: "dead_lettered"
                case .quarantined: "quarantined"
                default: nil   // not finished when recorded: no expectation
                }
                return outcome.map { "\(quoted(job.summary.route)): \($0)" }
            }
            if !outcomes.isEmpty { lines.append("      outcome: {\(outcomes.joined(separator: ", "))}") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
    private static func quoted(_ text: String) -> String {
        JSON.string(text).serialized()
    }
}
