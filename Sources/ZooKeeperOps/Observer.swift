import EnsembleCore
import NetCore
import ZKAdmin

/// A member as the planners name it, and where its client port is.
public struct MemberEndpoint: Sendable, Equatable {
    public var ordinal: Int
    /// How messages name it: the pod name, or "member 2 (127.0.0.2)" in local mode.
    public var name: String
    public var host: String
    public var port: Int

    public init(ordinal: Int, name: String, host: String, port: Int) {
        self.ordinal = ordinal
        self.name = name
        self.host = host
        self.port = port
    }
}

/// What a member's `srvr` said: the ZooKeeper half of a `MemberObservation`. The other half
/// (does its pod or process exist, its revision, its start, its volume) comes from wherever
/// the members run.
public struct SrvrAnswer: Sendable, Equatable {
    /// It answered `srvr` at all (also "not currently serving requests").
    public var reachable: Bool
    public var role: MemberRole
    public var zxid: Zxid?
    /// Something accepts connections on its client port. False when the connection was
    /// refused: the process is gone, or not listening yet. (A member that stops answering
    /// while it listens is busy: it drops its connections when an election starts, and
    /// freezes while its JVM exits.)
    public var listening: Bool

    public init(reachable: Bool, role: MemberRole, zxid: Zxid?, listening: Bool = true) {
        self.reachable = reachable
        self.role = role
        self.zxid = zxid
        self.listening = listening
    }

    /// Not asked (its process does not run) or refused the connection.
    public static let unreachable = SrvrAnswer(reachable: false, role: .notServing, zxid: nil, listening: false)

    /// From one `srvr` exchange. A read-only server serves nobody's writes: not serving.
    public init(_ result: Result<ServerStatus, FourLetterWordError>) {
        switch result {
        case .success(let status):
            let role: MemberRole
            switch status.mode {
            case .leader: role = .leader
            case .follower: role = .follower
            case .observer: role = .observer
            case .standalone: role = .standalone
            case .readOnly: role = .notServing
            }
            self.init(reachable: true, role: role, zxid: Zxid(status.zxid))
        case .failure(.notServing):
            self.init(reachable: true, role: .notServing, zxid: nil)
        case .failure(.network(.connect)):
            self = .unreachable
        case .failure:
            self.init(reachable: false, role: .notServing, zxid: nil, listening: true)
        }
    }
}

/// The four-letter-word half of an `EnsembleObservation`: every member's `srvr`, and the
/// leader's `zk_synced_followers` (`mntr`) when exactly one member leads.
public struct EnsembleAnswers: Sendable, Equatable {
    public var members: [Int: SrvrAnswer]
    public var syncedFollowers: Int?

    public init(members: [Int: SrvrAnswer], syncedFollowers: Int?) {
        self.members = members
        self.syncedFollowers = syncedFollowers
    }

    /// The ordinal of the one member that answers as leader; nil when none or several do.
    public var leader: Int? {
        let leaders = members.filter { $0.value.role == .leader }.map(\.key)
        return leaders.count == 1 ? leaders[0] : nil
    }

    /// Asks every member at once, each within `timeout`; then the leader for `mntr`.
    public static func fetch(_ endpoints: [MemberEndpoint], timeout: Double) async -> EnsembleAnswers {
        let replies = await queryMembers(endpoints.map { ($0.host, $0.port) }, timeout: timeout) { host, port, deadline in
            Result { () throws(FourLetterWordError) in try ServerStatus.fetch(host: host, port: port, deadline: deadline) }
        }
        var members: [Int: SrvrAnswer] = [:]
        for (endpoint, reply) in zip(endpoints, replies) { members[endpoint.ordinal] = SrvrAnswer(reply.result) }
        var answers = EnsembleAnswers(members: members, syncedFollowers: nil)
        if let leader = answers.leader, let endpoint = endpoints.first(where: { $0.ordinal == leader }) {
            let stats = await queryMembers([(endpoint.host, endpoint.port)], timeout: timeout) { host, port, deadline in
                Result { () throws(FourLetterWordError) in try MonitorStats.fetch(host: host, port: port, deadline: deadline) }
            }
            if case .success(let monitor) = stats[0].result, monitor.mode == .leader {
                answers.syncedFollowers = monitor.syncedFollowers
            }
        }
        return answers
    }
}

extension MemberObservation {
    /// A member that exists (runs) with what its `srvr` said. A member that does not run is
    /// `MemberObservation.missing`.
    public init(ordinal: Int, name: String, answer: SrvrAnswer, revision: String?, startedAt: Duration?, hasVolume: Bool = true) {
        self.init(ordinal: ordinal, name: name, exists: true, revision: revision, reachable: answer.reachable,
                  role: answer.role, zxid: answer.zxid, startedAt: startedAt, hasVolume: hasVolume)
    }
}
