import Foundation
import NetCore
import Testing
import ZooKeeperTestSupport

/// `zkctl health` / `zkctl 4lw` argument handling and exit codes, through the built binary.
@Suite struct ZkctlHealthCommandTests {
    @Test(arguments: [
        ["health"],
        ["health", "--members", ""],
        ["health", "--members", "a:99999"],
        ["health", "--members", "a", "--voters", "0"],
        ["health", "--members", "a", "-o", "yaml"],
        ["health", "--members", "a", "--timeout", "0"],
        ["4lw", "ruok"],
        ["4lw", "ruokk", "--members", "a"],
        ["4lw", "ru0k", "--members", "a"],
    ])
    func usageErrorsExit64(_ arguments: [String]) throws {
        let result = try runProcess(try builtProduct("zkctl"), arguments)
        #expect(result.status == 64, "\(arguments): \(result.stderr)")
    }

    /// Every member unreachable: lost, exit 2, and each member's reason is listed.
    @Test func unreachableMembersAreLost() throws {
        let peer = try TestPeer { _ in }
        let port = peer.port
        peer.stop()
        // The listener closes asynchronously; wait (bounded) until the port refuses.
        let deadline = Deadline.after(seconds: 5)
        while !deadline.hasPassed, (try? TCPConnection.connect(host: "127.0.0.1", port: port, deadline: .after(seconds: 1))) != nil {}
        let result = try runProcess(try builtProduct("zkctl"), ["health", "--members", "127.0.0.1:\(port),127.0.0.1:\(port)", "--timeout", "2"])
        #expect(result.status == 2)
        #expect(result.stdout.contains("127.0.0.1:\(port): cannot connect to 127.0.0.1:\(port): Connection refused"))
        #expect(result.stdout.hasSuffix("lost: 0 of 2 voters serving, quorum is 2\n"), "\(result.stdout)")
    }

    /// One silent member costs one timeout in total, not one per member: members are asked
    /// concurrently.
    @Test func hungMembersAreAskedConcurrently() throws {
        let peer = try TestPeer { $0.pause(60) }
        defer { peer.stop() }
        let member = "127.0.0.1:\(peer.port)"
        let result = try runProcess(try builtProduct("zkctl"), ["health", "--members", [member, member, member].joined(separator: ","), "--timeout", "1.5"])
        #expect(result.status == 2)
        #expect(result.seconds < 1.5 * 2, "took \(result.seconds) s")
        #expect(result.stdout.components(separatedBy: "timed out reading from").count == 4, "\(result.stdout)")
    }
}
