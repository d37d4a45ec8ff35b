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
    }

    let port: Int
    private let listener: Int32
    private let behavior: Behavior
    private let lock = NSLock()
    private var stopped = false
    private var clients: [Int32] = []

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

    private func serve(_ fd: Int32) {
        guard readFrame(fd) != nil else { return }
        switch behavior {
        case .silent:
            return
        case .handshakeReply(let bytes):
            send(fd, bytes)
        case .afterHandshake(let reply, let thenClose):
            send(fd, Frame.encode(ConnectResponse(timeoutMilliseconds: 30_000, sessionID: 0x5E55, password: Array(repeating: 7, count: 16)).juteBytes))
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

/// Runs `body` and checks it finished well inside `limit` seconds.
@discardableResult
private func bounded<T>(_ limit: Double, _ body: () async throws -> T) async rethrows -> T {
    let start = Deadline.now
    let result = try await body()
    let elapsed = Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9
    #expect(elapsed < limit, "took \(elapsed) s")
    return result
}

@Suite("Client against a misbehaving server")
struct TestDoubleTests {
    @Test func silentServerFailsTheConnectInBoundedTime() async throws {
        let server = try MisbehavingServer(.silent)
        defer { server.stop() }
        await bounded(6) {
            await #expect {
                _ = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
            } throws: { error in
                guard case .noServerAvailable(let text)? = error as? ZooKeeperError else { return false }
                return text.contains("timed out")
            }
        }
    }

    @Test func truncatedHandshakeReplyIsAProtocolViolation() async throws {
        // A 45-byte frame header followed by only 3 bytes, then silence.
        let server = try MisbehavingServer(.handshakeReply([0, 0, 0, 45, 0, 0, 0]))
        defer { server.stop() }
        await bounded(6) {
            await #expect(throws: ZooKeeperError.self) {
                _ = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
            }
        }
    }

    @Test func garbageHandshakeReplyIsAProtocolViolation() async throws {
        let server = try MisbehavingServer(.handshakeReply(Frame.encode([1, 2, 3])))
        defer { server.stop() }
        await bounded(6) {
            await #expect {
                _ = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
            } throws: { error in
                guard case .noServerAvailable(let text)? = error as? ZooKeeperError else { return false }
                return text.contains("protocol violation")
            }
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

    @Test func replyTooShortForAHeader() async throws {
        let server = try MisbehavingServer(.afterHandshake({ _ in Frame.encode([0, 0, 0, 1, 0]) }, thenClose: false))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        await bounded(6) {
            await #expect { _ = try await client.getData("/a") } throws: { isProtocolViolation($0) }
        }
    }

    @Test func oversizedFrameLength() async throws {
        let server = try MisbehavingServer(.afterHandshake({ _ in [0x7f, 0xff, 0xff, 0xff, 1, 2, 3] }, thenClose: false))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        await bounded(6) {
            await #expect { _ = try await client.getData("/a") } throws: { error in
                guard case .protocolViolation(let text)? = error as? ZooKeeperError else { return false }
                return text.contains("exceeds the limit")
            }
        }
    }

    @Test func negativeFrameLength() async throws {
        let server = try MisbehavingServer(.afterHandshake({ _ in [0xff, 0xff, 0xff, 0xf0] }, thenClose: false))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        await #expect { _ = try await client.exists("/a") } throws: { isProtocolViolation($0) }
    }

    @Test func frameCutOffByClose() async throws {
        let server = try MisbehavingServer(.afterHandshake({ _ in [0, 0, 0, 100] + Array(repeating: 0, count: 10) }, thenClose: true))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        await bounded(6) {
            await #expect { _ = try await client.getChildren("/") } throws: { isProtocolViolation($0) }
        }
    }

    @Test func wellFramedReplyWithTruncatedBody() async throws {
        let server = try MisbehavingServer(.afterHandshake({ xid in
            var w = JuteWriter()
            w.write(ReplyHeader(xid: xid, zxid: 5, err: 0))
            w.writeInt(3)  // a data buffer of 3 bytes, then nothing: no data, no Stat
            return Frame.encode(w.bytes)
        }, thenClose: false))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        await #expect { _ = try await client.getData("/a") } throws: { isProtocolViolation($0) }
    }

    @Test func serverErrorCodeBecomesTypedError() async throws {
        let server = try MisbehavingServer(.afterHandshake({ xid in
            Frame.encode(ReplyHeader(xid: xid, zxid: 5, err: -103).juteBytes)
        }, thenClose: false))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        await #expect(throws: ZooKeeperError.badVersion) { try await client.setData("/a", data: [1], version: 3) }
    }

    @Test func halfDeadServerNeverHangsACall() async throws {
        // Handshakes, then swallows requests: each call ends at its own deadline.
        let server = try MisbehavingServer(.afterHandshake({ _ in [] }, thenClose: false))
        defer { server.stop() }
        let client = try await ZooKeeperClient.connect(members: [server.member], options: quickOptions)
        await bounded(8) {
            await #expect(throws: ZooKeeperError.timedOut(operation: "get /slow")) { _ = try await client.getData("/slow") }
        }
    }
}
