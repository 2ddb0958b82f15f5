import Foundation
@testable import ManifoldCLI
import TestSupport
import Testing

/// `success_when`: a 2xx that the vendor means as a refusal (Slack's `{"ok":false}`) is a dead letter, not a delivery.
@Suite struct SuccessWhenTests {
    @Test func aTwoHundredThatFailsTheConditionIsDeadLetteredWithTheReason() async throws {
        try await TemporaryDirectory.withAsync { folder in
            try Data("""
                connector: chat
                version: 1
                source: { webhook: { path: /in, verify: { scheme: hmac, secret: "${env:S}", header: X-Sig }, event_id: id } }
                targets:
                  slack:
                    base_url: https://slack.com/api
                    auth: { bearer: { token: "${env:T}" } }
                    operations: { post: { method: POST, path: /chat.postMessage } }
                routes:
                  - name: say
                    call: slack.post
                    success_when: body.ok = true
                    body: { channel: "#x", text: "{% text %}" }
                """.utf8).write(to: folder.appending(path: "chat.yaml"))
            try Data("""
                connector: chat
                env: { S: s, T: t }
                cases:
                  - name: ok true is delivered
                    webhook: { body: { id: "1", text: hi } }
                    responses: { slack: [{ status: 200, body: { ok: true } }] }
                    expect: { outcome: delivered }
                  - name: ok false is dead-lettered at once
                    webhook: { body: { id: "2", text: hi } }
                    responses: { slack: [{ status: 200, body: { ok: false, error: not_in_channel } }] }
                    expect: { outcome: dead_lettered, attempts: { say: 1 } }
                  - name: an answer without a body is not taken for a success
                    webhook: { body: { id: "3", text: hi } }
                    responses: { slack: [{ status: 200 }] }
                    expect: { outcome: dead_lettered }
                """.utf8).write(to: folder.appending(path: "chat.test.yaml"))
            let output = try await TestCommand.parse([folder.appending(path: "chat.test.yaml").path]).perform()
            #expect(output.standardOutput.contains("3 cases: 3 passed, 0 failed"), "\(output.standardOutput)\(output.standardError)")
        }
    }
}
