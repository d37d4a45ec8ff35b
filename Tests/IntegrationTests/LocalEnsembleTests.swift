import Foundation
import Synchronization
@testable import LocalEnsemble
import NetCore
import Testing
import ZKAdmin
import ZKConfig
import ZooKeeperTestSupport
#if canImport(Glibc)
import Glibc
#endif

private func makeTemporaryDirectory(_ label: String) throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("local-ensemble-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private func read(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
}

@Suite("Local ensembles of real ZooKeeper servers")
struct LocalEnsembleTests {
    /// The issue's foundation test: our zoo.cfg and myid for 127.0.0.1-3 make three real
    /// servers agree on exactly one leader. Ports are not the defaults, so a local-mode
    /// ensemble on 127.0.0.x:2181 does not collide.
    @Test func threeMembersOnLoopbackFormOneLeaderAndTwoFollowers() async throws {
        let state = try makeTemporaryDirectory("foundation")
        let layout = try LocalEnsembleLayout(
            name: "foundation", addresses: ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
            clientPort: 12181, quorumPort: 12888, electionPort: 13888, stateDirectory: state)
        let ensemble = LocalEnsemble(layout: layout, installation: try ZooKeeperInstallation.locate())
        defer {
            _ = try? ensemble.stopAll()
            try? FileManager.default.removeItem(atPath: state)
        }

        try ensemble.prepare()
        for member in ensemble.members {
            #expect(try read(member.myidPath) == "\(member.id)\n")
            let config = try ZooCfg.parse(try read(member.configPath))
            let values = Dictionary(uniqueKeysWithValues: config.map { ($0.key, $0.value) })
            #expect(values["quorumListenOnAllIPs"] == "false")
            #expect(values["dataDir"] == member.dataDir)
            #expect(values["dataLogDir"] == member.dataLogDir)
            for other in ensemble.members {
                #expect(values["server.\(other.id)"] == "127.0.0.\(other.id):12888:13888:participant;127.0.0.\(other.id):12181")
            }
            // Atomic writes leave no temporary files behind.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: member.directory).filter { $0.contains(".tmp-") }
            #expect(leftovers.isEmpty)
        }

        try ensemble.startAll()
        try await ensemble.waitForQuorum(deadline: .after(seconds: 60))

        var modes: [ServerMode] = []
        for member in ensemble.members {
            let status = try ServerStatus.fetch(host: member.address, port: member.clientPort, deadline: .after(seconds: 5))
            modes.append(status.mode)
        }
        #expect(modes.filter { $0 == .leader }.count == 1)
        #expect(modes.filter { $0 == .follower }.count == 2)

        let stopped = try ensemble.stopAll()
        #expect(stopped.sorted() == [1, 2, 3])
        for member in ensemble.members { #expect(ensemble.processState(member) == .stopped) }
    }

    /// Uses the test support the way other suites do: stop the leader, the rest elect a new
    /// one, the old leader comes back as a follower.
    @Test func stoppingTheLeaderReallyStopsItAndTheRestReelect() async throws {
        try await withZooKeeperEnsemble(members: 3) { zk in
            let firstLeader = try #require(zk.leaderID())
            let leader = try zk.member(firstLeader)
            guard case .running(let pid) = zk.ensemble.processState(leader) else {
                Issue.record("leader \(firstLeader) is not running")
                return
            }
            try zk.stopMember(firstLeader)
            #expect(zk.ensemble.processState(leader) == .stopped)
            #expect(!FileManager.default.fileExists(atPath: leader.pidPath))
            // Gone from /proc (or at most a zombie of some other parent, never our server).
            let commandLine = (try? read("/proc/\(pid)/cmdline")) ?? ""
            #expect(!commandLine.contains(leader.configPath))
            #expect(throws: FourLetterWordError.self) {
                try ServerStatus.fetch(host: leader.address, port: leader.clientPort, deadline: .after(seconds: 3))
            }

            let secondLeader = try await zk.waitForQuorum(timeout: 60)
            #expect(secondLeader != firstLeader)

            try zk.startMember(firstLeader)
            try await zk.waitForQuorum(timeout: 60)
            let statuses = zk.status()
            #expect(statuses.filter { $0.mode == .leader }.count == 1)
            #expect(statuses.first { $0.member.id == firstLeader }?.mode == .follower)
        }
    }

    /// A pid file naming a process that is not this member's server (the number was recycled)
    /// is reported as crashed, and stop() removes the file without signalling that process.
    @Test func aForeignProcessBehindAStalePIDFileIsNeverSignalled() throws {
        let state = try makeTemporaryDirectory("stale")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let layout = try LocalEnsembleLayout(name: "stale", members: 1, baseAddress: "127.0.8", stateDirectory: state)
        let ensemble = LocalEnsemble(layout: layout, installation: ZooKeeperInstallation(java: "/bin/false", classpath: []))
        try ensemble.prepare()
        let member = ensemble.members[0]

        let foreign = Process()
        foreign.executableURL = URL(fileURLWithPath: "/bin/sleep")
        foreign.arguments = ["300"]
        try foreign.run()
        defer {
            // SIGKILL: a test runner may hand its children a blocked SIGTERM.
            kill(foreign.processIdentifier, SIGKILL)
            foreign.waitUntilExit()
        }
        try "\(foreign.processIdentifier)\n".write(toFile: member.pidPath, atomically: true, encoding: .utf8)

        #expect(ensemble.processState(member) == .crashed(pid: foreign.processIdentifier))
        #expect(ensemble.status(member).summary.contains("crashed"))
        let stopped = try ensemble.stop(member)
        #expect(stopped == false)
        #expect(foreign.isRunning)
        #expect(kill(foreign.processIdentifier, 0) == 0)
        #expect(!FileManager.default.fileExists(atPath: member.pidPath))
        #expect(ensemble.processState(member) == .stopped)
    }

    @Test func missingInstallationSaysHowToInstall() throws {
        let emptyRoot = try makeTemporaryDirectory("empty-root")
        defer { try? FileManager.default.removeItem(atPath: emptyRoot) }
        do {
            _ = try ZooKeeperInstallation.locate(environment: ["PATH": "/usr/bin:/bin"], root: emptyRoot)
            Issue.record("found an installation in an empty tree")
        } catch {
            #expect(error.description.contains("apt-get install zookeeper"))
            #expect(error.description.contains("ZOOKEEPER_HOME"))
        }
        do {
            _ = try ZooKeeperInstallation.locate(environment: ["ZOOKEEPER_HOME": emptyRoot, "PATH": "/usr/bin:/bin"], root: emptyRoot)
            Issue.record("accepted a ZOOKEEPER_HOME without jars")
        } catch {
            #expect(error.description.contains("ZOOKEEPER_HOME=\(emptyRoot)"))
            #expect(error.description.contains("zookeeper-*.jar"))
        }
    }

    @Test func zookeeperHomeAndJavaHomeAreUsed() throws {
        let home = try makeTemporaryDirectory("zk-home")
        defer { try? FileManager.default.removeItem(atPath: home) }
        let files = FileManager.default
        try files.createDirectory(atPath: home + "/lib", withIntermediateDirectories: true)
        try files.createDirectory(atPath: home + "/jdk/bin", withIntermediateDirectories: true)
        for jar in ["/zookeeper-3.9.2.jar", "/lib/netty.jar", "/lib/slf4j-api.jar", "/lib/README.txt"] {
            #expect(files.createFile(atPath: home + jar, contents: Data()))
        }
        #expect(files.createFile(atPath: home + "/jdk/bin/java", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755]))

        let installation = try ZooKeeperInstallation.locate(
            environment: ["ZOOKEEPER_HOME": home, "JAVA_HOME": home + "/jdk", "PATH": ""], root: home)
        #expect(installation.java == home + "/jdk/bin/java")
        #expect(installation.classpath == [home + "/conf", home + "/zookeeper-3.9.2.jar", home + "/lib/netty.jar", home + "/lib/slf4j-api.jar"])

        do {
            _ = try ZooKeeperInstallation.locate(environment: ["ZOOKEEPER_HOME": home, "PATH": "/nonexistent"], root: home)
            Issue.record("found java on an empty PATH")
        } catch {
            #expect(error.description.contains("no java found"))
        }
    }

    /// One member of three can never form a quorum: the wait must end at its deadline with
    /// the member's state and the tail of its log in the error.
    @Test func quorumTimeoutNamesTheMembersAndShowsTheirLogs() async throws {
        let state = try makeTemporaryDirectory("timeout")
        let layout = try LocalEnsembleLayout(
            name: "lonely", members: 3, baseAddress: "127.0.10", clientPort: 12181, quorumPort: 12888,
            electionPort: 13888, stateDirectory: state)
        let ensemble = LocalEnsemble(layout: layout, installation: try ZooKeeperInstallation.locate())
        defer {
            _ = try? ensemble.stopAll()
            try? FileManager.default.removeItem(atPath: state)
        }
        try ensemble.start(ensemble.members[0])
        let lines = Mutex<[String]>([])
        let started = Deadline.now
        do {
            try await ensemble.waitForQuorum(deadline: .after(seconds: 5)) { line in lines.withLock { $0.append(line) } }
            Issue.record("one of three members formed a quorum")
        } catch {
            let text = error.description
            #expect(text.contains("'lonely' has no healthy quorum"))
            #expect(text.contains("member 1 (127.0.10.1:12181)"))
            #expect(text.contains("last lines of \(ensemble.members[0].logPath)"))
            // The server really logs (the Debian jar alone has no slf4j binding).
            #expect(text.contains("INFO"))
            #expect(!text.contains("member 2 (") || text.contains("member 2 (127.0.10.2:12181): stopped"))
        }
        // Generous: on a loaded 2-core machine the cooperative pool may resume this test late.
        #expect(Double(Deadline.now.nanoseconds - started.nanoseconds) / 1e9 < 120)
        #expect(!lines.withLock { $0 }.isEmpty)
    }

    /// killServers (used to clean up after a crashed launcher) signals only processes whose
    /// command line names that member's zoo.cfg and the ZooKeeper main class.
    @Test func killServersOnlyKillsVerifiedMembers() throws {
        let state = try makeTemporaryDirectory("orphans")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let layout = try LocalEnsembleLayout(name: "orphans", members: 2, baseAddress: "127.0.8", stateDirectory: state)
        let ensemble = LocalEnsemble(layout: layout, installation: ZooKeeperInstallation(java: "/bin/false", classpath: []))
        try ensemble.prepare()
        // A stand-in server: sh blocks in its builtin `read` (no child to leak) and ignores the
        // extra arguments, which still show in /proc/<pid>/cmdline.
        var keepOpen: [Pipe] = []
        func spawn(_ arguments: [String]) throws -> Process {
            let process = Process()
            let input = Pipe()
            keepOpen.append(input)
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "read line", "stand-in"] + arguments
            process.standardInput = input
            try process.run()
            return process
        }
        let member1 = ensemble.members[0], member2 = ensemble.members[1]
        let orphan = try spawn([ZooKeeperInstallation.mainClass, member1.configPath])
        let bystander = try spawn([ZooKeeperInstallation.mainClass, "/elsewhere/zoo.cfg"])
        defer {
            for process in [orphan, bystander] where process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            withExtendedLifetime(keepOpen) {}
        }
        try "\(orphan.processIdentifier)\n".write(toFile: member1.pidPath, atomically: true, encoding: .utf8)
        try "\(bystander.processIdentifier)\n".write(toFile: member2.pidPath, atomically: true, encoding: .utf8)
        #expect(ensemble.processState(member1) == .running(pid: orphan.processIdentifier))
        #expect(ensemble.processState(member2) == .crashed(pid: bystander.processIdentifier))

        let killed = LocalEnsemble.killServers(under: state)
        #expect(killed == [orphan.processIdentifier])
        // killServers reaps a child of its own caller at once, so Foundation may never see the
        // signal; the stand-in cannot end by itself (its stdin stays open), so ending is the proof.
        orphan.waitUntilExit()
        #expect(!orphan.isRunning)
        #expect(bystander.isRunning)
    }

    /// A member is recognised by its command line from the moment spawnDetached returns:
    /// the kernel fills it in just after exec, and a check in that gap took a starting member
    /// for one that had exited (seen under load: `up` gave up at once, "nothing logged").
    @Test func spawnedMemberShowsItsCommandLineAtOnce() throws {
        let directory = NSTemporaryDirectory() + "spawn-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for round in 0..<20 {
            let pid = try ProcessControl.spawnDetached(
                arguments: ["/bin/sleep", "30", "\(round)"], directory: directory, logPath: directory + "/log")
            let arguments = ProcessControl.commandLine(of: pid)
            _ = ProcessControl.signal(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            #expect(arguments == ["/bin/sleep", "30", "\(round)"], "round \(round)")
        }
    }

    @Test func verdictNeedsExactlyOneLeaderAndCountsCrashedMembers() throws {
        let layout = try LocalEnsembleLayout(name: "v", members: 3, stateDirectory: "/tmp/unused")
        func status(_ id: Int, _ process: MemberProcessState, _ mode: ServerMode?) throws -> LocalMemberStatus {
            var server: Result<ServerStatus, FourLetterWordError>? = process.isRunning ? .failure(.notServing) : nil
            if let mode { server = .success(try ServerStatus.parse(srvr: "Zookeeper version: 3.8.0\nZxid: 0x0\nMode: \(mode.rawValue)\n")) }
            return LocalMemberStatus(member: layout.members[id - 1], process: process, server: server)
        }
        let up = MemberProcessState.running(pid: 1)
        #expect(LocalEnsemble.verdict([try status(1, up, .follower), try status(2, up, .leader), try status(3, up, .observer)]) == .healthy(leader: 2))
        // A member stopped on purpose does not count; a crashed one does.
        #expect(LocalEnsemble.verdict([try status(1, up, .leader), try status(2, up, .follower), try status(3, .stopped, nil)]) == .healthy(leader: 1))
        #expect(LocalEnsemble.verdict([try status(1, up, .leader), try status(2, up, .follower), try status(3, .crashed(pid: 9), nil)])
            == .unhealthy("member 3 crashed (pid 9 is gone)"))
        #expect(LocalEnsemble.verdict([try status(1, up, .leader), try status(2, up, .leader), try status(3, up, .follower)])
            == .unhealthy("2 leaders (members 1, 2)"))
        #expect(LocalEnsemble.verdict([try status(1, up, .follower), try status(2, up, nil), try status(3, up, .standalone)])
            == .unhealthy("no leader; member 2 not currently serving requests (outside a quorum); member 3 standalone"))
        #expect(LocalEnsemble.verdict([try status(1, .stopped, nil), try status(2, .stopped, nil), try status(3, .stopped, nil)]) == .nothingRunning)
        #expect(LocalEnsemble.progressLine([try status(1, up, .follower), try status(2, up, nil), try status(3, .crashed(pid: 9), nil)])
            == "1 follower, 2 electing, 3 crashed")
    }

    @Test func layoutRejectsBadInput() {
        #expect(throws: LocalEnsembleError.self) { try LocalEnsembleLayout(name: "a/b", members: 3, stateDirectory: "/tmp/x") }
        #expect(throws: LocalEnsembleError.self) { try LocalEnsembleLayout(name: "a", members: 3, baseAddress: "127.0", stateDirectory: "/tmp/x") }
        #expect(throws: LocalEnsembleError.self) { try LocalEnsembleLayout(name: "a", members: 0, stateDirectory: "/tmp/x") }
        #expect(throws: LocalEnsembleError.self) {
            try LocalEnsembleLayout(name: "a", addresses: ["127.0.0.1", "127.0.0.1"], stateDirectory: "/tmp/x")
        }
        #expect(throws: LocalEnsembleError.self) {
            try LocalEnsembleLayout(name: "a", members: 1, clientPort: 2888, stateDirectory: "/tmp/x")
        }
    }
}

/// The lock `up`, `down` (and later roll and scale) take around changing an ensemble.
@Suite struct LocalEnsembleLockTests {
    @Test func aSecondHolderWaitsThenGivesUpNamingTheHolder() throws {
        let state = try makeTemporaryDirectory("lock")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let layout = try LocalEnsembleLayout(name: "locked", members: 1, baseAddress: "127.0.8", stateDirectory: state)
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? layout.withExclusiveLock(timeout: 5) {
                entered.signal()
                release.wait()
            }
            done.signal()
        }
        entered.wait()
        var waitingLine = ""
        let started = Deadline.now
        do {
            try layout.withExclusiveLock(timeout: 0.5, waiting: { waitingLine = $0 }) {
                Issue.record("got a lock another holder holds")
            }
        } catch let error as LocalEnsembleError {
            guard case .busy(let path, let holder, _) = error else { throw error }
            #expect(path == layout.ensembleDirectory)
            #expect(holder.hasPrefix("pid \(getpid()) ("), "\(holder)")
        }
        #expect(Double(Deadline.now.nanoseconds - started.nanoseconds) / 1e9 >= 0.5)
        #expect(waitingLine.contains("pid \(getpid())") && waitingLine.contains(layout.ensembleDirectory), "\(waitingLine)")
        release.signal()
        done.wait()
        // Free again: taken at once.
        #expect(try layout.withExclusiveLock(timeout: 0.1) { 42 } == 42)
    }

    /// A purge deletes the directory while holding it: a waiter must not then believe it
    /// holds the ensemble. `down` (no create) finds nothing; `up` (create) locks the new one.
    @Test func aWaiterOnAPurgedDirectoryStartsOver() throws {
        let state = try makeTemporaryDirectory("lock-purge")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let layout = try LocalEnsembleLayout(name: "purged", members: 1, baseAddress: "127.0.8", stateDirectory: state)
        for create in [false, true] {
            let entered = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                _ = try? layout.withExclusiveLock(timeout: 5) {
                    entered.signal()
                    usleep(300_000)
                    try FileManager.default.removeItem(atPath: layout.ensembleDirectory)
                }
                done.signal()
            }
            entered.wait()
            let result = try LocalEnsembleLayout.withExclusiveLock(
                name: "purged", stateDirectory: state, createIfMissing: create, timeout: 10
            ) { () -> Bool in
                // Without the re-check this runs on the deleted directory.
                FileManager.default.fileExists(atPath: layout.ensembleDirectory)
            }
            done.wait()
            #expect(result == (create ? true : nil))
        }
    }

    /// A Ctrl-C between spawning a member and writing its pid file is held back until the
    /// pid file is written, then delivered.
    @Test func terminationSignalsAreDeferredUntilTheBodyEnds() {
        signal(SIGHUP) { _ in receivedHangUp.store(true, ordering: .relaxed) }
        // The test runner's threads may block signals; raise() delivers to this thread.
        var hangUp = sigset_t(), previousMask = sigset_t()
        sigemptyset(&hangUp)
        sigaddset(&hangUp, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &hangUp, &previousMask)
        defer {
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
            signal(SIGHUP, SIG_DFL)
        }
        receivedHangUp.store(false, ordering: .relaxed)
        let seenInside = ProcessControl.withTerminationSignalsDeferred { () -> Bool in
            raise(SIGHUP)
            return receivedHangUp.load(ordering: .relaxed)
        }
        let seenAfter = receivedHangUp.load(ordering: .relaxed)
        #expect(!seenInside)
        #expect(seenAfter)
    }
}

private let receivedHangUp = Atomic<Bool>(false)
