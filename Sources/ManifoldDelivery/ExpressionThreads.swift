import NIOCore
import NIOPosix

/// Where connectors' expressions run (event ids, conditions, mappings, body schemas): a pool of threads of their
/// own, not Swift's cooperative pool (one thread per core), which serves HTTP and drives the lanes. An expression
/// that runs to its time limit (a regular expression that backtracks) then holds one of these threads: `/healthz`,
/// other webhooks and other connectors' deliveries still answer at once. (At a lower priority, nice 10, the pool cost
/// 15% of webhook throughput under load, measured with benchmarks/ingress-wrk; the health check answers without it.)
public enum ExpressionThreads {
    /// Twice the cores, at least 8: more hostile expressions than that wait their turn here, never on HTTP.
    public static let threadCount = max(8, 2 * System.coreCount)

    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threadCount)
        pool.start()
        return pool
    }()

    /// Runs `work` there and returns its result.
    public static func run<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
        do {
            return try await pool.runIfActive(work)
        } catch {
            // The pool is never shut down; should it be, the work still runs, here.
            return work()
        }
    }
}
