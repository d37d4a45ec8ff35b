import Foundation
import LocalEnsemble
import Synchronization
import Testing
import ZooKeeperTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `zkctl local up/status/down` run as users run them: the built binary as a subprocess.
/// Members live on blocks from `TestAddressBlocks` (127.16.0.0 and up), so they collide
/// neither with a developer's local mode (127.0.0.x) nor with suites other checkouts run on
/// this machine at the same time. Refused resources name 127.0.9 and never start anything.
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
        try runProcess(try builtProduct("zkctl"), ["local"] + arguments, timeout: timeout)
    }

    /// Runs `body` with a scratch directory and its `state/` for the ensemble `name`; then,
    /// whatever happened, stops the ensemble (down, then SIGKILL for anything left running a
    /// zoo.cfg under state/) and deletes everything.
    func withScratch<T>(_ name: String, _ body: (_ directory: URL, _ state: String) throws -> T) throws -> T {
        let directory = try temporaryDirectory("zkctl-\(name)")
        let state = directory.appendingPathComponent("state").path
        defer {
            _ = try? local(["down", name, "--state-dir", state], timeout: 60)
            LocalEnsemble.killServers(under: state)
            try? FileManager.default.removeItem(at: directory)
        }
        return try body(directory, state)
    }

    /// The member rows of the health table (they start with the member's address).
    static func tableRows(_ output: String) -> [Substring] {
        output.split(separator: "\n").filter { $0.hasPrefix("127.") && !$0.contains(": cannot") }
    }

    func pids(_ state: String, name: String = "zk-local", members: Int = 3) -> [Int: Int32] {
        var result: [Int: Int32] = [:]
        for id in 1...members {
            let path = "\(state)/\(name)/member-\(id)/zookeeper.pid"
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
        let block = TestAddressBlocks.next()
        let directory = try temporaryDirectory("zkctl-local")
        let state = directory.appendingPathComponent("state").path
        let file = directory.appendingPathComponent("zk.yaml").path
        try Self.manifest.write(toFile: file, atomically: true, encoding: .utf8)
        defer {
            _ = try? local(["down", "zk-local", "--state-dir", state], timeout: 60)
            LocalEnsemble.killServers(under: state)
            try? FileManager.default.removeItem(at: directory)
        }
        let up = ["up", "-f", file, "--state-dir", state, "--base-address", block, "--timeout", "90"]

        for round in 1...2 {
            let first = try local(up)
            #expect(first.status == 0, "round \(round): \(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("started members 1, 2, 3 of 'zk-local'"), "\(first.stdout)\(first.stderr)")
            // Each member's process, then zkctl health's table and verdict.
            for id in 1...3 {
                #expect(first.stdout.contains("member \(id) (\(block).\(id):2181): running (pid "), "\(first.stdout)\(first.stderr)")
            }
            #expect(first.stdout.contains("MEMBER".padding(toLength: "\(block).1:2181".count, withPad: " ", startingAt: 0) + "  MODE"), "\(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("SYNCED"), "\(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("healthy: 3 of 3 voters serving, quorum is 2; leader \(block)."), "\(first.stdout)\(first.stderr)")
            #expect(Self.tableRows(first.stdout).count == 3, "\(first.stdout)")
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
            let rows = Self.tableRows(status.stdout)
            #expect(rows.filter { $0.contains(" leader ") }.count == 1, "\(status.stdout)")
            #expect(rows.filter { $0.contains(" follower ") }.count == 2, "\(status.stdout)")
            #expect(status.stdout.contains("healthy: 3 of 3 voters serving"), "\(status.stdout)\(status.stderr)")

            if round == 1 {
                // A member that dies is shown as crashed, and `up` restarts only it.
                let victim = try #require(started[2])
                kill(victim, SIGKILL)
                // If the victim led, the other two elect a new leader first (not serving meanwhile).
                let crashed = try waitFor(deadline: 30) {
                    let result = try local(["status", "zk-local", "--state-dir", state])
                    return result.stdout.contains("member 2 (\(block).2:2181): crashed (pid \(victim) is gone)")
                        && result.stdout.contains("at risk:") ? result : nil
                }
                #expect(crashed.status == 1, "\(crashed.stdout)\(crashed.stderr)")
                #expect(crashed.stdout.contains("\(block).2:2181: cannot connect"), "\(crashed.stdout)\(crashed.stderr)")
                #expect(crashed.stdout.contains("at risk: 2 of 3 voters serving, quorum is 2"), "\(crashed.stdout)\(crashed.stderr)")
                #expect(crashed.stdout.contains("not running: member 2 crashed"), "\(crashed.stdout)\(crashed.stderr)")

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

    /// ZooKeeper owns zoo.cfg after its first start, so a changed setting can only take effect
    /// on a fresh ensemble: `up` must say so instead of running the old value silently.
    /// One member; it also shows spec.zookeeper.logLevel reaching the server.
    @Test func changedSettingsAreRefusedUntilPurged() throws {
        let block = TestAddressBlocks.next()
        let directory = try temporaryDirectory("zkctl-local-settings")
        let state = directory.appendingPathComponent("state").path
        let file = directory.appendingPathComponent("zk.yaml").path
        defer {
            _ = try? local(["down", "zk-settings", "--state-dir", state], timeout: 60)
            LocalEnsemble.killServers(under: state)
            try? FileManager.default.removeItem(at: directory)
        }
        func manifest(tickTime: Int) -> String {
            Self.manifest.replacingOccurrences(of: "zk-local", with: "zk-settings")
                .replacingOccurrences(of: "replicas: 3", with: "replicas: 1")
                + "\n    tickTime: \(tickTime)\n    logLevel: DEBUG\n"
        }
        let up = ["up", "-f", file, "--state-dir", state, "--base-address", block, "--timeout", "90"]
        let member = "\(block).1:2181"
        func runningTickTime() throws -> String? {
            let conf = try zkctl(["4lw", "conf", "--members", member])
            return conf.stdout.split(separator: "\n").first { $0.hasPrefix("tickTime=") }.map(String.init)
        }

        try manifest(tickTime: 2000).write(toFile: file, atomically: true, encoding: .utf8)
        let first = try local(up)
        try #require(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(try runningTickTime() == "tickTime=2000")
        let log = try String(contentsOfFile: state + "/zk-settings/member-1/zookeeper.log", encoding: .utf8)
        #expect(log.contains(" - DEBUG "), "logLevel DEBUG did not reach the server log")
        let firstPIDs = pids(state, name: "zk-settings", members: 1)

        // Changed while running: refused, the member is left alone.
        try manifest(tickTime: 3000).write(toFile: file, atomically: true, encoding: .utf8)
        let whileRunning = try local(up)
        #expect(whileRunning.status == 1, "\(whileRunning.stdout)\(whileRunning.stderr)")
        #expect(whileRunning.stderr.contains("tickTime: 2000 -> 3000"), "\(whileRunning.stderr)")
        #expect(whileRunning.stderr.contains("zkctl local down zk-settings --purge"), "\(whileRunning.stderr)")
        #expect(pids(state, name: "zk-settings", members: 1) == firstPIDs)

        // Changed while down: still refused, nothing starts.
        let down = try local(["down", "zk-settings", "--state-dir", state], timeout: 60)
        #expect(down.status == 0, "\(down.stdout)\(down.stderr)")
        let whileDown = try local(up)
        #expect(whileDown.status == 1, "\(whileDown.stdout)\(whileDown.stderr)")
        #expect(whileDown.stderr.contains("tickTime: 2000 -> 3000"), "\(whileDown.stderr)")
        #expect(pids(state, name: "zk-settings", members: 1).isEmpty)

        // After a purge the new value is what runs.
        let purge = try local(["down", "zk-settings", "--state-dir", state, "--purge"], timeout: 60)
        #expect(purge.status == 0, "\(purge.stdout)\(purge.stderr)")
        let fresh = try local(up)
        try #require(fresh.status == 0, "\(fresh.stdout)\(fresh.stderr)")
        #expect(try runningTickTime() == "tickTime=3000")
    }

    /// Every java process running a zoo.cfg under `state`, per member id, from /proc: what
    /// really runs, whatever the pid files say.
    func servers(_ state: String, name: String) -> [Int: [Int32]] {
        var result: [Int: [Int32]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.contains(ZooKeeperInstallation.mainClass) else { continue }
            for id in 1...9 where arguments.contains("\(state)/\(name)/member-\(id)/zoo.cfg") { result[id, default: []].append(pid) }
        }
        return result
    }

    func writeManifest(_ name: String, replicas: Int = 3, extra: String = "", in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("\(name).yaml").path
        try (Self.manifest.replacingOccurrences(of: "zk-local", with: name).replacingOccurrences(of: "replicas: 3", with: "replicas: \(replicas)") + extra)
            .write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Two `up`s at once used to start two JVMs per member (the pid file then named the one
    /// that died of a bind error); an `up` killed between spawning a member and writing its
    /// pid file left a member `down` could not see (`down --purge` deleted its files under
    /// it).
    @Test func concurrentUpsAndUnrecordedMembersLeaveExactlyOneServerPerMember() throws {
        let block = TestAddressBlocks.next()
        try withScratch("zk-race") { directory, state in
            let file = try writeManifest("zk-race", in: directory)
            let up = ["up", "-f", file, "--state-dir", state, "--base-address", block, "--timeout", "90"]
            let zkctl = try builtProduct("zkctl")
            let results = Mutex<[ProcessResult]>([])
            let group = DispatchGroup()
            for _ in 0..<2 {
                group.enter()
                Thread.detachNewThread {
                    if let result = try? runProcess(zkctl, ["local"] + up, timeout: 150) { results.withLock { $0.append(result) } }
                    group.leave()
                }
            }
            group.wait()
            let both = results.withLock { $0 }
            try #require(both.count == 2)
            for result in both { #expect(result.status == 0, "\(result.stdout)\(result.stderr)") }
            #expect(both.filter { $0.stdout.contains("started members 1, 2, 3 of 'zk-race'") }.count == 1, "\(both.map(\.stdout))")
            var running = servers(state, name: "zk-race")
            #expect(running.count == 3 && running.values.allSatisfy { $0.count == 1 }, "\(running)")
            #expect(pids(state, name: "zk-race").mapValues { [$0] } == running)

            // What an `up` killed right after spawning member 1 leaves: a server no pid file
            // names; and what the old double start left for member 2: a pid file naming a
            // process that is gone while another serves.
            try FileManager.default.removeItem(atPath: "\(state)/zk-race/member-1/zookeeper.pid")
            let exited = Process()
            exited.executableURL = URL(fileURLWithPath: "/bin/true")
            try exited.run()
            exited.waitUntilExit()
            try "\(exited.processIdentifier)\n".write(toFile: "\(state)/zk-race/member-2/zookeeper.pid", atomically: true, encoding: .utf8)
            let status = try local(["status", "zk-race", "--state-dir", state])
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
            for id in 1...2 {
                #expect(status.stdout.contains("member \(id) (\(block).\(id):2181): running (pid \(running[id]![0]))"), "\(status.stdout)\(status.stderr)")
            }
            let again = try local(up)
            #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
            for id in 1...2 {
                #expect(again.stdout.contains("member \(id) runs as pid \(running[id]![0]), which its pid file did not name"), "\(again.stdout)\(again.stderr)")
            }
            #expect(again.stdout.contains("'zk-race' is already up; nothing changed."), "\(again.stdout)\(again.stderr)")
            #expect(servers(state, name: "zk-race") == running)
            #expect(pids(state, name: "zk-race").mapValues { [$0] } == running)

            // down finds members by what they run, so purge never deletes files under a live one.
            try FileManager.default.removeItem(atPath: "\(state)/zk-race/member-3/zookeeper.pid")
            // What an earlier purge killed half-way leaves (it moves the directory aside first).
            try FileManager.default.createDirectory(atPath: "\(state)/.zk-race.deleted-1/member-1/data", withIntermediateDirectories: true)
            running = servers(state, name: "zk-race")
            let down = try local(["down", "zk-race", "--state-dir", state, "--purge"], timeout: 60)
            #expect(down.status == 0, "\(down.stdout)\(down.stderr)")
            #expect(down.stdout.contains("stopped members 1, 2, 3 of 'zk-race'"), "\(down.stdout)\(down.stderr)")
            #expect(servers(state, name: "zk-race").isEmpty, "\(servers(state, name: "zk-race"))")
            #expect(try FileManager.default.contentsOfDirectory(atPath: state) == [])
        }
    }

    /// A port taken for member 2 used to leave member 1 running, unmentioned. The test holds
    /// member 2's client address.
    @Test func aMemberThatCannotStartStopsTheMembersThisUpStarted() throws {
        let block = TestAddressBlocks.next()
        try withScratch("zk-port") { directory, state in
            let listener = try Listener(address: "\(block).2", port: 2181)
            defer { listener.close() }
            let file = try writeManifest("zk-port", in: directory)
            let up = try local(["up", "-f", file, "--state-dir", state, "--base-address", block, "--timeout", "60"])
            #expect(up.status == 1, "\(up.stdout)\(up.stderr)")
            #expect(up.stderr.contains("member 2 cannot use \(block).2:2181"), "\(up.stderr)")
            #expect(up.stderr.contains("stopped member 1 again, started by this command"), "\(up.stderr)")
            #expect(up.stderr.contains("no member of 'zk-port' is running"), "\(up.stderr)")
            #expect(servers(state, name: "zk-port").isEmpty, "\(servers(state, name: "zk-port"))")
            #expect(pids(state, name: "zk-port").isEmpty)
        }
    }

    /// Members that all die at once (here: a zoo.cfg value ZooKeeper cannot parse) used to
    /// cost the whole --timeout, followed by "left running for inspection". Now up stops
    /// waiting and shows each member's first log errors.
    @Test func upStopsWaitingWhenTheMembersHaveExited() throws {
        let block = TestAddressBlocks.next()
        try withScratch("zk-exit") { directory, state in
            let file = try writeManifest("zk-exit", extra: "\n    config:\n      connectToLearnerMasterLimit: many\n", in: directory)
            let up = try local(["up", "-f", file, "--state-dir", state, "--base-address", block, "--timeout", "120"])
            #expect(up.status == 1, "\(up.stdout)\(up.stderr)")
            // Generous for a loaded machine; the old behaviour took the full 120 s.
            #expect(up.seconds < 60, "took \(up.seconds) s")
            #expect(!up.stderr.contains("has no healthy quorum after"), "\(up.stderr)")
            // All three die at once; on a loaded machine the last may still be exiting when two
            // are gone, and two gone already rules out a quorum.
            let exited = (1...3).filter { up.stderr.contains("member \($0) exited:") }
            #expect(exited.count >= 2, "\(up.stderr)")
            if exited.count == 3 {
                #expect(up.stderr.contains("no member of 'zk-exit' is running any more"), "\(up.stderr)")
                #expect(!up.stderr.contains("left running for inspection"), "\(up.stderr)")
            } else {
                #expect(up.stderr.contains("'zk-exit' cannot form a quorum: only member "), "\(up.stderr)")
                #expect(up.stderr.contains("and a quorum needs 2"), "\(up.stderr)")
            }
            #expect(up.stderr.contains("Invalid config, exiting abnormally"), "\(up.stderr)")
            #expect(up.stderr.contains("NumberFormatException: For input string: \"many\""), "\(up.stderr)")
        }
    }

    /// A heap below local mode's initial 32m used to give the JVM -Xms32m -Xmx8m, which it
    /// refuses. One member.
    @Test func aSmallHeapStarts() throws {
        let block = TestAddressBlocks.next()
        try withScratch("zk-heap") { directory, state in
            let file = try writeManifest("zk-heap", replicas: 1, in: directory)
            try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "heapSize: 128m", with: "heapSize: 8m")
                .write(toFile: file, atomically: true, encoding: .utf8)
            let up = try local(["up", "-f", file, "--state-dir", state, "--base-address", block, "--timeout", "60"])
            #expect(up.status == 0, "\(up.stdout)\(up.stderr)")
            let arguments = try String(contentsOfFile: "/proc/\(try #require(pids(state, name: "zk-heap", members: 1)[1]))/cmdline", encoding: .utf8)
            #expect(arguments.contains("-Xms8m\0-Xmx8m\0"), "\(arguments)")
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

        // Validation used to accept it; every JVM then refused to start.
        try Self.manifest.replacingOccurrences(of: "heapSize: 128m", with: "heapSize: 1k").write(toFile: invalid, atomically: true, encoding: .utf8)
        let tiny = try local(["up", "-f", invalid, "--state-dir", state, "--base-address", "127.0.9"])
        #expect(tiny.status == 1)
        #expect(tiny.stderr.contains("bad.yaml:9:15: error: spec.zookeeper.heapSize: must be at least 4m"), "\(tiny.stderr)")
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
        if Date() > end { throw ConditionTimeout(seconds: seconds) }
        usleep(100_000)
    }
}

/// A TCP listener holding an address, standing in for another program on a member's port.
private final class Listener {
    let fd: Int32
    init(address: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &socketAddress.sin_addr)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ListenFailed(description: "cannot listen on \(address):\(port): \(reason)")
        }
    }
    func close() { Glibc.close(fd) }
}

private struct ListenFailed: Error, CustomStringConvertible {
    var description: String
}

private struct ConditionTimeout: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "condition not met within \(seconds) s" }
}
