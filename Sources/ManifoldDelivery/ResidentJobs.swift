/// The jobs a runtime holds in memory (queued, waiting or in flight), counted per lane: the window that bounds the
/// engine's memory. Past a lane's window, new jobs stay in the store, unleased, and the sweep claims them as the
/// lane drains, oldest first, so a backlog of a million jobs costs the store, not the heap.
struct ResidentJobs: Sendable {
    private(set) var ids: Set<String> = []
    private var lanes: [String: Int] = [:]

    var total: Int { ids.count }

    func contains(_ id: String) -> Bool { ids.contains(id) }

    func count(in lane: String) -> Int { lanes[lane, default: 0] }

    /// Counts jobs in; a job already resident (a held job resuming) is not counted twice.
    mutating func insert(_ jobs: [DeliveryJob]) {
        for job in jobs where ids.insert(job.id).inserted {
            lanes[job.lane, default: 0] += 1
        }
    }

    mutating func remove(_ job: DeliveryJob) {
        guard ids.remove(job.id) != nil else { return }
        lanes[job.lane, default: 1] -= 1
        if lanes[job.lane] == 0 { lanes[job.lane] = nil }
    }

    /// Whether jobs for `lanes` may be held in memory: each lane below `window`, all below `total` jobs.
    func admits(_ lanes: [String], window: Int, total limit: Int) -> Bool {
        total < limit && lanes.allSatisfy { count(in: $0) < window }
    }
}
