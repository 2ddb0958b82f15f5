import Foundation
import JSONValue
import ManifoldIngress
import ManifoldPlan
import ManifoldStore

/// A step's answer as later steps read it (`$steps.NAME`): status, headers (credentials left out, names in lower
/// case) and body (parsed JSON up to 64 KB, else the first 2 KB as text), as bounded as an attempt's record.
enum FlowResult {
    static let bodyLimit = 64 * 1024

    static func of(_ response: InboundResponse) -> JSON {
        var object = JSONObject()
        object["status"] = .number(Double(response.status))
        object["headers"] = .object(JSONObject(response.headers.filter { !CredentialName.matches($0.name) }
            .map { ($0.name.lowercased(), JSON.string($0.value)) }))
        if response.body.count <= bodyLimit, let parsed = try? JSONParser.parse(bytes: response.body) {
            object["body"] = parsed
        } else if !response.body.isEmpty {
            object["body"] = .string(String(decoding: response.body.prefix(2048), as: UTF8.self))
        }
        return .object(object)
    }
}

extension DeliveryRuntime {
    /// One call of a flow job (see `FlowMachine`): the next call is found (conditions, transforms and lists
    /// evaluated), made on its step's lane as any call is (retries, 429 pauses, breaker, rate limit), and its result
    /// stored with the job's progress in the same transaction before the flow moves to its next call's lane. A call
    /// that fails for good ends the flow dead-lettered (its record holds every completed step's result) and starts the
    /// route's failure steps; an element that may continue is dead-lettered on its own and the flow goes on.
    func attemptFlow(_ job: DeliveryJob, on lane: Lane) async {
        var job = job
        let deliveryPlan = await plan(for: job)
        guard let deliveryPlan, let (connector, route) = deliveryPlan.route(job.connector, job.route), let flow = route.flow,
              deliveryPlan.delivers(job) || job.pinsPlan
        else {
            logger.warning("the plan has no flow for this job: held until it does",
                           metadata: ["job": "\(job.id)", "connector": "\(job.connector)", "route": "\(job.route)"])
            held.withLock { $0.append(job) }
            lane.finish(job, result: .done, health: .neutral)
            return
        }
        let start = FlowProgress(json: job.flow ?? .null)
        let steps = flow.steps(of: start.handler)
        let machine = steps.map(\.machine)
        let headerBindings = connector.bindings(headers: job.headers)
        let payload = job.payload
        // Find the call to make: conditions, transforms and lists run off the cooperative threads.
        let (next, progress) = await ExpressionThreads.run { () -> (FlowMachine.Next, FlowProgress) in
            var progress = start
            let next = FlowMachine.next(&progress, steps: machine,
                                        evaluate: Self.evaluator(steps, payload: payload, headers: headerBindings))
            return (next, progress)
        }
        let startedAt = clock.wall
        switch next {
        case .complete:
            await settle(job, on: lane, outcome: .delivered, progress: progress, spawn: [], errorClass: "flow_complete",
                         note: "every step done", started: startedAt)
            return
        case .quarantine(let reason):
            await settle(job, on: lane, outcome: .quarantined(reason: reason), progress: progress,
                         spawn: failureJobs(job, route: route.plan, flow: flow, failed: progress, reason: reason, status: nil as Int?),
                         errorClass: "bad_data", note: reason, started: startedAt)
            return
        case .call(let index, _, let target):
            let laneName = DeliveryPlan.lane(connector: job.connector, target: target)
            if laneName != job.lane {
                // The call is another target's: the job moves to that lane without a call.
                await settle(job, on: lane, outcome: .advance(lane: laneName, target: target), progress: progress, spawn: [],
                             errorClass: "flow_moved", note: "step '\(steps[index].plan.name)' calls \(target)", started: startedAt)
                return
            }
            guard let call = steps[index].call else { return }
            await makeCall(&job, on: lane, call: call, step: steps[index], steps: steps, progress: progress,
                           route: route, flow: flow, plan: deliveryPlan)
        }
    }

    /// Makes the current call of a flow and records what it does to the flow.
    private func makeCall(_ job: inout DeliveryJob, on lane: Lane, call: RouteProgram, step: StepProgram, steps: [StepProgram],
                          progress: FlowProgress, route: RouteProgram, flow: FlowProgram, plan deliveryPlan: DeliveryPlan) async
    {
        let prefix = progress.handler == .onFailure ? "on_failure/" : ""
        let element = FlowMachine.index(of: progress)
        let key = "\(job.connector):\(job.vendorEventID):\(job.route)/\(prefix)\(step.plan.name)" + (element.map { "/\($0)" } ?? "")
        var label = JSONObject()
        label["step"] = .string(step.plan.name)
        if let element { label["element"] = .number(Double(element)) }
        if progress.handler == .onFailure { label["handler"] = .string(progress.handler.rawValue) }
        let flowCall = FlowCall(route: call, bindings: Self.bindings(progress), key: key, origin: "\(job.route).\(step.plan.name)", label: label)
        let startedAt = clock.wall
        let started = ContinuousClock.now
        let span = startSpan(for: job)
        let (outcome, exchange) = await perform(job, with: deliveryPlan, traceparent: traceparent(of: span, job: job), flowCall: flowCall)
        let duration = ContinuousClock.now - started
        if outcome.countsAsAttempt {
            job.attempts += 1
            if job.firstAttemptAt == nil { job.firstAttemptAt = startedAt }
        }
        let targetPlan = self.plan?.connectors[job.connector]?.targets[job.target]?.plan
        let policy = targetPlan?.retry ?? .defaults
        let wall = clock.wall
        let elapsed = Duration.milliseconds(Int64(wall.timeIntervalSince(job.firstAttemptAt ?? startedAt) * 1000))
        var generator = JitterSource(jitter: jitter)
        let now = clock.now
        let machine = steps.map(\.machine)
        let headerBindings = deliveryPlan.route(job.connector, job.route)?.0.bindings(headers: job.headers) ?? [:]
        let payload = job.payload

        var stored: JobOutcome
        var laneResult: LaneState<DeliveryJob>.Result
        var health: LaneState<DeliveryJob>.Health
        var after = progress
        var spawn: [NewJob] = []
        /// The flow after its current call is done (succeeded, or failed and let it go on): the next call, or its end.
        func moveOn(_ progress: FlowProgress) async -> (JobOutcome, FlowProgress, [NewJob]) {
            let (next, moved) = await ExpressionThreads.run { () -> (FlowMachine.Next, FlowProgress) in
                var moved = progress
                let next = FlowMachine.next(&moved, steps: machine, evaluate: Self.evaluator(steps, payload: payload, headers: headerBindings))
                return (next, moved)
            }
            switch next {
            case .complete: return (.delivered, moved, [])
            case .call(_, _, let target):
                return (.advance(lane: DeliveryPlan.lane(connector: job.connector, target: target), target: target), moved, [])
            case .quarantine(let reason):
                return (.quarantined(reason: reason), moved,
                        failureJobs(job, route: route.plan, flow: flow, failed: moved, reason: reason, status: nil as Int?))
            }
        }
        /// The current call failed for good with `reason`.
        func fail(_ reason: String, status: Int?) async -> (JobOutcome, FlowProgress, [NewJob]) {
            var failed = progress
            if FlowMachine.failed(&failed, steps: machine, reason: reason, status: status) {
                var letter = NewJob(route: job.route, target: job.target, lane: job.lane, orderingKey: job.orderingKey,
                                    traceID: job.traceID, planVersion: job.planVersion, pinsPlan: job.pinsPlan,
                                    flow: FlowMachine.elementLetter(of: progress).json)
                letter.state = .dead
                letter.reason = reason
                let (outcome, moved, more) = await moveOn(failed)
                return (outcome, moved, [letter] + more)
            }
            return (.dead(reason: reason), failed,
                    failureJobs(job, route: route.plan, flow: flow, failed: failed, reason: reason, status: status))
        }

        let decision = JobLifecycle.decide(outcome, policy: policy, attempts: job.attempts, elapsed: elapsed, wall: wall, now: now,
                                           using: &generator)
        (stored, laneResult, health) = (decision.stored, decision.lane, decision.health)
        // The call is over: the lane's next job may start while the flow moves on and its outcome is written (the key
        // stays taken and a retry waits until it is), as for a single call.
        lane.answered(job, health: health, pausedUntil: laneResult.pause)
        switch decision.stored {
        case .delivered:
            // The call succeeded: the flow stores its answer and moves on.
            var done = progress
            FlowMachine.completed(&done, steps: machine, result: exchange?.result ?? .null)
            (stored, after, spawn) = await moveOn(done)
        case .dead:
            (stored, after, spawn) = await fail(decision.failure?.reason ?? "failed", status: decision.failure?.status)
        case .quarantined(let reason):
            var failed = progress
            _ = FlowMachine.failed(&failed, steps: machine, reason: reason, status: nil)
            failed.failedElements = progress.failedElements
            (stored, after, spawn) = (.quarantined(reason: reason), failed,
                                      failureJobs(job, route: route.plan, flow: flow, failed: failed, reason: reason, status: nil as Int?))
        case .retry, .advance:
            break
        }
        let record = AttemptRecord(
            jobID: job.id, startedAt: startedAt, duration: duration, countsAsAttempt: outcome.countsAsAttempt,
            errorClass: outcome.errorClass, request: recorded(exchange?.request, outcome: outcome), responseStatus: outcome.status,
            responseHeaders: exchange?.responseHeaders ?? [], responseBody: exchange?.responseBody,
            error: outcome.reason.map { "step '\(step.plan.name)'\(element.map { " element \($0)" } ?? ""): \($0)" })
        let retrying: Bool = if case .retry = stored { true } else { false }
        let ours = await store(record, job: job, outcome: stored, progress: retrying ? nil : after, spawn: spawn)
        log(job, outcome: outcome, stored: stored, duration: duration)
        end(span, job: job, outcome: outcome, stored: stored, request: exchange?.request)
        report(AttemptReport(
            job: job, outcome: stored, errorClass: outcome.errorClass, status: outcome.status, duration: duration,
            endToEnd: stored == .delivered ? .milliseconds(Int64(wall.timeIntervalSince(job.receivedAt) * 1000)) : nil,
            rateLimitWait: { if case .rateLimited(let until) = laneResult { return until - now } else { return nil } }(),
            reason: outcome.reason, finishedAt: wall))
        guard ours else { return letGo(job, on: lane, answered: true) }
        finish(job, on: lane, stored: stored, progress: after, result: laneResult, health: health, spawned: spawn, answered: true)
    }

    /// A job this engine no longer holds (its outcome was refused as fenced): out of memory and off its lane.
    private func letGo(_ job: DeliveryJob, on lane: Lane, answered: Bool) {
        finished(job)
        release(job, on: lane, result: .done, health: .neutral, answered: answered)
    }

    /// The job's place on its lane given back: settled when its call was answered already (`Lane.answered`), finished
    /// whole when no call was made.
    private func release(_ job: DeliveryJob, on lane: Lane, result: LaneState<DeliveryJob>.Result,
                         health: LaneState<DeliveryJob>.Health, answered: Bool)
    {
        if answered {
            lane.settle(job, result: result)
        } else {
            lane.finish(job, result: result, health: health)
        }
    }

    /// Records a decision of a flow without a call (moved to another lane, completed, quarantined) and acts on it.
    private func settle(_ job: DeliveryJob, on lane: Lane, outcome: JobOutcome, progress: FlowProgress, spawn: [NewJob],
                        errorClass: String, note: String, started: Date) async
    {
        let record = AttemptRecord(jobID: job.id, startedAt: started, duration: .zero, countsAsAttempt: false, errorClass: errorClass,
                                   request: nil, responseStatus: nil, responseHeaders: [], responseBody: nil, error: note)
        guard await store(record, job: job, outcome: outcome, progress: progress, spawn: spawn) else {
            return letGo(job, on: lane, answered: false)
        }
        finish(job, on: lane, stored: outcome, progress: progress, result: .done, health: .neutral, spawned: spawn, answered: false)
    }

    /// Records a flow's attempt or decision; `false` when the job is no longer this engine's (fenced).
    private func store(_ record: AttemptRecord, job: DeliveryJob, outcome: JobOutcome, progress: FlowProgress?, spawn: [NewJob]) async -> Bool {
        var record = record
        record.owner = owner
        record.fence = known.withLock { $0.fence(of: job.id) } ?? job.fence
        do {
            try await self.store.record(record, outcome: outcome, flow: progress?.json, spawn: spawn)
        } catch let error as StoreError where error.isFenced {
            logger.warning("the job is no longer this engine's; its outcome is not recorded and it is let go",
                           metadata: ["job": "\(job.id)", "error": "\(error)"])
            return false
        } catch {
            statistics.withLock { $0.recordFailures += 1 }
            logger.error("recording a flow's step failed; the job stays leased and is tried again",
                         metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
        statistics.withLock { statistics in
            switch outcome {
            case .delivered: statistics.delivered += 1
            case .retry: statistics.retried += 1
            case .dead: statistics.deadLettered += 1
            case .quarantined: statistics.quarantined += 1
            case .advance: break
            }
        }
        return true
    }

    /// The lane's side of an outcome: a retry stays; a flow that moves on goes to its next call's lane (in memory,
    /// still leased: the store has it on that lane already); an ended flow leaves memory.
    private func finish(_ job: DeliveryJob, on lane: Lane, stored: JobOutcome, progress: FlowProgress,
                        result: LaneState<DeliveryJob>.Result, health: LaneState<DeliveryJob>.Health, spawned: [NewJob],
                        answered: Bool)
    {
        // Jobs this outcome made that run (a flow's failure steps) go to their lanes now; an element's dead letter waits.
        let running = spawned.filter { $0.state == .pending }.map { made in
            DeliveryJob(id: made.id, eventStoreID: job.eventStoreID, connector: job.connector, route: made.route, target: made.target,
                        lane: made.lane, orderingKey: made.orderingKey, traceID: made.traceID, planVersion: made.planVersion,
                        pinsPlan: made.pinsPlan, vendorEventID: job.vendorEventID, payload: job.payload, headers: job.headers,
                        receivedAt: job.receivedAt, attempts: 0, firstAttemptAt: nil, flow: made.flow)
        }
        // Placed before this job leaves memory: the backlog never reads zero while the flow still has work.
        if !running.isEmpty { place(running) }
        switch stored {
        case .retry:
            release(job, on: lane, result: result, health: health, answered: answered)
        case .advance(let next, let target):
            let moved = DeliveryJob(id: job.id, eventStoreID: job.eventStoreID, connector: job.connector, route: job.route, target: target,
                                lane: next, orderingKey: job.orderingKey, traceID: job.traceID, planVersion: job.planVersion,
                                pinsPlan: job.pinsPlan, vendorEventID: job.vendorEventID, payload: job.payload, headers: job.headers,
                                receivedAt: job.receivedAt, attempts: 0, firstAttemptAt: nil, flow: progress.json,
                                fence: known.withLock { $0.fence(of: job.id) } ?? job.fence)
            // One step in memory: counted on its next lane before it leaves this one (the backlog never reads zero).
            known.withLock { known in
                known.remove(job)
                known.insert([moved])
            }
            release(job, on: lane, result: .done, health: health, answered: answered)
            place([moved])
        case .delivered, .dead, .quarantined:
            finished(job)
            release(job, on: lane, result: .done, health: health, answered: answered)
        }
        observer?(job, stored)
    }

    /// The job of a route's failure steps, when a flow (not its failure steps, not an element's own letter) fails
    /// and the route has them: it reads the failure and the completed steps' results.
    private func failureJobs(_ job: DeliveryJob, route: RoutePlan, flow: FlowProgram, failed: FlowProgress, reason: String,
                             status: Int?) -> [NewJob]
    {
        let start = FlowProgress(json: job.flow ?? .null)
        guard start.handler == .steps, !start.only, let first = flow.onFailure.first(where: { $0.call != nil })?.plan.call else { return [] }
        var failed = failed
        if case .none = failed.failure {
            var failure = JSONObject()
            failure["step"] = .string(failed.step < flow.steps.count ? flow.steps[failed.step].plan.name : "")
            failure["reason"] = .string(reason)
            if let status { failure["status"] = .number(Double(status)) }
            failed.failure = .object(failure)
        }
        return [NewJob(route: job.route, target: first.target, lane: DeliveryPlan.lane(connector: job.connector, target: first.target),
                       orderingKey: nil, traceID: job.traceID, planVersion: job.planVersion, pinsPlan: job.pinsPlan,
                       flow: FlowMachine.failureHandler(of: failed).json)]
    }

    /// What a step's expressions read beside the event: `$steps`, `$failure`, and in a for_each `$item` and `$index`.
    static func bindings(_ progress: FlowProgress) -> [String: JSON] {
        var bindings: [String: JSON] = ["steps": .object(progress.results)]
        if let failure = progress.failure { bindings["failure"] = failure }
        if let element = progress.element, let items = progress.items, items.indices.contains(element) {
            bindings["item"] = items[element]
            bindings["index"] = .number(Double(FlowMachine.index(of: progress) ?? element))
        }
        return bindings
    }

    /// The machine's evaluator over compiled steps.
    static func evaluator(_ steps: [StepProgram], payload: JSON, headers: [String: JSON]) -> FlowMachine.Evaluator {
        func bindings(_ progress: FlowProgress) -> [String: JSON] {
            var all = headers
            for (name, value) in Self.bindings(progress) { all[name] = value }
            return all
        }
        return FlowMachine.Evaluator(
            condition: { index, progress in
                guard let condition = steps[index].condition else { return true }
                return try condition.evaluate(payload, bindings: bindings(progress)).map(Router.isTrue) ?? false
            },
            list: { index, progress in try steps[index].forEach?.evaluate(payload, bindings: bindings(progress)) },
            value: { index, progress in try steps[index].value?.evaluate(payload, bindings: bindings(progress)) })
    }
}
