#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NetCore

/// A reply frame: its header and a reader positioned at the body.
struct ReplyFrame: Sendable {
    var header: ReplyHeader
    var body: JuteReader
}

/// One member of the connect string.
struct MemberAddress: Sendable, Equatable {
    var host: String
    var port: Int
    var label: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One TCP connection that completed the handshake. `retired` is guarded by the session's
/// `descriptorLock`: once set, nobody writes to the descriptor again, so a reused fd number
/// can never receive a stale frame.
final class Link: @unchecked Sendable {
    let connection: TCPConnection
    let generation: Int
    let member: String
    var retired = false

    init(connection: TCPConnection, generation: Int, member: String) {
        self.connection = connection
        self.generation = generation
        self.member = member
    }
}

/// The session's state machine, its I/O thread and its writer thread.
///
/// Callers register a request and queue its frame under `lock`, then suspend: no caller ever
/// blocks on a socket. The writer thread alone writes frames, in queue order. The I/O thread
/// reads, matches replies by xid, queues pings, expires deadlines, and moves the session to
/// the next member when a connection dies; it never waits for a write, so a peer that stops
/// reading cannot stop it from reading or from noticing the peer's silence. Requests made
/// while no connection is up wait (within their deadline) and are queued as soon as one is.
final class SessionCore: @unchecked Sendable {
    struct Pending {
        var continuation: CheckedContinuation<ReplyFrame, any Error>
        var deadline: Deadline
        var frame: [UInt8]
        var name: String
        /// The link generation it was written to; nil while waiting for a connection.
        var sentOn: Int?
    }

    struct StoredAuth {
        var id: Int
        var scheme: String
        var credentials: [UInt8]
        /// Waiting for the server's verdict; nil once answered (the auth stays for replays).
        var waiter: CheckedContinuation<Void, any Error>?
        var deadline: Deadline
    }

    /// A frame waiting for the writer thread.
    struct Outbound {
        var link: Link
        var frame: [UInt8]
        /// Not written once this has passed: its caller has given up (a request, whose pending
        /// entry expires with it) or it is stale (a ping). nil: always written (an auth, which
        /// the server's in-order answers are matched against).
        var dropAfter: Deadline?
    }

    enum Phase {
        case connecting
        case connected(Link)
        case expired
        case closed
    }

    let members: [MemberAddress]
    let options: ZooKeeperClient.Options
    let events: AsyncStream<WatchEvent>.Continuation

    /// Guards the state below; its condition wakes the writer thread.
    let lock = Lock()
    /// Held by the writer thread while it writes and by `retire` while it closes: a closed
    /// descriptor's number may be reused at once, so nobody may write to it afterwards.
    let descriptorLock = Lock()

    // Everything below is guarded by `lock`.
    var phase: Phase = .connecting
    /// Frames for the writer thread, in the order they must reach the server.
    var outbound: [Outbound] = []
    var pending: [Int32: Pending] = [:]
    var auths: [StoredAuth] = []
    /// Auth ids sent on the current link, in order: the server answers them all with xid -4.
    var authsInFlight: [Int] = []
    var nextAuthID = 0
    var nextXid: Int32 = 1
    var generation = 0
    var sessionID: Int64 = 0
    var password = [UInt8](repeating: 0, count: 16)
    var negotiatedTimeoutMilliseconds: Int32 = 0
    var lastZxid: Int64 = 0
    var lastHeard = Deadline.now
    var lastSent = Deadline.now
    var memberIndex = 0
    var connectWaiter: CheckedContinuation<Void, any Error>?
    /// Set by `close()` before it sends closeSession: the server then hangs up, which must
    /// end the client rather than start a failover.
    var closing = false

    init(members: [MemberAddress], options: ZooKeeperClient.Options, events: AsyncStream<WatchEvent>.Continuation) {
        self.members = members
        self.options = options
        self.events = events
        if let session = options.session {
            sessionID = session.id
            password = session.password
        }
    }

    // MARK: Caller side

    func call(_ request: ZooKeeperRequest) async throws -> ReplyFrame {
        let deadline = Deadline.after(seconds: options.requestTimeout)
        return try await withCheckedThrowingContinuation { continuation in
            let failure: ZooKeeperError? = lock.withLock {
                switch phase {
                case .closed: return .closed
                case .expired: return .sessionExpired
                case .connecting, .connected: break
                }
                var xid = nextXid
                // Wrap before reaching the negative xids the protocol reserves.
                nextXid = nextXid == Int32.max ? 1 : nextXid + 1
                while pending[xid] != nil { xid = nextXid; nextXid = nextXid == Int32.max ? 1 : nextXid + 1 }
                let frame = request.frame(xid: xid)
                var entry = Pending(continuation: continuation, deadline: deadline, frame: frame, name: request.name)
                if case .connected(let link) = phase {
                    entry.sentOn = link.generation
                    enqueue(frame, on: link, dropAfter: deadline)
                }
                pending[xid] = entry
                return nil
            }
            if let failure { continuation.resume(throwing: failure) }
        }
    }

    func addAuth(scheme: String, credentials: [UInt8]) async throws {
        let deadline = Deadline.after(seconds: options.requestTimeout)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let failure: ZooKeeperError? = lock.withLock {
                switch phase {
                case .closed: return .closed
                case .expired: return .sessionExpired
                case .connecting, .connected: break
                }
                let id = nextAuthID
                nextAuthID += 1
                auths.append(StoredAuth(id: id, scheme: scheme, credentials: credentials, waiter: continuation, deadline: deadline))
                if case .connected(let link) = phase {
                    authsInFlight.append(id)
                    enqueue(ZooKeeperRequest.auth(scheme: scheme, credentials: credentials).frame(xid: SpecialXid.auth), on: link, dropAfter: nil)
                }
                return nil
            }
            if let failure { continuation.resume(throwing: failure) }
        }
    }

    /// Queues a frame for the writer thread. Call with `lock` held: queue order is wire order.
    private func enqueue(_ frame: [UInt8], on link: Link, dropAfter: Deadline?) {
        outbound.append(Outbound(link: link, frame: frame, dropAfter: dropAfter))
        // Counted when queued, not when written: a ping behind a slow write would be no help,
        // and counting at write time would queue a ping on every turn of the I/O loop.
        lastSent = .now
        lock.signal()
    }

    // MARK: Writer thread

    /// Writes queued frames until the session ends. Each frame is written whole or its link
    /// is shut down: a partial frame would desynchronise the stream, so a write failure ends
    /// the connection and the I/O thread fails over.
    func runWriter() {
        while let item = nextOutbound() {
            descriptorLock.withLock {
                guard !item.link.retired else { return }
                // Skipping a frame not yet begun keeps the stream in step.
                if let dropAfter = item.dropAfter, dropAfter.hasPassed { return }
                // A frame once begun must finish, whatever its caller's deadline, or the
                // connection is lost. This bounds a peer that takes nothing; a dead peer is
                // noticed sooner by the I/O thread, whose `retire` fails this write at once.
                do {
                    try item.link.connection.writeAll(item.frame, deadline: .after(seconds: options.requestTimeout))
                } catch {
                    item.link.connection.shutdownBoth()
                }
            }
        }
    }

    /// The next frame to write; nil once the session has ended.
    private func nextOutbound() -> Outbound? {
        lock.withLock {
            while true {
                switch phase {
                case .closed, .expired:
                    outbound.removeAll()
                    return nil
                case .connecting, .connected:
                    if !outbound.isEmpty { return outbound.removeFirst() }
                    lock.wait()
                }
            }
        }
    }

    /// Ends the session locally: fails everything outstanding with `error` and stops the
    /// I/O thread. Does not tell the server (see `ZooKeeperClient.close()`).
    func shutdown(_ error: ZooKeeperError, finalPhase: Phase) {
        let (waiters, authWaiters, connectWaiter, link) = lock.withLock {
            () -> ([CheckedContinuation<ReplyFrame, any Error>], [CheckedContinuation<Void, any Error>], CheckedContinuation<Void, any Error>?, Link?) in
            if case .closed = phase { return ([], [], nil, nil) }
            if case .expired = phase, case .expired = finalPhase { return ([], [], nil, nil) }
            var link: Link?
            if case .connected(let l) = phase { link = l }
            phase = finalPhase
            let waiters = pending.values.map(\.continuation)
            pending.removeAll()
            let authWaiters = auths.compactMap(\.waiter)
            auths.removeAll()
            authsInFlight.removeAll()
            let connectWaiter = self.connectWaiter
            self.connectWaiter = nil
            // The writer thread sees the final phase and exits.
            lock.signal()
            return (waiters, authWaiters, connectWaiter, link)
        }
        // Wakes the I/O thread's read (and a blocked write); the I/O thread sees the final
        // phase and exits, closing the socket.
        link?.connection.shutdownBoth()
        for waiter in waiters { waiter.resume(throwing: error) }
        for waiter in authWaiters { waiter.resume(throwing: error) }
        connectWaiter?.resume(throwing: error)
        if case .expired = finalPhase { events.yield(WatchEvent(kind: .none, state: KeeperState.expired, path: "")) }
        events.finish()
    }

    // MARK: I/O thread

    func run() {
        while let link = establish() {
            serve(link)
        }
    }

    private var isFinished: Bool {
        lock.withLock {
            switch phase {
            case .closed, .expired: return true
            case .connecting, .connected: return false
            }
        }
    }

    /// Connects to members in turn until one accepts the session, or the session (or, for a
    /// new session, the connect timeout) runs out.
    private func establish() -> Link? {
        let (isNew, overall) = lock.withLock { () -> (Bool, Deadline) in
            if connectWaiter != nil { return (true, Deadline.after(seconds: options.connectTimeout)) }
            // The server forgets a session it has not heard from for its timeout; trying
            // longer than that can only end in "expired".
            let timeout = UInt64(max(negotiatedTimeoutMilliseconds, 0)) * 1_000_000
            return (false, Deadline(nanoseconds: lastHeard.nanoseconds &+ timeout))
        }
        if lock.withLock({ closing }) {
            shutdown(.closed, finalPhase: .closed)
            return nil
        }
        var failures: [(member: String, reason: String)] = []
        var attemptsThisRound = 0
        while true {
            if isFinished { return nil }
            expireOverdue()
            if overall.hasPassed {
                if isNew {
                    let text = failures.isEmpty ? "connect timed out"
                        : failures.map { "\($0.member): \($0.reason)" }.joined(separator: "; ")
                    shutdown(.noServerAvailable(text), finalPhase: .closed)
                } else {
                    shutdown(.sessionExpired, finalPhase: .expired)
                }
                return nil
            }
            let member = lock.withLock { () -> MemberAddress in
                defer { memberIndex = (memberIndex + 1) % members.count }
                return members[memberIndex]
            }
            let attemptDeadline = min(overall, Deadline.after(seconds: options.attemptTimeout))
            do {
                return try handshake(with: member, deadline: attemptDeadline)
            } catch .sessionExpired {
                shutdown(.sessionExpired, finalPhase: .expired)
                return nil
            } catch {
                // The summary is wrapped in noServerAvailable once; keep only each reason.
                var reason = error.description
                if case .noServerAvailable(let inner) = error { reason = inner }
                failures.removeAll { $0.member == member.label }
                failures.append((member.label, reason))
            }
            attemptsThisRound += 1
            if attemptsThisRound >= members.count {
                // Every member refused: pause briefly rather than spin (e.g. during an election).
                attemptsThisRound = 0
                let pause = min(Int32(200), overall.remainingMilliseconds)
                if pause > 0 { _ = poll(nil, 0, pause) }
            }
        }
    }

    private func handshake(with member: MemberAddress, deadline: Deadline) throws(ZooKeeperError) -> Link {
        let connection: TCPConnection
        do {
            connection = try TCPConnection.connect(host: member.host, port: member.port, deadline: deadline)
        } catch {
            throw .noServerAvailable(error.description)
        }
        let request = lock.withLock {
            ConnectRequest(
                lastZxidSeen: lastZxid,
                timeoutMilliseconds: Int32(clamping: Int(options.sessionTimeout * 1000)),
                sessionID: sessionID, password: password, readOnly: options.allowReadOnly)
        }
        let response: ConnectResponse
        do {
            try connection.writeAll(Frame.encode(request.juteBytes), deadline: deadline)
            var decoder = FrameDecoder(maxFrameLength: options.maxFrameLength)
            var frame: [UInt8]?
            while frame == nil {
                let bytes = try connection.readSome(deadline: deadline)
                if bytes.isEmpty {
                    // A member outside a quorum accepts TCP and then closes without a word.
                    throw ZooKeeperError.connectionLoss
                }
                decoder.append(bytes)
                frame = try decoder.nextFrame()
            }
            var reader = JuteReader(frame!)
            response = try reader.read(ConnectResponse.self)
        } catch let error as ZooKeeperError {
            connection.close()
            if error == .connectionLoss {
                throw .noServerAvailable("closed the connection during the handshake (not serving: outside a quorum?)")
            }
            throw error
        } catch let error as NetError {
            connection.close()
            throw .noServerAvailable(error.description)
        } catch {
            connection.close()
            throw .noServerAvailable("\(error)")
        }
        if response.timeoutMilliseconds <= 0 {
            connection.close()
            throw .sessionExpired
        }

        // Replayed auths and waiting requests are queued in the same step that makes the link
        // live, so they reach the server before anything a caller queues after it.
        let (link, waiter) = lock.withLock { () -> (Link, CheckedContinuation<Void, any Error>?) in
            generation += 1
            let link = Link(connection: connection, generation: generation, member: member.label)
            sessionID = response.sessionID
            password = response.password
            negotiatedTimeoutMilliseconds = response.timeoutMilliseconds
            phase = .connected(link)
            lastHeard = .now
            authsInFlight = auths.map(\.id)
            for auth in auths {
                enqueue(ZooKeeperRequest.auth(scheme: auth.scheme, credentials: auth.credentials).frame(xid: SpecialXid.auth),
                        on: link, dropAfter: nil)
            }
            for xid in pending.keys.sorted() where pending[xid]!.sentOn == nil {
                pending[xid]!.sentOn = link.generation
                enqueue(pending[xid]!.frame, on: link, dropAfter: pending[xid]!.deadline)
            }
            lastSent = .now
            let waiter = connectWaiter
            connectWaiter = nil
            return (link, waiter)
        }
        waiter?.resume()
        events.yield(WatchEvent(kind: .none, state: KeeperState.syncConnected, path: ""))
        return link
    }

    /// Reads and dispatches frames until the link dies; then fails what was in flight on it.
    private func serve(_ link: Link) {
        var decoder = FrameDecoder(maxFrameLength: options.maxFrameLength)
        let timeout = UInt64(lock.withLock { negotiatedTimeoutMilliseconds }) * 1_000_000
        let pingInterval = timeout / 3
        let silenceLimit = timeout * 2 / 3
        while true {
            if isFinished { retire(link); return }
            expireOverdue()
            let (heard, sent, earliest) = lock.withLock { (lastHeard, lastSent, pending.values.map(\.deadline).min()) }
            let now = Deadline.now
            if now.nanoseconds >= heard.nanoseconds &+ silenceLimit {
                // The server pings back within a third of the timeout; this much silence
                // means it is gone (or half-dead), so move on while the session still lives.
                lose(link, error: .connectionLoss)
                return
            }
            if now.nanoseconds >= sent.nanoseconds &+ pingInterval {
                // Queued only: this thread never waits for a write, so it keeps reading.
                lock.withLock {
                    guard case .connected(let current) = phase, current === link else { return }
                    enqueue(ZooKeeperRequest.ping.frame(xid: SpecialXid.ping), on: link,
                            dropAfter: Deadline(nanoseconds: now.nanoseconds &+ pingInterval))
                }
                continue
            }
            var wake = Deadline(nanoseconds: min(sent.nanoseconds &+ pingInterval, heard.nanoseconds &+ silenceLimit))
            if let earliest, earliest < wake { wake = earliest }
            // A request registered while this thread sleeps may have an earlier deadline;
            // waking a few times a second bounds how late its timeout fires.
            wake = min(wake, Deadline(nanoseconds: now.nanoseconds &+ 250_000_000))
            let bytes: [UInt8]
            do {
                bytes = try link.connection.readSome(deadline: wake)
            } catch .timeout {
                continue
            } catch {
                lose(link, error: .connectionLoss)
                return
            }
            if bytes.isEmpty {
                lose(link, error: decoder.bufferedCount > 0
                    ? .protocolViolation("connection closed in the middle of a frame") : .connectionLoss)
                return
            }
            lock.withLock { lastHeard = .now }
            decoder.append(bytes)
            do {
                while let frame = try decoder.nextFrame() { try dispatch(frame) }
            } catch {
                lose(link, error: error)
                return
            }
        }
    }

    private func dispatch(_ frame: [UInt8]) throws(ZooKeeperError) {
        var reader = JuteReader(frame)
        let header = try reader.read(ReplyHeader.self)
        switch header.xid {
        case SpecialXid.ping:
            lock.withLock { if header.zxid > lastZxid { lastZxid = header.zxid } }
        case SpecialXid.watchEvent:
            events.yield(try reader.read(WatchEvent.self))
        case SpecialXid.auth:
            let waiter = lock.withLock { () -> CheckedContinuation<Void, any Error>? in
                guard !authsInFlight.isEmpty else { return nil }
                let id = authsInFlight.removeFirst()
                guard let index = auths.firstIndex(where: { $0.id == id }) else { return nil }
                let waiter = auths[index].waiter
                auths[index].waiter = nil
                // A rejected credential must not be replayed on every reconnect.
                if header.err != 0 { auths.remove(at: index) }
                return waiter
            }
            if header.err != 0 { waiter?.resume(throwing: ZooKeeperError(code: header.err)) } else { waiter?.resume() }
        default:
            let entry = lock.withLock { () -> Pending? in
                if header.zxid > lastZxid { lastZxid = header.zxid }
                return pending.removeValue(forKey: header.xid)
            }
            // No entry: the caller already gave up (timed out); the late reply is dropped.
            entry?.continuation.resume(returning: ReplyFrame(header: header, body: reader))
        }
    }

    /// The link is dead: requests written to it fail with `error` (they may or may not have
    /// been applied); requests not yet written stay queued for the next link.
    private func lose(_ link: Link, error: ZooKeeperError) {
        let failed = lock.withLock { () -> [CheckedContinuation<ReplyFrame, any Error>] in
            if case .connected(let current) = phase, current === link { phase = .connecting }
            outbound.removeAll { $0.link === link }
            let lost = pending.filter { $0.value.sentOn == link.generation }
            for xid in lost.keys { pending.removeValue(forKey: xid) }
            // Auths are replayed on the next link; their waiters keep waiting for that verdict.
            authsInFlight.removeAll()
            return lost.values.map(\.continuation)
        }
        retire(link)
        for waiter in failed { waiter.resume(throwing: error) }
        if !isFinished { events.yield(WatchEvent(kind: .none, state: KeeperState.disconnected, path: "")) }
    }

    private func retire(_ link: Link) {
        // Fails a write blocked on this connection at once, so the lock below is not held long.
        link.connection.shutdownBoth()
        descriptorLock.withLock {
            link.retired = true
            link.connection.close()
        }
    }

    /// Fails requests and auths whose deadline passed.
    private func expireOverdue() {
        let (requests, authWaiters) = lock.withLock {
            () -> ([(CheckedContinuation<ReplyFrame, any Error>, String)], [CheckedContinuation<Void, any Error>]) in
            var requests: [(CheckedContinuation<ReplyFrame, any Error>, String)] = []
            for (xid, entry) in pending where entry.deadline.hasPassed {
                pending.removeValue(forKey: xid)
                requests.append((entry.continuation, entry.name))
            }
            var authWaiters: [CheckedContinuation<Void, any Error>] = []
            for index in auths.indices where auths[index].waiter != nil && auths[index].deadline.hasPassed {
                authWaiters.append(auths[index].waiter!)
                auths[index].waiter = nil
            }
            return (requests, authWaiters)
        }
        for (waiter, name) in requests { waiter.resume(throwing: ZooKeeperError.timedOut(operation: name)) }
        for waiter in authWaiters { waiter.resume(throwing: ZooKeeperError.timedOut(operation: "add auth")) }
    }
}

/// KeeperState numbers carried in session events (WatchEvent with kind `.none`).
public enum KeeperState {
    public static let disconnected: Int32 = 0
    public static let syncConnected: Int32 = 3
    public static let expired: Int32 = -112
}
