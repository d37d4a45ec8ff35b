import Foundation
import NetCore
import ZKAdmin
import ZKConfig

/// Real ZooKeeper members on one loopback block (127.0.B.1 ... 127.0.B.N) for these tests,
/// with state under a private temporary directory. Stopped (and its directory removed) by
/// `stop()`, which every test calls in a defer.
final class TestEnsemble: @unchecked Sendable {
    let block: String
    let size: Int
    let root: URL
    let jvmFlags: [String]
    private let lock = NSLock()
    private var processes: [Int: Process] = [:]

    static let zookeeperJar = "/usr/share/java/zookeeper.jar"

    var members: [String] { (1...size).map { "\(block).\($0):2181" } }
    func member(_ id: Int) -> String { "\(block).\(id):2181" }

    init(block: String, size: Int = 3, jvmFlags: [String] = []) throws {
        self.block = block
        self.size = size
        self.jvmFlags = jvmFlags
        root = FileManager.default.temporaryDirectory.appendingPathComponent("zkclient-ensemble-\(block)-\(getpid())")
        try? FileManager.default.removeItem(at: root)
        for id in 1...size {
            let dir = memberDir(id)
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("log"), withIntermediateDirectories: true)
            try ZooCfg.myid(ordinal: id - 1).write(to: dir.appendingPathComponent("data/myid"), atomically: true, encoding: .utf8)
            var settings = ZooKeeperSettings()
            settings.dataDir = dir.appendingPathComponent("data").path
            settings.dataLogDir = dir.appendingPathComponent("data").path
            settings.quorumListenOnAllIPs = false
            settings.purgeInterval = 0
            let config = ZooCfg.render(settings: settings, members: serverList())
            try config.write(to: dir.appendingPathComponent("zoo.cfg"), atomically: true, encoding: .utf8)
        }
    }

    func serverList() -> [ZooKeeperMember] {
        (1...size).map { ZooKeeperMember(id: $0, host: "\(block).\($0)", clientAddress: "\(block).\($0)") }
    }

    func memberDir(_ id: Int) -> URL { root.appendingPathComponent("member-\(id)") }

    /// Starts every member and waits until all serve as leader or follower.
    static func start(block: String, size: Int = 3, jvmFlags: [String] = []) async throws -> TestEnsemble {
        let ensemble = try TestEnsemble(block: block, size: size, jvmFlags: jvmFlags)
        do {
            for id in 1...size { try ensemble.start(id) }
            try await ensemble.waitServing(Array(1...size), timeout: 90)
        } catch {
            ensemble.stop()
            throw error
        }
        return ensemble
    }

    func start(_ id: Int) throws {
        let dir = memberDir(id)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/java")
        // Small heap and C1 only: several JVMs share two cores during the tests.
        process.arguments = ["-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                             "-Dzookeeper.log.dir=\(dir.appendingPathComponent("log").path)"] + jvmFlags + [
            "-cp", "\(Self.zookeeperJar):/etc/zookeeper/conf",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", dir.appendingPathComponent("zoo.cfg").path,
        ]
        let log = dir.appendingPathComponent("log/stdout.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        lock.withLock { processes[id] = process }
    }

    /// Stops one member (SIGTERM, then SIGKILL after 10 s) and waits for it to exit.
    func stop(_ id: Int) {
        guard let process = lock.withLock({ processes.removeValue(forKey: id) }) else { return }
        if process.isRunning { process.terminate() }
        let deadline = Deadline.after(seconds: 10)
        while process.isRunning && !deadline.hasPassed { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    func stop() {
        for id in 1...size { stop(id) }
        try? FileManager.default.removeItem(at: root)
    }

    func mode(_ id: Int) -> ServerMode? {
        guard let text = try? FourLetterWord.send("srvr", host: "\(block).\(id)", port: 2181, deadline: .after(seconds: 2)) else { return nil }
        return (try? ServerStatus.parse(srvr: text))?.mode
    }

    func leader() -> Int? { (1...size).first { mode($0) == .leader } }

    func waitServing(_ ids: [Int], timeout: Double) async throws {
        let deadline = Deadline.after(seconds: timeout)
        while !deadline.hasPassed {
            if ids.allSatisfy({ [.leader, .follower].contains(mode($0)) }) { return }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        throw NetError.timeout("waiting for members \(ids) of \(block) to serve; logs in \(root.path)")
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Deadline.after(seconds: timeout)
    while !deadline.hasPassed {
        if try await condition() { return true }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
    return try await condition()
}
