import Foundation
import NetCore
import Testing
import ZooKeeperTestSupport
import ZKAdmin

/// Peers that accept and then misbehave. Every exchange must end within its timeout with a
/// typed error: never a hang, never a crash. Upper bounds are generous (timeout + 2 s) so a
/// loaded machine does not make them flaky; the point is "bounded", not "fast".
@Suite struct MisbehavingPeerTests {
    static let timeout = 1.5

    @Test(arguments: Misbehaviour.allCases)
    func fourLetterWordClientIsBounded(_ behaviour: Misbehaviour) throws {
        let peer = try TestPeer { behaviour.serve($0) }
        defer { peer.stop() }
        let start = monotonicNanoseconds()
        let outcome = Result { () throws(FourLetterWordError) in
            try ServerStatus.fetch(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: Self.timeout))
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        #expect(elapsed < Self.timeout + 2)
        switch (behaviour, outcome) {
        case (.garbage, .failure(.malformed(word: "srvr", reason: "no Mode line"))): break
        case (.silent, .failure(.network(.timeout))), (.trickle, .failure(.network(.timeout))): break
        case (.endless, .failure(.network(.tooLarge(limit: FourLetterWord.replyLimit)))): break
        default: Issue.record("\(behaviour): unexpected outcome \(outcome)")
        }
        #expect(peer.requests.first == Array("srvr".utf8))
    }

    @Test(arguments: Misbehaviour.allCases)
    func cqlHandshakeIsBounded(_ behaviour: Misbehaviour) throws {
        let peer = try TestPeer { behaviour.serve($0) }
        defer { peer.stop() }
        let start = monotonicNanoseconds()
        let outcome = Result { () throws(CQLError) in
            try CQLHandshake.options(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: Self.timeout))
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        #expect(elapsed < Self.timeout + 2)
        switch (behaviour, outcome) {
        case (.garbage, .failure(.unexpectedVersion(UInt8(ascii: "H")))): break
        case (.silent, .failure(.network(.timeout))), (.trickle, .failure(.network(.timeout))): break
        case (.endless, .failure(.unexpectedVersion(UInt8(ascii: "x")))): break
        default: Issue.record("\(behaviour): unexpected outcome \(outcome)")
        }
    }

    /// The same peers through the built binary: exit 1, one line on stderr, within --timeout.
    @Test(arguments: Misbehaviour.allCases)
    func probeBinaryIsBounded(_ behaviour: Misbehaviour) throws {
        let probe = try builtProduct("ensemble-probe")
        let peer = try TestPeer { behaviour.serve($0) }
        defer { peer.stop() }
        for command in ["zk-live", "zk-ready", "zk-startup", "cql-ready"] {
            let result = try runProcess(probe, [command, "--port", String(peer.port), "--timeout", String(Self.timeout)])
            #expect(result.status == 1, "\(behaviour) \(command): \(result.stderr)")
            #expect(result.seconds < Self.timeout + 1, "\(behaviour) \(command) took \(result.seconds) s")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(behaviour) \(command): \(result.stderr)")
            let expected: String
            switch (behaviour, command) {
            case (.silent, _), (.trickle, _): expected = "timed out"
            case (.endless, "cql-ready"): expected = "version byte 0x78"
            case (.endless, _): expected = "reply larger than 262144 bytes"
            case (.garbage, "zk-ready"): expected = "no Mode line"
            case (.garbage, "cql-ready"): expected = "version byte 0x48"
            case (.garbage, _): expected = "answered 'HTTP/1.1 400 Bad Request"
            }
            #expect(result.stderr.contains(expected), "\(behaviour) \(command): \(result.stderr)")
        }
    }

    /// A port nobody listens on: refused at once, reported as such.
    @Test func refusedConnection() throws {
        let probe = try builtProduct("ensemble-probe")
        let port: Int
        do {
            let peer = try TestPeer { _ in }
            port = peer.port
            peer.stop()
        }
        // The listener closes asynchronously; wait (bounded) until the port refuses.
        let deadline = Deadline.after(seconds: 5)
        while !deadline.hasPassed {
            if (try? TCPConnection.connect(host: "127.0.0.1", port: port, deadline: .after(seconds: 1))) == nil { break }
        }
        for command in ["zk-live", "cql-live", "tcp-live"] {
            let result = try runProcess(probe, [command, "--port", String(port)])
            #expect(result.status == 1)
            #expect(result.stderr.contains("Connection refused"), "\(result.stderr)")
        }
    }

    @Test(arguments: ["cql-live", "tcp-live"])
    func livenessOnlyNeedsAnAccept(_ command: String) throws {
        let probe = try builtProduct("ensemble-probe")
        let peer = try TestPeer { $0.holdUntilClosed() }
        defer { peer.stop() }
        let result = try runProcess(probe, [command, "--port", String(peer.port), "--timeout", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "ensemble-probe: 127.0.0.1:\(peer.port) accepts connections\n")
    }
}
