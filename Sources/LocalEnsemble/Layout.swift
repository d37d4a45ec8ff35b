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

    /// The zoo.cfg text of one member, listing every member of the layout.
    public func zooCfg(for member: LocalMember) -> String {
        zooCfg(for: member, servers: members.map { (id: $0.id, value: $0.zooKeeperMember.serverValue) })
    }

    /// The zoo.cfg text of one member with the given `server.N` values: a member that starts
    /// into a running ensemble gets the live membership (plus itself), not a static list.
    public func zooCfg(for member: LocalMember, servers: [(id: Int, value: String)]) -> String {
        var settings = self.settings
        settings.dataDir = member.dataDir
        settings.dataLogDir = member.dataLogDir
        settings.clientPort = member.clientPort
        settings.quorumListenOnAllIPs = false
        return ZooCfg.render(settings: settings, servers: servers)
    }

    /// Its `server.N` value, as a reconfig adds it: `address:quorum:election:participant;address:client`.
    public func serverValue(of member: LocalMember) -> String { member.zooKeeperMember.serverValue }

    /// The same ensemble with `count` members: the first addresses kept, new members on the
    /// next addresses of the block (`<a.b.c>.<id>`). Only layouts whose addresses follow that
    /// pattern can grow.
    public func resized(to count: Int) throws(LocalEnsembleError) -> LocalEnsembleLayout {
        guard (1...254).contains(count) else { throw .invalidLayout("member count \(count) must be 1...254") }
        var addresses = Array(self.addresses.prefix(count))
        if count > addresses.count {
            guard let base = addressBlock else {
                throw .invalidLayout("members on \(self.addresses.joined(separator: ", ")) are not on one block as <a.b.c>.<member id>, so new members have no address")
            }
            addresses += (addresses.count + 1...count).map { "\(base).\($0)" }
        }
        var layout = self
        layout.addresses = addresses
        return layout
    }

    /// "a.b.c" when every member's address is `a.b.c.<its id>`, else nil.
    public var addressBlock: String? {
        let octets = addresses[0].split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        let base = octets.dropLast().joined(separator: ".")
        return addresses.enumerated().allSatisfy({ $1 == "\(base).\($0 + 1)" }) ? base : nil
    }

    /// Ids of the `member-N` directories under the ensemble's directory, ascending: members
    /// of the layout and any a scale-down left behind.
    public func memberDirectoryIDs() throws(LocalEnsembleError) -> [Int] {
        guard FileManager.default.fileExists(atPath: ensembleDirectory) else { return [] }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: ensembleDirectory) } catch {
            throw .io(path: ensembleDirectory, reason: "cannot list: \(error.localizedDescription)")
        }
        return entries.compactMap { entry -> Int? in
            guard entry.hasPrefix("member-"), let id = Int(entry.dropFirst("member-".count)), id > 0 else { return nil }
            return id
        }.sorted()
    }

    /// `<state>/<name>/superuser.secret`: the password of the super user that may reconfigure
    /// the members (mode 0600; see `LocalEnsemble.superUser`).
    public var superUserPath: String { ensembleDirectory + "/superuser.secret" }
}

/// What local mode remembers about an ensemble, in `<state>/<name>/ensemble.json`: where its
/// members are (so `status`, `down`, `roll` and `scale` need only its name), the zoo.cfg
/// settings they were created with (so a later `up` notices changed ones, and members added
/// later get the same), and what roll and scale work towards. Fields added after the first
/// version are optional: records written before them still load.
public struct LocalEnsembleRecord: Codable, Sendable, Equatable {
    public var name: String
    /// The members' addresses, member id = index + 1: every member that runs or belongs to
    /// the configuration (it follows scaling).
    public var addresses: [String]
    public var clientPort: Int
    public var quorumPort: Int
    public var electionPort: Int
    /// `LocalEnsembleLayout.sharedSettings` when the members' zoo.cfg files were written.
    public var settings: [String: String]?
    /// The member count scaling works towards (`zkctl local scale`); nil: the address count.
    public var replicas: Int?
    /// The revision members are started at; a roll moves it and restarts every member that
    /// runs another. nil: members started before revisions were recorded.
    public var revision: String?
    /// JVM options (heap) and the server log level members are started with.
    public var jvmOptions: [String]?
    public var logLevel: String?
    /// The resource's `updateStrategy` and `storage.reclaimPolicy`, as roll and scale apply them.
    public var leaderHandOff: Bool?
    public var memberTimeoutSeconds: Int?
    public var stepTimeoutSeconds: Int?
    public var deleteVolumesOnScaleDown: Bool?

    public init(layout: LocalEnsembleLayout) {
        name = layout.name
        addresses = layout.addresses
        clientPort = layout.clientPort
        quorumPort = layout.quorumPort
        electionPort = layout.electionPort
        settings = layout.sharedSettings
    }

    public static func path(name: String, stateDirectory: String) -> String {
        (stateDirectory as NSString).appendingPathComponent(name + "/ensemble.json")
    }

    /// The record, or nil when there is none.
    public static func load(name: String, stateDirectory: String) throws(LocalEnsembleError) -> LocalEnsembleRecord? {
        let path = path(name: name, stateDirectory: stateDirectory)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(LocalEnsembleRecord.self, from: data) } catch {
            throw .io(path: path, reason: "not a local ensemble record: \(error)")
        }
    }

    /// Writes the record atomically under `stateDirectory`.
    public func save(stateDirectory: String) throws(LocalEnsembleError) {
        let path = Self.path(name: name, stateDirectory: stateDirectory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch { throw .io(path: path, reason: "cannot encode: \(error)") }
        try ProcessControl.createDirectory((path as NSString).deletingLastPathComponent)
        try ProcessControl.writeAtomically(String(decoding: data, as: UTF8.self) + "\n", to: path)
    }

    /// The layout it describes. Its settings reproduce the recorded zoo.cfg settings, so
    /// members added to a recorded ensemble get the same zoo.cfg as the first ones.
    public func layout(stateDirectory: String) throws(LocalEnsembleError) -> LocalEnsembleLayout {
        var zooKeeperSettings = ZooKeeperSettings()
        if let settings {
            // Overrides replace the defaults in place and add what the defaults lack; the
            // per-member keys are set per member again by `zooCfg(for:)`.
            zooKeeperSettings.overrides = settings.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        }
        return try LocalEnsembleLayout(
            name: name, addresses: addresses, clientPort: clientPort, quorumPort: quorumPort,
            electionPort: electionPort, settings: zooKeeperSettings, stateDirectory: stateDirectory)
    }
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
        LocalEnsembleRecord.path(name: name, stateDirectory: stateDirectory)
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

    /// Writes `<state>/<name>/ensemble.json` with this layout's addresses, ports and
    /// `sharedSettings`, keeping what else an existing record holds (roll and scale state).
    public func saveRecord(_ update: (inout LocalEnsembleRecord) -> Void = { _ in }) throws(LocalEnsembleError) {
        var record = try LocalEnsembleRecord.load(name: name, stateDirectory: stateDirectory) ?? LocalEnsembleRecord(layout: self)
        let fresh = LocalEnsembleRecord(layout: self)
        record.addresses = fresh.addresses
        record.clientPort = fresh.clientPort
        record.quorumPort = fresh.quorumPort
        record.electionPort = fresh.electionPort
        record.settings = fresh.settings
        update(&record)
        try record.save(stateDirectory: stateDirectory)
    }

    /// The layout `saveRecord` wrote; nil when there is no record.
    public static func loadRecord(name: String, stateDirectory: String) throws(LocalEnsembleError) -> LocalEnsembleLayout? {
        try LocalEnsembleRecord.load(name: name, stateDirectory: stateDirectory)?.layout(stateDirectory: stateDirectory)
    }

    /// How this layout's `sharedSettings` differ from the recorded ones, sorted by key. Empty
    /// when they agree, when there is no record, or when the record predates settings.
    /// ZooKeeper owns zoo.cfg after its first start, so a difference means the members would
    /// not run what the resource asks for.
    public func settingChanges() throws(LocalEnsembleError) -> [SettingChange] {
        guard let recorded = try LocalEnsembleRecord.load(name: name, stateDirectory: stateDirectory)?.settings else { return [] }
        let requested = sharedSettings
        return Set(recorded.keys).union(requested.keys).sorted().compactMap { key in
            recorded[key] == requested[key] ? nil : SettingChange(key: key, recorded: recorded[key], requested: requested[key])
        }
    }
}
