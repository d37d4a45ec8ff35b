import Foundation
import LocalEnsemble
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `zkctl local up/status/down` run as users run them: the built binary as a subprocess.
/// Members live on 127.0.9.x so they collide neither with a developer's local mode
/// (127.0.0.x) nor with test-support ensembles (127.16.0.0 and up).
@Suite struct ZkctlLocalTests {
    static let manifest = """
        apiVersion: ensemble.dev/v1alpha1
        kind: Ensemble
        metadata:
          name: zk-local
        spec:
          engine: ZooKeeper
          replicas: 3
          zookeeper:
            heapSize: 128m
        """

    func local(_ arguments: [String], timeout: Double = 150) throws -> ProcessResult {
        try run(productsDirectory.appendingPathComponent("zkctl").path, ["local"] + arguments, timeout: timeout)
    }

    func pids(_ state: String) -> [Int: Int32] {
        var result: [Int: Int32] = [:]
        for id in 1...3 {
            let path = "\(state)/zk-local/member-\(id)/zookeeper.pid"
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                result[id] = pid
            }
        }
        return result
    }

    func serverRuns(_ pid: Int32, _ state: String) -> Bool {
        let commandLine = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        return commandLine.contains(state)
    }

    @Test func upStatusDownFromAFreshStateDirectoryTwiceInARow() throws {
        let directory = try temporaryDirectory("zkctl-local")
        let state = directory.appendingPathComponent("state").path
        let file = directory.appendingPathComponent("zk.yaml").path
        try Self.manifest.write(toFile: file, atomically: true, encoding: .utf8)
        defer {
            _ = try? local(["down", "zk-local", "--state-dir", state], timeout: 60)
            LocalEnsemble.killServers(under: state)
            try? FileManager.default.removeItem(at: directory)
        }
        let up = ["up", "-f", file, "--state-dir", state, "--base-address", "127.0.9", "--timeout", "90"]

        for round in 1...2 {
            let first = try local(up)
            #expect(first.status == 0, "round \(round): \(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("started members 1, 2, 3 of 'zk-local'"), "\(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("MEMBER  ADDRESS"), "\(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("healthy: member "), "\(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("3 of 3 members serving"), "\(first.stdout)\(first.stderr)")
            let started = pids(state)
            #expect(started.count == 3)
            #expect(started.values.allSatisfy { serverRuns($0, state) })

            // Already up: reported, nothing restarted.
            let again = try local(up)
            #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
            #expect(again.stdout.contains("'zk-local' is already up; nothing changed."), "\(again.stdout)\(again.stderr)")
            #expect(pids(state) == started)

            let status = try local(["status", "zk-local", "--state-dir", state])
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
            #expect(status.stdout.components(separatedBy: " leader ").count - 1 == 1, "\(status.stdout)")
            #expect(status.stdout.components(separatedBy: " follower ").count - 1 == 2, "\(status.stdout)")
            #expect(status.stdout.contains("127.0.9.2:2181"), "\(status.stdout)\(status.stderr)")

            if round == 1 {
                // A member that dies is shown as crashed, and `up` restarts only it.
                let victim = try #require(started[2])
                kill(victim, SIGKILL)
                let crashed = try waitFor(deadline: 30) {
                    let result = try local(["status", "zk-local", "--state-dir", state])
                    return result.stdout.contains("crashed (\(victim))") ? result : nil
                }
                #expect(crashed.status == 1, "\(crashed.stdout)\(crashed.stderr)")
                #expect(crashed.stdout.contains("unhealthy: member 2 crashed"), "\(crashed.stdout)\(crashed.stderr)")

                let repair = try local(up)
                #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
                #expect(repair.stdout.contains("member 2 crashed (pid \(victim) is gone); restarting it"), "\(repair.stdout)\(repair.stderr)")
                #expect(repair.stdout.contains("started member 2 of 'zk-local'"), "\(repair.stdout)\(repair.stderr)")
                let after = pids(state)
                #expect(after[1] == started[1] && after[3] == started[3])
                #expect(after[2] != victim)
            }

            let running = pids(state)
            let down = try local(["down", "zk-local", "--state-dir", state], timeout: 60)
            #expect(down.status == 0, "\(down.stdout)\(down.stderr)")
            #expect(down.stdout.contains("stopped members 1, 2, 3 of 'zk-local'"), "\(down.stdout)\(down.stderr)")
            #expect(running.values.allSatisfy { !serverRuns($0, state) })
            #expect(pids(state).isEmpty)

            let downAgain = try local(["down", "zk-local", "--state-dir", state, "--purge"], timeout: 60)
            #expect(downAgain.status == 0, "\(downAgain.stdout)\(downAgain.stderr)")
            #expect(downAgain.stdout.contains("'zk-local' is already down"), "\(downAgain.stdout)\(downAgain.stderr)")
            #expect(!FileManager.default.fileExists(atPath: state + "/zk-local"))
        }
    }

    @Test func cassandraAndInvalidResourcesAreRefusedAndNothingStarts() throws {
        let directory = try temporaryDirectory("zkctl-local-refused")
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.appendingPathComponent("state").path

        let cassandra = try local(["up", "-f", repoRoot.appendingPathComponent("examples/cassandra-3.yaml").path, "--state-dir", state, "--base-address", "127.0.9"])
        #expect(cassandra.status == 1)
        #expect(cassandra.stderr.contains("is a Cassandra ensemble; local mode runs ZooKeeper only"), "\(cassandra.stderr)")

        let invalid = directory.appendingPathComponent("bad.yaml").path
        try Self.manifest.replacingOccurrences(of: "replicas: 3", with: "replicas: 12").write(toFile: invalid, atomically: true, encoding: .utf8)
        let refused = try local(["up", "-f", invalid, "--state-dir", state, "--base-address", "127.0.9"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("bad.yaml:7:13: error: spec.replicas:"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state))
    }

    @Test func statusAndDownOfAnUnknownEnsemble() throws {
        let directory = try temporaryDirectory("zkctl-local-unknown")
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.path
        let status = try local(["status", "nope", "--state-dir", state])
        #expect(status.status == 1, "\(status.stdout)\(status.stderr)")
        #expect(status.stderr.contains("no local ensemble 'nope' in \(state)"), "\(status.stdout)\(status.stderr)")
        let down = try local(["down", "nope", "--state-dir", state])
        #expect(down.status == 0, "\(down.stdout)\(down.stderr)")
        #expect(down.stdout.contains("nothing to stop"), "\(down.stdout)\(down.stderr)")
    }
}

/// Polls `probe` until it returns a value or `deadline` seconds pass.
private func waitFor<T>(deadline seconds: Double, _ probe: () throws -> T?) throws -> T {
    let end = Date().addingTimeInterval(seconds)
    while true {
        if let value = try probe() { return value }
        if Date() > end { throw ProcessTimeout(command: "condition not met within \(seconds) s") }
        usleep(100_000)
    }
}
