public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP client on a thread of its own, for tests of what a server does with clients that misbehave on the wire
/// (slow headers, trickled bodies): it writes the given pieces, each after its pause, and reads until the server
/// closes the connection or `deadline` passes (a generous upper bound, not a measurement).
public enum RawConnection {
    public struct Outcome: Sendable {
        /// Everything the server sent.
        public var received: String
        /// Whether the server closed the connection before the deadline.
        public var closedByServer: Bool
        /// How many of the pieces were written before the server closed.
        public var piecesWritten: Int
    }

    public static func exchange(port: Int, pieces: [(pause: Duration, bytes: String)], deadline: Duration = .seconds(60)) async
        -> Outcome
    {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: run(port: port, pieces: pieces, deadline: deadline))
            }
            thread.start()
        }
    }

    private static func run(port: Int, pieces: [(pause: Duration, bytes: String)], deadline: Duration) -> Outcome {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return Outcome(received: "", closedByServer: false, piecesWritten: 0) }
        var received: [UInt8] = []
        var written = 0
        let end = ContinuousClock.now + deadline
        // Reads what is there within `wait`; false once the server has closed.
        func read(for wait: Duration) -> Bool {
            let until = min(ContinuousClock.now + wait, end)
            while ContinuousClock.now < until {
                var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                let left = until - ContinuousClock.now
                let milliseconds = max(1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                guard poll(&poller, 1, milliseconds) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = recv(socket, &buffer, buffer.count, 0)
                if count <= 0 { return false }
                received += buffer.prefix(count)
            }
            return true
        }
        for piece in pieces {
            if !read(for: piece.pause) {
                return Outcome(received: String(decoding: received, as: UTF8.self), closedByServer: true, piecesWritten: written)
            }
            let bytes = Array(piece.bytes.utf8)
            if send(socket, bytes, bytes.count, Int32(MSG_NOSIGNAL)) < 0 {
                return Outcome(received: String(decoding: received, as: UTF8.self), closedByServer: true, piecesWritten: written)
            }
            written += 1
        }
        let open = read(for: end - ContinuousClock.now)
        return Outcome(received: String(decoding: received, as: UTF8.self), closedByServer: !open, piecesWritten: written)
    }
}
