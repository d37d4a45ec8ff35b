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
/// reads, matches replies by xid, queues pings, and moves the session to the next member when
/// a connection dies; it never waits for a write, so a peer that stops reading cannot stop it
/// from reading or from noticing the peer's silence. Requests made while no connection is up
/// wait (within their deadline) and are queued as soon as one is.
///
/// Deadlines hold whatever either thread is doing: both expire overdue requests, the I/O
/// thread between reads (at least four times a second) and the writer thread whenever it
/// has nothing to write, which is always the case while the I/O thread is busy connecting
/// (resolving a name, waiting for a member that accepts and never answers).
///
/// Only the server ends a session: while no member answers, the session keeps trying (a
/// quorum outage expires nobody, and a new leader restarts every session's timeout) until a
/// member says it expired or the caller closes. Once ended (`closed`, `expired`) nothing
/// reconnects: a handshake that completes afterwards is dropped unused.
final class SessionCore: @unchecked Sendable {
    struct Pending {
        var continuation: CheckedContinuation<ReplyFrame, any Error>
        var deadline: Deadline
        var frame: [UInt8]
        var name: String
        /// The watch a successful reply arms, for re-arming on later connections.
        var watch: WatchTable.Request?
        /// The link generation it was queued on; nil while waiting for a connection.
        var sentOn: Int?
        /// Handed to the writer thread for writing: from then on the server may apply it, so
        /// a failure is "outcome unknown". Until then it is "not applied" and, if its link
        /// dies, it waits for the next one.
        var written = false
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
        /// entry expires with it) or it is stale (a ping). nil: always written (an auth or
        /// SetWatches, which the server's in-order answers are matched against).
        var dropAfter: Deadline?
        /// The request's xid, to mark it written.
        var xid: Int32?
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
    /// Until the first session is established: past it, `connect` fails.
    let connectDeadline: Deadline

    /// Guards the state below; its condition wakes the writer thread and the I/O thread's
    /// pauses between connect rounds.
    let lock = ConditionLock()
    /// Held by the writer thread while it writes and by `retire` while it closes: a closed
    /// descriptor's number may be reused at once, so nobody may write to it afterwards.
    let descriptorLock = ConditionLock()

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
    var watches = WatchTable()
    var connectWaiter: CheckedContinuation<Void, any Error>?
    /// The connection of a handshake in progress, so `shutdown` can wake its read.
    var handshakeConnection: TCPConnection?
    /// Set by `close()` (and by a client released without it): the server's hang-up after
    /// closeSession must end the client rather than start a failover, and a session being
    /// re-established is abandoned instead.
    var closing = false

    init(members: [MemberAddress], options: ZooKeeperClient.Options, events: AsyncStream<WatchEvent>.Continuation) {
        self.members = members
        self.options = options
        self.events = events
        connectDeadline = .after(seconds: options.connectTimeout)
        if let session = options.session {
            sessionID = session.id
            password = session.password
        }
    }

    private var isFinished: Bool {
        switch phase {
        case .closed, .expired: return true
        case .connecting, .connected: return false
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
                var entry = Pending(continuation: continuation, deadline: deadline, frame: frame, name: request.name,
                                    watch: WatchTable.Request(request))
                if case .connected(let link) = phase {
                    entry.sentOn = link.generation
                    enqueue(frame, on: link, dropAfter: deadline, xid: xid)
                } else {
                    // The writer thread keeps deadlines while no link is up: it must see this one.
                    lock.signal()
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
                } else {
                    lock.signal()
                }
                return nil
            }
            if let failure { continuation.resume(throwing: failure) }
        }
    }

    /// Queues a frame for the writer thread. Call with `lock` held: queue order is wire order.
    private func enqueue(_ frame: [UInt8], on link: Link, dropAfter: Deadline?, xid: Int32? = nil) {
        outbound.append(Outbound(link: link, frame: frame, dropAfter: dropAfter, xid: xid))
        // Counted when queued, not when written: a ping behind a slow write would be no help,
        // and counting at write time would queue a ping on every turn of the I/O loop.
        lastSent = .now
        lock.signal()
    }

    /// Whether `close()` should tell the server: only over a live connection. While the
    /// session is being re-established there is nobody to tell, and waiting for a member
    /// would hold `close()` up; the server expires the session after its timeout.
    func beginClosing() -> Bool {
        lock.withLock {
            closing = true
            if case .connected = phase { return true }
            return false
        }
    }

    // MARK: Writer thread

    /// Writes queued frames until the session ends. Each frame is written whole or its link
    /// is shut down: a partial frame would desynchronise the stream, so a write failure ends
    /// the connection and the I/O thread fails over.
    func runWriter() {
        while let item = nextOutbound() {
            descriptorLock.withLock {
                guard !item.link.retired else { return }
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

    /// The next frame to write; nil once the session has ended. While there is nothing to
    /// write, fails requests and auths as their deadlines pass.
    private func nextOutbound() -> Outbound? {
        while true {
            let (item, overdue) = lock.withLock { () -> (Outbound??, Overdue) in
                while true {
                    if isFinished {
                        outbound.removeAll()
                        return (.some(nil), Overdue())
                    }
                    if !outbound.isEmpty {
                        let item = outbound.removeFirst()
                        // Skipping a frame not yet begun keeps the stream in step.
                        if let dropAfter = item.dropAfter, dropAfter.hasPassed { continue }
                        if let xid = item.xid { pending[xid]?.written = true }
                        return (.some(item), Overdue())
                    }
                    let overdue = takeOverdue()
                    if !overdue.isEmpty { return (nil, overdue) }
                    if let wake = earliestDeadline() { lock.wait(until: wake) } else { lock.wait() }
                }
            }
            overdue.fail()
            if let item { return item }
        }
    }

    /// Ends the session locally: fails everything outstanding and stops both threads. Requests
    /// already written fail with `connectionLoss` (the server may have applied them), the
    /// others with `error`. Does not tell the server (see `ZooKeeperClient.close()`).
    func shutdown(_ error: ZooKeeperError, finalPhase: Phase) {
        let (waiters, authWaiters, connectWaiter, link, handshake) = lock.withLock {
            () -> ([(CheckedContinuation<ReplyFrame, any Error>, ZooKeeperError)], [CheckedContinuation<Void, any Error>],
                   CheckedContinuation<Void, any Error>?, Link?, TCPConnection?) in
            if isFinished { return ([], [], nil, nil, nil) }
            var link: Link?
            if case .connected(let l) = phase { link = l }
            phase = finalPhase
            let waiters = pending.values.map { ($0.continuation, $0.written ? ZooKeeperError.connectionLoss : error) }
            pending.removeAll()
            outbound.removeAll()
            let authWaiters = auths.compactMap(\.waiter)
            auths.removeAll()
            authsInFlight.removeAll()
            watches.removeAll()
            let connectWaiter = self.connectWaiter
            self.connectWaiter = nil
            // The writer thread and a pausing I/O thread see the final phase and exit.
            lock.signal()
            return (waiters, authWaiters, connectWaiter, link, handshakeConnection)
        }
        // Wakes the I/O thread's read (and a blocked write); the I/O thread sees the final
        // phase and exits, closing the socket.
        link?.connection.shutdownBoth()
        handshake?.shutdownBoth()
        for (waiter, failure) in waiters { waiter.resume(throwing: failure) }
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

    /// Connects to members in turn until one accepts the session. Gives up only when the
    /// first connection's deadline passes, when a member says the session expired, or when
    /// the client is closed: a session that has been established is never declared expired
    /// here, since only the server knows (see the type's comment).
    private func establish() -> Link? {
        var failures: [(member: String, reason: String)] = []
        var attemptsThisRound = 0
        var rounds = 0
        while true {
            let (finished, closingNow, isNew) = lock.withLock { (isFinished, closing, connectWaiter != nil) }
            if finished { return nil }
            if closingNow {
                shutdown(.closed, finalPhase: .closed)
                return nil
            }
            expireOverdue()
            if isNew && connectDeadline.hasPassed {
                let text = failures.isEmpty ? "connect timed out"
                    : failures.map { "\($0.member): \($0.reason)" }.joined(separator: "; ")
                shutdown(.noServerAvailable(text), finalPhase: .closed)
                return nil
            }
            let member = lock.withLock { () -> MemberAddress in
                defer { memberIndex = (memberIndex + 1) % members.count }
                return members[memberIndex]
            }
            var attemptDeadline = Deadline.after(seconds: options.attemptTimeout)
            if isNew { attemptDeadline = min(attemptDeadline, connectDeadline) }
            do {
                // nil: the session ended (closed) while the handshake ran.
                return try handshake(with: member, deadline: attemptDeadline)
            } catch .sessionExpired {
                shutdown(.sessionExpired, finalPhase: .expired)
                return nil
            } catch {
                // The summary is wrapped in noServerAvailable once; keep only each reason.
                var reason = error.description
                if case .noServerAvailable(let inner) = error { reason = inner }
                // An attempt cut short by the connect deadline says less than what this member
                // did before (refused, broke the protocol): keep that.
                let cutShort = isNew && connectDeadline.hasPassed
                if !(cutShort && failures.contains { $0.member == member.label }) {
                    failures.removeAll { $0.member == member.label }
                    failures.append((member.label, reason))
                }
            }
            attemptsThisRound += 1
            if attemptsThisRound >= members.count {
                // Every member refused (an election, a quorum outage): retry soon at first (an
                // election usually ends within a second, and every pause then adds to the
                // caller's wait), then less often: 50 ms more each round, up to a second, with
                // jitter so that many clients do not retry in step.
                attemptsThisRound = 0
                let base = UInt64(min(50 * (rounds + 1), 1000)) * 1_000_000
                rounds += 1
                var resume = Deadline.now.adding(nanoseconds: base + UInt64.random(in: 0...base / 2))
                if isNew { resume = min(resume, connectDeadline) }
                pause(until: resume)
            }
        }
    }

    /// Waits until `deadline`, or less if the session ends meanwhile.
    private func pause(until deadline: Deadline) {
        lock.withLock {
            while !isFinished && !closing && !deadline.hasPassed { lock.wait(until: deadline) }
        }
    }

    /// One connect attempt. Returns the live link, or nil when the session ended while the
    /// attempt ran (the connection is then dropped unused).
    private func handshake(with member: MemberAddress, deadline: Deadline) throws(ZooKeeperError) -> Link? {
        let connection: TCPConnection
        do {
            connection = try TCPConnection.connect(host: member.host, port: member.port, deadline: deadline, resolver: options.resolver)
        } catch {
            throw .noServerAvailable(error.description)
        }
        let request: ConnectRequest? = lock.withLock {
            if isFinished { return nil }
            handshakeConnection = connection
            return ConnectRequest(
                lastZxidSeen: lastZxid,
                timeoutMilliseconds: Int32((options.sessionTimeout * 1000).rounded()),
                sessionID: sessionID, password: password, readOnly: false)
        }
        guard let request else {
            connection.close()
            return nil
        }
        let response: ConnectResponse
        do {
            defer { lock.withLock { handshakeConnection = nil } }
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
            // The server's word that this session is gone: the only way a session expires.
            connection.close()
            throw .sessionExpired
        }
        if response.sessionID == 0 {
            connection.close()
            throw .protocolViolation("the handshake reply grants a session timeout but no session id")
        }
        if response.readOnly {
            // Only possible if the server ignores our request flag; a read-only session would
            // be lost when the quorum returns, so this member does not count.
            connection.close()
            throw .noServerAvailable("read-only server (outside a quorum); this client does not use read-only sessions")
        }

        // Replayed auths, re-armed watches and waiting requests are queued in the same step that
        // makes the link live, so they reach the server before anything a caller queues after it.
        let established = lock.withLock { () -> (Link, CheckedContinuation<Void, any Error>?)? in
            // Closed (or released) while the handshake ran: the session must not come back to
            // life, or its ephemeral nodes would never go.
            if isFinished || closing { return nil }
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
            // After the auths, as the Java client does: a watched node may need them.
            for request in watches.setWatchesRequests(relativeZxid: lastZxid) {
                enqueue(request.frame(xid: SpecialXid.setWatches), on: link, dropAfter: nil)
            }
            for xid in pending.keys.sorted() where pending[xid]!.sentOn == nil {
                pending[xid]!.sentOn = link.generation
                enqueue(pending[xid]!.frame, on: link, dropAfter: pending[xid]!.deadline, xid: xid)
            }
            lastSent = .now
            let waiter = connectWaiter
            connectWaiter = nil
            return (link, waiter)
        }
        guard let (link, waiter) = established else {
            connection.close()
            if lock.withLock({ closing }) { shutdown(.closed, finalPhase: .closed) }
            return nil
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
            if lock.withLock({ isFinished }) { retire(link); return }
            expireOverdue()
            let (heard, sent, earliest) = lock.withLock { (lastHeard, lastSent, earliestDeadline()) }
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
                // Also in the middle of a frame: the peer died (or restarted), it did not
                // break the protocol, and what was in flight may have been applied.
                lose(link, error: .connectionLoss)
                return
            }
            lock.withLock { lastHeard = .now }
            decoder.append(bytes)
            do {
                while let next = try decoder.next() {
                    switch next {
                    case .frame(let frame): try dispatch(frame)
                    case .oversized(let xid, let length): refuseOversized(xid: xid, length: length)
                    }
                }
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
            let event = try reader.read(WatchEvent.self)
            lock.withLock { watches.fired(event) }
            events.yield(event)
        case SpecialXid.setWatches:
            // Nothing waits for it. A refusal leaves those watches unarmed on this server,
            // as if they had fired without an event; the Java client does no better.
            break
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
                let entry = pending.removeValue(forKey: header.xid)
                // Armed in wire order, before any notification that follows this reply.
                if let watch = entry?.watch { watches.armed(by: watch, replyError: header.err) }
                return entry
            }
            // No entry: the caller already gave up (timed out); the late reply is dropped.
            entry?.continuation.resume(returning: ReplyFrame(header: header, body: reader))
        }
    }

    /// A reply too long to take has been skipped: its caller learns why. Replies to numbered
    /// requests are the only large ones; anything else (a notification) is dropped.
    private func refuseOversized(xid: Int32, length: Int) {
        guard let entry = lock.withLock({ pending.removeValue(forKey: xid) }) else { return }
        entry.continuation.resume(throwing: ZooKeeperError.replyTooLarge(operation: entry.name, length: length, limit: options.maxFrameLength))
    }

    /// The link is dead: requests written to it fail with `error` (they may or may not have
    /// been applied); requests not yet written wait for the next link.
    private func lose(_ link: Link, error: ZooKeeperError) {
        let failed = lock.withLock { () -> [CheckedContinuation<ReplyFrame, any Error>] in
            if case .connected(let current) = phase, current === link { phase = .connecting }
            outbound.removeAll { $0.link === link }
            var failed: [CheckedContinuation<ReplyFrame, any Error>] = []
            for (xid, entry) in pending where entry.sentOn == link.generation {
                if entry.written {
                    pending.removeValue(forKey: xid)
                    failed.append(entry.continuation)
                } else {
                    pending[xid]!.sentOn = nil
                }
            }
            // Auths are replayed on the next link; their waiters keep waiting for that verdict.
            authsInFlight.removeAll()
            return failed
        }
        retire(link)
        for waiter in failed { waiter.resume(throwing: error) }
        if !lock.withLock({ isFinished }) { events.yield(WatchEvent(kind: .none, state: KeeperState.disconnected, path: "")) }
    }

    private func retire(_ link: Link) {
        // Fails a write blocked on this connection at once, so the lock below is not held long.
        link.connection.shutdownBoth()
        descriptorLock.withLock {
            link.retired = true
            link.connection.close()
        }
    }

    /// Requests and auths whose deadline passed, taken out of the tables; fail them outside
    /// the lock.
    struct Overdue {
        var requests: [(CheckedContinuation<ReplyFrame, any Error>, ZooKeeperError)] = []
        var auths: [CheckedContinuation<Void, any Error>] = []
        var isEmpty: Bool { requests.isEmpty && auths.isEmpty }

        func fail() {
            for (waiter, error) in requests { waiter.resume(throwing: error) }
            for waiter in auths { waiter.resume(throwing: ZooKeeperError.timedOut(operation: "add auth", sent: true)) }
        }
    }

    /// Call with `lock` held.
    private func takeOverdue() -> Overdue {
        var overdue = Overdue()
        for (xid, entry) in pending where entry.deadline.hasPassed {
            pending.removeValue(forKey: xid)
            overdue.requests.append((entry.continuation, .timedOut(operation: entry.name, sent: entry.written)))
        }
        for index in auths.indices where auths[index].waiter != nil && auths[index].deadline.hasPassed {
            overdue.auths.append(auths[index].waiter!)
            auths[index].waiter = nil
        }
        return overdue
    }

    /// The earliest deadline of a waiting request or auth. Call with `lock` held.
    private func earliestDeadline() -> Deadline? {
        let request = pending.values.lazy.map(\.deadline).min()
        let auth = auths.lazy.filter { $0.waiter != nil }.map(\.deadline).min()
        switch (request, auth) {
        case (let r?, let a?): return min(r, a)
        case (let r?, nil): return r
        case (nil, let a?): return a
        case (nil, nil): return nil
        }
    }

    /// Fails requests and auths whose deadline passed.
    private func expireOverdue() {
        lock.withLock { takeOverdue() }.fail()
    }
}

/// KeeperState numbers carried in session events (WatchEvent with kind `.none`).
public enum KeeperState {
    public static let disconnected: Int32 = 0
    public static let syncConnected: Int32 = 3
    public static let expired: Int32 = -112
}
