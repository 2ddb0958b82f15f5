public import Foundation
public import JSONValue
public import ManifoldCompiler

/// A connector's test file (`<connector>.test.yaml`), read and checked: the connector it tests, the fake environment
/// its secrets come from, and its cases. Every expectation keeps where it is written, for the failure report.
public struct ConnectorTestSuite: Sendable {
    public var path: String
    public var connector: String
    public var environment: [String: String]
    public var cases: [Case]
    /// Customers' endpoints registered for every case, for connectors with endpoints targets, by name.
    public var endpoints: [TestEndpoint] = []

    /// An endpoint of a test: its name (its URL is `https://NAME.endpoints.test/`), tenant and event types.
    public struct TestEndpoint: Sendable {
        public var name: String
        public var tenant: String
        public var eventTypes: [String]?
    }

    /// A value with the place it is written.
    public struct Located<Value: Sendable>: Sendable {
        public var value: Value
        public var location: SourceLocation
    }

    /// One case: a webhook in, scripted answers, expectations.
    public struct Case: Sendable {
        public var name: String
        public var location: SourceLocation
        public var webhook: Webhook
        /// By target name, its answers in order.
        public var responses: [String: [ScriptedResponse]]
        public var expect: Expectations
        /// Whether the case gives `webhook:` (a webhook connector's case must).
        public var hasWebhook = true
        /// A pulled connector's runs.
        public var pull: PullRuns?
    }

    /// The runs of a pulled connector in a case.
    public struct PullRuns: Sendable {
        public var runs: Int = 1
        /// The virtual wall time of the first run, Unix milliseconds.
        public var at: Int64
        public var files: [(name: String, text: String)] = []
        /// SQL statements that make an sql connector's table before the runs.
        public var sql: [String] = []
        public var state: JSON?

        /// 2024-06-01T12:00:00Z.
        public static let defaultStart: Int64 = 1_717_243_200_000
    }

    /// What a pulled connector's runs must have done.
    public struct PullExpectation: Sendable {
        public var outcome: Located<String>?
        public var errorIncludes: Located<String>?
        public var cursor: Located<JSON>?
        public var cursors: Located<JSON>?
        public var requests: Located<[String]>?
        public var pages: Located<Int>?
        public var rateLimited: Located<Int>?
        public var files: Located<[String]>?
        /// Run by run.
        public var runs: [RunExpectation] = []
    }

    /// What one run of a pull must have done.
    public struct RunExpectation: Sendable {
        public var location: SourceLocation
        public var outcome: String?
        public var errorIncludes: String?
        public var stored: Int?
        public var pages: Int?
        public var cursor: JSON?
    }

    public struct Webhook: Sendable {
        public enum Signature: String, Sendable { case valid, none, forged }

        public var body: [UInt8]
        public var contentType: String
        public var headers: [(name: String, value: String)]
        public var signature: Signature
        public var deliveries: Int
        public var method: String = "POST"
        /// Query parameters added to the path, in order.
        public var query: [(name: String, value: String)] = []
        /// How long before the run the signature's timestamp lies.
        public var signedAgo: Duration = .zero
    }

    /// The engine's answer beyond its status.
    public struct AnswerExpectation: Sendable {
        public var location: SourceLocation
        public var error: Located<String>?
        public var messageIncludes: Located<String>?
        public var body: Located<JSON>?
        public var contentType: Located<String>?
        public var headers: Located<[(name: String, value: String)]>?
    }

    /// One answer of a target.
    public enum ScriptedResponse: Sendable {
        case answer(status: Int, headers: [(name: String, value: String)], body: [UInt8])
        case timeout
        case connectionError(String)
    }

    /// An expected outcome of a job.
    public enum Outcome: String, Sendable {
        case delivered
        case deadLettered = "dead_lettered"
        case quarantined
        case pending
    }

    /// What must happen; `nil` or empty: not checked.
    public struct Expectations: Sendable {
        public var ingress: Located<Int>
        public var duplicate: Located<Bool>?
        public var routes: Located<[String]>?
        public var requests: [RequestExpectation]
        public var attempts: [String: Located<Int>]
        /// By route; the key `*` applies to every job.
        public var outcomes: [String: Located<Outcome>]
        public var answer: AnswerExpectation?
        /// Stored events by status (received, quarantined, handshake).
        public var events: [String: Located<Int>] = [:]
        public var pull: PullExpectation?
    }

    /// An expected request of a route: each part given is checked.
    public struct RequestExpectation: Sendable {
        public var route: String
        public var location: SourceLocation
        public var method: Located<String>?
        public var url: Located<String>?
        public var headers: Located<[(name: String, value: String)]>?
        public var body: Located<JSON>?
        public var bodyIncludes: Located<JSON>?
        public var assertion: Located<String>?
        /// Whether the call carries a valid signature of its target's `sign:` scheme (or none, for `false`).
        public var signed: Located<Bool>?
        /// For a route to an endpoints target: the call to this endpoint (by its name in the test file).
        public var endpoint: Located<String>?
    }
}
