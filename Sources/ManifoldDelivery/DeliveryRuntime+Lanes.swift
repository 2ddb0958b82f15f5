import Foundation
public import ManifoldStore

/// Engines sharing a store: each lane runs on the engine that holds its lease (see `LaneOwnership`).
extension DeliveryRuntime {
    /// Whether engines share the store and each lane runs on the engine holding it.
    public var sharesStore: Bool { laneStore != nil }

    /// The lanes this engine holds now, with their leases (for `/readyz`): not one whose lease has run out without a
    /// renewal, even before the next round notices (another engine may hold it by now).
    public var heldLanes: [LaneLease] {
        let now = clock.wall
        return ownership.withLock { $0.held.values.filter { $0.until > now }.sorted { $0.lane < $1.lane } }
    }

    /// What `lane`'s state machine is told: alone on the store, it runs; sharing it, it runs while held (until a
    /// third before the lease's end), quiet for one rate-limit `window` after a previous holder's end.
    func ownershipState(of lane: String, window: Duration?) -> LaneState<DeliveryJob>.Ownership {
        guard laneStore != nil else { return .sole }
        let (wall, now) = (clock.wall, clock.now)
        func monotonic(_ date: Date) -> Duration { now + .milliseconds(Int64(date.timeIntervalSince(wall) * 1000)) }
        return ownership.withLock { held in
            guard let lease = held.held[lane] else { return .notHeld }
            let quiet = window.flatMap { window in lease.previousEnd.map { monotonic($0) + window } }
            return .held(startsUntil: monotonic(lease.until - held.margin), quietUntil: quiet)
        }
    }

    /// Jobs of `lanes` were stored unleased (engines sharing the store): if this engine holds any of those lanes, it
    /// claims them now rather than at the next sweep. Claims coalesce: one runs at a time, and one more after it when
    /// jobs were stored meanwhile.
    public func jobsStored(lanes: [String]) {
        guard laneStore != nil else { return }
        let wall = clock.wall
        guard ownership.withLock({ held in lanes.contains { held.holds($0, at: wall) } }) else { return }
        let first = claimWake.withLock { wake -> Bool in
            if wake.running { wake.again = true; return false }
            wake.running = true
            return true
        }
        guard first else { return }
        Task {
            while true {
                await self.claimWhereRoom()
                let again = self.claimWake.withLock { wake -> Bool in
                    if wake.again { wake.again = false; return true }
                    wake.running = false
                    return false
                }
                if !again { break }
            }
        }
    }

    /// One round of sharing, at each sweep: ask the store for the lanes with work (renewing those held), give up
    /// what is over this engine's share, tell every lane whether it runs, and let go of the jobs of lanes not held.
    func shareLanes() async {
        guard let laneStore, let plan else { return }
        let wall = clock.wall
        // Every lane of the plan (endpoints' lanes once they have work), so that a lane has its engine before its
        // first event arrives, and the engine receiving the event delivers it at once when it is that engine.
        var wanted = Set(plan.targetsByLane.filter { $0.value.plan.endpoints == nil }.keys)
        wanted.formUnion(known.withLock { $0.byLane.filter { $0.value > 0 }.keys })
        do {
            wanted.formUnion(try await laneStore.pendingLanes())
        } catch {
            logger.error("reading the lanes with work failed", metadata: ["error": "\(error)"])
        }
        wanted = wanted.filter { plan.target(forLane: $0) != nil }
        if let asked = ownership.withLock({ $0.request(wanted: wanted, at: wall) }) {
            do {
                let leases = try await laneStore.acquireLanes(asked, owner: owner, until: wall + configuration.leaseDuration.timeInterval,
                                                             now: wall)
                let (gained, lost) = ownership.withLock { $0.granted(leases, asked: asked, at: wall) }
                if !gained.isEmpty { logger.info("lanes taken", metadata: ["lanes": "\(gained.map(\.lane))"]) }
                if !lost.isEmpty { logger.warning("lanes lost to other engines", metadata: ["lanes": "\(lost)"]) }
            } catch {
                let lapsed = ownership.withLock { $0.expire(at: clock.wall) }
                logger.error("renewing lane leases failed", metadata: ["error": "\(error)", "lapsed": "\(lapsed)"])
            }
        }
        do {
            let engines = try await laneStore.liveEngines(now: wall).count
            let resident = known.withLock { $0.byLane }
            let surplus = ownership.withLock { $0.surplus(lanesWithWork: wanted.count, engines: engines, resident: resident) }
            if !surplus.isEmpty {
                // No call starts on them from now; each is released once its calls in flight are done (so that the
                // next engine's first call of a key never passes this one's last), or runs out by itself.
                ownership.withLock { $0.released(surplus, at: wall) }
                releasing.withLock { $0.formUnion(surplus) }
                logger.info("lanes given to other engines", metadata: ["lanes": "\(surplus)", "engines": "\(engines)"])
            }
            let quiet = releasing.withLock { releasing in
                let idle = releasing.filter { name in (self.lanes.withLock { $0[name] }?.status.inFlight ?? 0) == 0 }
                releasing.subtract(idle)
                return idle
            }
            if !quiet.isEmpty { try await laneStore.releaseLanes(Array(quiet), owner: owner, at: clock.wall) }
        } catch {
            logger.error("sharing lanes failed", metadata: ["error": "\(error)"])
        }
        // Every lane learns whether it runs; a lane not held gives its queued jobs back to the store.
        for (name, lane) in lanes.withLock({ $0 }) {
            var queued: [DeliveryJob] = []
            lane.update { state in
                state.ownership = self.ownershipState(of: name, window: state.limiter?.window)
                if state.ownership == .notHeld { queued = state.removeQueued() }
            }
            if !queued.isEmpty { handBack(queued) }
        }
    }

    /// Jobs of lanes this engine does not run: out of memory, their hold in the store given up, so that the engine
    /// holding their lane claims them.
    func handBack(_ jobs: [DeliveryJob]) {
        known.withLock { known in for job in jobs { known.remove(job) } }
        let ids = jobs.map(\.id)
        Task {
            do {
                try await self.laneStore?.releaseJobs(ids, owner: self.owner)
            } catch {
                self.logger.error("letting go of jobs failed; they return when this engine's lease runs out",
                                  metadata: ["jobs": "\(ids.count)", "error": "\(error)"])
            }
        }
    }
}
