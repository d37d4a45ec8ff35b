#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking TCP connection in which every operation is bounded by a `Deadline`.
///
/// The socket is non-blocking underneath and every wait goes through `poll(2)`, so a peer
/// that accepts and never answers, or trickles one byte a second, can never hold the caller
/// past its deadline. Plain POSIX on purpose: the probe binary must not link Foundation
/// networking or NIO.
///
/// One thread may read while another writes (TCP is full duplex); two concurrent readers or
/// two concurrent writers are not supported.
public final class TCPConnection: @unchecked Sendable {
    public let host: String
    public let port: Int
    /// Internal (not private) so tests can check that a closed connection leaves a reused
    /// descriptor number alone.
    let fd: Int32
    private let closeLock = ConditionLock()
    private var closed = false

    init(fd: Int32, host: String, port: Int) {
        self.fd = fd
        self.host = host
        self.port = port
    }

    deinit { close() }

    /// Resolves `host` (a name or numeric address) with `resolver`, then connects to the
    /// first address that accepts; name resolution included, everything ends by `deadline`.
    public static func connect(
        host: String, port: Int, deadline: Deadline, resolver: NameResolver = .system
    ) throws(NetError) -> TCPConnection {
        guard (1...65535).contains(port) else { throw .invalidAddress("port \(port) is out of range 1-65535") }
        let addresses = try resolver.resolve(host: host, port: port, deadline: deadline)
        var lastError = NetError.connect(host: host, port: port, reason: "no address")
        for address in addresses {
            if deadline.hasPassed { throw .timeout("connecting to \(host):\(port)") }
            let fd = socket(address.family, address.socketType | Int32(SOCK_CLOEXEC.rawValue), address.socketProtocol)
            if fd < 0 { lastError = .connect(host: host, port: port, reason: errnoText()); continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let rc = address.socketAddress.withUnsafeBytes { raw in
                Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
            if rc == 0 {
                return TCPConnection(fd: fd, host: host, port: port)
            }
            if errno != EINPROGRESS {
                lastError = .connect(host: host, port: port, reason: errnoText())
                Glibc.close(fd)
                continue
            }
            do {
                try waitFor(fd: fd, events: Int16(POLLOUT), deadline: deadline, phase: "connecting to \(host):\(port)")
            } catch {
                Glibc.close(fd)
                throw error
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            if soError == 0 { return TCPConnection(fd: fd, host: host, port: port) }
            lastError = .connect(host: host, port: port, reason: String(cString: strerror(soError)))
            Glibc.close(fd)
        }
        throw lastError
    }

    /// Writes every byte or throws.
    public func writeAll(_ bytes: [UInt8], deadline: Deadline) throws(NetError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                try Self.waitFor(fd: fd, events: Int16(POLLOUT), deadline: deadline, phase: "writing to \(host):\(port)")
                continue
            }
            if n < 0 && errno == EINTR { continue }
            throw NetError.io("write to \(host):\(port): \(errnoText())")
        }
    }

    /// Reads what is available (at least one byte), or `[]` at end of stream.
    public func readSome(max: Int = 65536, deadline: Deadline) throws(NetError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress!, raw.count, 0) }
            if n >= 0 { buffer.removeSubrange(n...); return buffer }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                try Self.waitFor(fd: fd, events: Int16(POLLIN), deadline: deadline, phase: "reading from \(host):\(port)")
                continue
            }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return [] }
            throw NetError.io("read from \(host):\(port): \(errnoText())")
        }
    }

    /// Reads exactly `count` bytes; end of stream before that is `NetError.closed`.
    public func readExactly(_ count: Int, deadline: Deadline) throws(NetError) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            let chunk = try readSome(max: count - result.count, deadline: deadline)
            if chunk.isEmpty { throw .closed(received: result.count, expected: count) }
            result += chunk
        }
        return result
    }

    /// Reads until the peer closes. More than `limit` bytes is `NetError.tooLarge`: a reply
    /// that big is never a real answer, and the cap keeps memory bounded.
    public func readToEnd(limit: Int, deadline: Deadline) throws(NetError) -> [UInt8] {
        var result: [UInt8] = []
        while true {
            let chunk = try readSome(max: min(65536, limit + 1 - result.count), deadline: deadline)
            if chunk.isEmpty { return result }
            result += chunk
            if result.count > limit { throw .tooLarge(limit: limit) }
        }
    }

    /// Half-closes the sending side, telling the peer the request is complete.
    /// Does nothing after `close()`: the descriptor number may belong to another socket by then.
    public func shutdownWrite() {
        closeLock.withLock {
            if !closed { _ = shutdown(fd, Int32(SHUT_WR)) }
        }
    }

    /// Wakes any thread blocked in a read or write on this connection (it sees end of stream
    /// or a write error) without releasing the descriptor, which `close()` does. Safe to call
    /// from another thread at any time, also after `close()`, when it does nothing.
    public func shutdownBoth() {
        closeLock.withLock {
            if !closed { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    public func close() {
        closeLock.withLock {
            if !closed { closed = true; Glibc.close(fd) }
        }
    }

    private static func waitFor(fd: Int32, events: Int16, deadline: Deadline, phase: String) throws(NetError) {
        while true {
            let remaining = deadline.remainingMilliseconds
            if remaining <= 0 { throw .timeout(phase) }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&p, 1, remaining)
            if rc > 0 { return }
            if rc == 0 { throw .timeout(phase) }
            if errno != EINTR { throw .io("\(phase): poll: \(errnoText())") }
        }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// True for an IPv4 or IPv6 literal such as "127.0.0.1" or "::1".
public func isNumericAddress(_ host: String) -> Bool {
    var v4 = in_addr()
    var v6 = in6_addr()
    return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
}
