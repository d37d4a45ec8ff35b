import Foundation
import Glibc
import NetCore
import Testing
@testable import ZooKeeperClient

/// A fake ZooKeeper on 127.0.0.1 (ephemeral port) that misbehaves on purpose.
final class MisbehavingServer: @unchecked Sendable {
    enum Behavior: Sendable {
        /// Accepts and never says a word.
        case silent
        /// Answers the handshake with these raw bytes, then goes quiet.
        case handshakeReply([UInt8])
        /// Completes the handshake, then answers the first request with bytes built from its xid.
        case afterHandshake(@Sendable (_ xid: Int32) -> [UInt8], thenClose: Bool)
        /// Grants one session with this timeout and then never reads or writes again (its
        /// receive buffer fills up), keeping the connection open until `stop()`.
        case deafAfterHandshake(timeoutMilliseconds: Int32)
        /// Grants one session with this timeout, hangs up at once, and from then on closes
        /// every new connection without a word (a quorum outage), until `answerExpired()`:
        /// then it answers every handshake with "session expired".
        case oneSessionThenGone(timeoutMilliseconds: Int32)
    }

    let port: Int
    private let listener: Int32
    private let behavior: Behavior
    private let lock = NSLock()
    private var stopped = false
    private var clients: [Int32] = []
    private var accepted = 0
    private var refused = 0
    private var expired = false

    init(_ behavior: Behavior) throws {
        self.behavior = behavior
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); throw NetError.io("test double cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var member: String { "127.0.0.1:\(port)" }

    /// Connections closed without a word by `.oneSessionThenGone`.
    var refusedConnections: Int { lock.withLock { refused } }

    /// `.oneSessionThenGone` answers from now on, saying the session expired.
    func answerExpired() { lock.withLock { expired = true } }

    func stop() {
        lock.withLock {
            stopped = true
            for fd in clients { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
            clients.removeAll()
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) <= 0 {
                if lock.withLock({ stopped }) { return }
                continue
            }
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            let keep = lock.withLock { () -> Bool in
                if stopped { return false }
                clients.append(fd)
                return true
            }
            if !keep { close(fd); return }
            Thread.detachNewThread { [self] in serve(fd) }
        }
    }

    private func readFrame(_ fd: Int32) -> [UInt8]? {
        guard let header = readExactly(fd, 4) else { return nil }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        return readExactly(fd, length)
    }

    private func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: max(count, 1))
        while result.count < count {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 10_000) <= 0 { return nil }
            let n = recv(fd, &buffer, count - result.count, 0)
            if n <= 0 { return nil }
            result += buffer[0..<n]
        }
        return result
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private func grantSession(_ fd: Int32, timeoutMilliseconds: Int32) {
        send(fd, Frame.encode(ConnectResponse(timeoutMilliseconds: timeoutMilliseconds, sessionID: 0x5E55, password: Array(repeating: 7, count: 16)).juteBytes))
    }

    private func serve(_ fd: Int32) {
        let (first, answerExpired) = lock.withLock { () -> (Bool, Bool) in accepted += 1; return (accepted == 1, expired) }
        if case .oneSessionThenGone = behavior, !first {
            if answerExpired, readFrame(fd) != nil {
                send(fd, Frame.encode(ConnectResponse(timeoutMilliseconds: 0, sessionID: 0, password: Array(repeating: 0, count: 16)).juteBytes))
            } else {
                lock.withLock { refused += 1 }
            }
            shutdown(fd, Int32(SHUT_RDWR))
            return
        }
        guard readFrame(fd) != nil else { return }
        switch behavior {
        case .silent:
            return
        case .handshakeReply(let bytes):
            send(fd, bytes)
        case .deafAfterHandshake(let timeout):
            grantSession(fd, timeoutMilliseconds: timeout)
        case .oneSessionThenGone(let timeout):
            grantSession(fd, timeoutMilliseconds: timeout)
            shutdown(fd, Int32(SHUT_RDWR))
        case .afterHandshake(let reply, let thenClose):
            grantSession(fd, timeoutMilliseconds: 30_000)
            // Skip pings; misbehave on the first real request.
            while let frame = readFrame(fd) {
                var r = JuteReader(frame)
                guard let header = try? r.read(RequestHeader.self) else { return }
                if header.xid == SpecialXid.ping { continue }
                send(fd, reply(header.xid))
                if thenClose { shutdown(fd, Int32(SHUT_RDWR)) }
                return
            }
        }
    }
}

private func isProtocolViolation(_ error: any Error) -> Bool {
    if case .protocolViolation? = error as? ZooKeeperError { return true }
    return false
}

private var quickOptions: ZooKeeperClient.Options {
    var options = ZooKeeperClient.Options()
    options.connectTimeout = 2
    options.attemptTimeout = 1
    options.requestTimeout = 2
    options.sessionTimeout = 30
    return options
}

/// Slack on top of a configured timeout before a call counts as not bounded by it. Generous:
/// a loaded 2-core machine once took 34 s for a 2 s timeout (other suites' blocking waits
/// starved the cooperative pool), and what these tests guard against, a call that never
/// returns, is caught either way (and by the suite's time limit).
private let schedulingMargin = 20.0

/// Runs `body` and checks it finished within `timeout` (the one it is configured with) plus
/// `schedulingMargin`: bounded, not hung.
private func bounded(by timeout: Double, _ body: () async throws -> Void) async rethrows {
    let start = Deadline.now
    try await body()
    let elapsed = Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9
    #expect(elapsed < timeout + schedulingMargin, "took \(elapsed) s with a \(timeout) s timeout")
}

/// Connecting to a server that behaves like `behavior` fails, within the connect timeout,
/// with an error `matching`.
private func expectConnectFails(_ behavior: MisbehavingServer.Behavior, matching: (ZooKeeperError) -> Bool) async throws {
    let server = try MisbehavingServer(behavior)
    defer { server.stop() }
    await bounded(by: quickOptions.connectTimeout) {
        await #expect {
            _ = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        } throws: { error in
            guard let error = error as? ZooKeeperError else { return false }
            return matching(error)
        }
    }
}

/// Runs `body` with a session on a server that handshakes, then answers the first request
/// with `reply(xid)` (closing the connection after it when `thenClose`).
private func withMisbehavingSession(
    replying reply: @escaping @Sendable (_ xid: Int32) -> [UInt8], thenClose: Bool = false,
    _ body: (ZooKeeperClient) async throws -> Void
) async throws {
    let server = try MisbehavingServer(.afterHandshake(reply, thenClose: thenClose))
    defer { server.stop() }
    let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
    try await body(client)
}

// A hang fails the test at the time limit instead of stalling the whole run.
@Suite("Client against a misbehaving server", .timeLimit(.minutes(1)))
struct TestDoubleTests {
    @Test func silentServerFailsTheConnectInBoundedTime() async throws {
        try await expectConnectFails(.silent) { error in
            guard case .noServerAvailable(let text) = error else { return false }
            return text.contains("timed out")
        }
    }

    @Test func truncatedHandshakeReplyIsAProtocolViolation() async throws {
        // A 45-byte frame header followed by only 3 bytes, then silence.
        try await expectConnectFails(.handshakeReply([0, 0, 0, 45, 0, 0, 0])) { _ in true }
    }

    @Test func garbageHandshakeReplyIsAProtocolViolation() async throws {
        try await expectConnectFails(.handshakeReply(Frame.encode([1, 2, 3]))) { error in
            guard case .noServerAvailable(let text) = error else { return false }
            return text.contains("protocol violation")
        }
    }

    @Test func refusedSessionIsExpired() async throws {
        let server = try MisbehavingServer(.handshakeReply(Frame.encode(ConnectResponse(timeoutMilliseconds: 0, sessionID: 0, password: []).juteBytes)))
        defer { server.stop() }
        var options = quickOptions
        options.session = .init(id: 42, password: Array(repeating: 1, count: 16))
        await #expect(throws: ZooKeeperError.sessionExpired) {
            _ = try await ZooKeeperClient.connect(members: [server.member], options: options)
        }
    }

    @Test func readOnlyServerIsNotASession() async throws {
        // A session made on a read-only member would be lost when the quorum returns.
        let readOnly = ConnectResponse(timeoutMilliseconds: 30_000, sessionID: 7, password: Array(repeating: 1, count: 16), readOnly: true)
        try await expectConnectFails(.handshakeReply(Frame.encode(readOnly.juteBytes))) { error in
            guard case .noServerAvailable(let text) = error else { return false }
            return text.contains("read-only server")
        }
    }

    @Test func readOnlyModeIsRefusedWithAReason() async {
        var options = quickOptions
        options.allowReadOnly = true
        await #expect {
            _ = try await ZooKeeperClient.connect(members: ["127.0.0.1:1"], options: options)
        } throws: { error in
            guard case .invalidArgument(let text)? = error as? ZooKeeperError else { return false }
            return text.hasPrefix("allowReadOnly: read-only sessions are not supported")
        }
    }

    @Test(arguments: [
        ("sessionTimeout", Double.infinity), ("sessionTimeout", 1e300), ("requestTimeout", 1.9e10),
        ("connectTimeout", Double.nan), ("attemptTimeout", 0), ("requestTimeout", -1), ("sessionTimeout", 0.0001),
    ])
    func unusableDurationIsRefusedBeforeConnecting(_ name: String, _ seconds: Double) async {
        var options = quickOptions
        switch name {
        case "sessionTimeout": options.sessionTimeout = seconds
        case "requestTimeout": options.requestTimeout = seconds
        case "connectTimeout": options.connectTimeout = seconds
        default: options.attemptTimeout = seconds
        }
        // Port 1 refuses: a connect attempt would fail differently.
        await #expect {
            _ = try await ZooKeeperClient.connect(members: ["127.0.0.1:1"], options: options)
        } throws: { error in
            guard case .invalidArgument(let text)? = error as? ZooKeeperError else { return false }
            return text.hasPrefix("\(name) must be")
        }
    }

    @Test func replyTooShortForAHeader() async throws {
        try await withMisbehavingSession(replying: { _ in Frame.encode([0, 0, 0, 1, 0]) }) { client in
            await bounded(by: quickOptions.requestTimeout) {
                await #expect { _ = try await client.getData("/a") } throws: { isProtocolViolation($0) }
            }
        }
    }

    @Test func oversizedReplyFailsItsCallAtOnce() async throws {
        // A 2 GiB frame: its caller learns at once, from the xid, without waiting for the bytes.
        try await withMisbehavingSession(replying: { xid in [0x7f, 0xff, 0xff, 0xff] + ReplyHeader(xid: xid, zxid: 5, err: 0).juteBytes }) { client in
            await bounded(by: quickOptions.requestTimeout) {
                let error = await #expect(throws: ZooKeeperError.self) { _ = try await client.getData("/a") }
                #expect(error == .replyTooLarge(operation: "get /a", length: Int(Int32.max), limit: quickOptions.maxFrameLength))
                #expect(error?.mayHaveBeenApplied == true)
            }
        }
    }

    @Test func negativeFrameLength() async throws {
        try await withMisbehavingSession(replying: { _ in [0xff, 0xff, 0xff, 0xf0] }) { client in
            await #expect { _ = try await client.exists("/a") } throws: { isProtocolViolation($0) }
        }
    }

    @Test func frameCutOffByCloseIsAConnectionLoss() async throws {
        // The peer died in the middle of a reply: nothing broke the protocol, and the request
        // may have been applied.
        try await withMisbehavingSession(replying: { _ in [0, 0, 0, 100] + Array(repeating: 0, count: 10) }, thenClose: true) { client in
            await bounded(by: quickOptions.requestTimeout) {
                let error = await #expect(throws: ZooKeeperError.connectionLoss) { _ = try await client.getChildren("/") }
                #expect(error?.mayHaveBeenApplied == true)
            }
        }
    }

    @Test func wellFramedReplyWithTruncatedBody() async throws {
        try await withMisbehavingSession(replying: { xid in
            var w = JuteWriter()
            w.write(ReplyHeader(xid: xid, zxid: 5, err: 0))
            w.writeInt(3)  // a data buffer of 3 bytes, then nothing: no data, no Stat
            return Frame.encode(w.bytes)
        }) { client in
            await #expect { _ = try await client.getData("/a") } throws: { isProtocolViolation($0) }
        }
    }

    @Test func serverErrorCodeBecomesTypedError() async throws {
        try await withMisbehavingSession(replying: { xid in
            Frame.encode(ReplyHeader(xid: xid, zxid: 5, err: -103).juteBytes)
        }) { client in
            await #expect(throws: ZooKeeperError.badVersion) { try await client.setData("/a", data: [1], version: 3) }
        }
    }

    @Test func halfDeadServerNeverHangsACall() async throws {
        // Handshakes, then swallows requests: each call ends at its own deadline.
        try await withMisbehavingSession(replying: { _ in [] }) { client in
            await bounded(by: quickOptions.requestTimeout) {
                let error = await #expect(throws: ZooKeeperError.timedOut(operation: "get /slow", sent: true)) { _ = try await client.getData("/slow") }
                #expect(error?.mayHaveBeenApplied == true)
            }
        }
    }

    @Test func onlyTheServerExpiresASession() async throws {
        // The session's only member goes away for several session timeouts (as in a quorum
        // outage, where nothing expires sessions): the client keeps the session and retries.
        let server = try MisbehavingServer(.oneSessionThenGone(timeoutMilliseconds: 1_000))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        let outage = Deadline.now
        #expect(try await eventually(30) { seconds(since: outage) > 4 && server.refusedConnections >= 3 })
        #expect(client.state == .connecting, "the client gave up a session the server never expired")
        // Once a member answers that the session is gone, it is over.
        server.answerExpired()
        await bounded(by: 2) {
            var states: [Int32] = []
            // The stream finishes when the session ends.
            for await event in client.events where event.kind == .none { states.append(event.state) }
            #expect(states.last == KeeperState.expired, "session events: \(states)")
        }
        #expect(client.state == .expired)
        await #expect(throws: ZooKeeperError.sessionExpired) { _ = try await client.getData("/a") }
        await #expect(throws: ZooKeeperError.sessionExpired) { try await client.addDigestAuth(user: "u", password: "p") }
    }

    @Test func requestWaitingForAConnectionTimesOutUnsent() async throws {
        let server = try MisbehavingServer(.oneSessionThenGone(timeoutMilliseconds: 30_000))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        #expect(try await eventually(10) { client.state == .connecting })
        let error = await #expect(throws: ZooKeeperError.timedOut(operation: "set /a", sent: false)) {
            try await client.setData("/a", data: [1])
        }
        #expect(error?.mayHaveBeenApplied == false)
        await client.close()
        #expect(client.state == .closed)
    }

    @Test func refusedMemberIsReportedWithOnePrefix() async throws {
        let server = try MisbehavingServer(.silent)
        let member = server.member
        server.stop()  // nothing listens on its port any more: connects are refused
        var options = quickOptions
        options.connectTimeout = 0.5
        await #expect {
            _ = try await ZooKeeperClient.connect(members: [member], options: options)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("no ZooKeeper server available: \(member): cannot connect to \(member): ")
                && text.components(separatedBy: "no ZooKeeper server available").count == 2
        }
    }

    @Test func peerThatStopsReadingCannotStallTheSession() async throws {
        // The server grants a 3 s session, then reads nothing. A frame bigger than both
        // sockets' buffers blocks its write; the session must still notice the server's
        // silence (2/3 of the timeout) and fail the call, long before the call's own deadline.
        let server = try MisbehavingServer(.deafAfterHandshake(timeoutMilliseconds: 3_000))
        defer { server.stop() }
        var options = quickOptions
        options.requestTimeout = 40
        let client = try await ZooKeeperClient.connect(members: [server.member], options: options)
        let payload = [UInt8](repeating: 0x61, count: 32 << 20)
        await bounded(by: 2) {
            await #expect(throws: ZooKeeperError.connectionLoss) { try await client.setData("/big", data: payload) }
        }
        await client.close()
    }
}
