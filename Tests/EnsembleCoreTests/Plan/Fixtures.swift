import EnsembleCore
import ZKConfig

/// Observations written as one token per member, ordinal 0 first, for table-driven tests.
///
/// A token is a state letter, a revision mark and optional flags:
///
///     L leader   F follower   O observer (in the config as one)   N answers, not serving
///     D does not answer       M missing (no pod)                  T terminating
///     +  runs the desired revision     -  an older one     ?  unknown
///     x  not in /zookeeper/config      ~  a previous epoch (not caught up)
///     v  its volume is there although it does not run (a leftover)
///
/// Cassandra reuses the letters: F ready and UN, N running but not ready (UN),
/// J running and joining (UJ), G ready and leaving (UL), D down in the ring (DN),
/// M missing; x: not listed by nodetool status.
enum Fixture {
    static let desired = "rev-new"
    static let older = "rev-old"
    static let now: Duration = .seconds(100_000)
    static let version: Int64 = 0x5_0000_0010
    static let epoch: UInt32 = 5

    struct Token {
        var state: Character
        var revision: String?
        var outside = false
        var behind = false
        var leftoverVolume = false

        init(_ text: Substring) {
            var chars = Array(text)
            state = chars.removeFirst()
            let mark = chars.last { "+-?".contains($0) } ?? "+"
            revision = mark == "+" ? Fixture.desired : mark == "-" ? Fixture.older : nil
            outside = chars.contains("x")
            behind = chars.contains("~")
            leftoverVolume = chars.contains("v")
        }
    }

    static func tokens(_ spec: String) -> [Token] { spec.split(separator: " ").map(Token.init) }

    static func name(_ o: Int) -> String { "zk-\(o)" }

    /// A ZooKeeper ensemble. `synced` overrides the leader's zk_synced_followers (default: the
    /// followers in the config that are caught up).
    static func zooKeeper(_ spec: String, synced: Int?? = .none, config: Bool = true, startedAt: Duration? = nil,
                          version: Int64 = Fixture.version, now: Duration = Fixture.now) -> EnsembleObservation {
        let tokens = tokens(spec)
        let current = Zxid(epoch: epoch, counter: 200)
        let previous = Zxid(epoch: epoch - 1, counter: 900)
        var members: [MemberObservation] = []
        var servers: [DynamicConfig.Server] = []
        for (o, t) in tokens.enumerated() {
            let zxid = t.behind ? previous : current
            let m: MemberObservation
            switch t.state {
            case "L": m = MemberObservation(ordinal: o, name: name(o), revision: t.revision, role: .leader, zxid: zxid, startedAt: startedAt)
            case "F": m = MemberObservation(ordinal: o, name: name(o), revision: t.revision, role: .follower, zxid: zxid, startedAt: startedAt)
            case "O": m = MemberObservation(ordinal: o, name: name(o), revision: t.revision, role: .observer, zxid: zxid, startedAt: startedAt)
            case "N": m = MemberObservation(ordinal: o, name: name(o), revision: t.revision, reachable: true, role: .notServing, zxid: previous, startedAt: startedAt)
            case "D": m = MemberObservation(ordinal: o, name: name(o), revision: t.revision, reachable: false, startedAt: startedAt)
            case "T": m = MemberObservation(ordinal: o, name: name(o), terminating: true, revision: t.revision, reachable: false, startedAt: startedAt)
            case "M": m = .missing(ordinal: o, name: name(o), hasVolume: t.leftoverVolume)
            default: preconditionFailure("unknown state \(t.state)")
            }
            members.append(m)
            if !t.outside {
                let role: ZooKeeperMember.Role = t.state == "O" ? .observer : .participant
                servers.append(.init(id: o + 1, role: role, value: "\(name(o)).zk-hs:2888:3888:\(role.rawValue);2181"))
            }
        }
        let defaultSynced = tokens.filter { $0.state == "F" && !$0.outside && !$0.behind }.count
        let hasLeader = tokens.contains { $0.state == "L" }
        let reported: Int? = synced ?? (hasLeader ? defaultSynced : nil)
        return EnsembleObservation(members: members, config: config ? DynamicConfig(servers: servers, version: version) : nil,
                                   syncedFollowers: reported, now: now)
    }

    /// A Cassandra ring.
    static func cassandra(_ spec: String, startedAt: Duration? = nil, ringKnown: Bool = true, now: Duration = Fixture.now) -> EnsembleObservation {
        var members: [MemberObservation] = []
        for (o, t) in tokens(spec).enumerated() {
            let ring: RingStatus?
            var ready = true
            switch t.state {
            case "F": ring = .upNormal
            case "N": ring = .upNormal; ready = false
            case "J": ring = RingStatus(up: true, state: .joining); ready = false
            case "G": ring = RingStatus(up: true, state: .leaving)
            case "D": ring = RingStatus(up: false, state: .normal); ready = false
            case "M": ring = nil; ready = false
            default: preconditionFailure("unknown state \(t.state)")
            }
            if t.state == "M" {
                members.append(.missing(ordinal: o, name: "cass-\(o)", hasVolume: t.leftoverVolume))
            } else {
                members.append(MemberObservation(ordinal: o, name: "cass-\(o)", revision: t.revision, ready: ready, reachable: false,
                                                 startedAt: startedAt, ring: t.outside ? nil : ring))
            }
        }
        return EnsembleObservation(members: members, ringKnown: ringKnown, now: now)
    }

    static func settings(_ engine: Engine = .zooKeeper, handOff: Bool = true, manual: Bool = false,
                         order: PlanSettings.Order = .quorumSafe, deleteVolumes: Bool = false) -> PlanSettings {
        PlanSettings(engine: engine, order: order, manual: manual, leaderHandOff: handOff,
                     memberTimeout: .seconds(600), stepTimeout: .seconds(300), streamingTimeout: .seconds(3600),
                     deleteVolumesOnScaleDown: deleteVolumes)
    }
}
