import NetCore

/// A ZooKeeper session over the jute wire protocol.
///
/// One I/O thread per client reads replies, pings at a third of the negotiated session
/// timeout, and on a dead connection moves to the next member with the same session id and
/// password; one writer thread writes every frame, so calls never block on the socket.
/// Every call has a deadline (`Options.requestTimeout`) that holds whatever the connection is
/// doing; every error is a `ZooKeeperError`, and `ZooKeeperError.mayHaveBeenApplied` tells a
/// failed write that certainly did not happen from one whose outcome is unknown.
///
/// The session ends only when the server says it expired (`State.expired`), or on `close()`:
/// while no member answers (a quorum outage) the client keeps reconnecting, backing off to
/// about a second between rounds, however long it takes.
///
/// Watches set with `watch: true` are delivered once on `events`, along with session events
/// (kind `.none`, state `KeeperState.*`). After a failover they are re-armed on the new member
/// (SetWatches), which also delivers the events for changes made while disconnected.
public final class ZooKeeperClient: Sendable {
    public struct Options: Sendable {
        /// Requested session timeout in seconds; the server clamps it to its
        /// [minSessionTimeout, maxSessionTimeout].
        public var sessionTimeout: Double = 10
        /// Upper bound on each call, from the call until its reply, and on `close()`.
        public var requestTimeout: Double = 10
        /// Upper bound on establishing the first connection, across all members.
        public var connectTimeout: Double = 10
        /// Upper bound on one member's name resolution, TCP connect and handshake.
        public var attemptTimeout: Double = 3
        /// Largest reply frame accepted: the server's jute.maxbuffer (1 MiB) plus headroom.
        public var maxFrameLength: Int = 1_048_576 + 65_536
        /// Resume this session instead of creating one.
        public var session: SessionCredentials?
        /// Read-only sessions are not supported: `connect` refuses `true`. A session made on a
        /// read-only member (outside a quorum) is lost when the quorum returns unless the
        /// client implements the Java client's read-write server search, which this one does
        /// not; read-only members are skipped like any member that is not serving.
        public var allowReadOnly = false
        /// Resolves member host names within each attempt's deadline (see `NameResolver`).
        public var resolver: NameResolver = .system

        public init() {}

        /// Every duration finite, at least 1 ms and within the protocol's Int32 milliseconds.
        func validate() throws(ZooKeeperError) {
            let durations = [("sessionTimeout", sessionTimeout), ("requestTimeout", requestTimeout),
                             ("connectTimeout", connectTimeout), ("attemptTimeout", attemptTimeout)]
            for (name, seconds) in durations {
                do { try validateDuration(seconds, name: name) } catch { throw .invalidArgument(error.description) }
            }
            guard maxFrameLength >= 1024 else { throw .invalidArgument("maxFrameLength must be at least 1024 bytes, got \(maxFrameLength)") }
            if allowReadOnly {
                throw .invalidArgument("allowReadOnly: read-only sessions are not supported by this client "
                    + "(a session made on a read-only member would be lost when the quorum returns); leave it off")
            }
        }
    }

    /// What identifies a session to the server. The password is a secret: it is never printed.
    public struct SessionCredentials: Sendable, Equatable, CustomStringConvertible {
        public var id: Int64
        public var password: [UInt8]
        public init(id: Int64, password: [UInt8]) { self.id = id; self.password = password }
        public var description: String { "session 0x\(String(UInt64(bitPattern: id), radix: 16))" }
    }

    public enum State: Sendable, Equatable {
        case connecting
        case connected(member: String)
        case expired
        case closed
    }

    private let core: SessionCore
    /// Watch notifications and session events, in arrival order. Finishes when the session ends.
    public let events: AsyncStream<WatchEvent>

    private init(core: SessionCore, events: AsyncStream<WatchEvent>) {
        self.core = core
        self.events = events
    }

    deinit {
        // Released without close(): stop both threads, and keep a handshake in progress from
        // bringing the session back; the server expires it after its timeout.
        core.lock.withLock { core.closing = true }
        core.shutdown(.closed, finalPhase: .closed)
    }

    /// Opens a session with the first member (in list order, then round-robin) that accepts.
    /// `members` are "host:port" (port defaults to 2181).
    public static func connect(members: [String], options: Options = Options()) async throws -> ZooKeeperClient {
        var addresses: [MemberAddress] = []
        for member in members {
            do {
                let (host, port) = try parseHostPort(member, defaultPort: 2181)
                addresses.append(MemberAddress(host: host, port: port))
            } catch {
                throw ZooKeeperError.invalidArgument(error.description)
            }
        }
        guard !addresses.isEmpty else { throw ZooKeeperError.invalidArgument("no members given") }
        try options.validate()
        let (stream, continuation) = AsyncStream.makeStream(of: WatchEvent.self, bufferingPolicy: .bufferingNewest(1024))
        let core = SessionCore(members: addresses, options: options, events: continuation)
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            core.lock.withLock { core.connectWaiter = waiter }
            if !startDetachedThread({ core.runWriter() }) || !startDetachedThread({ core.run() }) {
                core.shutdown(.noServerAvailable("cannot start the connection threads"), finalPhase: .closed)
            }
        }
        return ZooKeeperClient(core: core, events: stream)
    }

    // MARK: Session

    public var state: State {
        core.lock.withLock {
            switch core.phase {
            case .connecting: return .connecting
            case .connected(let link): return .connected(member: link.member)
            case .expired: return .expired
            case .closed: return .closed
            }
        }
    }

    /// The member currently connected to, "host:port".
    public var connectedMember: String? {
        if case .connected(let member) = state { return member }
        return nil
    }

    public var sessionID: Int64 { core.lock.withLock { core.sessionID } }

    /// Id and password, to resume this session from another client.
    public var credentials: SessionCredentials {
        core.lock.withLock { SessionCredentials(id: core.sessionID, password: core.password) }
    }

    /// The session timeout the server granted, in milliseconds.
    public var negotiatedSessionTimeout: Int { core.lock.withLock { Int(core.negotiatedTimeoutMilliseconds) } }

    /// Ends the session on the server (its ephemeral nodes go at once) and stops the client,
    /// within `requestTimeout`. Best effort: while the client is reconnecting it stops at once,
    /// and if the server does not answer in time it stops then; either way the server expires
    /// the session after its timeout. Requests still in flight fail with `connectionLoss`,
    /// waiting ones with `closed`.
    public func close() async {
        if core.beginClosing() {
            do {
                _ = try await core.call(.closeSession)
            } catch {
                // Nothing more to do: the server expires the session on its own.
            }
        }
        core.shutdown(.closed, finalPhase: .closed)
    }

    // MARK: Operations

    /// Creates a node and returns its actual path (with the counter for sequential modes).
    @discardableResult
    public func create(_ path: String, data: [UInt8] = [], mode: CreateMode = .persistent, acl: [ACL] = ACL.openUnsafe) async throws -> String {
        try validatePath(path, sequential: mode == .persistentSequential || mode == .ephemeralSequential)
        var reply = try await checked(.create(path: path, data: data, acl: acl, mode: mode))
        guard let created = try reply.readString() else { throw ZooKeeperError.protocolViolation("create reply has no path") }
        return created
    }

    public func getData(_ path: String, watch: Bool = false) async throws -> (data: [UInt8], stat: Stat) {
        try validatePath(path)
        var reply = try await checked(.getData(path: path, watch: watch))
        let response = try reply.read(GetDataResponse.self)
        return (response.data, response.stat)
    }

    /// Replaces the data if the node's version is `version` (-1: any version).
    @discardableResult
    public func setData(_ path: String, data: [UInt8], version: Int32 = -1) async throws -> Stat {
        try validatePath(path)
        var reply = try await checked(.setData(path: path, data: data, version: version))
        return try reply.read(Stat.self)
    }

    /// Deletes the node if its version is `version` (-1: any version).
    public func delete(_ path: String, version: Int32 = -1) async throws {
        try validatePath(path)
        _ = try await checked(.delete(path: path, version: version))
    }

    /// The node's Stat, or nil when it does not exist.
    public func exists(_ path: String, watch: Bool = false) async throws -> Stat? {
        try validatePath(path)
        let reply = try await core.call(.exists(path: path, watch: watch))
        if reply.header.err == ZooKeeperError.noNode.code { return nil }
        var body = try Self.check(reply)
        return try body.read(Stat.self)
    }

    public func getChildren(_ path: String, watch: Bool = false) async throws -> [String] {
        try validatePath(path)
        var reply = try await checked(.getChildren(path: path, watch: watch))
        guard let children = try reply.readStringVector() else { return [] }
        return children
    }

    /// Waits until the connected member has caught up with the leader for `path`, so a
    /// following read sees every write committed before the sync.
    public func sync(_ path: String = "/") async throws {
        try validatePath(path)
        _ = try await checked(.sync(path: path))
    }

    /// The dynamic membership and its version, read from /zookeeper/config.
    public func getConfig(watch: Bool = false) async throws -> (config: ClusterConfig, stat: Stat) {
        let (data, stat) = try await getData("/zookeeper/config", watch: watch)
        return (try ClusterConfig.parse(data), stat)
    }

    /// Incremental reconfiguration: add `joining` server lines ("server.N=host:q:e:role;client")
    /// and remove `leaving` server ids, only if the config version is still `fromConfig`
    /// (-1: unconditionally). Returns the new configuration. When it throws an error whose
    /// `mayHaveBeenApplied` is true (the connection was lost after sending), the change may
    /// have happened: sync and read the configuration to find out before trying again.
    @discardableResult
    public func reconfig(joining: [String] = [], leaving: [Int] = [], fromConfig: Int64 = -1) async throws -> ClusterConfig {
        guard !joining.isEmpty || !leaving.isEmpty else {
            throw ZooKeeperError.invalidArgument("reconfig needs a joining or a leaving server")
        }
        for line in joining where line.contains(",") || line.contains("\n") {
            throw ZooKeeperError.invalidArgument("joining server '\(line)' must be one line without commas")
        }
        var reply = try await checked(.reconfig(
            joining: joining.isEmpty ? nil : joining.joined(separator: ","),
            leaving: leaving.isEmpty ? nil : leaving.map(String.init).joined(separator: ","),
            fromConfig: fromConfig))
        let response = try reply.read(GetDataResponse.self)
        return try ClusterConfig.parse(response.data)
    }

    /// Adds credentials to the session (replayed after a failover).
    public func addAuth(scheme: String, credentials: [UInt8]) async throws {
        try await core.addAuth(scheme: scheme, credentials: credentials)
    }

    /// `digest` authentication as "user:password".
    public func addDigestAuth(user: String, password: String) async throws {
        guard !user.contains(":") else { throw ZooKeeperError.invalidArgument("digest user must not contain ':'") }
        try await addAuth(scheme: "digest", credentials: Array("\(user):\(password)".utf8))
    }

    private func checked(_ request: ZooKeeperRequest) async throws -> JuteReader {
        try Self.check(try await core.call(request))
    }

    private static func check(_ reply: ReplyFrame) throws(ZooKeeperError) -> JuteReader {
        if reply.header.err != 0 { throw ZooKeeperError(code: reply.header.err) }
        return reply.body
    }
}
