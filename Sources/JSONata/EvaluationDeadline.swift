#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An evaluation's time limit, counted in the CPU time of the thread that evaluates (an evaluation runs on one
/// thread, start to end): it bounds the work an expression may do, however busy the machine is. Counted in wall time,
/// a case with a 10 s limit failed on a loaded machine that gave the thread a fraction of a core.
///
/// Reading a thread's CPU time is a system call (no vDSO serves it), which cost a quick mapping a fifth of its time
/// when each evaluation read it at its start and every 64 steps. So the clock starts at the first check, made only
/// after `interval` checks are asked for (a few thousand steps, tens of microseconds): an expression that ends
/// sooner never reads the clock, and one that runs on is stopped within its budget plus those microseconds.
final class EvaluationDeadline {
    private let budget: UInt64
    /// The thread time at which the budget is spent; 0 until the first reading.
    private var limit: UInt64 = 0
    private var asked = 0
    private let interval: Int

    /// `budget` of this thread's CPU time, read every `interval`th check.
    init(_ budget: Duration, interval: Int = 1024) {
        self.budget = UInt64(max(0, budget.components.seconds)) * 1_000_000_000
            + UInt64(max(0, budget.components.attoseconds / 1_000_000_000))
        self.interval = max(1, interval)
    }

    /// Whether the budget is spent; reads the clock only every `interval`th time it is asked.
    var passed: Bool { passed(counting: 1) }

    /// Whether the budget is spent, counting `count` checks at once (the evaluator asks once per 64 steps).
    func passed(counting count: Int) -> Bool {
        asked &+= count
        guard asked >= interval else { return false }
        asked = 0
        let now = Self.threadTime()
        if limit == 0 {
            limit = now &+ budget
            return budget == 0
        }
        return now > limit
    }

    /// This thread's CPU time, in nanoseconds.
    static func threadTime() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
