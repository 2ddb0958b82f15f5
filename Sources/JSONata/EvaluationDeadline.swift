#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An evaluation's time limit, counted in the CPU time of the thread that evaluates (an evaluation runs on one
/// thread, start to end): it bounds the work an expression may do, however busy the machine is. Counted in wall time,
/// a case with a 10 s limit failed on a loaded machine that gave the thread a fraction of a core.
struct EvaluationDeadline: Sendable {
    private let limit: UInt64

    /// `budget` of this thread's CPU time from now.
    init(_ budget: Duration) {
        let nanoseconds = UInt64(max(0, budget.components.seconds)) * 1_000_000_000
            + UInt64(max(0, budget.components.attoseconds / 1_000_000_000))
        limit = Self.threadTime() &+ nanoseconds
    }

    var passed: Bool { Self.threadTime() > limit }

    /// This thread's CPU time, in nanoseconds.
    static func threadTime() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
