import Foundation
@testable import ManifoldCLI
import TestSupport
import Testing

/// `manifold diff` on pulled connectors: what a reviewer reads when a poll's cursor, ids or schedule change.
@Suite struct PullDiffTests {
    static let before = TestPaths.packageRoot.appending(path: "connectors/stripe-charges-poll.yaml")

    static func diff(_ edit: (String) -> String) async throws -> String {
        try await TemporaryDirectory.withAsync { folder in
            let text = try String(contentsOf: Self.before, encoding: .utf8)
            try Data(text.utf8).write(to: folder.appending(path: "old.yaml"))
            try Data(edit(text).utf8).write(to: folder.appending(path: "new.yaml"))
            return try await DiffCommand.parse([folder.appending(path: "old.yaml").path, folder.appending(path: "new.yaml").path]).perform().standardOutput
        }
    }

    @Test func aCursorOrIdChangeIsBreakingAndTheScheduleSafe() async throws {
        let field = try await Self.diff { $0.replacingOccurrences(of: "cursor: { field: created,", with: "cursor: { field: updated,") }
        #expect(field.contains("breaking  source  poll.cursor.field: created → updated"), "\(field)")
        #expect(field.contains("the kept cursor was written for the old field"))
        let id = try await Self.diff { $0.replacingOccurrences(of: "    event_id: id\n", with: "    event_id: \"'ch-' & id\"\n") }
        #expect(id.contains("breaking  source  poll.event_id: id → 'ch-' & id"), "\(id)")
        #expect(id.contains("every record already stored is read again as a new event"))
        let schedule = try await Self.diff { $0.replacingOccurrences(of: "every: 5m", with: "every: 15m") }
        #expect(schedule.contains("safe      source  poll.schedule.every: 5m → 15m"), "\(schedule)")
        let kind = try await Self.diff { text in
            let start = text.range(of: "source:\n")!, end = text.range(of: "\ntargets:")!
            return text.replacingCharacters(in: start.lowerBound..<end.lowerBound,
                                            with: "source:\n  webhook: { path: /hooks/charges, verify: { scheme: stripe, secret: \"${env:S}\" }, event_id: id }\n")
        }
        #expect(kind.contains("breaking  source") && kind.contains("changes between receiving webhooks and pulling"), "\(kind)")
    }
}
