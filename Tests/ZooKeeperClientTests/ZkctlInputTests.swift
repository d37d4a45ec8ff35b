import Foundation
import Testing
import ZooKeeperTestSupport

/// zkctl's data commands with bad input: no server is needed, because nothing may be tried.
@Suite("zkctl rejects bad input before connecting", .timeLimit(.minutes(1)))
struct ZkctlInputTests {
    /// ArgumentParser's exit code for a `ValidationError` (EX_USAGE).
    static let usageError: Int32 = 64

    private func zkctl(_ arguments: [String]) async throws -> ProcessResult {
        let zkctl = ZkctlTests.zkctl
        try #require(FileManager.default.isExecutableFile(atPath: zkctl), "build zkctl first: \(zkctl) is missing")
        return try await runProcessInBackground(zkctl, arguments, timeout: 30)
    }

    @Test(arguments: [
        ["get", "x"],
        ["get", "/x/"],
        ["create", "/a//b", "data"],
        ["set", "relative", "data"],
        ["delete", "/a/../b"],
        ["ls", "/a/./b"],
    ])
    func badPathIsAUsageError(_ command: [String]) async throws {
        // Port 1 refuses: were a connection tried, the exit would be 1, not 64.
        let result = try await zkctl(command + ["--members", "127.0.0.1:1"])
        #expect(result.status == Self.usageError, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("invalid path"), "stderr: \(result.stderr)")
    }

    @Test(arguments: [
        (["get", "/x"], "h:99999", "port must be a number"),
        (["ls"], "127.0.0.1:2181,h:0", "port must be a number"),
        (["config"], "[::1", "missing ']'"),
        (["create", "/x"], ":2181", "empty host"),
        (["smoke"], "a:1,b:x", "port must be a number"),
    ])
    func badMemberIsAUsageError(_ command: [String], _ members: String, _ reason: String) async throws {
        let result = try await zkctl(command + ["--members", members])
        #expect(result.status == Self.usageError, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("--members"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(reason), "stderr: \(result.stderr)")
    }

    @Test(arguments: [
        (["get", "/x", "--members", "127.0.0.1:1", "--timeout", "inf"], "--timeout must be a finite number of seconds, got inf"),
        (["smoke", "--members", "127.0.0.1:1,127.0.0.1:2", "--session-timeout", "1e300"],
         "--session-timeout must be at most 2147483.647 seconds, got 1e+300"),
        (["ls", "--members", "127.0.0.1:1", "--timeout", "1.9e10"], "--timeout must be at most 2147483.647 seconds"),
        (["config", "--members", "127.0.0.1:1", "--timeout", "nan"], "--timeout must be a finite number of seconds, got nan"),
        (["create", "/x", "--members", "127.0.0.1:1", "--timeout", "0"], "--timeout must be at least 0.001 seconds"),
        (["health", "--members", "127.0.0.1:1", "--timeout", "inf"], "--timeout must be a finite number of seconds, got inf"),
        (["health", "--members", "127.0.0.1:1", "--timeout", "601"], "--timeout must be at most 600 seconds, got 601.0"),
        (["4lw", "srvr", "--members", "127.0.0.1:1", "--timeout=-1"], "--timeout must be at least 0.001 seconds"),
        (["local", "up", "-f", "/nonexistent.yaml", "--timeout", "inf"], "--timeout must be a finite number of seconds, got inf"),
    ])
    func unusableDurationIsAUsageError(_ arguments: [String], _ message: String) async throws {
        // Were the duration used, these would crash (exit 132) or try to connect (exit 1).
        let result = try await zkctl(arguments)
        #expect(result.status == Self.usageError, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
    }

    /// scripts/stalled_dns.py runs zkctl where DNS never answers (its own namespaces; a lookup
    /// would take 60 s): every command that talks to members ends within --timeout and says why.
    @Test(arguments: [
        ["get", "/x", "--members", "zk-0.zk.invalid:2181"],
        ["smoke", "--members", "zk-0.zk.invalid:2181,zk-1.zk.invalid:2181"],
        ["health", "--members", "zk-0.zk.invalid:2181"],
    ])
    func stalledNameServiceEndsWithinTheTimeout(_ command: [String]) async throws {
        let zkctl = ZkctlTests.zkctl
        let stalledDNS = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/stalled_dns.py").path
        let result = try await runProcessInBackground("python3", [stalledDNS, "--", zkctl] + command + ["--timeout", "1"], timeout: 40)
        #expect(!result.stderr.contains("Traceback"), "stalled_dns.py failed: \(result.stderr)")
        #expect(result.status != 0 && result.status != Self.usageError, "stdout: \(result.stdout) stderr: \(result.stderr)")
        #expect((result.stdout + result.stderr).contains("cannot resolve zk-0.zk.invalid: no answer from the name service before the deadline"),
                "stdout: \(result.stdout) stderr: \(result.stderr)")
        // Bound 1 s; a generous margin for a loaded machine.
        #expect(result.seconds < 15, "took \(result.seconds) s")
    }

    @Test func validInputGetsAsFarAsConnecting() async throws {
        // A sequential create may end in '/'; the refused connect then fails it, saying so once.
        let result = try await zkctl(["create", "/queue/", "--sequential", "--members", "127.0.0.1:1", "--timeout", "1"])
        #expect(result.status == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("no ZooKeeper server available: 127.0.0.1:1: cannot connect to 127.0.0.1:1"),
                "stderr: \(result.stderr)")
        #expect(result.stderr.components(separatedBy: "no ZooKeeper server available").count == 2, "stderr: \(result.stderr)")
    }
}
