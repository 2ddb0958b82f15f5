import Foundation
import ManifoldDelivery
import ManifoldStore
import Testing

/// Which lanes an engine runs when engines share a store: what it asks for, what it makes of the answer, what it gives
/// up — on wall time given in, without a store.
@Suite struct LaneOwnershipTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func lease(_ lane: String, token: Int = 1, until: TimeInterval, previous: TimeInterval? = nil) -> LaneLease {
        LaneLease(lane: lane, owner: "a", token: token, until: start + until, previousEnd: previous.map { start + $0 })
    }

    @Test func asksForLanesWithWorkAndRenewsEachThirdOfTheLease() {
        var ownership = LaneOwnership(leaseDuration: 15)
        #expect(ownership.request(wanted: [], at: start) == nil)
        let asked = ownership.request(wanted: ["shop/crm", "shop/erp"], at: start)
        #expect(asked == ["shop/crm", "shop/erp"])
        let first = ownership.granted([lease("shop/crm", until: 15)], asked: asked!, at: start)
        #expect(first.gained.map(\.lane) == ["shop/crm"] && first.lost.isEmpty)
        #expect(ownership.holds("shop/crm", at: start + 9) && !ownership.holds("shop/crm", at: start + 10.5))
        // Before a third of the lease, only the lane still missing is asked for; then the held one with it.
        #expect(ownership.request(wanted: ["shop/crm", "shop/erp"], at: start + 1) == ["shop/erp"])
        #expect(ownership.request(wanted: ["shop/crm"], at: start + 1) == nil)
        #expect(ownership.request(wanted: ["shop/crm"], at: start + 5) == ["shop/crm"])
        // Asking only for a missing lane (another engine holds it) is no renewal: the held one is still due with it.
        _ = ownership.granted([], asked: ["shop/erp"], at: start + 5)
        #expect(ownership.request(wanted: ["shop/crm", "shop/erp"], at: start + 5.5) == ["shop/crm", "shop/erp"])
        // A renewal (same token) gains nothing new; a lane not granted again is lost.
        let renewed = ownership.granted([lease("shop/crm", until: 20)], asked: ["shop/crm"], at: start + 5)
        #expect(renewed.gained.isEmpty && renewed.lost.isEmpty && ownership.holds("shop/crm", at: start + 14))
        let lost = ownership.granted([], asked: ["shop/crm"], at: start + 10)
        #expect(lost.lost == ["shop/crm"] && ownership.held.isEmpty)
    }

    @Test func aLeaseNotRenewedRunsOut() {
        var ownership = LaneOwnership(leaseDuration: 15)
        _ = ownership.granted([lease("shop/crm", until: 15), lease("shop/erp", until: 30)], asked: ["shop/crm", "shop/erp"], at: start)
        #expect(ownership.expire(at: start + 14).isEmpty)
        #expect(ownership.expire(at: start + 15) == ["shop/crm"])
        #expect(Array(ownership.held.keys) == ["shop/erp"])
    }

    @Test func anEngineGivesUpWhatIsOverItsShareAndDoesNotTakeItBack() {
        var ownership = LaneOwnership(leaseDuration: 15)
        let lanes = ["a/1", "a/2", "a/3", "a/4", "a/5"]
        _ = ownership.granted(lanes.map { lease($0, until: 15) }, asked: lanes, at: start)
        #expect(ownership.surplus(lanesWithWork: 5, engines: 1, resident: [:]).isEmpty)
        // Two engines, five lanes with work: three here at most; the two with the least work here go.
        let surplus = ownership.surplus(lanesWithWork: 5, engines: 2, resident: ["a/1": 9, "a/2": 0, "a/3": 4, "a/4": 1, "a/5": 7])
        #expect(surplus == ["a/2", "a/4"])
        ownership.released(surplus, at: start + 1)
        #expect(ownership.surplus(lanesWithWork: 5, engines: 2, resident: [:]).isEmpty)
        // Not asked for again while another engine may take them; asked for after one lease.
        #expect(ownership.request(wanted: Set(lanes), at: start + 2) == nil)
        #expect(ownership.request(wanted: Set(lanes), at: start + 16) == lanes)
    }
}
