import Foundation
import NetCore
#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on 127.0.0.1 (ephemeral port) whose per-connection behaviour is a test's
/// choice: the misbehaving peers a probe must survive, or a byte-exact protocol double.
/// Every wait inside is bounded, and `stop()` ends the accept loop and all handlers.
final class TestPeer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var stopped = false
    private var clients: [Int32] = []
    private var received: [[UInt8]] = []

    /// `handle` runs on its own thread per connection and gets a `Connection` wrapper.
    init(_ handle: @escaping @Sendable (Connection) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PeerError.setup("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw PeerError.setup("bind/listen: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop(handle) }
    }

    deinit { stop() }

    enum PeerError: Error { case setup(String) }

    var isStopped: Bool { lock.withLock { stopped } }

    /// Requests each connection sent, in arrival order (recorded by `Connection.read`).
    var requests: [[UInt8]] { lock.withLock { received } }

    func stop() {
        let fds: [Int32] = lock.withLock {
            if stopped { return [] }
            stopped = true
            return clients
        }
        // shutdown (not close) wakes handler threads blocked in poll; they close their own fd.
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ handle: @escaping @Sendable (Connection) -> Void) {
        defer { close(listener) }
        while !isStopped {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let accepted: Bool = lock.withLock {
                if stopped { return false }
                clients.append(client)
                return true
            }
            guard accepted else { close(client); continue }
            Thread.detachNewThread { [self] in
                handle(Connection(fd: client, peer: self))
                lock.withLock { clients.removeAll { $0 == client } }
                close(client)
            }
        }
    }

    fileprivate func record(_ bytes: [UInt8]) { lock.withLock { received.append(bytes) } }

    /// The server side of one connection. Reads and writes give up when the test peer stops
    /// or the client goes away.
    struct Connection: Sendable {
        let fd: Int32
        let peer: TestPeer

        /// Reads up to `count` bytes (fewer if the client half-closes), waiting at most
        /// `seconds`; records what arrived as one request.
        @discardableResult
        func read(_ count: Int, within seconds: Double = 5) -> [UInt8] {
            var result: [UInt8] = []
            let deadline = Deadline.after(seconds: seconds)
            var buffer = [UInt8](repeating: 0, count: count)
            while result.count < count, !peer.isStopped {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let remaining = deadline.remainingMilliseconds
                if remaining == 0 || poll(&p, 1, min(remaining, 50)) < 0 { break }
                if p.revents == 0 { continue }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, count - result.count, 0) }
                if n <= 0 { break }
                result += buffer[0..<n]
            }
            peer.record(result)
            return result
        }

        /// Writes everything unless the client is gone; false when it could not.
        @discardableResult
        func write(_ bytes: [UInt8]) -> Bool {
            var offset = 0
            while offset < bytes.count {
                if peer.isStopped { return false }
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }

        /// Blocks until the client closes or the peer stops, reading and dropping input.
        func holdUntilClosed() {
            var buffer = [UInt8](repeating: 0, count: 1024)
            while !peer.isStopped {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 50) < 0 { return }
                if p.revents == 0 { continue }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                if n <= 0 { return }
            }
        }

        /// Waits up to `seconds` unless the peer stops first: the pacing of a trickling peer.
        func pause(_ seconds: Double) {
            let deadline = Deadline.after(seconds: seconds)
            while !peer.isStopped, deadline.remainingMilliseconds > 0 {
                var p = pollfd(fd: fd, events: 0, revents: 0)
                _ = poll(&p, 1, min(deadline.remainingMilliseconds, 50))
                if p.revents & Int16(POLLHUP | POLLERR) != 0 { return }
            }
        }
    }
}

/// Canned misbehaviours.
enum Misbehaviour: String, CaseIterable, Sendable {
    case garbage, silent, trickle, endless

    func serve(_ connection: TestPeer.Connection) {
        connection.read(4, within: 2)
        switch self {
        case .garbage:
            connection.write(Array("HTTP/1.1 400 Bad Request\r\n\u{1}\u{2}\u{ff}".utf8))
        case .silent:
            // Not even the client's half-close ends it: only the test stopping the peer.
            connection.pause(120)
        case .trickle:
            for byte in Array("Zookeeper version: 3.8.0\nMode: leader\n".utf8) {
                guard connection.write([byte]) else { return }
                connection.pause(1)
            }
        case .endless:
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
            while connection.write(chunk) {}
        }
    }
}
