import Foundation
import LocalEnsemble
import Testing
import ZooKeeperTestSupport

/// `zkctl health --local NAME` finds the members of a local-mode ensemble by its recorded
/// layout. Members on a block from `TestAddressBlocks` (see ZkctlLocalTests).
@Suite struct HealthLocalTests {
    @Test func healthOfALocalEnsembleByName() throws {
        let block = TestAddressBlocks.next()
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
                         ["local", "up", "-f", file, "--state-dir", state, "--base-address", block, "--timeout", "90"], timeout: 150)
        try #require(up.status == 0, "\(up.stdout)\(up.stderr)")

        let health = try zkctl(["health", "--local", "zk-health", "--state-dir", state])
        #expect(health.status == 0, "\(health.stdout)\(health.stderr)")
        #expect(health.stdout.contains("healthy: 3 of 3 voters serving"), "\(health.stdout)")
        for id in 1...3 { #expect(health.stdout.contains("\(block).\(id):2181")) }

        // The data commands, smoke and 4lw take --local NAME too (one shared option group).
        let local = ["--local", "zk-health", "--state-dir", state]
        let path = "/local-\(UInt32.random(in: 0...UInt32.max))"
        let create = try zkctl(["create", path, "v1"] + local)
        #expect(create.status == 0 && create.stdout == path + "\n", "\(create.stdout)\(create.stderr)")
        #expect(try zkctl(["get", path] + local).stdout == "v1")
        #expect(try zkctl(["set", path, "v2"] + local).stdout == "version = 1\n")
        #expect(try zkctl(["ls", "/"] + local).stdout.contains(String(path.dropFirst()) + "\n"))
        let config = try zkctl(["config"] + local)
        #expect(config.stdout.contains("server.1=\(block).1:"), "\(config.stdout)\(config.stderr)")
        let srvr = try zkctl(["4lw", "srvr"] + local)
        #expect(srvr.stdout.components(separatedBy: "Mode: ").count == 4, "\(srvr.stdout)\(srvr.stderr)")
        let smoke = try zkctl(["smoke"] + local)
        #expect(smoke.status == 0 && smoke.stdout.contains("smoke OK: wrote via \(block)."), "\(smoke.stdout)\(smoke.stderr)")

        // On a terminal get ends the line (once); piped, the bytes are exactly the node's.
        let onTerminal = try runOnTerminal([try builtProduct("zkctl"), "get", path] + local)
        #expect(onTerminal == "v2\r\n", "\(onTerminal.debugDescription)")
        _ = try zkctl(["set", path, "line\n"] + local)
        #expect(try runOnTerminal([try builtProduct("zkctl"), "get", path] + local) == "line\r\n")
        #expect(try zkctl(["get", path] + local).stdout == "line\n")
        #expect(try zkctl(["delete", path] + local).status == 0)
        let unknown = try zkctl(["get", path, "--local", "no-such-ensemble", "--state-dir", state])
        #expect(unknown.status == 64 && unknown.stderr.contains("no local ensemble 'no-such-ensemble'"), "\(unknown.stderr)")
        let combined = try zkctl(["ls", "/", "--members", "\(block).1:2181"] + local)
        #expect(combined.status == 64 && combined.stderr.contains("--members and --local cannot be combined"), "\(combined.stderr)")

        let missing = try zkctl(["health", "--local", "no-such-ensemble", "--state-dir", state])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("no local ensemble 'no-such-ensemble'"))
        let both = try zkctl(["health", "--local", "zk-health", "--members", "127.0.0.1:2181"])
        #expect(both.status == 64)
    }
}

/// Runs a command with its stdout on a pseudo-terminal (python3's pty module) and returns
/// what the terminal received (the line discipline turns "\n" into "\r\n").
func runOnTerminal(_ command: [String]) throws -> String {
    let script = """
        import os, pty, subprocess, sys
        master, slave = pty.openpty()
        child = subprocess.Popen(sys.argv[1:], stdout=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        received = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
        sys.stdout.buffer.write(received)
        sys.exit(child.wait())
        """
    let result = try runProcess("python3", ["-c", script] + command, timeout: 60)
    guard result.status == 0 else { throw TerminalRunFailed(description: "\(command) on a terminal: exit \(result.status): \(result.stderr)") }
    return result.stdout
}

struct TerminalRunFailed: Error, CustomStringConvertible {
    var description: String
}
