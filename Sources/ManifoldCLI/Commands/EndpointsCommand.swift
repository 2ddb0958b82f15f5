import ArgumentParser
import Foundation
import JSONValue
import ManifoldDelivery
import ManifoldPlan
import ManifoldStore
import ManifoldSQLite

/// `manifold endpoints`: customers' webhook endpoints, managed at runtime (a running engine sees a change within a
/// second). Secrets are shown once, at creation or rotation, and stored sealed with `MANIFOLD_ENDPOINT_KEY`.
struct EndpointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "Manage customers' webhook endpoints: add, list, show, update, disable, enable, rotate-secret, remove, ping.",
        discussion: """
            Endpoints receive the events of their tenant from targets with `endpoints:`, signed with Standard Webhooks \
            and their own secret. Their secrets are sealed with MANIFOLD_ENDPOINT_KEY (base64 of 32 bytes, from the \
            environment or --env-file; `manifold endpoints key` makes one).
            """,
        subcommands: [EndpointsKeyCommand.self, EndpointsAddCommand.self, EndpointsListCommand.self, EndpointsShowCommand.self,
                      EndpointsUpdateCommand.self, EndpointsDisableCommand.self, EndpointsEnableCommand.self,
                      EndpointsRotateCommand.self, EndpointsRemoveCommand.self, EndpointsPingCommand.self]
    )
}

/// The store, the key, and the network policy of registrations.
struct EndpointOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions

    @Option(help: "A file of NAME=value lines read for MANIFOLD_ENDPOINT_KEY (the environment wins).")
    var envFile: String?

    @Flag(help: "Accept endpoints on loopback and private networks (tests and trusted internal receivers only).")
    var allowPrivateNetworks = false

    @Flag(help: "Accept plain http endpoint URLs.")
    var allowInsecure = false

    /// Runs `body` with the store and the admin; the store is created when missing (a registry may come first).
    func admin(_ body: (EndpointAdmin, any EngineStore) async throws -> CommandOutput) async -> CommandOutput {
        var environment = ProcessInfo.processInfo.environment
        if let envFile {
            do {
                environment = try EnvironmentFile.read(envFile).merging(environment) { _, process in process }
            } catch {
                return .failure("\(error)")
            }
        }
        let box: SecretBox
        do {
            guard let found = try EndpointRegistry.box(environment: environment) else {
                return .failure("MANIFOLD_ENDPOINT_KEY is not set: endpoint secrets are sealed with it (make one with `manifold endpoints key`)")
            }
            box = found
        } catch {
            return .failure("\(error)")
        }
        do {
            let opened = try await StoreAccess.open(store.store, create: true)
            defer { opened.close() }
            let admin = EndpointAdmin(store: opened, box: box,
                                      policy: EndpointNetworkPolicy(allowPrivateNetworks: allowPrivateNetworks, allowInsecure: allowInsecure))
            return try await body(admin, opened)
        } catch let error as EndpointError {
            return .failure(error.description)
        } catch {
            return .failure("\(error)")
        }
    }

    func output(_ json: JSON, text: String) -> CommandOutput {
        switch store.format {
        case .json: CommandOutput(standardOutput: json.serialized(.pretty) + "\n")
        case .text: CommandOutput(standardOutput: text)
        }
    }
}

/// `key=value` pairs given as `--header 'Name: value'`.
private func headerPairs(_ headers: [String]) throws -> [String: String] {
    var pairs: [String: String] = [:]
    for header in headers {
        guard let colon = header.firstIndex(of: ":") else { throw ValidationError("--header must be 'Name: value' (got \(header))") }
        pairs[String(header[..<colon]).trimmingCharacters(in: .whitespaces)] =
            String(header[header.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
    }
    return pairs
}

private func secretText(_ endpoint: StoredEndpoint, secret: String, verb: String) -> String {
    """
    \(verb) endpoint \(endpoint.id) for \(endpoint.tenant): \(EndpointRegistry.displayURL(endpoint.url))
    secret \(secret)
      (shown once: give it to the customer, who verifies `webhook-signature` with it — Standard Webhooks)

    """
}

struct EndpointsKeyCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Print a new MANIFOLD_ENDPOINT_KEY (base64 of 32 random bytes) to seal endpoint secrets with.")

    func perform() -> CommandOutput {
        CommandOutput(standardOutput: "MANIFOLD_ENDPOINT_KEY=\(SecretBox.newKey())\n")
    }
}

struct EndpointsAddCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Register a customer's endpoint; prints its secret once.")

    @OptionGroup var options: EndpointOptions

    @Option(help: "The tenant (customer) whose events it receives.")
    var tenant: String

    @Option(help: "The endpoint's URL (https).")
    var url: String

    @Option(name: .customLong("event-type"), help: "An event type it receives, such as invoice.paid or invoice.* (repeatable; default every type).")
    var eventTypes: [String] = []

    @Option(name: .customLong("header"), help: "A header sent with every call, 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "At most this many calls a second.")
    var rateLimit: Int?

    @Option(help: "What it is, for people.")
    var description: String?

    func perform() async -> CommandOutput {
        await options.admin { admin, _ in
            let (endpoint, secret) = try await admin.add(tenant: tenant, .init(
                url: url, eventTypes: eventTypes.isEmpty ? nil : eventTypes, headers: try headerPairs(headers),
                rateLimit: rateLimit, description: description))
            var json = endpoint.json
            if case .object(var object) = json { object["secret"] = .string(secret); json = .object(object) }
            return options.output(json, text: secretText(endpoint, secret: secret, verb: "added"))
        }
    }
}

struct EndpointsListCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List endpoints, oldest first.")

    @OptionGroup var options: EndpointOptions

    @Option(help: "Only this tenant's endpoints.")
    var tenant: String?

    @Flag(help: "Include removed endpoints.")
    var removed = false

    func perform() async -> CommandOutput {
        await options.admin { admin, _ in
            let endpoints = try await admin.list(tenant: tenant, includingRemoved: removed)
            let rows = [["ENDPOINT", "TENANT", "STATE", "TYPES", "URL"]] + endpoints.map { endpoint in
                [endpoint.id, endpoint.tenant, endpoint.state.rawValue, endpoint.eventTypes?.joined(separator: ",") ?? "*",
                 EndpointRegistry.displayURL(endpoint.url)]
            }
            return options.output(.array(endpoints.map(\.json)), text: endpoints.isEmpty ? "no endpoints\n" : Table.render(rows))
        }
    }
}

struct EndpointsShowCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show an endpoint: its settings, its history and its recent deliveries (attempts, status, latency).")

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The endpoint's id (ep_...).")
    var id: String

    @Option(help: "How many recent deliveries.")
    var limit = 20

    func perform() async -> CommandOutput {
        await options.admin { admin, store in
            let endpoint = try await admin.endpoint(id)
            let history = try await admin.history(id)
            let deliveries = try await admin.deliveries(id, limit: limit)
            var latencies: [String: Int] = [:]
            for job in deliveries {
                if let record = try await store.job(id: job.id), let last = record.attempts.last { latencies[job.id] = last.durationMilliseconds }
            }
            var json = endpoint.json
            if case .object(var object) = json {
                object["history"] = .array(history.map { .object(JSONObject([("at", .string(Timestamp.text($0.at))), ("kind", .string($0.kind)),
                                                                             ("detail", .string($0.detail))])) })
                object["deliveries"] = .array(deliveries.map { job in
                    .object(JSONObject([("job", .string(job.id)), ("state", .string(job.state.rawValue)), ("attempts", .number(Double(job.attempts))),
                                        ("last_status", job.lastStatus.map { .number(Double($0)) } ?? .null),
                                        ("latency_ms", latencies[job.id].map { .number(Double($0)) } ?? .null),
                                        ("at", .string(Timestamp.text(job.updatedAt)))]))
                })
                json = .object(object)
            }
            var text = "endpoint \(endpoint.id)\n" + StoreOptions.fieldLines([
                ("tenant", endpoint.tenant), ("url", EndpointRegistry.displayURL(endpoint.url)), ("state", endpoint.state.rawValue),
                ("types", endpoint.eventTypes?.joined(separator: ", ") ?? "every type"),
                ("secrets", "\(endpoint.secrets.count)" + (endpoint.secrets.contains { $0.expiresAt != nil } ? " (older ones expire)" : "")),
            ] + (endpoint.stateReason.map { [("reason", $0)] } ?? []))
            text += "\nhistory\n" + history.map { "  \(Timestamp.text($0.at))  \($0.kind)  \($0.detail)\n" }.joined()
            text += "\ndeliveries\n" + (deliveries.isEmpty ? "  none\n" : Table.render([["JOB", "AT", "STATE", "ATTEMPTS", "STATUS", "LATENCY"]]
                + deliveries.map { job in
                    [job.id, Timestamp.text(job.updatedAt), job.state.rawValue, "\(job.attempts)", job.lastStatus.map(String.init) ?? "-",
                     latencies[job.id].map { "\($0) ms" } ?? "-"]
                }).split(separator: "\n").map { "  " + $0 + "\n" }.joined())
            return options.output(json, text: text)
        }
    }
}

struct EndpointsUpdateCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change an endpoint's URL, event types, headers or rate limit.")

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The endpoint's id (ep_...).")
    var id: String

    @Option(help: "A new URL (https).")
    var url: String?

    @Option(name: .customLong("event-type"), help: "The event types it receives, replacing the list (repeatable).")
    var eventTypes: [String] = []

    @Flag(help: "Receive every event type.")
    var allTypes = false

    @Option(name: .customLong("header"), help: "Headers, replacing the list, 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "At most this many calls a second (0: no limit).")
    var rateLimit: Int?

    func perform() async -> CommandOutput {
        await options.admin { admin, _ in
            let types: [String]?? = allTypes ? .some(nil) : eventTypes.isEmpty ? nil : .some(eventTypes)
            let limit: Int?? = rateLimit.map { $0 == 0 ? Int?.none : Int?.some($0) }
            let endpoint = try await admin.update(id, url: url, eventTypes: types, headers: headers.isEmpty ? nil : try headerPairs(headers),
                                                  rateLimit: limit)
            return options.output(endpoint.json, text: "updated endpoint \(endpoint.id)\n")
        }
    }
}

struct EndpointsDisableCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Stop sending to an endpoint (its deliveries are dead-lettered).")

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The endpoint's id (ep_...).")
    var id: String

    @Option(help: "Why, for its history.")
    var reason = "disabled by an operator"

    func perform() async -> CommandOutput {
        await options.admin { admin, _ in
            try await admin.disable(id, reason: reason + " (\(Actor.current))")
            return CommandOutput(standardOutput: "disabled endpoint \(id)\n")
        }
    }
}

struct EndpointsEnableCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable", abstract: "Send to an endpoint again; with --replay, what failed while it was failing or disabled.")

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The endpoint's id (ep_...).")
    var id: String

    @Flag(help: "Replay its dead letters since it began failing or was disabled.")
    var replay = false

    @Option(help: "Replay its dead letters since this time or age instead (15m, 2h, 2026-11-23).", transform: TimeArgument.parse)
    var since: Date?

    @Option(help: "The connectors whose plan the replays run on.")
    var connectors = "connectors"

    func perform() async -> CommandOutput {
        await options.admin { admin, _ in
            let router = replay ? try ReplayPlanOptions.router(paths: [connectors]) : nil
            let count = try await admin.enable(id, replay: replay, router: router, since: since, by: Actor.current)
            return CommandOutput(standardOutput: "enabled endpoint \(id)" + (replay ? "; replayed \(count) dead letter(s)" : "") + "\n")
        }
    }
}

struct EndpointsRotateCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-secret",
        abstract: "Give an endpoint a new secret; the old one keeps signing for the overlap, so the customer loses nothing.")

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The endpoint's id (ep_...).")
    var id: String

    @Option(help: "How long the previous secret keeps signing (24h, as Svix).")
    var overlap = "24h"

    func perform() async -> CommandOutput {
        guard let overlap = Duration(manifoldText: overlap) else { return .failure("--overlap must be a duration such as 24h (got \(overlap))") }
        return await options.admin { admin, _ in
            let secret = try await admin.rotate(id, overlap: overlap)
            let endpoint = try await admin.endpoint(id)
            return options.output(["id": .string(id), "secret": .string(secret), "overlap": .string(overlap.manifoldText)],
                                  text: secretText(endpoint, secret: secret, verb: "rotated")
                                      + "the previous secret signs too for \(overlap.manifoldText)\n")
        }
    }
}

struct EndpointsRemoveCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove an endpoint: nothing is sent to it from now.")

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The endpoint's id (ep_...).")
    var id: String

    func perform() async -> CommandOutput {
        await options.admin { admin, _ in
            try await admin.remove(id, by: Actor.current)
            return CommandOutput(standardOutput: "removed endpoint \(id)\n")
        }
    }
}

struct EndpointsPingCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping", abstract: "Send a signed test event (manifold.ping) to an endpoint now and print its answer.")

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The endpoint's id (ep_...).")
    var id: String

    func perform() async -> CommandOutput {
        await options.admin { admin, _ in
            let transport = AsyncHTTPTransport()
            let (status, detail) = try await admin.ping(id, transport: transport)
            await transport.shutdown()
            let ok = status.map { (200..<300).contains($0) } ?? false
            return CommandOutput(standardOutput: "\(status.map(String.init) ?? "no answer") \(detail)\n", status: ok ? 0 : 1)
        }
    }
}
