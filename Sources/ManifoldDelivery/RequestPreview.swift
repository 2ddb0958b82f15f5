public import Foundation
public import JSONValue
public import ManifoldStore

/// The calls a version's jobs would make for an event, mapped but not sent: for a shadow rollout, what the candidate
/// would have sent beside what the current version sends.
public struct PreviewedCall: Sendable, Equatable {
    public var route: String
    /// `target.operation`.
    public var call: String
    /// The request as recorded: method, URL and headers with credentials hidden, the body (or the reason it cannot be made).
    public var request: JSON
}

extension DeliveryPlan {
    /// Each job's call over `payload`, as its route (or a flow's first call step) maps it now. A mapping that cannot make
    /// a call is previewed with its reason (`bad_data`), as delivery would quarantine it.
    public func preview(_ jobs: [NewJob], connector: String, vendorEventID: String, payload: JSON,
                        headers: [(name: String, value: String)]) -> [PreviewedCall]
    {
        guard let program = connectors[connector] else { return [] }
        return jobs.compactMap { job -> PreviewedCall? in
            guard let (_, route) = route(connector, job.route) else { return nil }
            var call = route
            var label = job.route
            if let flow = route.flow, let first = flow.steps.first(where: { $0.call != nil }), let step = first.call {
                call = step
                label = "\(job.route).\(first.plan.name)"
            }
            let delivery = DeliveryJob(id: job.id, eventStoreID: "", connector: connector, route: job.route, target: call.plan.target,
                                       lane: job.lane, orderingKey: job.orderingKey, traceID: job.traceID, planVersion: version,
                                       pinsPlan: false, vendorEventID: vendorEventID, payload: payload, headers: headers,
                                       receivedAt: Date(timeIntervalSince1970: 0), attempts: 0)
            do {
                let prepared = try RequestBuilder.prepare(job: delivery, connector: program, route: call, now: 0)
                var request = prepared.record(bodyLimit: 1 << 20)
                // The body as JSON, so that a comparison reads its fields.
                if case .object(var object) = request, let text = object["body"]?.stringValue, let body = try? JSONParser.parse(text) {
                    object["body"] = body
                    request = .object(object)
                }
                return PreviewedCall(route: label, call: call.plan.call, request: request)
            } catch {
                return PreviewedCall(route: label, call: call.plan.call, request: ["bad_data": .string("\(error)")])
            }
        }
    }

    /// Whether the plan delivers `connector`'s jobs made by its routes (for a rollout's candidate).
    public func has(connector: String) -> Bool { connectors[connector] != nil }
}

extension DeliveryRuntime {
    /// Registers `plan` for the jobs pinned to its version (a rollout's candidate), beside the running plan.
    public func pin(_ plan: DeliveryPlan) {
        pinned.withLock { $0[plan.version] = plan }
    }
}
