import Foundation
import LocalEnsemble
import NetCore
import Synchronization
import ZKAdmin
import ZKConfig
#if canImport(Glibc)
import Glibc
#endif

/// A real ZooKeeper ensemble for one test, on its own loopback block 127.X.Y.1...N so tests
/// running in parallel (in one process or several) never share an address.
///
/// Prefer `withZooKeeperEnsemble`; when using `start` directly, call `stop()` in a `defer`.
public final class ZooKeeperTestEnsemble: Sendable {
    public let ensemble: LocalEnsemble
    /// The temporary directory holding every member's files; deleted by `stop()`.
    public let stateDirectory: String

    public var layout: LocalEnsembleLayout { ensemble.layout }
    public var members: [LocalMember] { ensemble.members }
    /// Member addresses, member id = index + 1.
    public var addresses: [String] { layout.addresses }
    public var clientPort: Int { layout.clientPort }
    /// "127.X.Y.1:2181,127.X.Y.2:2181,..."
    public var connectString: String { layout.connectString }
    /// "127.X.Y.N:2181" per member, member id = index + 1.
    public var clientEndpoints: [String] { members.map(\.clientEndpoint) }

    init(ensemble: LocalEnsemble, stateDirectory: String) {
        self.ensemble = ensemble
        self.stateDirectory = stateDirectory
    }

    /// Allocates an address block and a temp state dir, starts every member and waits for a
    /// quorum (one leader, the rest followers). On any failure everything started is stopped.
    /// `extraJVMOptions` follow LocalEnsemble's defaults on every member's command line
    /// (e.g. a `-D` system property a test needs).
    public static func start(
        members: Int = 3, settings: ZooKeeperSettings = ZooKeeperSettings(), extraJVMOptions: [String] = [],
        quorumTimeout: Double = 60, progress: @Sendable (String) -> Void = { _ in }
    ) async throws -> ZooKeeperTestEnsemble {
        let installation = try ZooKeeperInstallation.locate()
        var attempt = 0
        while true {
            attempt += 1
            let block = TestAddressBlocks.next()
            let directory = try TestAddressBlocks.makeStateDirectory()
            let layout = try LocalEnsembleLayout(
                name: "test", members: members, baseAddress: block, settings: settings, stateDirectory: directory)
            var ensemble = LocalEnsemble(layout: layout, installation: installation)
            ensemble.jvmOptions += extraJVMOptions
            let testEnsemble = ZooKeeperTestEnsemble(ensemble: ensemble, stateDirectory: directory)
            do {
                try testEnsemble.ensemble.startAll()
                try await testEnsemble.ensemble.waitForQuorum(deadline: .after(seconds: quorumTimeout), progress: progress)
                return testEnsemble
            } catch LocalEnsembleError.addressInUse(let member, let address, let port, let reason) where attempt < 5 {
                // Another process's test ensemble got the same block: take the next one.
                testEnsemble.stop()
                progress("block \(block) busy (member \(member) \(address):\(port): \(reason)); retrying on another block")
            } catch {
                testEnsemble.stop()
                throw error
            }
        }
    }

    /// Stops every member (SIGTERM, then SIGKILL after the grace period) and deletes the
    /// state directory. Idempotent; never throws, so it is safe in `defer`.
    public func stop() {
        do {
            try ensemble.stopAll()
        } catch {
            // Last resort: nothing of ours may outlive the test.
            LocalEnsemble.killServers(under: stateDirectory)
        }
        if ProcessInfo.processInfo.environment["ZOOKEEPER_TEST_KEEP_STATE"] == nil {
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
    }

    public func member(_ id: Int) throws -> LocalMember {
        guard let member = layout.member(id: id) else {
            throw LocalEnsembleError.invalidLayout("no member \(id); the ensemble has members 1...\(layout.memberCount)")
        }
        return member
    }

    /// Stops one member (e.g. the leader) and waits until its process is gone.
    public func stopMember(_ id: Int) throws {
        try ensemble.stop(try member(id))
    }

    /// Starts one member again (its data is kept). Does not wait; use `waitForQuorum`.
    public func startMember(_ id: Int) throws {
        try ensemble.start(try member(id))
    }

    /// Each member's process state and `srvr` answer.
    public func status() -> [LocalMemberStatus] { ensemble.status() }

    /// The current leader's id, asking every running member; nil when there is none.
    public func leaderID() -> Int? {
        let leaders = status().filter { $0.mode == .leader }
        return leaders.count == 1 ? leaders[0].member.id : nil
    }

    /// Waits until the running members form a quorum again; returns the leader's id.
    @discardableResult
    public func waitForQuorum(timeout: Double = 60, progress: (String) -> Void = { _ in }) async throws -> Int {
        let statuses = try await ensemble.waitForQuorum(deadline: .after(seconds: timeout), progress: progress)
        guard case .healthy(let leader) = LocalEnsemble.verdict(statuses) else {
            throw LocalEnsembleError.invalidLayout("quorum lost right after it formed")
        }
        return leader
    }
}

/// Runs `body` with a started ensemble and stops it afterwards, also when `body` throws.
public func withZooKeeperEnsemble<T>(
    members: Int = 3, settings: ZooKeeperSettings = ZooKeeperSettings(), extraJVMOptions: [String] = [],
    quorumTimeout: Double = 60, _ body: (ZooKeeperTestEnsemble) async throws -> T
) async throws -> T {
    let ensemble = try await ZooKeeperTestEnsemble.start(
        members: members, settings: settings, extraJVMOptions: extraJVMOptions, quorumTimeout: quorumTimeout)
    defer { ensemble.stop() }
    return try await body(ensemble)
}

/// Address blocks 127.X.Y (X in 16...250, Y in 0...255) for test ensembles, also those a
/// test starts through `zkctl local up --base-address`. 127.0.* is left to local mode and to
/// tests that need fixed addresses. The start index comes from the pid so parallel test
/// processes (several checkouts' suites on one machine) start far apart; within a process a
/// counter hands out blocks.
public enum TestAddressBlocks {
    static let firstSecondOctet = 16
    static let blockCount = (250 - 16 + 1) * 256
    private static let counter = Mutex<Int>(0)
    private static let offset = Int(getpid()) &* 7919 % blockCount

    /// "127.X.Y": members get .1, .2, ...
    public static func next() -> String {
        let n = counter.withLock { value -> Int in
            defer { value += 1 }
            return value
        }
        let index = (offset + n) % blockCount
        return "127.\(firstSecondOctet + index / 256).\(index % 256)"
    }

    /// Root for all test ensembles' state; each process uses `<root>/<pid>-<n>`.
    static var root: String { (NSTemporaryDirectory() as NSString).appendingPathComponent("zookeeper-test-ensembles") }

    private static let cleanedUp = Mutex<Bool>(false)

    static func makeStateDirectory() throws -> String {
        cleanUpAfterDeadProcesses()
        let n = counter.withLock { $0 }
        let directory = (root as NSString).appendingPathComponent("\(getpid())-\(n)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Once per process: members left behind by test processes that crashed are killed and
    /// their directories removed, so they do not hold addresses and memory forever.
    static func cleanUpAfterDeadProcesses() {
        let first = cleanedUp.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first, let entries = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        for entry in entries {
            guard let pidText = entry.split(separator: "-").first, let pid = pid_t(pidText), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            let directory = (root as NSString).appendingPathComponent(entry)
            LocalEnsemble.killServers(under: directory)
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
