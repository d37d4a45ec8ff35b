import Foundation
import LocalEnsemble
import Testing
import ZooKeeperTestSupport

/// `zkctl health --local NAME` finds the members of a local-mode ensemble by its recorded
/// layout. Members on 127.0.12.x (see ZkctlLocalTests for the address plan).
@Suite struct HealthLocalTests {
    @Test func healthOfALocalEnsembleByName() throws {
        let directory = try temporaryDirectory("zkctl-health-local")
        let state = directory.appendingPathComponent("state").path
        let file = directory.appendingPathComponent("zk.yaml").path
        try ZkctlLocalTests.manifest.replacingOccurrences(of: "zk-local", with: "zk-health").write(toFile: file, atomically: true, encoding: .utf8)
        defer {
            _ = try? zkctl(["local", "down", "zk-health", "--state-dir", state])
            LocalEnsemble.killServers(under: state)
            try? FileManager.default.removeItem(at: directory)
        }
        let up = try runProcess(try builtProduct("zkctl"),
                         ["local", "up", "-f", file, "--state-dir", state, "--base-address", "127.0.12", "--timeout", "90"], timeout: 150)
        try #require(up.status == 0, "\(up.stdout)\(up.stderr)")

        let health = try zkctl(["health", "--local", "zk-health", "--state-dir", state])
        #expect(health.status == 0, "\(health.stdout)\(health.stderr)")
        #expect(health.stdout.contains("healthy: 3 of 3 voters serving"), "\(health.stdout)")
        for id in 1...3 { #expect(health.stdout.contains("127.0.12.\(id):2181")) }

        let missing = try zkctl(["health", "--local", "no-such-ensemble", "--state-dir", state])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("no local ensemble 'no-such-ensemble'"))
        let both = try zkctl(["health", "--local", "zk-health", "--members", "127.0.0.1:2181"])
        #expect(both.status == 64)
    }
}
