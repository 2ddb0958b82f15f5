@testable import ManifoldDelivery
import Synchronization
import Testing

/// Claims run one at a time: the gate lets one task through its section at once, however they await inside it.
@Suite struct SerialGateTests {
    final class Counts: Sendable {
        let inside = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let passed = Atomic<Int>(0)
    }

    @Test func oneTaskAtATimeThroughTheSection() async {
        let gate = SerialGate()
        let counts = Counts()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await gate.enter()
                    let now = counts.inside.add(1, ordering: .relaxed).newValue
                    _ = counts.most.max(now, ordering: .relaxed)
                    await Task.yield()
                    counts.inside.subtract(1, ordering: .relaxed)
                    counts.passed.add(1, ordering: .relaxed)
                    gate.leave()
                }
            }
        }
        #expect(counts.passed.load(ordering: .relaxed) == 200)
        #expect(counts.most.load(ordering: .relaxed) == 1)
    }
}
