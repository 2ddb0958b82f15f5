#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Random bits for ids (events, jobs, traces, spans): the system's generator, read 4 KiB at a time.
///
/// `SystemRandomNumberGenerator` asks the kernel for every 8 bytes (`getrandom` on Linux); an event took four such
/// calls for its id and its trace id. These are the same bytes, from the same source, read once for 512 numbers.
/// The pool is shared and locked: a lock taken and released is far cheaper than a system call.
public struct PooledRandom: RandomNumberGenerator, Sendable {
    public init() {}

    public mutating func next() -> UInt64 {
        Self.pool.withLock { $0.next() }
    }

    /// Two numbers under one lock (an event id's 80 random bits, a trace id's 128).
    public static func pair() -> (UInt64, UInt64) {
        pool.withLock { ($0.next(), $0.next()) }
    }

    private static let pool = Mutex(Pool())

    struct Pool: ~Copyable {
        static let capacity = 512
        private let words = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: capacity)
        private var position = capacity

        mutating func next() -> UInt64 {
            if position == Self.capacity {
                Self.fill(UnsafeMutableRawBufferPointer(words))
                position = 0
            }
            defer { position += 1 }
            return words[position]
        }

        /// Fills `buffer` from the kernel in one read where it can: `arc4random_buf` on Apple's systems,
        /// `/dev/urandom` on Linux; `SystemRandomNumberGenerator` (the same source, 8 bytes a call) when that cannot
        /// be opened or read whole.
        static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
            #if canImport(Darwin)
            arc4random_buf(buffer.baseAddress!, buffer.count)
            #else
            if urandom >= 0 {
                var done = 0
                while done < buffer.count {
                    let got = read(urandom, buffer.baseAddress! + done, buffer.count - done)
                    if got > 0 {
                        done += got
                    } else if got < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                if done == buffer.count { return }
            }
            var system = SystemRandomNumberGenerator()
            for index in stride(from: 0, to: buffer.count - 7, by: 8) {
                buffer.storeBytes(of: system.next() as UInt64, toByteOffset: index, as: UInt64.self)
            }
            #endif
        }

        #if !canImport(Darwin)
        /// Opened once, kept for the process's life (closed on exec).
        private static let urandom: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        #endif
    }
}
