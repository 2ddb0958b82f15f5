import Foundation
public import ManifoldIngress
import ManifoldPlan

/// Signs a target's calls with the code that verifies incoming webhooks, run as the sender: what Manifold
/// sends is exactly what its own receivers (and the scheme's other implementations) accept.
struct OutboundSigner: Sendable {
    private let signature: WebhookSignature

    init(_ signing: OutboundSigning, resolver: ConfigResolver) throws {
        signature = WebhookSignature(verification: signing.verification,
                                     secrets: try signing.secrets.map { try resolver.resolve($0) }, publicURL: nil)
    }

    /// The header that carries the signature, shown `[redacted]` in attempt records.
    var signatureHeader: String { signature.signatureHeaders[0] }

    /// The headers that sign `request` at `now` (Unix seconds): over its exact body bytes, with a fresh timestamp
    /// per attempt, `messageID` as the id a receiver de-duplicates by (Standard Webhooks' `webhook-id`), and every
    /// secret's signature where the scheme's header carries several.
    func headers(for request: OutboundRequest, messageID: String, now: Int64) -> [(name: String, value: String)] {
        signature.sign(WebhookRequest(received: request), now: now, deliveryID: messageID, everySecret: true).fields
    }
}

extension WebhookRequest {
    /// `request` as its receiver sees it: the target (path and query) of its URL, and `Host` and
    /// `X-Forwarded-Proto` from the URL, so that a scheme that signs `{url}` signs the URL as sent.
    public init(received request: OutboundRequest) {
        let url = URLComponents(string: request.url)
        var target = url?.percentEncodedPath ?? "/"
        if target.isEmpty { target = "/" }
        if let query = url?.percentEncodedQuery { target += "?" + query }
        var headers = HeaderList(request.headers)
        if let host = url?.host {
            headers.append("Host", url?.port.map { "\(host):\($0)" } ?? host)
            headers.append("X-Forwarded-Proto", url?.scheme ?? "https")
        }
        self.init(method: request.method, target: target, headers: headers, body: request.body ?? [], remoteAddress: nil)
    }
}
