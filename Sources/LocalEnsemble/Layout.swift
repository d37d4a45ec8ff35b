import Foundation
import ZKConfig

public enum LocalEnsembleError: Error, Equatable, Sendable, CustomStringConvertible {

    case installationNotFound(String)
    case invalidLayout(String)
    case io(path: String, reason: String)
    case addressInUse(member: Int, address: String, port: Int, reason: String)
    case spawnFailed(member: Int, reason: String)
    case stopFailed(member: Int, pid: Int32, reason: String)
    case noMemberRunning(ensemble: String)
    /// Another process holds the ensemble's lock (see `withExclusiveLock`).
    case busy(path: String, holder: String, seconds: Double)
    /// Members exited while waiting for a quorum and too few are left to form one:
    case membersExited(ensemble: String, running: [Int], quorum: Int, exited: [ExitedMember])
    /// `summary` is one line per member; `logTails` the end of the logs of members that were
    /// not healthy, so the reason (bind failure, bad config) is in the error itself.
    case quorumTimeout(ensemble: String, seconds: Double, summary: String, logTails: String)

    public var description: String {
        switch self {
        case .installationNotFound(let text): return text
        case .invalidLayout(let text): return "invalid local ensemble layout: \(text)"
        case .io(let path, let reason): return "\(path): \(reason)"
        case .addressInUse(let member, let address, let port, let reason):
            return "member \(member) cannot use \(address):\(port): \(reason) (another ZooKeeper or program is using it; stop it or pick another address block)"
        case .spawnFailed(let member, let reason): return "cannot start member \(member): \(reason)"
        case .stopFailed(let member, let pid, let reason): return "cannot stop member \(member) (pid \(pid)): \(reason)"
        case .noMemberRunning(let ensemble): return "no member of '\(ensemble)' is running"
        case .busy(let path, let holder, let seconds):
            return "\(path) is locked by \(holder), which is still working on this ensemble after \(String(format: "%.0f", seconds)) s; try again when it is done"
        case .membersExited(let ensemble, let running, let quorum, let exited):
            let alive = running.isEmpty
                ? "no member of '\(ensemble)' is running any more"
                : "'\(ensemble)' cannot form a quorum: only member\(running.count == 1 ? "" : "s") \(running.map(String.init).joined(separator: ", ")) still run\(running.count == 1 ? "s" : "") and a quorum needs \(quorum)"
            let reasons = exited.map { "member \($0.member) exited:\n" + $0.reason.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") }
            return alive + "\n" + reasons.map { "  " + $0 }.joined(separator: "\n")
        case .quorumTimeout(let ensemble, let seconds, let summary, let logTails):
            var text = "'\(ensemble)' has no healthy quorum after \(String(format: "%.0f", seconds)) s:\n\(summary)"
            if !logTails.isEmpty { text += "\n\(logTails)" }
            return text
        }
    }
}

/// A member whose process ended without being stopped, and why, from its log.
public struct ExitedMember: Sendable, Equatable {
    public var member: Int
    /// The first error lines its log shows since it was last started.
    public var reason: String

    public init(member: Int, reason: String) {
        self.member = member
        self.reason = reason
    }
}

/// One member's addresses and files. Paths are absolute.
public struct LocalMember: Sendable, Equatable {
    /// Server id (`myid`), 1-based.
    public var id: Int
    public var ordinal: Int { id - 1 }
    public var address: String
    public var clientPort: Int
    public var quorumPort: Int
    public var electionPort: Int
    /// `<state>/<name>/member-<id>`.
    public var directory: String
    public var configPath: String { directory + "/zoo.cfg" }
    public var dataDir: String { directory + "/data" }
    public var dataLogDir: String { directory + "/datalog" }
    public var myidPath: String { dataDir + "/myid" }
    public var logPath: String { directory + "/zookeeper.log" }
    public var pidPath: String { directory + "/zookeeper.pid" }
    public var log4jConfigPath: String { directory + "/log4j.properties" }
    public var logbackConfigPath: String { directory + "/logback.xml" }
    /// "address:clientPort", the connect string entry.
    public var clientEndpoint: String { "\(address):\(clientPort)" }

    var zooKeeperMember: ZooKeeperMember {
        ZooKeeperMember(
            id: id, host: address, quorumPort: quorumPort, electionPort: electionPort,
            clientPort: clientPort, clientAddress: address)
    }
}

/// Where and how the members of one local ensemble live.
public struct LocalEnsembleLayout: Sendable, Equatable {
    public var name: String
    /// One address per member, member id = index + 1.
    public var addresses: [String]
    public var clientPort: Int
    public var quorumPort: Int
    public var electionPort: Int
    /// zoo.cfg settings; dataDir, dataLogDir, clientPort and quorumListenOnAllIPs are
    /// replaced per member.
    public var settings: ZooKeeperSettings
    /// Absolute; members live in `<stateDirectory>/<name>/member-<id>`.
    public var stateDirectory: String

    public var memberCount: Int { addresses.count }

    /// Members on `<baseAddress>.1` ... `<baseAddress>.<members>`, e.g. base "127.0.7".
    public init(
        name: String, members: Int, baseAddress: String = "127.0.0", clientPort: Int = 2181,
        quorumPort: Int = 2888, electionPort: Int = 3888, settings: ZooKeeperSettings = ZooKeeperSettings(),
        stateDirectory: String
    ) throws(LocalEnsembleError) {
        let octets = baseAddress.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 3, octets.allSatisfy({ UInt8($0) != nil }) else {
            throw .invalidLayout("base address '\(baseAddress)' must be three octets like 127.0.7")
        }
        guard (1...254).contains(members) else { throw .invalidLayout("member count \(members) must be 1...254") }
        try self.init(
            name: name, addresses: (1...members).map { "\(baseAddress).\($0)" }, clientPort: clientPort,
            quorumPort: quorumPort, electionPort: electionPort, settings: settings, stateDirectory: stateDirectory)
    }

    public init(
        name: String, addresses: [String], clientPort: Int = 2181, quorumPort: Int = 2888,
        electionPort: Int = 3888, settings: ZooKeeperSettings = ZooKeeperSettings(), stateDirectory: String
    ) throws(LocalEnsembleError) {
        try Self.checkName(name)
        guard !addresses.isEmpty else { throw .invalidLayout("at least one member address is needed") }
        guard Set(addresses).count == addresses.count else {
            throw .invalidLayout("member addresses must differ (members share one machine): \(addresses.joined(separator: ", "))")
        }
        for port in [clientPort, quorumPort, electionPort] where !(1...65535).contains(port) {
            throw .invalidLayout("port \(port) is not in 1...65535")
        }
        guard Set([clientPort, quorumPort, electionPort]).count == 3 else {
            throw .invalidLayout("client, quorum and election ports must differ")
        }
        guard !stateDirectory.isEmpty else { throw .invalidLayout("state directory is empty") }
        self.name = name
        self.addresses = addresses
        self.clientPort = clientPort
        self.quorumPort = quorumPort
        self.electionPort = electionPort
        self.settings = settings
        // Absolute, so pid checks against /proc/<pid>/cmdline compare like with like.
        let absolute = stateDirectory.hasPrefix("/")
            ? stateDirectory
            : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(stateDirectory)
        self.stateDirectory = (absolute as NSString).standardizingPath
    }

    /// `<stateDirectory>/<name>`.
    public var ensembleDirectory: String { stateDirectory + "/" + name }

    /// A name is one path component: it names the directory `<state>/<name>`.
    static func checkName(_ name: String) throws(LocalEnsembleError) {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw .invalidLayout("name '\(name)' must be non-empty and contain no '/'")
        }
    }

    public var members: [LocalMember] {
        addresses.enumerated().map { index, address in
            LocalMember(
                id: index + 1, address: address, clientPort: clientPort, quorumPort: quorumPort,
                electionPort: electionPort, directory: ensembleDirectory + "/member-\(index + 1)")
        }
    }

    public func member(id: Int) -> LocalMember? { members.first { $0.id == id } }

    /// "a:port,b:port,..." for clients.
    public var connectString: String { members.map(\.clientEndpoint).joined(separator: ",") }

    /// The zoo.cfg text of one member.
    public func zooCfg(for member: LocalMember) -> String {
        var settings = self.settings
        settings.dataDir = member.dataDir
        settings.dataLogDir = member.dataLogDir
        settings.clientPort = member.clientPort
        settings.quorumListenOnAllIPs = false
        return ZooCfg.render(settings: settings, members: members.map(\.zooKeeperMember))
    }
}

/// What `zkctl local up` remembers about an ensemble so `status` and `down` need only its
/// name, and so a later `up` notices changed settings: `<state>/<name>/ensemble.json`.
private struct LayoutRecord: Codable {
    var name: String
    var addresses: [String]
    var clientPort: Int
    var quorumPort: Int
    var electionPort: Int
    /// `sharedSettings` when the members' zoo.cfg files were written; nil in records written
    /// before settings were recorded.
    var settings: [String: String]?
}

/// One zoo.cfg key whose value differs between the recorded ensemble and the resource.
public struct SettingChange: Sendable, Equatable, CustomStringConvertible {
    public var key: String
    /// nil: the key was not set.
    public var recorded: String?
    public var requested: String?

    public var description: String {
        "\(key): \(recorded ?? "(unset)") -> \(requested ?? "(unset)")"
    }
}

extension LocalEnsembleLayout {
    public static func recordPath(name: String, stateDirectory: String) -> String {
        (stateDirectory as NSString).appendingPathComponent(name + "/ensemble.json")
    }

    public var recordPath: String { ensembleDirectory + "/ensemble.json" }

    /// The zoo.cfg keys and values every member shares: the rendered file without the member
    /// list and the per-member directories, which follow from the layout itself.
    public var sharedSettings: [String: String] {
        guard let member = members.first, let entries = try? ZooCfg.parse(zooCfg(for: member)) else { return [:] }
        var result: [String: String] = [:]
        for (key, value) in entries where !key.hasPrefix("server.") && key != "dataDir" && key != "dataLogDir" {
            result[key] = value
        }
        return result
    }

    /// Writes `<state>/<name>/ensemble.json` atomically, with this layout's `sharedSettings`.
    public func saveRecord() throws(LocalEnsembleError) {
        let record = LayoutRecord(
            name: name, addresses: addresses, clientPort: clientPort, quorumPort: quorumPort, electionPort: electionPort,
            settings: sharedSettings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(record) } catch { throw .io(path: recordPath, reason: "cannot encode: \(error)") }
        try ProcessControl.createDirectory(ensembleDirectory)
        try ProcessControl.writeAtomically(String(decoding: data, as: UTF8.self) + "\n", to: recordPath)
    }

    private static func readRecord(path: String) throws(LocalEnsembleError) -> LayoutRecord? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(LayoutRecord.self, from: data) } catch {
            throw .io(path: path, reason: "not a local ensemble record: \(error)")
        }
    }

    /// The layout `saveRecord` wrote, with default settings; nil when there is no record.
    public static func loadRecord(name: String, stateDirectory: String) throws(LocalEnsembleError) -> LocalEnsembleLayout? {
        guard let record = try readRecord(path: recordPath(name: name, stateDirectory: stateDirectory)) else { return nil }
        return try LocalEnsembleLayout(
            name: record.name, addresses: record.addresses, clientPort: record.clientPort, quorumPort: record.quorumPort,
            electionPort: record.electionPort, stateDirectory: stateDirectory)
    }

    /// How this layout's `sharedSettings` differ from the recorded ones, sorted by key. Empty
    /// when they agree, when there is no record, or when the record predates settings.
    /// ZooKeeper owns zoo.cfg after its first start, so a difference means the members would
    /// not run what the resource asks for.
    public func settingChanges() throws(LocalEnsembleError) -> [SettingChange] {
        guard let recorded = try Self.readRecord(path: recordPath)?.settings else { return [] }
        let requested = sharedSettings
        return Set(recorded.keys).union(requested.keys).sorted().compactMap { key in
            recorded[key] == requested[key] ? nil : SettingChange(key: key, recorded: recorded[key], requested: requested[key])
        }
    }
}
