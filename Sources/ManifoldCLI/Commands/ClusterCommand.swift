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
            let cluster = try await ClusterStatus.read(from: store)
            let status: Int32 = cluster.plans.count > 1 ? 1 : 0
            if options.format == .json {
                return CommandOutput(standardOutput: cluster.json().serialized(.pretty) + "\n", status: status)
            }
            let engines = cluster.members
            guard !engines.isEmpty else {
                return CommandOutput(standardOutput: "no engine is running on \(StoreAccess.describe(options.store))\n")
            }
            var lines = ["\(engines.count) engine\(engines.count == 1 ? "" : "s") on \(StoreAccess.describe(options.store))"
                         + (cluster.plans.count > 1 ? ", running \(cluster.plans.count) different plans" : "")]
            for engine in engines {
                let info = engine.record.info
                let details = [info["plan"]?.stringValue.map { "plan \($0)" }, info["listen"]?.stringValue.map { "listening on \($0)" },
                               info["host"]?.stringValue.map { "on \($0)" }, info["manifold"]?.stringValue.map { "manifold \($0)" }]
                    .compactMap { $0 }.joined(separator: ", ")
                lines.append("  \(engine.record.owner)  \(details)")
                for lease in engine.lanes {
                    lines.append("    \(lease.lane)  lease \(lease.token) until \(JobJSON.time(lease.until))")
                }
            }
            if !cluster.unheldLanes.isEmpty { lines.append("  lanes no engine holds: " + cluster.unheldLanes.joined(separator: ", ")) }
            return CommandOutput(standardOutput: lines.joined(separator: "\n") + "\n", status: status)
        }
    }
}
