#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening TCP socket whose accept waits are bounded like every other wait here: the
/// operator's health and metrics endpoints use it instead of an HTTP framework.
public final class TCPListener: @unchecked Sendable {
    public let host: String
    /// The bound port (the kernel's choice when 0 was asked for).
    public let port: Int
    private let fd: Int32
    private let closeLock = ConditionLock()
    private var closed = false

    private init(fd: Int32, host: String, port: Int) {
        self.fd = fd
        self.host = host
        self.port = port
    }

    deinit { close() }

    /// Binds a numeric address ("0.0.0.0", "127.0.0.1", "::") and listens.
    public static func bind(host: String, port: Int, backlog: Int32 = 64) throws(NetError) -> TCPListener {
        guard (0...65535).contains(port) else { throw .invalidAddress("port \(port) is out of range 0-65535") }
        guard isNumericAddress(host) else { throw .invalidAddress("'\(host)' is not a numeric IP address") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let info = list else { throw .resolve(host: host, reason: String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
        guard fd >= 0 else { throw .io("socket: \(errnoText())") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let reason = errnoText()
            Glibc.close(fd)
            throw .io("cannot listen on \(host):\(port): \(reason)")
        }
        guard listen(fd, backlog) == 0 else {
            let reason = errnoText()
            Glibc.close(fd)
            throw .io("listen on \(host):\(port): \(reason)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        var actualPort = port
        if bound == 0 {
            if Int32(address.ss_family) == AF_INET6 {
                actualPort = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
            } else {
                actualPort = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
            }
        }
        return TCPListener(fd: fd, host: host, port: actualPort)
    }

    /// The next connection, or nil when none arrived before `deadline`.
    public func accept(deadline: Deadline) throws(NetError) -> TCPConnection? {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                return TCPConnection(fd: client, host: host, port: port)
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { throw .io("accept on \(host):\(port): \(errnoText())") }
            let remaining = deadline.remainingMilliseconds
            if remaining <= 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, remaining)
            if rc == 0 { return nil }
            if rc < 0 && errno != EINTR { throw .io("accept on \(host):\(port): poll: \(errnoText())") }
        }
    }

    public func close() {
        closeLock.withLock {
            if !closed { closed = true; Glibc.close(fd) }
        }
    }
}
