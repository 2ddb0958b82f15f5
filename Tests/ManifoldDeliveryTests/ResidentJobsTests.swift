import Foundation
@testable import ManifoldDelivery
import JSONValue
import Testing

/// The jobs held in memory per lane, and when a lane with jobs left in the store should claim more: at half its
/// window, once at a time, not at the next sweep (which held a lane to one window per sweep interval).
@Suite struct ResidentJobsTests {
    static func job(_ id: Int, lane: String = "shop/crm") -> DeliveryJob {
        DeliveryJob(id: "job_\(id)", eventStoreID: "ev_\(id)", connector: "shop", route: "r", target: "crm", lane: lane,
                    orderingKey: nil, traceID: "t", planVersion: "v", pinsPlan: false, vendorEventID: "e\(id)",
                    payload: .null, headers: [], receivedAt: Date(), attempts: 0, firstAttemptAt: nil)
    }

    @Test func aLaneWithJobsInTheStoreAsksForMoreAtHalfItsWindow() {
        var resident = ResidentJobs()
        resident.insert((0..<10).map { Self.job($0) })
        // Room for 10, none left: a new job stays in the store and the lane overflows.
        let admitted = resident.admits(["shop/crm"], window: 10, total: 100)
        #expect(!admitted)
        #expect(resident.overflowing == ["shop/crm"])
        // Draining: nothing asked above half the window; at half, one refill, and no second one until it is done.
        var asked: [Bool] = []
        for id in 0..<4 { asked.append(resident.remove(Self.job(id), window: 10)) }
        #expect(asked == [false, false, false, false])
        let atHalf = resident.remove(Self.job(4), window: 10)
        let again = resident.remove(Self.job(5), window: 10)
        #expect(atHalf && !again)
        #expect(resident.refilling)
        // The refill claimed less than its room: the store is empty, nothing more to ask.
        resident.claimed(3, in: "shop/crm", room: 6)
        resident.refilled()
        #expect(resident.overflowing.isEmpty)
        let afterEmpty = resident.remove(Self.job(6), window: 10)
        #expect(!afterEmpty)
    }

    @Test func aFullClaimLeavesTheLaneOverflowingAndOtherLanesAreNotAsked() {
        var resident = ResidentJobs()
        resident.insert((0..<4).map { Self.job($0) } + [Self.job(99, lane: "shop/erp")])
        resident.claimed(4, in: "shop/crm", room: 4)
        #expect(resident.overflowing == ["shop/crm"])
        let otherLane = resident.remove(Self.job(99, lane: "shop/erp"), window: 4)
        let aboveHalf = resident.remove(Self.job(0), window: 4)
        let atHalf = resident.remove(Self.job(1), window: 4)
        #expect(!otherLane && !aboveHalf && atHalf)
        #expect(resident.count(in: "shop/crm") == 2)
    }

    /// A claim that returns a resident job (claimed back after another engine held it) gives it the new fencing token
    /// and does not place it twice; a job that leaves memory forgets its token.
    @Test func aResidentJobClaimedBackTakesItsNewFence() {
        var resident = ResidentJobs()
        var held = Self.job(1)
        held.fence = 1
        resident.insert([held])
        #expect(resident.fence(of: "job_1") == 1)
        let claims = [("job_1", 3), ("job_2", 1)]
        let fresh = resident.reclaimed(claims, id: \.0, fence: \.1)
        #expect(fresh.map(\.0) == ["job_2"])
        #expect(resident.fence(of: "job_1") == 3 && resident.total == 1)
        resident.remove(held)
        #expect(resident.fence(of: "job_1") == nil)
    }
}
