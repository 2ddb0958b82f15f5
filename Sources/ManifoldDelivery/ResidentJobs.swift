/// The jobs a runtime holds in memory (queued, waiting or in flight), counted per lane: the window that bounds the
/// engine's memory. Past a lane's window, new jobs stay in the store, unleased, and the sweep claims them as the
/// lane drains, oldest first, so a backlog of a million jobs costs the store, not the heap.
///
/// It also knows which lanes have jobs left in the store (`overflowing`: a new job was refused room, or a claim filled
/// the room it had) and says when such a lane has drained to half its window, so that the runtime claims more at once
/// instead of at the next sweep: with a window claimed only once a second, a lane could never deliver more than its
/// window per second (5,000/s), however fast its vendor.
struct ResidentJobs: Sendable {
    private(set) var ids: Set<String> = []
    /// Each resident job's fencing token as the store last gave it: a claim that returns a job already resident (this
    /// engine's lease ran out and it claimed its own job again) raises the token, and the outcome of the call in flight
    /// must carry the new one, or the store refuses it and the job is stranded.
    private var fences: [String: Int] = [:]
    private var lanes: [String: Int] = [:]
    /// Lanes with jobs waiting in the store, unclaimed.
    private(set) var overflowing: Set<String> = []
    /// A refill (an early sweep) has been asked for and has not finished.
    private(set) var refilling = false

    var total: Int { ids.count }

    func contains(_ id: String) -> Bool { ids.contains(id) }

    /// The fencing token the job's outcome carries, while it is resident.
    func fence(of id: String) -> Int? { fences[id] }

    func count(in lane: String) -> Int { lanes[lane, default: 0] }

    /// Jobs in memory by lane.
    var byLane: [String: Int] { lanes }

    /// Counts jobs in; a job already resident (a held job resuming) is not counted twice.
    mutating func insert(_ jobs: [DeliveryJob]) {
        for job in jobs where ids.insert(job.id).inserted {
            lanes[job.lane, default: 0] += 1
            fences[job.id] = job.fence
        }
    }

    /// Takes the claims of a sweep: jobs already resident take their new fencing token; returns those that are not
    /// (to be placed on their lanes).
    mutating func reclaimed<Claim>(_ claims: [Claim], id: (Claim) -> String, fence: (Claim) -> Int) -> [Claim] {
        claims.filter { claim in
            guard ids.contains(id(claim)) else { return true }
            fences[id(claim)] = fence(claim)
            return false
        }
    }

    /// Counts a job out. Returns whether the runtime should claim more now: its lane has jobs in the store and is
    /// down to half of `window`, and no refill is under way (the caller then runs one and calls `refilled()`).
    @discardableResult
    mutating func remove(_ job: DeliveryJob, window: Int = .max) -> Bool {
        guard ids.remove(job.id) != nil else { return false }
        fences[job.id] = nil
        lanes[job.lane, default: 1] -= 1
        if lanes[job.lane] == 0 { lanes[job.lane] = nil }
        guard !refilling, overflowing.contains(job.lane), count(in: job.lane) <= window / 2 else { return false }
        refilling = true
        return true
    }

    /// Whether jobs for `lanes` may be held in memory: each lane below `window`, all below `total` jobs. Refused,
    /// the jobs stay in the store and their lanes are overflowing.
    mutating func admits(_ lanes: [String], window: Int, total limit: Int) -> Bool {
        let admitted = total < limit && lanes.allSatisfy { count(in: $0) < window }
        if !admitted { overflowing.formUnion(lanes) }
        return admitted
    }

    /// A claim for `lane` with `room` gave `count` jobs: a full claim leaves more in the store; a short one, none.
    mutating func claimed(_ count: Int, in lane: String, room: Int) {
        if count >= room { overflowing.insert(lane) } else { overflowing.remove(lane) }
    }

    /// The refill asked for by `remove` is done.
    mutating func refilled() {
        refilling = false
    }
}
