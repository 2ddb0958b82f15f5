import ArgumentParser
import Foundation
import JSONValue
import ManifoldDelivery
import ManifoldStore

/// `manifold cluster status`: the engines sharing a store, what each runs, and which lanes each holds.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "The engines sharing a store: their plans, their lanes, their leases.",
        subcommands: [ClusterStatusCommand.self]
    )
}

struct ClusterStatusCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List the engines sharing the store, each with its plan version and the lanes it holds.",
        discussion: """
            An engine is live while its lease in the store is renewed (every few seconds); a lane is held by one engine \
            at a time, until its lease ends. Exit 0; 1 when the live engines run different plan versions (a reload \
            that has not reached every engine, or a failed one). Reads the store only.
            """
    )

    @OptionGroup var options: StoreOptions

    func perform() async -> CommandOutput {
        await options.reading { store in
            let now = Date()
            let live = Set(try await store.liveEngines(now: now))
            let records = try await store.engineRecords()
            let lanes = try await store.laneLeases()
            let known = Set(records.map(\.owner))
            let engines = records.filter { live.contains($0.owner) } + live.subtracting(known).sorted()
                .map { EngineRecord(owner: $0, info: [:], recordedAt: now) }
            let held = Dictionary(grouping: lanes.filter { $0.owner != nil && $0.until > now }, by: { $0.owner! })
            let plans = Set(engines.compactMap { $0.info["plan"]?.stringValue })
            let status: Int32 = plans.count > 1 ? 1 : 0
            if options.format == .json {
                let body: JSON = [
                    "engines": .array(engines.map { engine in
                        var object = engine.info.objectValue ?? JSONObject()
                        object["engine"] = .string(engine.owner)
                        object["recorded_at"] = .string(JobJSON.time(engine.recordedAt))
                        object["lanes"] = .array((held[engine.owner] ?? []).map { lease in
                            ["lane": .string(lease.lane), "token": .number(Double(lease.token)), "until": .string(JobJSON.time(lease.until))]
                        })
                        return .object(object)
                    }),
                    "unheld_lanes": .array(lanes.filter { $0.owner == nil || $0.until <= now }.map { .string($0.lane) }),
                    "plans_agree": .bool(plans.count <= 1),
                ]
                return CommandOutput(standardOutput: body.serialized(.pretty) + "\n", status: status)
            }
            guard !engines.isEmpty else {
                return CommandOutput(standardOutput: "no engine is running on \(StoreAccess.describe(options.store))\n")
            }
            var lines = ["\(engines.count) engine\(engines.count == 1 ? "" : "s") on \(StoreAccess.describe(options.store))"
                         + (plans.count > 1 ? ", running \(plans.count) different plans" : "")]
            for engine in engines {
                let info = engine.info
                let details = [info["plan"]?.stringValue.map { "plan \($0)" }, info["listen"]?.stringValue.map { "listening on \($0)" },
                               info["host"]?.stringValue.map { "on \($0)" }, info["manifold"]?.stringValue.map { "manifold \($0)" }]
                    .compactMap { $0 }.joined(separator: ", ")
                lines.append("  \(engine.owner)  \(details)")
                for lease in held[engine.owner] ?? [] {
                    lines.append("    \(lease.lane)  lease \(lease.token) until \(JobJSON.time(lease.until))")
                }
            }
            let unheld = lanes.filter { $0.owner == nil || $0.until <= now }.map(\.lane)
            if !unheld.isEmpty { lines.append("  lanes no engine holds: " + unheld.joined(separator: ", ")) }
            return CommandOutput(standardOutput: lines.joined(separator: "\n") + "\n", status: status)
        }
    }
}
