public import Foundation
public import JSONValue
import Synchronization

/// A job in memory: what its lane needs to schedule it and its worker needs to deliver it.
public struct DeliveryJob: LaneItem {
    public let id: String
    public let eventStoreID: String
    public let connector: String
    public let route: String
    public let target: String
    public let lane: String
    public let orderingKey: String?
    public let traceID: String
    public let planVersion: String
    public let pinsPlan: Bool
    /// The vendor's event id.
    public let vendorEventID: String
    public let payload: JSON
    public let headers: [(name: String, value: String)]
    /// When the event was received, for end-to-end latency.
    public let receivedAt: Date
    /// Attempts that counted so far.
    public var attempts: Int
    public var firstAttemptAt: Date?
    /// A flow job's progress (see `FlowProgress`); `nil` for a route's one call.
    public var flow: JSON? = nil
    /// The fencing token of this engine's hold (`ClaimedJob.fence`; 0 for a job it made leased), carried by its outcomes.
    public var fence: Int = 0

    /// Whether it is a flow's job. (Not `flow != nil`: JSON takes `nil` as its own null, so that would compare with
    /// `.some(.null)`.)
    public var isFlow: Bool { if case .some = flow { true } else { false } }
}

/// One lane as it is now.
public struct LaneStatus: Sendable, Equatable {
    /// `connector/target`.
    public var lane: String
    public var connector: String
    public var target: String
    /// closed, open or half-open.
    public var breaker: String
    public var queued: Int
    public var inFlight: Int
    /// When the oldest queued job's event was received.
    public var oldestQueued: Date?
    /// How many times the rate limiter made the lane wait, since the lane opened.
    public var limiterWaits: Int
}

/// A lane running: its state machine under a lock, started jobs handed to the runtime, and one timer for the
/// next time the state machine said to look again.
final class Lane: Sendable {
    let name: String
    let connector: String
    let target: String
    private let state: Mutex<LaneState<DeliveryJob>>
    private let timer = Mutex<Duration?>(nil)
    private let clock: any RuntimeClock
    private let start: @Sendable (DeliveryJob, Lane) -> Void
    private let isStopping: @Sendable () -> Bool

    init(name: String, connector: String, target: String, state: LaneState<DeliveryJob>, clock: any RuntimeClock,
         isStopping: @escaping @Sendable () -> Bool, start: @escaping @Sendable (DeliveryJob, Lane) -> Void)
    {
        self.name = name
        self.connector = connector
        self.target = target
        self.state = Mutex(state)
        self.clock = clock
        self.isStopping = isStopping
        self.start = start
    }

    /// Changes the lane's policies (a reload) without losing its queue, breaker or limiter history where they stay.
    func update(_ change: (inout LaneState<DeliveryJob>) -> Void) {
        state.withLock { change(&$0) }
        pump()
    }

    func enqueue(_ jobs: [DeliveryJob], notBefore: Duration? = nil) {
        state.withLock { state in
            for job in jobs { state.enqueue(job, notBefore: notBefore) }
        }
        pump()
    }

    func finish(_ job: DeliveryJob, result: LaneState<DeliveryJob>.Result, health: LaneState<DeliveryJob>.Health) {
        let now = clock.now
        state.withLock { $0.finish(job, result: result, health: health, at: now) }
        pump()
    }

    /// The job's call is over: the next job may start while its outcome is recorded (see `LaneState.answered`).
    func answered(_ job: DeliveryJob, health: LaneState<DeliveryJob>.Health, pausedUntil: Duration?) {
        let now = clock.now
        state.withLock { $0.answered(job, health: health, pausedUntil: pausedUntil, at: now) }
        pump()
    }

    /// The answered job's outcome is recorded (see `LaneState.settle`).
    func settle(_ job: DeliveryJob, result: LaneState<DeliveryJob>.Result) {
        state.withLock { $0.settle(job, result: result) }
        pump()
    }

    /// Takes the queued jobs out; calls in flight finish.
    func removeQueued() -> [DeliveryJob] {
        state.withLock { $0.removeQueued() }
    }

    /// What a dashboard or a scrape shows of the lane now.
    var status: LaneStatus {
        state.withLock { state in
            LaneStatus(lane: name, connector: connector, target: target, breaker: state.breaker.state.name, queued: state.queued, inFlight: state.inFlight,
                       oldestQueued: state.minimum(of: \.receivedAt), limiterWaits: state.limiterWaits)
        }
    }

    /// Starts what may start now, and sets the timer for the next time something may.
    func pump() {
        guard !isStopping() else { return }
        let now = clock.now
        let (jobs, wake) = state.withLock { $0.take(at: now) }
        for job in jobs { start(job, self) }
        guard let wake else { return }
        let schedule = timer.withLock { current -> Bool in
            if let current, current <= wake, current > now { return false }
            current = wake
            return true
        }
        guard schedule else { return }
        Task { [clock] in
            try? await clock.sleep(until: wake)
            self.timer.withLock { if $0 == wake { $0 = nil } }
            self.pump()
        }
    }
}
