import NetCore
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on loopback that stands between a ZooKeeper client and one member and
/// injects the failures a network and a dying server produce, on command:
///
/// - `mode`: `.forward` relays; `.refuse` accepts and closes at once (a member that is down or
///   outside a quorum); `.blackhole` accepts, swallows every byte and never answers (a hung
///   member). It applies to connections accepted from then on.
/// - `dropConnections()`: closes every open connection, both sides, like a crashed peer;
///   `startFlapping(every:)` does so periodically, on a thread of its own.
/// - `stallReplies`, `replyDelay`: hold server-to-client frames until released, or deliver
///   each one late.
/// - `cutNextReply(where:)`: forwards the first half of the next reply frame whose xid matches,
///   then closes the connection: a peer that dies in the middle of a frame.
///
/// It understands ZooKeeper's framing (4-byte length prefix) in the server-to-client
/// direction, so faults land on frame boundaries; the first frame of each connection is the
/// handshake reply. Every connection has a thread of its own; `stop()` ends them all.
public final class FaultProxy: @unchecked Sendable {
    public enum Mode: Sendable, Equatable {
        case forward, refuse, blackhole
    }

    /// Where clients connect: "127.0.0.1:PORT".
    public let endpoint: String
    public let port: Int
    private let upstreamHost: String
    private let upstreamPort: Int
    private let listener: Int32

    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var currentMode = Mode.forward
    private var stalled = false
    private var delay = 0.0
    private var cut: (@Sendable (Int32) -> Bool)?
    private var connections: [ObjectIdentifier: Connection] = [:]
    private var stopped = false
    private var acceptLoopRunning = true
    private var accepted = 0
    private var cuts = 0
    private var held = 0
    private var drops = 0
    /// Incremented by every start or stop of flapping: a flapping thread whose generation is
    /// no longer current ends.
    private var flapGeneration = 0
    private var flapping = false

    /// Listens on `listenHost` (an IPv4 loopback address) at a free port and relays to
    /// `upstream` ("host:port", an IPv4 literal).
    public init(upstream: String, listenHost: String = "127.0.0.1") throws {
        let (host, port) = try parseHostPort(upstream, defaultPort: 2181)
        upstreamHost = host
        upstreamPort = port
        var address = try Self.socketAddress(listenHost, port: 0)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NetError.io("fault proxy: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw NetError.io("fault proxy cannot listen on \(listenHost): \(reason)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        endpoint = "\(listenHost):\(self.port)"
        listener = fd
        guard startDetachedThread({ [self] in acceptLoop() }) else {
            Glibc.close(fd)
            throw NetError.io("fault proxy: cannot start its accept thread")
        }
    }

    deinit { stop() }

    // MARK: Faults

    /// How connections accepted from now on are treated.
    public var mode: Mode {
        get { lock.withLock { currentMode } }
        set { lock.withLock { currentMode = newValue } }
    }

    /// While true, server-to-client frames are held (in order) on every connection; set false
    /// to deliver them.
    public var stallReplies: Bool {
        get { lock.withLock { stalled } }
        set { lock.withLock { stalled = newValue } }
    }

    /// Seconds each server-to-client frame is held before it is delivered.
    public var replyDelay: Double {
        get { lock.withLock { delay } }
        set { lock.withLock { delay = max(0, newValue) } }
    }

    /// Arms a cut: the next reply frame (after the handshake reply) whose xid satisfies
    /// `matches` is forwarded only up to half its payload, then its connection is closed.
    /// The default matches replies to numbered requests, not pings (-2) or notifications (-1).
    public func cutNextReply(where matches: @escaping @Sendable (Int32) -> Bool = { $0 > 0 }) {
        lock.withLock { cut = matches }
    }

    /// Closes every open connection (both directions) and waits until their threads are
    /// done, at most 10 s. Connections accepted meanwhile (a client reconnecting) stay open.
    public func dropConnections() {
        let open = lock.withLock { () -> [ObjectIdentifier: Connection] in
            drops += 1
            return connections
        }
        for connection in open.values { connection.hangUp() }
        let deadline = Deadline.after(seconds: 10)
        lock.withLock {
            while open.keys.contains(where: { connections[$0] != nil }) && !deadline.hasPassed { lock.wait(until: deadline) }
        }
    }

    /// Drops every open connection each `interval` seconds until `stopFlapping()` or
    /// `stop()`. Runs on a thread of its own, so busy test tasks cannot delay it.
    public func startFlapping(every interval: Double) {
        let generation = lock.withLock { () -> Int in
            flapGeneration += 1
            flapping = true
            lock.signal()
            return flapGeneration
        }
        _ = startDetachedThread { [self] in
            var next = Deadline.after(seconds: interval)
            while true {
                let go = lock.withLock { () -> Bool in
                    while flapGeneration == generation && !stopped && !next.hasPassed { lock.wait(until: next) }
                    return flapGeneration == generation && !stopped
                }
                if !go { return }
                dropConnections()
                next = Deadline.after(seconds: interval)
            }
        }
    }

    public func stopFlapping() {
        lock.withLock {
            flapGeneration += 1
            flapping = false
            lock.signal()
        }
    }

    // MARK: Observations

    /// Connections accepted so far, in any mode.
    public var acceptedConnections: Int { lock.withLock { accepted } }
    /// Connections currently open.
    public var openConnections: Int { lock.withLock { connections.count } }
    /// `dropConnections` calls so far, by the test or by flapping.
    public var connectionDrops: Int { lock.withLock { drops } }
    /// Reply frames cut in half so far.
    public var repliesCut: Int { lock.withLock { cuts } }
    /// Reply frames received from the server and not yet delivered (stalled or delayed).
    public var heldReplies: Int { lock.withLock { held } }

    /// Stops listening, closes every connection and waits for their threads (at most 10 s).
    /// Idempotent.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { shutdown(listener, Int32(SHUT_RDWR)) }
        // The accept loop first, so no connection is accepted after the others are dropped.
        let deadline = Deadline.after(seconds: 10)
        lock.withLock {
            while acceptLoopRunning && !deadline.hasPassed { lock.wait(until: deadline) }
        }
        dropConnections()
        if first { Glibc.close(listener) }
    }

    // MARK: Relaying

    private static func socketAddress(_ host: String, port: Int) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw NetError.invalidAddress("fault proxy: '\(host)' is not an IPv4 address")
        }
        return address
    }

    private func acceptLoop() {
        defer { lock.withLock { acceptLoopRunning = false; lock.signal() } }
        while true {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 50)
            if lock.withLock({ stopped }) { return }
            if ready <= 0 { continue }
            let fd = accept(listener, nil, nil)
            if fd < 0 { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let mode = lock.withLock { () -> Mode in
                accepted += 1
                return currentMode
            }
            if mode == .refuse {
                Glibc.close(fd)
                continue
            }
            var upstream: Int32 = -1
            if mode == .forward {
                upstream = connectUpstream()
                if upstream < 0 { Glibc.close(fd); continue }
            }
            let connection = Connection(client: fd, upstream: upstream)
            lock.withLock { connections[ObjectIdentifier(connection)] = connection }
            if !startDetachedThread({ [self] in relay(connection) }) {
                connection.closeBoth()
                lock.withLock { connections[ObjectIdentifier(connection)] = nil; lock.signal() }
            }
        }
    }

    private func connectUpstream() -> Int32 {
        guard var address = try? Self.socketAddress(upstreamHost, port: upstreamPort) else { return -1 }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return -1 }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { Glibc.close(fd); return -1 }
        return fd
    }

    /// One connection's loop: client bytes go upstream as they come; server bytes are split
    /// into frames, which are delivered (or held, delayed, cut) one by one.
    private func relay(_ connection: Connection) {
        var fromServer: [UInt8] = []
        var held: [(due: UInt64, frame: [UInt8])] = []
        defer {
            connection.closeBoth()
            lock.withLock {
                connections[ObjectIdentifier(connection)] = nil
                self.held -= held.count
                lock.signal()
            }
        }
        var sawHandshakeReply = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !connection.isHungUp {
            var fds = [pollfd(fd: connection.client, events: Int16(POLLIN), revents: 0)]
            if connection.upstream >= 0 { fds.append(pollfd(fd: connection.upstream, events: Int16(POLLIN), revents: 0)) }
            // Woken by traffic and by `hangUp`; held frames are checked often.
            _ = poll(&fds, nfds_t(fds.count), held.isEmpty ? 100 : 5)
            if fds[0].revents != 0 {
                let n = recv(connection.client, &buffer, buffer.count, 0)
                if n <= 0 { return }
                // A blackhole swallows what the client sends.
                if connection.upstream >= 0 && !sendAll(connection.upstream, buffer[0..<n]) { return }
            }
            if fds.count > 1 && fds[1].revents != 0 {
                let n = recv(connection.upstream, &buffer, buffer.count, 0)
                if n <= 0 { return }
                fromServer += buffer[0..<n]
                let due = monotonicNanoseconds() &+ UInt64(lock.withLock { delay } * 1e9)
                while fromServer.count >= 4 {
                    let length = Int(fromServer[0]) << 24 | Int(fromServer[1]) << 16 | Int(fromServer[2]) << 8 | Int(fromServer[3])
                    guard fromServer.count >= 4 + length else { break }
                    held.append((due, Array(fromServer[0..<(4 + length)])))
                    fromServer.removeFirst(4 + length)
                    lock.withLock { self.held += 1 }
                }
            }
            // Deliver what is due, in order, unless stalled.
            while let next = held.first, !lock.withLock({ stalled }), next.due <= monotonicNanoseconds() {
                held.removeFirst()
                lock.withLock { self.held -= 1 }
                let frame = next.frame
                let isHandshakeReply = !sawHandshakeReply
                sawHandshakeReply = true
                if !isHandshakeReply && frame.count >= 8 {
                    let xid = Int32(bitPattern: UInt32(frame[4]) << 24 | UInt32(frame[5]) << 16 | UInt32(frame[6]) << 8 | UInt32(frame[7]))
                    let cutHere = lock.withLock { () -> Bool in
                        guard let matches = cut, matches(xid) else { return false }
                        cut = nil
                        cuts += 1
                        return true
                    }
                    if cutHere {
                        _ = sendAll(connection.client, frame[0..<(4 + (frame.count - 4) / 2)])
                        return
                    }
                }
                if !sendAll(connection.client, frame[...]) { return }
            }
        }
    }

    private func sendAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// The two descriptors of one proxied connection; `upstream` is -1 for a blackhole.
    private final class Connection: @unchecked Sendable {
        let client: Int32
        let upstream: Int32
        private let lock = ConditionLock()
        private var hungUp = false
        private var closed = false

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }

        var isHungUp: Bool { lock.withLock { hungUp } }

        /// Wakes the relay thread (its reads see end of stream); the thread closes the fds.
        func hangUp() {
            lock.withLock {
                hungUp = true
                if closed { return }
                shutdown(client, Int32(SHUT_RDWR))
                if upstream >= 0 { shutdown(upstream, Int32(SHUT_RDWR)) }
            }
        }

        func closeBoth() {
            lock.withLock {
                if closed { return }
                closed = true
                shutdown(client, Int32(SHUT_RDWR))
                Glibc.close(client)
                if upstream >= 0 {
                    shutdown(upstream, Int32(SHUT_RDWR))
                    Glibc.close(upstream)
                }
            }
        }
    }
}
