public import Foundation
public import JSONValue

/// Where pulls keep their place: a state per connector (its cursor, the run in progress and its page, figures),
/// written in the same transaction as the events the state accounts for. That is what makes a pull exactly once:
/// a page's events and the progress past it are durable together or not at all.
public protocol PullStateStore: Sendable {
    /// The state of `connector`'s pull, or `nil` when it never ran (or was reset).
    func pullState(_ connector: String) async throws -> PullStateRecord?
    /// Every pull's state, by connector.
    func pullStates() async throws -> [PullStateRecord]
    /// Appends `events` (each stored or a duplicate, as `append(all:)` does) and sets `connector`'s state, in one
    /// transaction: all of it is durable when this returns, or none of it.
    func append(all events: [NewEvent], pullState: JSON, of connector: String) async throws -> [AppendOutcome]
    /// Sets (or, with `nil`, forgets) `connector`'s state.
    func setPullState(_ state: JSON?, of connector: String) async throws
}

/// A pull's state as stored.
public struct PullStateRecord: Sendable {
    public var connector: String
    public var state: JSON
    public var updatedAt: Date

    public init(connector: String, state: JSON, updatedAt: Date) {
        self.connector = connector
        self.state = state
        self.updatedAt = updatedAt
    }
}
