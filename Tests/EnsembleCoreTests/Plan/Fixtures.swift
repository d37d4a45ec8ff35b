import EnsembleCore
import Testing
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

    /// The planner's answer; with `waitedFor`, its answer once the wait it started has lasted
    /// that long (the StepClock of the first answer passed back, moved into the past).
    static func replaying(waitedFor: Duration?, _ plan: (StepClock?) -> PlanDecision) -> PlanDecision {
        let first = plan(nil)
        guard let waitedFor, let clock = first.clock else { return first }
        return plan(StepClock(step: clock.step, since: now - waitedFor))
    }

    static func settings(_ engine: Engine = .zooKeeper, handOff: Bool = true, manual: Bool = false,
                         order: PlanSettings.Order = .quorumSafe, deleteVolumes: Bool = false) -> PlanSettings {
        PlanSettings(engine: engine, order: order, manual: manual, leaderHandOff: handOff,
                     memberTimeout: .seconds(600), stepTimeout: .seconds(300), streamingTimeout: .seconds(3600),
                     deleteVolumesOnScaleDown: deleteVolumes)
    }
}

/// One observation (in the fixture language) and the one decision a planner must answer with:
/// the membership planner when `desired` is set, else the roll planner.
struct PlanCase: Sendable, CustomTestStringConvertible {
    var title: String
    var members: String
    /// Membership: the desired replica count.
    var desired: Int? = nil
    var engine: Engine = .zooKeeper
    var handOff = true
    var manual = false
    var order: PlanSettings.Order = .quorumSafe
    var deleteVolumes = false
    /// Membership: the roll's target revision, when a roll may be under way.
    var revision: String? = nil
    var synced: Int?? = .none
    /// ZooKeeper: /zookeeper/config could be read; Cassandra: nodetool status could.
    var config = true
    var startedAt: Duration? = nil
    /// The wait's step began this long ago (a StepClock passed back from an earlier call).
    var waitedFor: Duration? = nil
    /// Roll: replicas, when not one per member written.
    var replicas: Int? = nil
    var action: PlanAction
    var code: String
    var mentions: [String] = []

    var testDescription: String { title }

    func observation() -> EnsembleObservation {
        engine == .zooKeeper
            ? Fixture.zooKeeper(members, synced: synced, config: config, startedAt: startedAt)
            : Fixture.cassandra(members, startedAt: startedAt, ringKnown: config)
    }

    func plan() -> PlanDecision {
        let settings = Fixture.settings(engine, handOff: handOff, manual: manual, order: order, deleteVolumes: deleteVolumes)
        let observation = observation()
        return Fixture.replaying(waitedFor: waitedFor) { clock in
            if let desired {
                return MembershipPlanner.next(desiredReplicas: desired, observation: observation, settings: settings,
                                              desiredRevision: revision, clock: clock)
            }
            return RollPlanner.next(desiredRevision: Fixture.desired, replicas: replicas ?? Fixture.tokens(members).count,
                                    observation: observation, settings: settings, clock: clock)
        }
    }

    /// The expected action and reason; a reason a condition takes as it is (a CamelCase code,
    /// a message within the status schema's bound) and that reads as one line.
    func check(_ d: PlanDecision) {
        #expect(d.action == action, "\(d.line)")
        #expect(d.reason.code == code, "\(d.line)")
        for text in mentions {
            #expect(d.reason.message.contains(text), "'\(text)' not in: \(d.reason.message)")
        }
        #expect(d.reason.code.first?.isUppercase == true && d.reason.code.allSatisfy { $0.isLetter && $0.isASCII })
        #expect(!d.reason.message.isEmpty && !d.reason.message.contains("\n") && d.reason.message.count <= 4096)
        #expect(!d.summary.isEmpty && d.line == "\(d.summary): \(d.reason.message)")
    }
}

typealias RollCase = PlanCase
typealias MembershipCase = PlanCase
