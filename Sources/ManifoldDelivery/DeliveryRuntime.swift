public import Foundation
public import JSONValue
public import Logging
public import ManifoldIngress
import ManifoldPlan
public import ManifoldStore
import Synchronization
public import Tracing

/// Delivers jobs: a lane per target (queue, concurrency, rate limit, breaker), a worker per call, every attempt
/// and outcome recorded before its job moves on (its key's next job, its retry). Jobs are leased in the store and
/// the leases renewed; a sweep claims jobs nobody holds (replays, jobs of an engine that died, leases that ran out).
public final class DeliveryRuntime: Sendable {
    public struct Configuration: Sendable {
        /// How long a claimed job stays ours without renewal: after a crash, its jobs resume this much later.
        public var leaseDuration: Duration = .seconds(10)
        /// How often the store is swept for unclaimed jobs.
        public var sweepInterval: Duration = .seconds(1)
        /// Jobs of one lane held in memory; past it, new jobs of that lane wait in the store and are claimed as the
        /// lane drains (memory stays flat however long a vendor is down).
        public var laneWindow = 5_000
        /// Jobs held in memory over all lanes.
        public var maximumBacklog = 50_000
        /// At shutdown, how long calls in flight may take to finish.
        public var drainTimeout: Duration = .seconds(10)
        /// Added to every rate-limit window, so that network jitter cannot make the vendor see one call too many.
        public var windowMargin: @Sendable (Duration) -> Duration = { window in min(window / 50, .milliseconds(200)) }
        /// Jitter from a generator with this seed (the same waits every run), instead of the system's randomness.
        public var jitterSeed: UInt64?
        /// Starts a span per attempt and writes the `traceparent` vendors get (the bootstrapped tracer by default;
        /// with none, calls still carry a `traceparent` of the event's trace).
        public var tracer: (any Tracer)?
        /// Whether a customer endpoint's address is checked before each call (off only where the transport is
        /// scripted and nothing leaves the process: `manifold test`).
        public var checksEndpointAddresses = true
        /// Whether engines share the store (PostgreSQL): then each lane runs only on the engine holding its lease, so
        /// its rate limit, concurrency, breaker and order hold across them (`LaneOwnership`). Alone on its store
        /// (SQLite), an engine runs every lane.
        public var sharesStore = false
        /// Whether a delivered call's record keeps its body (cut at 4 KB) rather than only its SHA-256 and size. Off
        /// in `manifold run` (a kilobyte per delivery, and the body can be made again from the event and its plan);
        /// on in `manifold test`, whose expectations compare the bodies sent. A failed call always keeps its body.
        public var keepsDeliveredBodies = false

        public init() {}
    }

    /// Counts since start, for tests, benchmarks and (later) metrics.
    public struct Statistics: Sendable, Equatable {
        public var delivered = 0
        public var retried = 0
        public var rateLimited = 0
        public var deadLettered = 0
        public var quarantined = 0
        public var recordFailures = 0
    }

    public let owner: String
    let store: any JobStore
    public let transport: any HTTPTransport
    public let clock: any RuntimeClock
    let logger: Logger
    let configuration: Configuration
    /// Loads the delivery plan of an older version, for jobs that pin theirs (replays on the original plan).
    let planLoader: @Sendable (String) async throws -> DeliveryPlan?
    /// Told every recorded outcome (tests and benchmarks).
    let observer: (@Sendable (DeliveryJob, JobOutcome) -> Void)?
    /// Customers' endpoints, for endpoints targets.
    public let endpoints: EndpointRegistry?

    let current = Mutex<DeliveryPlan?>(nil)
    let pinned = Mutex<[String: DeliveryPlan]>([:])
    let lanes = Mutex<[String: Lane]>([:])
    private let limiters = Mutex<[String: SlidingWindowLimiter]>([:])
    /// Jobs in memory (queued or in flight), by lane, so that a sweep never claims one twice.
    let known = Mutex(ResidentJobs())
    /// Jobs whose connector, target or route the running plan does not have (a reload removed it): kept in memory
    /// and leased, reported, resumed when a plan has it again; never dropped.
    let held = Mutex<[DeliveryJob]>([])
    private let stopping = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)
    let statistics = Mutex(Statistics())
    private let monitors = Mutex<[any DeliveryMonitor]>([])
    let jitter: Jitter
    /// Lanes of endpoints disabled or removed whose pending jobs were dead-lettered (once, until enabled again).
    private let retiredLanes = Mutex<Set<String>>([])
    /// The store's lane leases, when engines share it (`Configuration.sharesStore`); `nil` alone on a store. Taken once:
    /// ingest, placing and claiming ask for it on every job.
    let laneStore: (any LaneLeaseStore)?
    /// The lanes this engine holds, when engines share the store.
    let ownership: Mutex<LaneOwnership>
    /// Lanes given up whose calls in flight have not finished: released in the store once they have.
    let releasing = Mutex<Set<String>>([])
    /// A claim woken by jobs stored for a lane held here (`jobsStored`): one at a time, once more if asked meanwhile.
    let claimWake = Mutex<(running: Bool, again: Bool)>((false, false))
    /// Claims run one at a time (the sweep's, a refill's, a wake's): two at once would take consecutive jobs of a lane
    /// (the second skipping the rows the first holds) and could place the later ones first.
    let claiming = SerialGate()

    public init(store: any JobStore, transport: any HTTPTransport, clock: any RuntimeClock = SystemRuntimeClock(),
                logger: Logger, configuration: Configuration = Configuration(),
                owner: String = "engine-" + TraceContext.newSpanID(),
                planLoader: @escaping @Sendable (String) async throws -> DeliveryPlan? = { _ in nil },
                observer: (@Sendable (DeliveryJob, JobOutcome) -> Void)? = nil, endpoints: EndpointRegistry? = nil)
    {
        self.observer = observer
        self.endpoints = endpoints
        jitter = Jitter(seed: configuration.jitterSeed)
        self.store = store
        self.transport = transport
        self.clock = clock
        self.logger = logger
        self.configuration = configuration
        self.owner = owner
        self.planLoader = planLoader
        ownership = Mutex(LaneOwnership(leaseDuration: configuration.leaseDuration.timeInterval))
        laneStore = configuration.sharesStore ? store as? any LaneLeaseStore : nil
    }

    public var stats: Statistics { statistics.withLock { $0 } }

    /// Adds a monitor, told every recorded attempt from now on (metrics, the dashboard, alerts).
    public func attach(_ monitor: any DeliveryMonitor) {
        monitors.withLock { $0.append(monitor) }
    }

    /// OAuth clients, kept across plan swaps while a target's credentials stay the same (no new token fetch).
    public let tokens = OAuth2TokenCache()

    /// The lease a job made now gets.
    public var newLease: (owner: String, until: Date) { (owner, Date() + configuration.leaseDuration.timeInterval) }

    /// The lease for the jobs of a new event, if their lanes have room in memory (then `enqueue` them); `nil` when
    /// a lane's window is full: store them unleased, and the sweep claims them as the lane drains.
    public func leaseForNewJobs(lanes: [String]) -> (owner: String, until: Date)? {
        // Engines sharing the store: every job goes through the store, claimed by the engine holding its lane in the
        // order the store took them (`jobsStored`), so that an event received here never overtakes an earlier one of
        // its key that another engine received.
        if laneStore != nil { return nil }
        let admitted = known.withLock { $0.admits(lanes, window: configuration.laneWindow, total: configuration.maximumBacklog) }
        return admitted ? newLease : nil
    }

    // MARK: Plan

    /// Runs `plan` from now on: lanes of new targets open, lanes of kept targets take the new policies and keep
    /// their queue, breaker and limiter when those policies stay the same. Queued jobs of a lane the plan no longer
    /// has are held; held jobs whose route the plan has again go back to their lane. Calls in flight finish on the
    /// plan they started with; queued jobs are mapped with `plan` when they start.
    public func install(_ plan: DeliveryPlan) {
        current.withLock { $0 = plan }
        let targets = plan.targetsByLane
        var touched: [Lane] = []
        for (name, target) in targets {
            let limiter = limiter(for: target)
            let breaker = CircuitBreaker(threshold: target.plan.circuitBreaker.failures,
                                         openFor: target.plan.circuitBreaker.openFor)
            let lane = lane(name, target: target, limiter: limiter, breaker: breaker)
            lane.update { state in
                state.concurrency = max(1, target.plan.concurrency)
                state.limiter = limiter
                if state.breaker.threshold != breaker.threshold || state.breaker.openFor != breaker.openFor {
                    state.breaker = breaker
                }
            }
            touched.append(lane)
        }
        let retired = lanes.withLock { lanes in lanes.filter { plan.target(forLane: $0.key) == nil }.map(\.value) }
        let resumed = held.withLock { held -> [DeliveryJob] in
            let resumed = held.filter { plan.delivers($0) }
            held.removeAll { plan.delivers($0) }
            return resumed
        }
        if !resumed.isEmpty {
            logger.notice("held jobs resume: the plan has their routes again", metadata: ["jobs": "\(resumed.count)"])
            place(resumed)
        }
        for lane in retired {
            let jobs = lane.removeQueued()
            guard !jobs.isEmpty else { continue }
            logger.warning("the plan has no target for queued jobs: they are held until it does",
                           metadata: ["lane": "\(lane.name)", "jobs": "\(jobs.count)"])
            held.withLock { $0.append(contentsOf: jobs) }
        }
    }

    /// Held jobs by `connector/route`: jobs whose route the running plan does not have, kept until it does.
    public var heldJobs: [String: Int] {
        held.withLock { held in
            var counts: [String: Int] = [:]
            for job in held { counts[job.connector + "/" + job.route, default: 0] += 1 }
            return counts
        }
    }

    func limiter(for target: TargetProgram) -> SlidingWindowLimiter? {
        guard let limit = target.plan.rateLimit, let key = target.limiterKey else { return nil }
        let window = limit.per + configuration.windowMargin(limit.per)
        return limiters.withLock { limiters in
            if let existing = limiters[key], existing.requests == limit.requests, existing.window == window { return existing }
            let limiter = SlidingWindowLimiter(requests: limit.requests, window: window)
            limiters[key] = limiter
            return limiter
        }
    }

    /// The running delivery plan.
    public var plan: DeliveryPlan? { current.withLock { $0 } }

    // MARK: Jobs in

    /// Hands jobs just stored with their event (and leased to this engine) to their lanes.
    public func enqueue(_ jobs: [NewJob], eventStoreID: String, connector: String, vendorEventID: String, payload: JSON,
                        headers: [(name: String, value: String)], receivedAt: Date)
    {
        place(jobs.map { job in
            DeliveryJob(id: job.id, eventStoreID: eventStoreID, connector: connector, route: job.route, target: job.target,
                        lane: job.lane, orderingKey: job.orderingKey, traceID: job.traceID, planVersion: job.planVersion,
                        pinsPlan: job.pinsPlan, vendorEventID: vendorEventID, payload: payload, headers: headers,
                        receivedAt: receivedAt, attempts: 0, firstAttemptAt: nil, flow: job.flow)
        })
    }

    func place(_ jobs: [DeliveryJob], notBefore: [String: Duration] = [:]) {
        var jobs = jobs
        if laneStore != nil {
            // A job for a lane another engine runs (a flow's next call, a claim that raced a lost lease) is let go there.
            let wall = clock.wall
            let (mine, others) = ownership.withLock { held in
                (jobs.filter { held.holds($0.lane, at: wall) }, jobs.filter { !held.holds($0.lane, at: wall) })
            }
            if !others.isEmpty { handBack(others) }
            jobs = mine
        }
        known.withLock { $0.insert(jobs) }
        var byLane: [String: [DeliveryJob]] = [:]
        for job in jobs { byLane[job.lane, default: []].append(job) }
        for (name, jobs) in byLane {
            guard let target = plan?.target(forLane: name), let lane = lanes.withLock({ $0[name] }) ?? endpointLane(name, target: target)
            else {
                logger.warning("the plan has no target for these jobs: they are held until it does",
                               metadata: ["lane": "\(name)", "jobs": "\(jobs.count)"])
                held.withLock { $0.append(contentsOf: jobs) }
                continue
            }
            // Claimed jobs keep their retry time; the lane takes each at its own.
            let now = clock.now
            lane.enqueue(jobs.filter { notBefore[$0.id] == nil })
            for job in jobs { if let at = notBefore[job.id] { lane.enqueue([job], notBefore: max(now, at)) } }
        }
    }

    /// An endpoint's lane, made the first time one of its jobs arrives: the target's policies, and the endpoint's
    /// own rate limit when it has one. A slow or dead endpoint delays only its own lane.
    private func endpointLane(_ name: String, target: TargetProgram) -> Lane? {
        guard target.plan.endpoints != nil, let endpoint = DeliveryPlan.endpoint(ofLane: name) else { return nil }
        let limit = endpoints?.endpoint(endpoint)?.stored.rateLimit
        let limiter = limit.map { SlidingWindowLimiter(requests: $0, window: .seconds(1) + configuration.windowMargin(.seconds(1))) }
        let breaker = CircuitBreaker(threshold: target.plan.circuitBreaker.failures, openFor: target.plan.circuitBreaker.openFor)
        return lane(name, target: target, limiter: limiter, breaker: breaker)
    }

    /// The lane named `name`, made with the target's policies if there is none yet.
    private func lane(_ name: String, target: TargetProgram, limiter: SlidingWindowLimiter?, breaker: CircuitBreaker) -> Lane {
        lanes.withLock { lanes -> Lane in
            if let lane = lanes[name] { return lane }
            var state = LaneState<DeliveryJob>(concurrency: target.plan.concurrency, limiter: limiter, breaker: breaker)
            state.ownership = ownershipState(of: name, window: limiter?.window)
            let lane = Lane(name: name, connector: target.connector, target: target.plan.name, state: state,
                            clock: clock, isStopping: { [weak self] in self?.stopping.load(ordering: .relaxed) ?? true },
                            start: { [weak self] job, lane in self?.start(job, on: lane) })
            lanes[name] = lane
            return lane
        }
    }

    /// The lanes of endpoints disabled or removed: their queued jobs leave memory and every pending job of theirs is
    /// dead-lettered at once, in one transaction, with the reason (replayable when the endpoint is enabled again),
    /// rather than one attempt record each.
    private func retireEndpointLanes(_ endpoints: EndpointRegistry) async {
        let retired = retiredLanes.withLock { retired in
            retired = retired.filter { name in DeliveryPlan.endpoint(ofLane: name).flatMap { endpoints.endpoint($0) }?.stored.state != .enabled }
            return retired
        }
        let retiring = lanes.withLock { lanes in
            lanes.filter { name, _ in
                guard !retired.contains(name), let id = DeliveryPlan.endpoint(ofLane: name) else { return false }
                return endpoints.endpoint(id)?.stored.state != .enabled
            }
        }
        for (name, lane) in retiring {
            let id = DeliveryPlan.endpoint(ofLane: name) ?? ""
            let endpoint = endpoints.endpoint(id)
            let reason = endpoint.map { "the endpoint is disabled (\($0.stored.stateReason ?? "by an operator")): replay once it is enabled" }
                ?? "the endpoint was removed"
            let queued = lane.removeQueued()
            known.withLock { known in for job in queued { known.remove(job) } }
            do {
                let count = try await store.deadLetter(lane: name, reason: reason)
                if count > 0 {
                    logger.notice("endpoint's deliveries dead-lettered", metadata: ["lane": "\(name)", "jobs": "\(count)", "reason": "\(reason)"])
                }
            } catch {
                logger.error("dead-lettering an endpoint's deliveries failed", metadata: ["lane": "\(name)", "error": "\(error)"])
            }
            retiredLanes.withLock { _ = $0.insert(name) }
            if endpoint == nil { lanes.withLock { $0[name] = nil } }
        }
    }

    /// Every lane the sweep claims for: the plan's targets, and for each endpoints target the prefix of its
    /// endpoints' lanes (`connector/target@`: one claim for all of them, however many endpoints there are).
    private var sweptLanes: [String] {
        guard let plan else { return [] }
        return plan.targetsByLane.map { $0.value.plan.endpoints == nil ? $0.key : $0.key + "@" }.sorted()
    }

    /// Counts a finished job out of memory; when its lane has drained to half its window with jobs left in the store,
    /// claims more now rather than at the next sweep (see `ResidentJobs`).
    func finished(_ job: DeliveryJob) {
        let refill = known.withLock { $0.remove(job, window: configuration.laneWindow) }
        guard refill, !stopping.load(ordering: .relaxed) else {
            if refill { known.withLock { $0.refilled() } }
            return
        }
        Task {
            await self.claimWhereRoom()
            self.known.withLock { $0.refilled() }
        }
    }

    /// One round of what `run` does on two loops: the endpoints refreshed, the lanes shared (engines sharing the
    /// store), and unclaimed jobs claimed lane by lane as far as each lane's window has room; returns how many.
    @discardableResult
    public func sweep() async -> Int {
        await refreshEndpoints()
        await shareLanes()
        return await claimWhereRoom()
    }

    /// Customers' endpoints as the store has them now; an endpoint whose span of failures is over is disabled.
    func refreshEndpoints() async {
        guard let endpoints else { return }
        do {
            try await endpoints.refresh()
        } catch {
            logger.error("loading the endpoints failed", metadata: ["error": "\(error)"])
        }
        // An endpoint whose lane makes no attempts (its breaker is open) is still disabled when its span is over.
        await endpoints.elapsed(at: clock.wall)
        await retireEndpointLanes(endpoints)
    }

    /// Claims unclaimed jobs from the store for every lane with room in its window; returns how many.
    @discardableResult
    func claimWhereRoom() async -> Int {
        await claiming.enter()
        defer { claiming.leave() }
        var claimed: [ClaimedJob] = []
        let sweptAt = clock.wall
        let claiming = laneStore == nil ? sweptLanes : ownership.withLock { held in held.held.keys.filter { held.holds($0, at: sweptAt) }.sorted() }
        for lane in claiming {
            let room = known.withLock {
                min(configuration.laneWindow - $0.count(in: lane), configuration.maximumBacklog - $0.total)
            }
            guard room > 0 else { continue }
            do {
                let jobs = try await store.claimJobs(owner: owner, leaseUntil: newLease.until, now: Date(), limit: room, lane: lane)
                known.withLock { $0.claimed(jobs.count, in: lane, room: room) }
                claimed += jobs
            } catch {
                logger.error("claiming jobs failed", metadata: ["lane": "\(lane)", "error": "\(error)"])
            }
        }
        let fresh = known.withLock { $0.reclaimed(claimed, id: \.job.id, fence: \.fence) }
        guard !fresh.isEmpty else { return 0 }
        var notBefore: [String: Duration] = [:]
        let wall = Date()
        let now = clock.now
        let jobs = fresh.map { claim -> DeliveryJob in
            let job = claim.job
            if let time = job.notBefore, time > wall {
                notBefore[job.id] = now + .milliseconds(Int64(time.timeIntervalSince(wall) * 1000))
            }
            let payload = WebhookEndpoint.payload(of: claim.event.body, contentType: claim.event.contentType) ?? .null
            return DeliveryJob(id: job.id, eventStoreID: job.eventID, connector: job.connector, route: job.route,
                               target: job.target, lane: job.lane, orderingKey: job.orderingKey, traceID: job.traceID,
                               planVersion: job.planVersion, pinsPlan: job.pinsPlan,
                               vendorEventID: claim.event.summary.eventID, payload: payload, headers: claim.event.headers,
                               receivedAt: claim.event.summary.receivedAt, attempts: job.attempts,
                               firstAttemptAt: job.firstAttemptAt, flow: job.flow, fence: claim.fence)
        }
        logger.info("claimed jobs", metadata: ["jobs": "\(jobs.count)"])
        place(jobs, notBefore: notBefore)
        return jobs.count
    }

    // MARK: Running

    /// Sweeps and renews leases until cancelled or `shutdown` is set; then stops starting calls, lets those in flight
    /// finish (up to the drain timeout) and gives the leases back.
    public func run(until shutdown: @escaping @Sendable () -> Bool = { false }) async {
        await renewEngineLease(taking: true)
        // Engines sharing a store that says when jobs are stored: claimed at once by the lane's engine.
        let wakeups = laneStore != nil ? (store as? any JobWakeups).map { wakeups in
            Task { for await lane in wakeups.jobWakeups() { self.jobsStored(lanes: [lane]) } }
        } : nil
        defer { wakeups?.cancel() }
        await shareLanes()
        // The leases are kept on a loop of their own: a claim or an endpoints' refresh held up behind a busy store
        // (appends queued for its connections) must not hold up their renewal, or this engine's jobs and lanes would
        // run out under it and another engine would call them again.
        let keeper = Task { await self.keepLeases(until: shutdown) }
        repeat {
            await refreshEndpoints()
            await claimWhereRoom()
            try? await Task.sleep(for: configuration.sweepInterval)
        } while !Task.isCancelled && !shutdown()
        keeper.cancel()
        await keeper.value
        await drain()
    }

    /// Renews the engine's lease a third of the way through it and, engines sharing the store, shares the lanes at
    /// every sweep's interval (or a third of a lease, when sooner), until cancelled or `shutdown` is set.
    func keepLeases(until shutdown: @escaping @Sendable () -> Bool) async {
        let tick = min(configuration.sweepInterval, configuration.leaseDuration / 3)
        var lastRenewal = clock.now
        while !Task.isCancelled, !shutdown() {
            try? await Task.sleep(for: tick)
            if Task.isCancelled || shutdown() { break }
            if clock.now - lastRenewal >= configuration.leaseDuration / 3 {
                lastRenewal = clock.now
                await renewEngineLease(taking: false)
            }
            await shareLanes()
        }
    }

    private func renewEngineLease(taking: Bool) async {
        do {
            try await store.renewLeases(owner: owner, until: newLease.until)
        } catch {
            logger.error(taking ? "taking the engine's lease failed" : "renewing leases failed", metadata: ["error": "\(error)"])
        }
    }

    /// Stops starting calls, waits for those in flight, releases the leases.
    public func drain() async {
        stopping.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + configuration.drainTimeout
        while inFlight.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        do {
            if let laneStore {
                let lanes = ownership.withLock { held in
                    let lanes = Array(held.held.keys)
                    held.released(lanes, at: clock.wall)
                    return lanes
                }
                try await laneStore.releaseLanes(lanes, owner: owner, at: clock.wall)
            }
            try await store.releaseLeases(owner: owner)
        } catch {
            logger.error("releasing leases failed", metadata: ["error": "\(error)"])
        }
    }

    /// Every lane of the running plan as it is now: breaker, queue, calls in flight, oldest queued event.
    public var laneStatuses: [LaneStatus] {
        let running = plan
        return lanes.withLock { $0 }.filter { running?.target(forLane: $0.key) != nil }.map(\.value.status).sorted { $0.lane < $1.lane }
    }

    /// One lane of the running plan as it is now (`connector/target`), or nil.
    public func laneStatus(_ lane: String) -> LaneStatus? {
        guard plan?.target(forLane: lane) != nil else { return nil }
        return lanes.withLock { $0[lane] }?.status
    }

    /// Jobs in memory: queued, waiting or in flight.
    public var backlog: Int { known.withLock { $0.total } }

    // MARK: One attempt

    private func start(_ job: DeliveryJob, on lane: Lane) {
        inFlight.add(1, ordering: .relaxed)
        Task {
            await self.attempt(job, on: lane)
            self.inFlight.subtract(1, ordering: .relaxed)
        }
    }

    private func attempt(_ job: DeliveryJob, on lane: Lane) async {
        if job.isFlow {
            await attemptFlow(job, on: lane)
            return
        }
        var job = job
        // The plan the call is made with, fixed now: a reload during the call does not change it.
        let deliveryPlan = await plan(for: job)
        if !job.pinsPlan, deliveryPlan?.delivers(job) != true {
            logger.warning("the plan has no route for this job: held until it does",
                           metadata: ["job": "\(job.id)", "connector": "\(job.connector)", "route": "\(job.route)"])
            held.withLock { $0.append(job) }
            lane.finish(job, result: .done, health: .neutral)
            return
        }
        let startedAt = clock.wall
        let started = ContinuousClock.now
        let span = startSpan(for: job)
        let (outcome, prepared) = await perform(job, with: deliveryPlan, traceparent: traceparent(of: span, job: job))
        let duration = ContinuousClock.now - started
        let counts = outcome.countsAsAttempt
        if counts {
            job.attempts += 1
            if job.firstAttemptAt == nil { job.firstAttemptAt = startedAt }
        }
        let targetPlan = plan?.connectors[job.connector]?.targets[job.target]?.plan
        let policy = targetPlan?.retry ?? .defaults
        // Only calls made count for an endpoint's health (not a refusal because it is disabled, removed or refused).
        if let settings = targetPlan?.endpoints, let endpoints, prepared != nil, let id = DeliveryPlan.endpoint(ofLane: job.lane) {
            switch outcome {
            case .delivered: await endpoints.attempted(id, succeeded: true, at: clock.wall, autoDisableAfter: settings.autoDisableAfter)
            case .transient, .permanent: await endpoints.attempted(id, succeeded: false, at: clock.wall, autoDisableAfter: settings.autoDisableAfter)
            case .rateLimited, .badData: break
            }
        }
        let wall = clock.wall
        let elapsed = Duration.milliseconds(Int64(wall.timeIntervalSince(job.firstAttemptAt ?? startedAt) * 1000))
        var generator = JitterSource(jitter: jitter)
        let now = clock.now
        let decision = JobLifecycle.decide(outcome, policy: policy, attempts: job.attempts, elapsed: elapsed, wall: wall, now: now,
                                           using: &generator)
        let (stored, decided, health) = (decision.stored, decision.lane, decision.health)
        var record = AttemptRecord(
            jobID: job.id, startedAt: startedAt, duration: duration, countsAsAttempt: counts,
            errorClass: outcome.errorClass, request: recorded(prepared?.request, outcome: outcome), responseStatus: outcome.status,
            responseHeaders: prepared?.responseHeaders ?? [], responseBody: prepared?.responseBody, error: outcome.reason)
        record.owner = owner
        record.fence = known.withLock { $0.fence(of: job.id) } ?? job.fence
        // The call is over: the lane's next job may start while this outcome is written (the key stays taken and the
        // retry waits until it is).
        lane.answered(job, health: health, pausedUntil: decided.pause)
        var result = decided
        do {
            try await store.record(record, outcome: stored)
        } catch let error as StoreError where error.isFenced {
            // Not this engine's any more (claimed by another after its lease ran out, or settled): let it go.
            logger.warning("the job is no longer this engine's; its outcome is not recorded and it is let go",
                           metadata: ["job": "\(job.id)", "error": "\(error)"])
            result = .done
        } catch {
            statistics.withLock { $0.recordFailures += 1 }
            logger.error("recording an attempt failed; the job stays leased and is tried again",
                         metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
        statistics.withLock { statistics in
            switch stored {
            case .delivered: statistics.delivered += 1
            case .retry: if case .rateLimited = outcome { statistics.rateLimited += 1 } else { statistics.retried += 1 }
            case .dead: statistics.deadLettered += 1
            case .quarantined: statistics.quarantined += 1
            case .advance: break
            }
        }
        log(job, outcome: outcome, stored: stored, duration: duration)
        end(span, job: job, outcome: outcome, stored: stored, request: prepared?.request)
        report(AttemptReport(
            job: job, outcome: stored, errorClass: outcome.errorClass, status: outcome.status, duration: duration,
            endToEnd: stored == .delivered ? .milliseconds(Int64(wall.timeIntervalSince(job.receivedAt) * 1000)) : nil,
            rateLimitWait: { if case .rateLimited(let until) = result { return until - now } else { return nil } }(),
            reason: outcome.reason, finishedAt: wall))
        if result == .done {
            finished(job)
        }
        lane.settle(job, result: result)
        observer?(job, stored)
    }

    /// A call as its attempt's record keeps it: a delivered call's body only as its digest, unless configured to keep it.
    func recorded(_ request: PreparedRequest?, outcome: AttemptOutcome) -> JSON? {
        request?.record(keepsBody: configuration.keepsDeliveredBodies || !outcome.isDelivered)
    }

    func report(_ report: AttemptReport) {
        for monitor in monitors.withLock({ $0 }) { monitor.attempted(report) }
    }

    /// The attempt's span: a client span under the event's span, in the event's trace.
    func startSpan(for job: DeliveryJob) -> (any Span)? {
        guard let tracer = configuration.tracer else { return nil }
        let span = TraceContext.eventContext(traceID: job.traceID).startSpan("deliver \(job.lane)", ofKind: .client, with: tracer)
        span.updateAttributes { attributes in
            attributes["manifold.connector"] = job.connector
            attributes["manifold.route"] = job.route
            attributes["manifold.target"] = job.target
            attributes["manifold.job_id"] = job.id
            attributes["manifold.event_id"] = job.eventStoreID
            attributes["manifold.attempt"] = job.attempts + 1
        }
        return span
    }

    /// The `traceparent` the vendor gets: the span's, as the tracer writes it; without a tracer (or one that writes
    /// none), a new span id in the event's trace.
    /// Events up to about this size are mapped where the attempt runs when their route's mapping allows it.
    static let mappedHereUpTo = 64 * 1024

    func traceparent(of span: (any Span)?, job: DeliveryJob) -> String {
        if let span, let tracer = configuration.tracer {
            var carrier: [(name: String, value: String)] = []
            tracer.inject(span.context, into: &carrier, using: HeaderPairsInjector())
            if let header = carrier.first(where: { $0.name == "traceparent" })?.value { return header }
        }
        return TraceContext.traceparent(traceID: job.traceID, spanID: TraceContext.newSpanID())
    }

    func end(_ span: (any Span)?, job: DeliveryJob, outcome: AttemptOutcome, stored: JobOutcome,
                     request: PreparedRequest?)
    {
        guard let span else { return }
        span.updateAttributes { attributes in
            if let request {
                // The URL as recorded: a secret in it shows as its reference.
                attributes["url.full"] = request.displayURL
                attributes["http.request.method"] = request.request.method
            }
            attributes["manifold.outcome"] = outcome.errorClass
            if let status = outcome.status { attributes["http.response.status_code"] = status }
        }
        switch outcome {
        case .delivered: span.setStatus(SpanStatus(code: .ok))
        default: span.setStatus(SpanStatus(code: .error, message: outcome.reason))
        }
        span.end()
    }

    func log(_ job: DeliveryJob, outcome: AttemptOutcome, stored: JobOutcome, duration: Duration) {
        var metadata: Logger.Metadata = [
            "connector": "\(job.connector)", "route": "\(job.route)", "target": "\(job.target)",
            "event": "\(job.eventStoreID)", "job": "\(job.id)", "attempt": "\(job.attempts)",
            "class": "\(outcome.errorClass)", "duration_ms": "\(duration.milliseconds)", "trace_id": "\(job.traceID)",
        ]
        if let status = outcome.status { metadata["status"] = "\(status)" }
        switch stored {
        case .delivered:
            metadata["outcome"] = "delivered"
            logger.info("delivered", metadata: metadata)
        case .advance(let lane, _):
            metadata["outcome"] = "next_step"
            metadata["next_lane"] = "\(lane)"
            logger.info("step done", metadata: metadata)
        case .retry(let at):
            metadata["outcome"] = "retry"
            metadata["retry_at"] = "\(at.ISO8601Format())"
            metadata["reason"] = "\(outcome.reason ?? "")"
            logger.warning("will retry", metadata: metadata)
        case .dead(let reason):
            metadata["outcome"] = "dead_lettered"
            metadata["reason"] = "\(reason)"
            logger.error("dead-lettered", metadata: metadata)
        case .quarantined(let reason):
            metadata["outcome"] = "quarantined"
            metadata["reason"] = "\(reason)"
            logger.error("quarantined", metadata: metadata)
        }
    }

    /// What the record keeps of the call and its answer.
    struct Exchange {
        var request: PreparedRequest
        var responseHeaders: [(name: String, value: String)] = []
        var responseBody: String?
        /// For a flow's step: the answer as later steps read it (`$steps.NAME`).
        var result: JSON?
    }

    /// A flow step's call: its mapping, the bindings it reads and its default idempotency key.
    struct FlowCall: Sendable {
        var route: RouteProgram
        var bindings: [String: JSON]
        var key: String
        /// `route.step`, and what the record adds to the request: the step, its element, its handler.
        var origin: String
        var label: JSONObject
    }

    /// Maps, authenticates, calls and classifies; a 401 with OAuth fetches a new token and calls once more.
    func perform(_ job: DeliveryJob, with deliveryPlan: DeliveryPlan?, traceparent: String, flowCall: FlowCall? = nil) async
        -> (AttemptOutcome, Exchange?)
    {
        guard let deliveryPlan, let (connector, found) = deliveryPlan.route(job.connector, job.route) else {
            return (.badData(reason: "the plan has no route '\(job.route)' of '\(job.connector)'"), nil)
        }
        let route = flowCall?.route ?? found
        guard let target = connector.targets[route.plan.target] else {
            return (.badData(reason: "the plan has no target '\(route.plan.target)' of '\(job.connector)'"), nil)
        }
        var prepared: PreparedRequest
        let now = Int64(clock.wall.timeIntervalSince1970.rounded(.down))
        // A customer's endpoint gone or disabled: nothing to map, nothing to send.
        if target.plan.endpoints != nil, let refusal = endpointRefusal(lane: job.lane) { return (refusal.outcome, nil) }
        // The mapping's expressions and the body schema run off the cooperative threads (see ExpressionThreads),
        // unless the mapping takes time bounded by a small event and no schema checks the body: then here, without
        // the two thread hops, which cost more than such a mapping.
        let build = { @Sendable () -> Result<PreparedRequest, BadData> in
            Result { () throws(BadData) in
                try RequestBuilder.prepare(job: job, connector: connector, route: route, now: now,
                                           extra: flowCall?.bindings ?? [:], defaultKey: flowCall?.key)
            }
        }
        let mapsHere = flowCall == nil && route.mapsInBoundedTime && target.operations[route.plan.operation]?.bodySchema == nil
            && job.payload.fits(within: Self.mappedHereUpTo)
        let built = mapsHere ? build() : await ExpressionThreads.run(build)
        switch built {
        case .success(let request): prepared = request
        case .failure(let error): return (.badData(reason: error.description), nil)
        }
        if let settings = target.plan.endpoints {
            switch await addressed(&prepared, lane: job.lane, settings: settings, now: now) {
            case .success: break
            case .failure(let refusal): return (refusal.outcome, nil)
            }
        }
        prepared.request.headers.append(("traceparent", traceparent))
        prepared.request.origin = flowCall?.origin
        prepared.label = flowCall?.label
        prepared.displayHeaders.append(prepared.request.headers.last!)
        var exchange = Exchange(request: prepared)
        var rejected: String?
        for round in 0..<2 {
            var request = prepared.request
            if case .oauth2(let client) = target.auth {
                do {
                    let token = try await client.token(transport: transport, replacing: rejected)
                    request.headers.append(("Authorization", "Bearer " + token))
                    if rejected == nil { exchange.request.displayHeaders.append(("Authorization", "[redacted]")) }
                    rejected = token
                } catch let failure as OAuth2Client.Failure {
                    return (failure.transient ? .transient(status: nil, retryAfter: nil, reason: failure.description)
                        : .permanent(status: nil, reason: failure.description), exchange)
                } catch {
                    return (.transient(status: nil, retryAfter: nil, reason: "\(error)"), exchange)
                }
            }
            let response: InboundResponse
            do {
                response = try await transport.execute(request, timeout: target.plan.timeout)
            } catch {
                return (.transient(status: nil, retryAfter: nil, reason: error.description), exchange)
            }
            exchange.responseHeaders = response.headers.filter { !CredentialName.matches($0.name) }
            exchange.responseBody = String(decoding: response.body.prefix(2048), as: UTF8.self)
            if flowCall != nil { exchange.result = FlowResult.of(response) }
            if response.status == 401, case .oauth2 = target.auth, round == 0 {
                // Once: a token the vendor revoked or that expired early.
                continue
            }
            var outcome = AttemptOutcome.classify(response)
            if case .delivered(let status) = outcome, let condition = route.successWhen {
                // A vendor that answers 200 to a failure: the answer must also meet the route's (or step's) condition.
                let answer = exchange.result ?? FlowResult.of(response)
                let met = await ExpressionThreads.run { (try? condition.evaluate(answer)).flatMap { $0 }.map(Router.isTrue) ?? false }
                if !met {
                    let error = answer["body"]?["error"]?.stringValue.map { " (error: \($0))" } ?? ""
                    outcome = .permanent(status: status, reason: "the answer fails success_when `\(route.plan.successWhen?.source ?? "")`\(error)")
                }
            }
            return (outcome, exchange)
        }
        return (.permanent(status: 401, reason: "the target refused a freshly fetched token (401)"), exchange)
    }

    /// Why a call to a customer's endpoint is not made: the endpoint is gone or disabled, or its URL is refused.
    struct EndpointRefusal: Error {
        var outcome: AttemptOutcome
    }

    /// Why a call to an endpoint's lane is not made: the endpoint is gone or disabled; `nil` when it may be made.
    private func endpointRefusal(lane: String) -> EndpointRefusal? {
        guard let id = DeliveryPlan.endpoint(ofLane: lane), let endpoint = endpoints?.endpoint(id) else {
            return EndpointRefusal(outcome: .permanent(status: nil, reason: "the endpoint was removed"))
        }
        guard endpoint.stored.state == .enabled else {
            return EndpointRefusal(outcome: .permanent(
                status: nil, reason: "the endpoint is disabled (\(endpoint.stored.stateReason ?? "by an operator")): replay once it is enabled"))
        }
        return nil
    }

    /// Addresses a call to its endpoint: the endpoint's URL and headers, signed with its secrets (Standard Webhooks,
    /// every secret of a rotation's overlap; `webhook-id` the idempotency key, the same on every retry); the URL
    /// checked again (its host may resolve elsewhere since it was registered).
    private func addressed(_ prepared: inout PreparedRequest, lane: String, settings: EndpointsSettings, now: Int64) async
        -> Result<Void, EndpointRefusal>
    {
        if let refusal = endpointRefusal(lane: lane) { return .failure(refusal) }
        guard let id = DeliveryPlan.endpoint(ofLane: lane), let endpoint = endpoints?.endpoint(id) else {
            return .failure(EndpointRefusal(outcome: .permanent(status: nil, reason: "the endpoint was removed")))
        }
        let policy = EndpointNetworkPolicy(allowPrivateNetworks: settings.allowPrivateNetworks || !configuration.checksEndpointAddresses,
                                           allowInsecure: settings.allowInsecure)
        let url = endpoint.stored.url
        let checked: EndpointError?
        if policy.allowPrivateNetworks {
            // Only the URL's form (the target's rules): nothing to resolve.
            do throws(EndpointError) { _ = try policy.checkForm(url); checked = nil } catch { checked = error }
        } else {
            // getaddrinfo blocks: off the threads that serve HTTP and drive the lanes.
            checked = await ExpressionThreads.run { () -> EndpointError? in
                do throws(EndpointError) { try policy.check(url) } catch { return error }
                return nil
            }
        }
        if let checked {
            return .failure(EndpointRefusal(outcome: .permanent(status: nil, reason: "the endpoint's URL is refused: \(checked.description)")))
        }
        prepared.request.url = url
        prepared.displayURL = EndpointRegistry.displayURL(url)
        for (name, value) in endpoint.stored.headers.sorted(by: { $0.key < $1.key }) {
            prepared.request.headers.append((name, value))
            prepared.displayHeaders.append((name, CredentialName.matches(name) ? "[redacted]" : value))
        }
        for header in endpoint.signatureHeaders(for: prepared.request, messageID: prepared.idempotencyKey, now: now) {
            prepared.request.headers.append(header)
            prepared.displayHeaders.append((header.name, header.name == "webhook-signature" ? "[redacted]" : header.value))
        }
        return .success(())
    }

    /// The plan a job is delivered with: the running one, or its own version when it pins it.
    func plan(for job: DeliveryJob) async -> DeliveryPlan? {
        guard let running = plan else { return nil }
        guard job.pinsPlan, job.planVersion != running.version else { return running }
        if let cached = pinned.withLock({ $0[job.planVersion] }) { return cached }
        do {
            guard let loaded = try await planLoader(job.planVersion) else { return nil }
            pinned.withLock { $0[job.planVersion] = loaded }
            return loaded
        } catch {
            logger.error("loading a kept plan failed", metadata: ["plan": "\(job.planVersion)", "error": "\(error)"])
            return nil
        }
    }
}

extension AttemptOutcome {
    /// Whether it uses up one of `max_attempts`: a call was answered or failed; not a 429, not bad data.
    var countsAsAttempt: Bool {
        switch self {
        case .transient, .permanent, .delivered: true
        case .rateLimited, .badData: false
        }
    }

    var status: Int? {
        switch self {
        case .delivered(let status): status
        case .transient(let status, _, _), .permanent(let status, _): status
        case .rateLimited: 429
        case .badData: nil
        }
    }

    var reason: String? {
        switch self {
        case .delivered: nil
        case .transient(_, _, let reason), .permanent(_, let reason), .badData(let reason): reason
        case .rateLimited: "the target answered 429"
        }
    }
}

/// The runtime's randomness for jitter: a seeded generator when configured, the system's otherwise.
final class Jitter: Sendable {
    private let seeded: Mutex<SeededGenerator?>

    init(seed: UInt64?) {
        seeded = Mutex(seed.map(SeededGenerator.init(seed:)))
    }

    func next() -> UInt64 {
        seeded.withLock { generator in
            guard generator != nil else { return UInt64.random(in: .min ... .max) }
            return generator!.next()
        }
    }
}

struct JitterSource: RandomNumberGenerator {
    let jitter: Jitter

    mutating func next() -> UInt64 { jitter.next() }
}
