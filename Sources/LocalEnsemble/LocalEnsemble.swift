import Foundation
import NetCore
import ZKAdmin
import ZKConfig
#if canImport(Glibc)
import Glibc
#endif

/// Whether a member's server process is up, from its pid file and /proc.
public enum MemberProcessState: Sendable, Equatable, CustomStringConvertible {
    case running(pid: Int32)
    /// No pid file: never started, or stopped on purpose.
    case stopped
    /// A pid file whose process is gone (or is now some other program): it died without
    /// being stopped.
    case crashed(pid: Int32)

    public var isRunning: Bool { if case .running = self { return true } else { return false } }

    public var description: String {
        switch self {
        case .running(let pid): return "running (pid \(pid))"
        case .stopped: return "stopped"
        case .crashed(let pid): return "crashed (pid \(pid) is gone)"
        }
    }
}

public struct LocalMemberStatus: Sendable, Equatable {
    public var member: LocalMember
    public var process: MemberProcessState
    /// The `srvr` answer of a running member, or why there is none; nil when not running.
    public var server: Result<ServerStatus, FourLetterWordError>?

    public init(member: LocalMember, process: MemberProcessState, server: Result<ServerStatus, FourLetterWordError>?) {
        self.member = member
        self.process = process
        self.server = server
    }

    public var mode: ServerMode? { if case .success(let status)? = server { return status.mode } else { return nil } }

    /// A word or two for progress lines: "leader", "electing", "not listening", "crashed".
    public var shortSummary: String {
        switch (process, server) {
        case (.running, .success(let status)?): return status.mode.rawValue
        case (.running, .failure(.notServing)?): return "electing"
        case (.running, .failure(.network(.connect))?): return "not listening"
        case (.running, .failure(.network(.timeout))?): return "not answering"
        case (.running, .failure(let error)?): return error.description
        case (.stopped, _): return "stopped"
        case (.crashed, _): return "crashed"
        case (.running, nil): return "running"
        }
    }

    /// "leader", "not serving ...", "crashed ..." — one phrase for tables and errors.
    public var summary: String {
        switch (process, server) {
        case (.running, .success(let status)?): return status.mode.rawValue
        case (.running, .failure(let error)?): return error.description
        default: return process.description
        }
    }
}

/// A real ZooKeeper ensemble on this machine: one java process per member, its files under
/// the layout's state directory. A value: every call reads the truth from disk and /proc, so
/// separate zkctl invocations (and a test and its helper) agree.
public struct LocalEnsemble: Sendable {
    public let layout: LocalEnsembleLayout
    public let installation: ZooKeeperInstallation
    /// Extra JVM options for every member (heap size by default: a dozen members may share
    /// a laptop, and the JVM's default takes a quarter of RAM each).
    public var jvmOptions: [String]
    /// How long stop() waits after SIGTERM before SIGKILL.
    public var stopGracePeriod: Double = 10
    /// Server log level, one of `ZooKeeperLogging.levels`: each member gets its own
    /// log4j.properties and logback.xml at this level (the installation's files fix INFO).
    public var logLevel = "INFO"

    public init(layout: LocalEnsembleLayout, installation: ZooKeeperInstallation, jvmOptions: [String] = ["-Xms32m", "-Xmx256m", "-XX:+UseSerialGC"]) {
        self.layout = layout
        self.installation = installation
        self.jvmOptions = jvmOptions
    }

    public var members: [LocalMember] { layout.members }

    // MARK: Files

    /// Writes zoo.cfg, data/myid and the logging configuration for every member and creates
    /// data/ and datalog/.
    /// An existing zoo.cfg is kept unless `overwrite`: ZooKeeper rewrites it on first start
    /// (moving the member list to zoo.cfg.dynamic.*) and owns it from then on.
    public func prepare(overwrite: Bool = false) throws(LocalEnsembleError) {
        for member in members { try prepare(member, overwrite: overwrite) }
    }

    public func prepare(_ member: LocalMember, overwrite: Bool = false) throws(LocalEnsembleError) {
        try ProcessControl.createDirectory(member.dataDir)
        try ProcessControl.createDirectory(member.dataLogDir)
        if overwrite || !FileManager.default.fileExists(atPath: member.configPath) {
            try ProcessControl.writeAtomically(layout.zooCfg(for: member), to: member.configPath)
        }
        try ProcessControl.writeAtomically(ZooCfg.myid(ordinal: member.ordinal), to: member.myidPath)
        // Ours, not ZooKeeper's: rewritten on every start so a changed level applies.
        try ProcessControl.writeAtomically(ZooKeeperLogging.log4j(level: logLevel), to: member.log4jConfigPath)
        try ProcessControl.writeAtomically(ZooKeeperLogging.logback(level: logLevel), to: member.logbackConfigPath)
    }

    // MARK: Processes

    /// The pid file's pid, nil when there is none. A malformed file counts as none.
    func recordedPID(_ member: LocalMember) -> pid_t? {
        guard let data = FileManager.default.contents(atPath: member.pidPath) else { return nil }
        return pid_t(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Running when the pid file names this member's server, or, failing that, when /proc
    /// shows a server running the member's zoo.cfg (a launcher was killed before it could
    /// record the pid); crashed when a pid file remains but no such process; else stopped.
    public func processState(_ member: LocalMember) -> MemberProcessState {
        processStates([member])[0]
    }

    /// `processState` for several members with at most one scan of /proc.
    public func processStates(_ members: [LocalMember]) -> [MemberProcessState] {
        var servers: [(pid: pid_t, configPath: String)]?
        return members.map { member in
            let recorded = recordedPID(member)
            if let pid = recorded, ProcessControl.isServer(pid: pid, configPath: member.configPath) { return .running(pid: pid) }
            if servers == nil { servers = ProcessControl.zooKeeperServers() }
            if let untracked = servers!.first(where: { $0.configPath == member.configPath }) { return .running(pid: untracked.pid) }
            guard FileManager.default.fileExists(atPath: member.pidPath) else { return .stopped }
            if let pid = recorded { ProcessControl.reapIfChild(pid) }
            return .crashed(pid: recorded ?? 0)
        }
    }

    /// Writes the pid file of every member that runs without one naming it (found through
    /// /proc): what a launcher killed between spawning and recording leaves behind. Returns
    /// the members and pids it recorded. Call it holding `withExclusiveLock`.
    @discardableResult
    public func recordUntrackedMembers() throws(LocalEnsembleError) -> [(member: Int, pid: Int32)] {
        var recorded: [(member: Int, pid: Int32)] = []
        for (member, state) in zip(members, processStates(members)) {
            if case .running(let pid) = state, recordedPID(member) != pid {
                try ProcessControl.writeAtomically("\(pid)\n", to: member.pidPath)
                recorded.append((member.id, pid))
            }
        }
        return recorded
    }

    /// The full command line a member runs with.
    public func commandLine(for member: LocalMember) -> [String] {
        // Both logging systems are named: the Debian package and releases up to 3.7 use log4j,
        // 3.8 releases logback; each ignores the other's property.
        let logging = ["-Dlog4j.configuration=file:\(member.log4jConfigPath)", "-Dlogback.configurationFile=\(member.logbackConfigPath)"]
        return [installation.java, "-Dzookeeper.log.dir=\(member.directory)"] + installation.jvmOptions + logging + jvmOptions
            + ["-cp", installation.classpath.joined(separator: ":"), ZooKeeperInstallation.mainClass, member.configPath]
    }

    /// The line `start` appends to a member's log before each start, so the reasons for an
    /// exit are read from this run's output only.
    static let startMarker = "--- zkctl: starting member"

    /// Starts a member unless it already runs; returns its pid. Writes its files first when
    /// missing. Does not wait for it to serve: see `waitForQuorum`.
    @discardableResult
    public func start(_ member: LocalMember) throws(LocalEnsembleError) -> Int32 {
        switch processState(member) {
        case .running(let pid):
            if recordedPID(member) != pid { try ProcessControl.writeAtomically("\(pid)\n", to: member.pidPath) }
            return pid
        case .crashed: try removePIDFile(member)
        case .stopped: break
        }
        try prepare(member)
        for port in [member.clientPort, member.quorumPort, member.electionPort] {
            if let reason = ProcessControl.checkBindable(address: member.address, port: port) {
                throw .addressInUse(member: member.id, address: member.address, port: port, reason: reason)
            }
        }
        try ProcessControl.append("\(Self.startMarker) \(member.id) at \(Date()) ---\n", to: member.logPath)
        // A Ctrl-C between spawning and writing the pid file would leave a member nothing records.
        return try ProcessControl.withTerminationSignalsDeferred { () throws(LocalEnsembleError) -> pid_t in
            let pid: pid_t
            do throws(LocalEnsembleError) {
                pid = try ProcessControl.spawnDetached(arguments: commandLine(for: member), directory: member.directory, logPath: member.logPath)
            } catch {
                throw .spawnFailed(member: member.id, reason: error.description)
            }
            do throws(LocalEnsembleError) {
                try ProcessControl.writeAtomically("\(pid)\n", to: member.pidPath)
            } catch {
                // Without a pid file nothing could ever stop it: do not leave it running.
                _ = ProcessControl.signal(pid, SIGKILL)
                ProcessControl.reapIfChild(pid)
                throw error
            }
            return pid
        }
    }

    /// Why `startMissing` gave up: the error, and what it did about the members it had started.
    public struct StartFailure: Error, Sendable, CustomStringConvertible {
        public var error: LocalEnsembleError
        /// Members this call had started and then stopped again.
        public var stopped: [Int]
        /// Members left running: those that already ran before the call, and any that would not stop.
        public var running: [Int]
        /// Why stopping the started members failed, if it did.
        public var stopError: LocalEnsembleError?
        public var description: String { error.description + (stopError.map { "; then stopping the members it had started failed: \($0)" } ?? "") }
    }

    /// Starts every member that is not running; returns the ids it started. When one cannot
    /// start, stops again the members this call started (without the rest they cannot form
    /// a quorum, and they would hold their ports) and throws which are stopped and which run.
    @discardableResult
    public func startMissing() throws(StartFailure) -> [Int] {
        var started: [LocalMember] = []
        do {
            for (member, state) in zip(members, processStates(members)) where !state.isRunning {
                try start(member)
                started.append(member)
            }
            return started.map(\.id)
        } catch {
            var stopped: [Int] = []
            var stopError: LocalEnsembleError?
            do { stopped = try stop(started) } catch let failure { stopError = failure }
            let running = zip(members, processStates(members)).filter { $0.1.isRunning }.map(\.0.id)
            throw StartFailure(error: error, stopped: stopped.filter { !running.contains($0) }, running: running, stopError: stopError)
        }
    }

    /// `startMissing` for callers that only need the error.
    @discardableResult
    public func startAll() throws(LocalEnsembleError) -> [Int] {
        do { return try startMissing() } catch { throw error.error }
    }

    /// SIGTERM, wait up to `stopGracePeriod`, then SIGKILL. Only signals the pid when
    /// /proc shows it is this member's server; a stale pid file is just removed.
    /// Returns true when it stopped a running process.
    @discardableResult
    public func stop(_ member: LocalMember) throws(LocalEnsembleError) -> Bool {
        try stop([member]).contains(member.id)
    }

    /// Stops every member (TERM to all first, then one shared wait). Returns the ids that were running.
    @discardableResult
    public func stopAll() throws(LocalEnsembleError) -> [Int] {
        try stop(members)
    }

    /// Signals every process that runs a target's zoo.cfg, whether its pid file names it or
    /// not (an interrupted launcher, or a second JVM started by mistake).
    func stop(_ targets: [LocalMember]) throws(LocalEnsembleError) -> [Int] {
        let servers = ProcessControl.zooKeeperServers()
        var running: [(member: LocalMember, pid: pid_t)] = []
        for member in targets {
            let pids = servers.filter { $0.configPath == member.configPath }.map(\.pid)
            if pids.isEmpty {
                if let pid = recordedPID(member) { ProcessControl.reapIfChild(pid) }
                try removePIDFile(member)
            }
            for pid in pids {
                _ = ProcessControl.signal(pid, SIGTERM)
                running.append((member, pid))
            }
        }
        var firstError: LocalEnsembleError?
        let graceful = Deadline.after(seconds: stopGracePeriod)
        for (member, pid) in running where !waitUntilGone(pid: pid, member: member, deadline: graceful) {
            _ = ProcessControl.signal(pid, SIGKILL)
            if !waitUntilGone(pid: pid, member: member, deadline: .after(seconds: 5)) {
                firstError = firstError ?? .stopFailed(member: member.id, pid: pid, reason: "still running 5 s after SIGKILL")
                continue
            }
        }
        var stopped: [LocalMember] = []
        for (member, _) in running where !stopped.contains(member) { stopped.append(member) }
        for member in stopped where !running.contains(where: { $0.member == member && ProcessControl.isServer(pid: $0.pid, configPath: member.configPath) }) {
            try removePIDFile(member)
        }
        if let firstError { throw firstError }
        return stopped.map(\.id)
    }

    private func waitUntilGone(pid: pid_t, member: LocalMember, deadline: Deadline) -> Bool {
        while true {
            ProcessControl.reapIfChild(pid)
            if !ProcessControl.isServer(pid: pid, configPath: member.configPath) { return true }
            if deadline.hasPassed { return false }
            usleep(20_000)
        }
    }

    private func removePIDFile(_ member: LocalMember) throws(LocalEnsembleError) {
        if unlink(member.pidPath) != 0 && errno != ENOENT {
            throw .io(path: member.pidPath, reason: String(cString: strerror(errno)))
        }
    }

    // MARK: Status

    public func status(_ member: LocalMember, timeout: Double = 5) -> LocalMemberStatus {
        status(member, process: processState(member), timeout: timeout)
    }

    private func status(_ member: LocalMember, process: MemberProcessState, timeout: Double) -> LocalMemberStatus {
        var server: Result<ServerStatus, FourLetterWordError>?
        if process.isRunning {
            do {
                server = .success(try ServerStatus.fetch(host: member.address, port: member.clientPort, deadline: .after(seconds: timeout)))
            } catch {
                server = .failure(error)
            }
        }
        return LocalMemberStatus(member: member, process: process, server: server)
    }

    public func status(timeout: Double = 5) -> [LocalMemberStatus] {
        zip(members, processStates(members)).map { status($0, process: $1, timeout: timeout) }
    }

    /// What a set of statuses says about the quorum.
    public enum QuorumVerdict: Sendable, Equatable {
        /// Exactly one leader, every other started member a follower or observer.
        case healthy(leader: Int)
        case unhealthy(String)
        /// Nothing is started at all: waiting cannot help.
        case nothingRunning
    }

    /// Members without a pid file were stopped on purpose and do not count; a crashed
    /// member (pid file, no process) does, so it is never hidden.
    public static func verdict(_ statuses: [LocalMemberStatus]) -> QuorumVerdict {
        let started = statuses.filter { $0.process != .stopped }
        if started.isEmpty { return .nothingRunning }
        let leaders = started.filter { $0.mode == .leader }.map(\.member.id)
        let unhealthy = started.filter { status in
            guard let mode = status.mode else { return true }
            return mode != .leader && mode != .follower && mode != .observer
        }
        if leaders.count == 1 && unhealthy.isEmpty { return .healthy(leader: leaders[0]) }
        var problems: [String] = []
        if leaders.isEmpty { problems.append("no leader") }
        if leaders.count > 1 { problems.append("\(leaders.count) leaders (members \(leaders.map(String.init).joined(separator: ", ")))") }
        for status in unhealthy { problems.append("member \(status.member.id) \(status.summary)") }
        return .unhealthy(problems.joined(separator: "; "))
    }

    /// One short line: "1 follower, 2 leader, 3 electing, 4 not listening".
    public static func progressLine(_ statuses: [LocalMemberStatus]) -> String {
        statuses.map { "\($0.member.id) \($0.shortSummary)" }.joined(separator: ", ")
    }

    /// Polls until exactly one leader and every other started member follows (or observes).
    /// Calls `progress` with a short line whenever the picture changes. On timeout the error
    /// carries each member's state and the log tail of every member that was not healthy.
    @discardableResult
    public func waitForQuorum(deadline: Deadline, progress: (String) -> Void = { _ in }) throws(LocalEnsembleError) -> [LocalMemberStatus] {
        var wait = QuorumWait(deadline: deadline)
        while true {
            if let statuses = try poll(&wait, progress: progress) { return statuses }
            usleep(250_000)
        }
    }

    /// Same as the blocking version, but sleeps between polls without holding a thread of
    /// Swift's cooperative pool (tests run many of these in parallel on few cores).
    @discardableResult
    public func waitForQuorum(deadline: Deadline, progress: (String) -> Void = { _ in }) async throws(LocalEnsembleError) -> [LocalMemberStatus] {
        var wait = QuorumWait(deadline: deadline)
        while true {
            if let statuses = try poll(&wait, progress: progress) { return statuses }
            do { try await Task.sleep(nanoseconds: 250_000_000) } catch { throw quorumTimeout(wait.lastStatuses, since: wait.started) }
        }
    }

    /// What one `waitForQuorum` has seen so far.
    private struct QuorumWait {
        let deadline: Deadline
        let started = Deadline.now
        var lastLine = ""
        var lastStatuses: [LocalMemberStatus] = []
    }

    /// One round of `waitForQuorum`: the statuses once the quorum is healthy, nil to poll
    /// again; throws when nothing runs or the deadline has passed.
    private func poll(_ wait: inout QuorumWait, progress: (String) -> Void) throws(LocalEnsembleError) -> [LocalMemberStatus]? {
        let statuses = status(timeout: min(5, max(0.5, Double(wait.deadline.remainingMilliseconds) / 1000)))
        wait.lastStatuses = statuses
        switch Self.verdict(statuses) {
        case .healthy: return statuses
        case .nothingRunning: throw .noMemberRunning(ensemble: layout.name)
        case .unhealthy:
            if let exited = exitedWithoutQuorum(statuses) { throw exited }
            let line = Self.progressLine(statuses)
            if line != wait.lastLine {
                progress(line)
                wait.lastLine = line
            }
            if wait.deadline.hasPassed { throw quorumTimeout(statuses, since: wait.started) }
            return nil
        }
    }

    /// When members have exited (crashed: a pid file, no process) and fewer than a quorum
    /// still run, no wait can help: nothing restarts them. The error says why each exited.
    private func exitedWithoutQuorum(_ statuses: [LocalMemberStatus]) -> LocalEnsembleError? {
        let exited = statuses.filter { if case .crashed = $0.process { return true } else { return false } }
        let running = statuses.filter { $0.process.isRunning }.map(\.member.id)
        let quorum = members.count / 2 + 1
        guard !exited.isEmpty, running.count < quorum else { return nil }
        return .membersExited(
            ensemble: layout.name, running: running, quorum: quorum,
            exited: exited.map { ExitedMember(member: $0.member.id, reason: exitReason($0.member)) })
    }

    /// The first error lines of a member's log since it was last started.
    public func exitReason(_ member: LocalMember) -> String {
        ProcessControl.errorLines(of: member.logPath, after: Self.startMarker)
    }

    private func quorumTimeout(_ statuses: [LocalMemberStatus], since start: Deadline) -> LocalEnsembleError {
        let seconds = Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9
        let summary = statuses.map { "  member \($0.member.id) (\($0.member.clientEndpoint)): \($0.summary)" }.joined(separator: "\n")
        let healthyModes: Set<ServerMode> = [.leader, .follower, .observer]
        let leaderCount = statuses.filter { $0.mode == .leader }.count
        // With two leaders every member's log matters; otherwise only the unhealthy ones'.
        let failing = statuses.filter { status in
            status.process != .stopped && (leaderCount > 1 || status.mode.map { !healthyModes.contains($0) } ?? true)
        }
        let tails = failing.map { status -> String in
            let tail = ProcessControl.tail(of: status.member.logPath, lines: 20)
            return "--- member \(status.member.id): last lines of \(status.member.logPath) ---\n" + (tail.isEmpty ? "(empty)" : tail)
        }.joined(separator: "\n")
        return .quorumTimeout(ensemble: layout.name, seconds: seconds, summary: summary, logTails: tails)
    }

    /// Stops every member, and any other server running a zoo.cfg under `<state>/<name>`,
    /// then deletes that directory. Call it holding `withExclusiveLock`.
    public func purge() throws(LocalEnsembleError) {
        try stopAll()
        // Servers of members no layout lists any more would lose their files under them.
        let strays = Self.killServers(under: layout.ensembleDirectory)
        let deadline = Deadline.after(seconds: 5)
        while let survivor = strays.first(where: { ProcessControl.commandLine(of: $0) != nil }) {
            if deadline.hasPassed {
                throw .io(path: layout.ensembleDirectory, reason: "not deleted: pid \(survivor) still runs a server from it 5 s after SIGKILL")
            }
            strays.forEach(ProcessControl.reapIfChild)
            usleep(20_000)
        }
        // Renamed away first, in one step: a purge killed half-way must not leave a record
        // without members or members' old data that a later `up` would take for its own.
        let trashPrefix = ".\(layout.name).deleted-"
        if rename(layout.ensembleDirectory, layout.stateDirectory + "/" + trashPrefix + "\(getpid())") != 0 && errno != ENOENT {
            throw .io(path: layout.ensembleDirectory, reason: "cannot move aside to delete: \(String(cString: strerror(errno)))")
        }
        guard FileManager.default.fileExists(atPath: layout.stateDirectory) else { return }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: layout.stateDirectory) } catch {
            throw .io(path: layout.stateDirectory, reason: "cannot list: \(error.localizedDescription)")
        }
        // This purge's, and any an earlier, interrupted purge left.
        for entry in entries where entry.hasPrefix(trashPrefix) {
            let trash = layout.stateDirectory + "/" + entry
            do { try FileManager.default.removeItem(atPath: trash) } catch {
                throw .io(path: trash, reason: "cannot delete: \(error.localizedDescription)")
            }
        }
    }
}

extension LocalEnsemble {
    /// Kills (SIGKILL) every ZooKeeper server whose zoo.cfg is somewhere under `directory`,
    /// found through /proc whatever the pid files say. For cleaning up after a launcher that
    /// died without stopping its members (a crashed test process). Returns the pids it killed.
    @discardableResult
    public static func killServers(under directory: String) -> [Int32] {
        let prefix = (directory as NSString).standardizingPath + "/"
        var killed: [Int32] = []
        for server in ProcessControl.zooKeeperServers() where server.configPath.hasPrefix(prefix) {
            _ = ProcessControl.signal(server.pid, SIGKILL)
            ProcessControl.reapIfChild(server.pid)
            killed.append(server.pid)
        }
        return killed
    }
}
