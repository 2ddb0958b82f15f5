import Foundation
@testable import ManifoldCLI
import TestSupport
import Testing

/// `manifold diff` on flows: steps compared by name, classified by what they do to the flow.
@Suite struct FlowDiffTests {
    static func connector(_ steps: String) -> String {
        """
        connector: shop
        version: 1
        source: { webhook: { path: /in, verify: { scheme: hmac, secret: "${env:S}", header: X-Sig }, event_id: id } }
        targets:
          crm:
            base_url: https://crm.example
            operations:
              contact: { method: POST, path: /contacts }
              deal: { method: POST, path: /deals }
          chat:
            base_url: https://chat.example
            operations:
              post: { method: POST, path: /messages }
        routes:
          - name: sale
            steps:
        \(steps)
        """
    }

    static let before = """
              - { name: contact, call: crm.contact, body: { email: "{% email %}" } }
              - { name: deal, call: crm.deal, body: { contact: "{% $steps.contact.body.id %}" } }
              - { name: tell, call: chat.post, body: { text: "{% 'deal ' & $steps.deal.body.id %}" } }
        """

    static func diff(_ old: String, _ new: String) async throws -> String {
        try await TemporaryDirectory.withAsync { folder in
            try Data(Self.connector(old).utf8).write(to: folder.appending(path: "old.yaml"))
            try Data(Self.connector(new).utf8).write(to: folder.appending(path: "new.yaml"))
            return try await DiffCommand.parse([folder.appending(path: "old.yaml").path, folder.appending(path: "new.yaml").path]).perform().standardOutput
        }
    }

    @Test func aRemovedStepIsBreakingAndAReorderIsRisky() async throws {
        // (A step that read the removed one would not validate: `validate` names it first.)
        let removed = try await Self.diff(Self.before, """
              - { name: contact, call: crm.contact, body: { email: "{% email %}" } }
              - { name: tell, call: chat.post, body: { text: "{% 'a sale' %}" } }
        """)
        #expect(removed.contains("breaking  route sale step deal  removed (was crm.deal)"), "\(removed)")
        #expect(removed.contains("the flow no longer makes this call"), "\(removed)")
        let reordered = try await Self.diff(Self.before, """
              - { name: contact, call: crm.contact, body: { email: "{% email %}" } }
              - { name: tell, call: chat.post, body: { text: "{% 'deal ' & $steps.contact.body.id %}" } }
              - { name: deal, call: crm.deal, body: { contact: "{% $steps.contact.body.id %}" } }
        """)
        #expect(reordered.contains("risky     route sale steps  order: contact → deal → tell → contact → tell → deal"), "\(reordered)")
    }

    @Test func aMappingALaterStepReadsIsRiskyAndOneNobodyReadsIsSafe() async throws {
        let changed = try await Self.diff(Self.before, """
              - { name: contact, call: crm.contact, body: { email: "{% $lowercase(email) %}" } }
              - { name: deal, call: crm.deal, body: { contact: "{% $steps.contact.body.id %}" } }
              - { name: tell, call: chat.post, body: { text: "{% 'new deal ' & $steps.deal.body.id %}" } }
              - { name: extra, call: chat.post, body: { text: done } }
        """)
        #expect(changed.contains("risky     route sale step contact  body.email"), "\(changed)")
        #expect(changed.contains("deal reads this step's result, which may now differ"))
        #expect(changed.contains("safe      route sale step tell  body.text"))
        #expect(changed.contains("safe      route sale step extra"))
        let moved = try await Self.diff(Self.before, """
              - { name: contact, call: crm.contact, body: { email: "{% email %}" } }
              - { name: deal, call: chat.post, body: { contact: "{% $steps.contact.body.id %}" } }
              - { name: tell, call: chat.post, body: { text: "{% 'deal ' & $steps.deal.body.id %}" } }
        """)
        #expect(moved.contains("breaking  route sale step deal  call: crm.deal → chat.post"), "\(moved)")
    }
}
