import Foundation
import NetCore
import Testing
@testable import ZooKeeperClient
import ZooKeeperTestSupport

private func kazoo(_ script: String, _ arguments: [String]) async throws -> String {
    let result = try await runProcessInBackground("/usr/bin/env", ["python3", "-c", script] + arguments, timeout: 60)
    guard result.status == 0 else {
        throw ZooKeeperError.invalidArgument("kazoo script failed (\(result.status)): \(result.stderr)")
    }
    return result.stdout
}

// Prints each requested node's data as hex, one line per path, through kazoo.
private let kazooRead = """
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=10)
zk.start(timeout=20)
for path in sys.argv[2:]:
    zk.sync(path)
    data, stat = zk.get(path)
    print(data.hex())
zk.stop()
"""

// Creates argv[2] (with parents) holding bytes 255..0 and argv[3] holding UTF-8 text.
private let kazooWrite = """
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=10)
zk.start(timeout=20)
zk.create(sys.argv[2], bytes(range(255, -1, -1)), makepath=True)
zk.create(sys.argv[3], "ünïcødé ✓ 路径".encode("utf-8"))
print(",".join(sorted(zk.get_children(sys.argv[2].rsplit("/", 1)[0]))))
zk.stop()
"""

@Suite("Cross-check with kazoo", .serialized)
struct CrossCheckTests {
    @Test func oursAndKazooReadEachOthersWrites() async throws {
        let ensemble = try await ZooKeeperTestEnsemble.start()
        defer { ensemble.stop() }
        let hosts = ensemble.clientEndpoints.joined(separator: ",")
        let client = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints)
        let base = "/cross-\(UInt32.random(in: 0...UInt32.max))"
        try await client.create(base)

        // Ours writes, kazoo reads: every byte value, and a unicode path.
        let allBytes = (0...255).map(UInt8.init)
        let unicodePath = base + "/ünïcødé-路径-✓"
        try await client.create(base + "/binary", data: allBytes)
        try await client.create(unicodePath, data: Array("héllo".utf8))
        let lines = try await kazoo(kazooRead, [hosts, base + "/binary", unicodePath]).split(separator: "\n").map(String.init)
        #expect(lines == [allBytes.map { String(format: "%02x", $0) }.joined(), Array("héllo".utf8).map { String(format: "%02x", $0) }.joined()])

        // Kazoo writes, ours reads.
        let kazooBinary = base + "/from-kazoo/bin"
        let kazooUnicode = base + "/from-kazoo/节点-ü"
        let children = try await kazoo(kazooWrite, [hosts, kazooBinary, kazooUnicode]).trimmingCharacters(in: .newlines)
        #expect(children == ["bin", "节点-ü"].sorted().joined(separator: ","))
        try await client.sync(base)
        #expect(try await client.getData(kazooBinary).data == Array(allBytes.reversed()))
        #expect(try await client.getData(kazooUnicode).data == Array("ünïcødé ✓ 路径".utf8))
        #expect(Set(try await client.getChildren(base + "/from-kazoo")) == ["bin", "节点-ü"])
        #expect(Set(try await client.getChildren(base)) == ["binary", "ünïcødé-路径-✓", "from-kazoo"])
        await client.close()
    }
}

@Suite("zkctl against a real ensemble", .serialized)
struct ZkctlTests {
    /// The zkctl built next to this test binary.
    static var zkctl: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zkctl").path
    }

    @Test func smokePassesThenFailsClearlyWithoutAMajority() async throws {
        let zkctl = Self.zkctl
        try #require(FileManager.default.isExecutableFile(atPath: zkctl), "build zkctl first: \(zkctl) is missing")
        let ensemble = try await ZooKeeperTestEnsemble.start()
        defer { ensemble.stop() }
        let members = ensemble.clientEndpoints.joined(separator: ",")

        let ok = try await runProcessInBackground(zkctl, ["smoke", "--members", members], timeout: 60)
        #expect(ok.status == 0, "stdout: \(ok.stdout) stderr: \(ok.stderr)")
        #expect(ok.stdout.contains("smoke OK"))
        for step in ["connect (writer)", "create via", "sync via", "get via", "delete via", "exists via"] {
            #expect(ok.stdout.contains(step), "no '\(step)' latency line in: \(ok.stdout)")
        }

        // The data commands round-trip through the same CLI.
        let path = "/zkctl-cli-\(UInt32.random(in: 0...UInt32.max))"
        #expect(try await runProcessInBackground(zkctl, ["create", path, "v1", "--members", members], timeout: 30).stdout == path + "\n")
        #expect(try await runProcessInBackground(zkctl, ["get", path, "--members", members], timeout: 30).stdout == "v1")
        let stale = try await runProcessInBackground(zkctl, ["set", path, "v2", "--version", "7", "--members", members], timeout: 30)
        #expect(stale.status != 0 && stale.stderr.contains("version mismatch"))
        #expect(try await runProcessInBackground(zkctl, ["set", path, "v2", "--version", "0", "--members", members], timeout: 30).stdout == "version = 1\n")
        #expect(try await runProcessInBackground(zkctl, ["ls", "/", "--members", members], timeout: 30).stdout.contains(String(path.dropFirst()) + "\n"))
        let config = try await runProcessInBackground(zkctl, ["config", "--members", members], timeout: 30)
        let third = ensemble.addresses[2]
        #expect(config.stdout.contains("server.3=\(third):2888:3888:participant;\(third):2181"))
        #expect(config.stdout.contains("version="))
        #expect(try await runProcessInBackground(zkctl, ["delete", path, "--version", "1", "--members", members], timeout: 30).status == 0)
        let gone = try await runProcessInBackground(zkctl, ["get", path, "--members", members], timeout: 30)
        #expect(gone.status != 0 && gone.stderr.contains("no such node"))

        // Without a majority the smoke must fail, say why, and not hang.
        try ensemble.stopMember(2)
        try ensemble.stopMember(3)
        let failed = try await runProcessInBackground(zkctl, ["smoke", "--members", members, "--timeout", "5"], timeout: 60)
        #expect(failed.status != 0)
        #expect(failed.seconds < 30, "took \(failed.seconds) s")
        #expect(failed.stderr.contains("smoke FAILED at step 'connect (writer)'"), "stderr: \(failed.stderr)")
        #expect(failed.stderr.contains("no ZooKeeper server available"), "stderr: \(failed.stderr)")
    }
}
