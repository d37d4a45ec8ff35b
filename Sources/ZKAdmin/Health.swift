import NetCore

/// One member as `zkctl health` shows it: `srvr` for mode and zxid (mntr has no zxid),
/// `mntr` for the leader-only sync figures.
public struct MemberStatus: Sendable, Equatable {
    public var mode: ServerMode
    public var zxid: UInt64
    public var latencyAvg: Double
    public var latencyMax: Double
    public var outstanding: Int
    public var connections: Int
    /// Only a leader reports it, and only when `mntr` is whitelisted.
    public var syncedFollowers: Int?
    /// Followers outside the configuration (no vote) that the leader syncs; leader only.
    public var syncedNonVotingFollowers: Int?
    public var version: String

    public init(
        mode: ServerMode, zxid: UInt64, latencyAvg: Double = 0, latencyMax: Double = 0,
        outstanding: Int = 0, connections: Int = 0, syncedFollowers: Int? = nil, syncedNonVotingFollowers: Int? = nil,
        version: String = ""
    ) {
        self.mode = mode
        self.zxid = zxid
        self.latencyAvg = latencyAvg
        self.latencyMax = latencyMax
        self.outstanding = outstanding
        self.connections = connections
        self.syncedFollowers = syncedFollowers
        self.syncedNonVotingFollowers = syncedNonVotingFollowers
        self.version = version
    }

    /// Combines both replies; without `mntr` the `srvr` figures stand in.
    public init(server: ServerStatus, monitor: MonitorStats?) {
        self.init(
            mode: server.mode, zxid: server.zxid,
            latencyAvg: monitor?.latencyAvg ?? server.latencyAvg,
            latencyMax: monitor?.latencyMax ?? server.latencyMax,
            outstanding: monitor?.outstanding ?? server.outstanding,
            connections: monitor?.aliveConnections ?? server.connections,
            syncedFollowers: server.mode == .leader ? monitor?.syncedFollowers : nil,
            syncedNonVotingFollowers: server.mode == .leader ? monitor?.syncedNonVotingFollowers : nil,
            version: server.version.isEmpty ? (monitor?.version ?? "") : server.version)
    }

    /// `srvr` then `mntr`, both within `deadline`. A server that refuses `mntr` (not in its
    /// whitelist) still yields a status from `srvr` alone; every other failure is the member's.
    public static func fetch(host: String, port: Int, deadline: Deadline) throws(FourLetterWordError) -> MemberStatus {
        let server = try ServerStatus.fetch(host: host, port: port, deadline: deadline)
        var monitor: MonitorStats?
        do {
            monitor = try MonitorStats.fetch(host: host, port: port, deadline: deadline)
        } catch .notWhitelisted {
            monitor = nil
        }
        return MemberStatus(server: server, monitor: monitor)
    }
}

/// What one member answered, or why it did not.
public struct MemberReport: Sendable, Equatable {
    public var member: String
    public var outcome: Result<MemberStatus, FourLetterWordError>

    public init(member: String, outcome: Result<MemberStatus, FourLetterWordError>) {
        self.member = member
        self.outcome = outcome
    }

    public var status: MemberStatus? {
        if case .success(let status) = outcome { return status }
        return nil
    }
}

public enum QuorumVerdict: String, Sendable, Equatable, CaseIterable {
    /// A leader and at least one voter more than a quorum: one more loss is survivable.
    case healthy
    /// Still serving, but losing one more voter (or an unconfirmed leader) loses quorum.
    case atRisk = "at risk"
    /// No quorum is serving.
    case lost
}

/// The ensemble-wide verdict, computed from per-member reports only (pure: no I/O, no clock).
public struct EnsembleHealth: Sendable, Equatable {
    public var verdict: QuorumVerdict
    /// The member that reports `leader` (or `standalone` in a one-voter ensemble); nil when
    /// none or several do.
    public var leader: String?
    /// The leader's zxid, when there is exactly one leader.
    public var leaderZxid: UInt64?
    public var voters: Int
    public var quorum: Int
    /// Members answering as voters inside a quorum (leader or follower).
    public var servingVoters: [String]
    /// One line, suitable as the last line of `zkctl health`.
    public var summary: String

    /// - Parameters:
    ///   - reports: one per member asked.
    ///   - voters: the number of voting members in the ensemble's configuration. nil counts
    ///     every member asked except those answering as observers; pass it when members may
    ///     be missing from `reports` or unreachable observers would otherwise count as voters.
    public static func evaluate(_ reports: [MemberReport], voters: Int? = nil) -> EnsembleHealth {
        let observers = reports.filter { $0.status?.mode == .observer }.count
        let voterCount = max(voters ?? (reports.count - observers), 0)
        let quorum = voterCount / 2 + 1
        // A standalone server is its own quorum only when the ensemble has one voter; in a
        // bigger ensemble it is a misconfigured member that serves a private copy of the data.
        let leadingModes: Set<ServerMode> = voterCount == 1 ? [.leader, .standalone] : [.leader]
        let leaders = reports.filter { report in report.status.map { leadingModes.contains($0.mode) } ?? false }
        let serving = reports.filter { report in
            guard let mode = report.status?.mode else { return false }
            return leadingModes.contains(mode) || mode == .follower
        }.map(\.member)

        func result(_ verdict: QuorumVerdict, _ why: String) -> EnsembleHealth {
            EnsembleHealth(
                verdict: verdict, leader: leaders.count == 1 ? leaders[0].member : nil,
                leaderZxid: leaders.count == 1 ? leaders[0].status?.zxid : nil,
                voters: voterCount, quorum: quorum, servingVoters: serving,
                summary: "\(verdict.rawValue): \(why)")
        }
        let counts = "\(serving.count) of \(voterCount) voters serving, quorum is \(quorum)"
        if voterCount == 0 {
            return result(.lost, "no voting members")
        }
        if serving.count < quorum {
            return result(.lost, counts)
        }
        if leaders.isEmpty {
            return result(.atRisk, "\(counts), but no member answered as leader")
        }
        if leaders.count > 1 {
            let names = leaders.map(\.member).joined(separator: ", ")
            return result(.atRisk, "\(counts), but several members answered as leader: \(names)")
        }
        let leader = leaders[0].member
        if serving.count == quorum {
            return result(.atRisk, "\(counts): losing one more voter loses quorum; leader \(leader)")
        }
        return result(.healthy, "\(counts); leader \(leader)")
    }
}

extension EnsembleHealth {
    /// Transactions `status` is behind the leader; nil without a single leader. A zxid is
    /// the leader's epoch (upper 32 bits) and a counter of its transactions (lower 32). A
    /// member that answers has synced everything before the leader's epoch, so one whose
    /// last zxid is from an earlier epoch lacks exactly the leader's counter (0 right after
    /// an election). Members are asked moments apart: on a busy ensemble it is approximate.
    public func lag(of status: MemberStatus) -> UInt64? {
        guard let leaderZxid else { return nil }
        let (leaderEpoch, leaderCounter) = (leaderZxid >> 32, leaderZxid & 0xffff_ffff)
        let (epoch, counter) = (status.zxid >> 32, status.zxid & 0xffff_ffff)
        if epoch < leaderEpoch { return leaderCounter }
        if epoch > leaderEpoch { return 0 }  // answered after an election the leader's reply predates
        return leaderCounter > counter ? leaderCounter - counter : 0
    }
}
