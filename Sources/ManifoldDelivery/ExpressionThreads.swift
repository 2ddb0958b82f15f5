import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Where connectors' expressions run (event ids, conditions, mappings, body schemas): a pool of threads of their
/// own, not Swift's cooperative pool (one thread per core), which serves HTTP and drives the lanes. An expression
/// that runs to its time limit (a regular expression that backtracks) then holds one of these threads: `/healthz`,
/// other webhooks and other connectors' deliveries still answer at once. The threads run at a lower priority
/// (nice 10) than those that serve HTTP, so that a core busy with such an expression still answers a health check.
public enum ExpressionThreads {
    /// Twice the cores, at least 8: more hostile expressions than that wait their turn here, never on HTTP.
    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(8, 2 * System.coreCount))
        pool.start()
        return pool
    }()

    /// Runs `work` there and returns its result.
    public static func run<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
        do {
            return try await pool.runIfActive {
                #if os(Linux)
                // On Linux a thread's nice value is its own: this lowers only this pool thread.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
                #endif
                return work()
            }
        } catch {
            // The pool is never shut down; should it be, the work still runs, here.
            return work()
        }
    }
}
