import Foundation
import ZKConfig
#if canImport(Glibc)
import Glibc
#endif

// What rolls and scaling need of local members beyond starting and stopping them: what each
// one was started at and when (the planners' revision and start time), the membership a
// member starts with, deleting a removed member's files, and the super user that may
// reconfigure the ensemble.

/// `<member>/member.json`: the revision a member was last started at, and when. Written just
/// before the process is spawned, so a member that runs always has the record of its start.
public struct MemberStart: Codable, Sendable, Equatable {
    /// nil: started by a zkctl that recorded no revision.
    public var revision: String?
    /// Seconds since the Unix epoch; nil when unknown (a member marked before it ever had a record).
    public var startedAt: Double?
    /// Set before a roll stops the member to restart it at this revision: a member found
    /// stopped with it was stopped by a roll (which the next run completes), not by a person.
    public var pendingRevision: String?

    public init(revision: String?, startedAt: Double?, pendingRevision: String? = nil) {
        self.revision = revision
        self.startedAt = startedAt
        self.pendingRevision = pendingRevision
    }

    public static func path(of member: LocalMember) -> String { member.directory + "/member.json" }

    /// nil when the member was never started by a zkctl that records starts.
    public static func load(of member: LocalMember) throws(LocalEnsembleError) -> MemberStart? {
        let path = path(of: member)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(MemberStart.self, from: data) } catch {
            throw .io(path: path, reason: "not a member start record: \(error)")
        }
    }

    func save(to member: LocalMember) throws(LocalEnsembleError) {
        let data: Data
        do { data = try JSONEncoder().encode(self) } catch { throw .io(path: Self.path(of: member), reason: "cannot encode: \(error)") }
        try ProcessControl.createDirectory(member.directory)
        try ProcessControl.writeAtomically(String(decoding: data, as: UTF8.self) + "\n", to: Self.path(of: member))
    }
}

extension LocalEnsemble {
    /// Records that `member` is about to be stopped to restart at `revision` (see
    /// `MemberStart.pendingRevision`). Its current revision and start time stay as they are.
    public func markRestarting(_ member: LocalMember, revision: String) throws(LocalEnsembleError) {
        var start = try MemberStart.load(of: member) ?? MemberStart(revision: nil, startedAt: nil)
        start.pendingRevision = revision
        try start.save(to: member)
    }

    /// The membership `member` starts with: the live configuration when it is known, else the
    /// last one the member itself recorded (its zoo.cfg's dynamic file), else the layout's
    /// static list; in every case with the member itself added as a participant when it is
    /// not listed. A member outside the configuration then joins as a non-voting follower
    /// (ZooKeeper refuses to start a server that is not in its own configuration) and learns
    /// the live configuration from the leader; a reconfig makes it a voter.
    public func startMembership(for member: LocalMember, live: DynamicConfig?) throws(LocalEnsembleError) -> [DynamicConfig.Server] {
        var servers: [DynamicConfig.Server]
        if let live {
            servers = live.servers
        } else if let recorded = try recordedMembership(of: member) {
            servers = recorded.servers
        } else {
            servers = layout.members.map { DynamicConfig.Server(id: $0.id, role: .participant, value: layout.serverValue(of: $0)) }
        }
        if !servers.contains(where: { $0.id == member.id }) {
            servers.append(DynamicConfig.Server(id: member.id, role: .participant, value: layout.serverValue(of: member)))
        }
        return servers.sorted { $0.id < $1.id }
    }

    /// The configuration in the dynamic file the member's zoo.cfg names (ZooKeeper keeps it
    /// current while the member runs); nil when it has none.
    func recordedMembership(of member: LocalMember) throws(LocalEnsembleError) -> DynamicConfig? {
        guard let data = FileManager.default.contents(atPath: member.configPath) else { return nil }
        let entries: [(key: String, value: String)]
        do { entries = try ZooCfg.parse(String(decoding: data, as: UTF8.self)) } catch {
            throw .io(path: member.configPath, reason: error.description)
        }
        guard let file = entries.first(where: { $0.key == "dynamicConfigFile" })?.value,
              let dynamic = FileManager.default.contents(atPath: file) else { return nil }
        do { return try DynamicConfig.parse(String(decoding: dynamic, as: UTF8.self)) } catch {
            throw .io(path: file, reason: error.description)
        }
    }

    /// Deletes a member's directory (data, logs, configuration): what deleting a removed
    /// member's volume is in local mode. Refuses while a server runs from it. Renamed away
    /// first, so an interrupted delete never leaves half a data directory that a later start
    /// would take for its own.
    public func deleteFiles(of member: LocalMember) throws(LocalEnsembleError) {
        if case .running(let pid) = processState(member) {
            throw .io(path: member.directory, reason: "not deleted: member \(member.id) still runs (pid \(pid))")
        }
        let trash = layout.ensembleDirectory + "/.member-\(member.id).deleted-\(getpid())"
        if rename(member.directory, trash) != 0 {
            if errno == ENOENT { return }
            throw .io(path: member.directory, reason: "cannot move aside to delete: \(String(cString: strerror(errno)))")
        }
        do { try FileManager.default.removeItem(atPath: trash) } catch {
            throw .io(path: trash, reason: "cannot delete: \(error.localizedDescription)")
        }
    }

    /// Whether the running member was started with this ensemble's super user (members
    /// started before local mode kept one were not, and refuse its reconfigs).
    public func runsWithSuperUser(_ member: LocalMember) -> Bool {
        guard let superUser, case .running(let pid) = processState(member),
              let arguments = ProcessControl.commandLine(of: pid) else { return false }
        return arguments.contains(superUser.jvmOption)
    }
}

extension LocalEnsembleLayout {
    /// The ensemble's super user from `superUserPath`; nil when there is none yet.
    public func loadSuperUser() throws(LocalEnsembleError) -> SuperUser? {
        guard let data = FileManager.default.contents(atPath: superUserPath) else { return nil }
        do {
            return try SuperUser(password: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            // Never quote the file: it holds the secret.
            throw .io(path: superUserPath, reason: "\(error); delete it to make a new one (members then need a restart: zkctl local roll)")
        }
    }

    /// The ensemble's super user, made (a random password in a file only its owner may read)
    /// when there is none. Call it holding `withExclusiveLock`.
    public func ensureSuperUser() throws(LocalEnsembleError) -> SuperUser {
        if let existing = try loadSuperUser() { return existing }
        let made = SuperUser.generate()
        try ProcessControl.createDirectory(ensembleDirectory)
        try ProcessControl.writeAtomically(made.password + "\n", to: superUserPath, mode: 0o600)
        return made
    }
}
