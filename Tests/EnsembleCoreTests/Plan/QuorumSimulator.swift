import EnsembleCore
import ZKConfig

/// A deterministic random source, so every simulated run can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func seconds(_ range: ClosedRange<Int64>) -> Duration { .seconds(Int64.random(in: range, using: &self)) }
}

/// A small model of how a ZooKeeper ensemble on a StatefulSet behaves, enough to drive the
/// planners through whole rolls and scales and to check what they did:
///
/// - A restarted pod terminates (0-10 s), is recreated at the desired revision, its process
///   comes up after 5-30 s and then syncs with the leader within 15 s, unless its outcome says
///   it never starts or never syncs.
/// - The leader keeps leading while it runs, is a participant and a quorum of participants
///   serves (itself included). Otherwise every member stops serving, and as soon as a quorum
///   of participants runs, they elect the one with the highest zxid (then id) in a new epoch.
///   Elections are instant here (ZooKeeper takes a few hundred milliseconds).
/// - Reconfigs behave like ZooKeeper's: rejected when not conditional on the current version,
///   and (recorded as a violation, since a planner must never ask) when the new configuration
///   lacks a quorum in sync with the leader or adds a member that has not synced.
/// - A follower may fall behind the leader for a while (`slowDownSomeone`) while still serving. Removing the leader elects
///   a new one among the rest at once; the old one syncs back as a non-voting follower.
/// - Members outside the configuration sync as non-voting followers.
///
/// Every action a planner could get wrong is checked and recorded in `violations`.
struct ZooKeeperSimulator {
    enum Outcome: Equatable { case normal, neverStarts, neverSyncs }

    struct Member {
        var exists = true
        var terminatingUntil: Duration?
        /// Deleted for a stop (not a restart): gone once terminated.
        var stopping = false
        var running = true
        var upAt: Duration?
        var serving = true
        var syncAt: Duration?
        var revision: String?
        var zxid = Zxid(0)
        var startedAt: Duration? = .zero
        var hasVolume = true
        /// Serving but falling behind the leader (a slow disk) until then.
        var behindUntil: Duration?
        /// How its current process behaves, and how the next one it is restarted into will.
        var outcome: Outcome = .normal
        var nextOutcome: Outcome = .normal
    }

    var members: [Int: Member] = [:]
    var participants: Set<Int>
    var version: Int64
    var leader: Int?
    var epoch: UInt32
    var counter: UInt32 = 100_000
    var now: Duration = .seconds(1_000_000)
    var rng: SplitMix64
    let desiredRevision: String

    var elections = 0
    var leaderHistory: [Int] = []
    var violations: [String] = []
    var staleRejections = 0
    /// Applied restarts, in order.
    var restarts: [Int] = []
    /// Members whose volume holds data from before they left the configuration.
    var staleVolumes: Set<Int> = []

    init(members count: Int, leader: Int?, revision: String, desiredRevision: String, seed: UInt64) {
        rng = SplitMix64(seed: seed)
        self.desiredRevision = desiredRevision
        epoch = UInt32.random(in: 1...9, using: &rng)
        participants = Set(0..<count)
        version = Int64(Zxid(epoch: epoch, counter: 1).raw)
        self.leader = leader
        let zxid = Zxid(epoch: epoch, counter: counter)
        for o in 0..<count {
            members[o] = Member(revision: revision, zxid: zxid)
        }
        if let leader { leaderHistory = [leader] }
    }

    // MARK: Observation

    func name(_ o: Int) -> String { "zk-\(o)" }

    func observation() -> EnsembleObservation {
        var observed: [MemberObservation] = []
        for (o, m) in members.sorted(by: { $0.key < $1.key }) where m.exists || m.hasVolume {
            guard m.exists else {
                observed.append(.missing(ordinal: o, name: name(o), hasVolume: m.hasVolume))
                continue
            }
            let role: MemberRole = !m.running ? .notServing : !m.serving ? .notServing : o == leader ? .leader : .follower
            observed.append(MemberObservation(
                ordinal: o, name: name(o), terminating: m.terminatingUntil != nil, revision: m.revision,
                ready: m.running && m.serving, reachable: m.running, role: role, zxid: m.running ? m.zxid : nil,
                startedAt: m.startedAt, hasVolume: m.hasVolume))
        }
        let synced = leader.map { l in participants.filter { $0 != l && serves($0) }.count }
        let config = DynamicConfig(servers: participants.sorted().map {
            .init(id: $0 + 1, role: .participant, value: "\(name($0)).zk-hs:2888:3888:participant;2181")
        }, version: version)
        return EnsembleObservation(members: observed, config: config, syncedFollowers: synced, now: now, namePrefix: "zk-")
    }

    func serves(_ o: Int) -> Bool {
        guard let m = members[o] else { return false }
        return m.exists && m.running && m.serving && m.terminatingUntil == nil
    }

    var servingVoters: Int { participants.filter(serves).count }
    var hasQuorum: Bool { servingVoters >= participants.count / 2 + 1 }

    // MARK: Actions

    /// Performs what a planner asked; returns false when ZooKeeper would refuse it.
    @discardableResult
    mutating func apply(_ action: PlanAction) -> Bool {
        switch action {
        case .restart(let o): restart(o)
        case .start(let o): start(o)
        case .stop(let o): stop(o)
        case .deleteVolume(let o):
            if members[o]?.exists == true { violations.append("deleted the volume of \(name(o)) while it exists") }
            members[o]?.hasVolume = false
            staleVolumes.remove(o)
        case .addToConfig(let o, let from): return reconfig(adding: o, removing: nil, from: from)
        case .removeFromConfig(let o, let from): return reconfig(adding: nil, removing: o, from: from)
        case .decommission(let o): violations.append("decommissioned \(name(o)) in a ZooKeeper ensemble")
        case .wait, .done, .blocked: break
        }
        return true
    }

    /// How far behind the leader a member may be and count as in sync (the planners' default).
    static let maxLag: UInt32 = PlanSettings.defaultMaxZxidLag

    func inSync(_ o: Int) -> Bool {
        guard serves(o), let l = leader, let mine = members[o]?.zxid, let theirs = members[l]?.zxid else { return false }
        if o == l { return true }
        return mine.epoch == theirs.epoch && theirs.counter &- mine.counter <= Self.maxLag
    }

    mutating func restart(_ o: Int) {
        restarts.append(o)
        // The quorum-safe rule, checked on the truth rather than on observations: a voter that
        // serves restarts only while every other voter serves in sync with the leader.
        if participants.contains(o) && serves(o) && participants.count > 1 {
            for p in participants.sorted() where p != o && !inSync(p) {
                violations.append("restarted \(name(o)) while \(name(p)) was not in sync")
            }
        }
        var m = members[o] ?? Member(exists: false, running: false, serving: false)
        if m.terminatingUntil != nil { violations.append("restarted \(name(o)) while it was terminating") }
        m.running = false
        m.serving = false
        if m.exists {
            m.terminatingUntil = now + rng.seconds(0...10)
        } else {
            recreate(&m)
        }
        members[o] = m
    }

    mutating func recreate(_ m: inout Member) {
        m.exists = true
        m.terminatingUntil = nil
        m.revision = desiredRevision
        m.startedAt = now
        m.hasVolume = true
        m.outcome = m.nextOutcome
        m.nextOutcome = .normal
        m.upAt = m.outcome == .neverStarts ? nil : now + rng.seconds(5...30)
        m.syncAt = nil
    }

    mutating func start(_ o: Int) {
        if members[o]?.exists == true { return }
        if let gap = (0..<o).first(where: { members[$0]?.exists != true }) {
            violations.append("started \(name(o)) while \(name(gap)) does not exist (a StatefulSet cannot)")
        }
        if staleVolumes.contains(o) && members[o]?.hasVolume == true {
            violations.append("started \(name(o)) from stale data")
        }
        var m = members[o] ?? Member(exists: false, running: false, serving: false)
        m.running = false
        m.serving = false
        recreate(&m)
        m.zxid = Zxid(0)
        members[o] = m
    }

    mutating func stop(_ o: Int) {
        guard var m = members[o], m.exists else { return }
        if participants.contains(o) { violations.append("stopped \(name(o)) while it is in the configuration") }
        if let higher = members.keys.filter({ $0 > o && members[$0]!.exists }).min() {
            violations.append("stopped \(name(o)) while \(name(higher)) exists (a StatefulSet cannot)")
        }
        m.running = false
        m.serving = false
        m.stopping = true
        m.terminatingUntil = now + rng.seconds(0...10)
        members[o] = m
    }

    mutating func reconfig(adding: Int?, removing: Int?, from: Int64) -> Bool {
        guard from == version else {
            staleRejections += 1
            return false
        }
        var next = participants
        if let adding {
            if !inSync(adding) { violations.append("added \(name(adding)) before it synced") }
            next.insert(adding)
        }
        if let removing { next.remove(removing) }
        let synced = next.filter(inSync).count
        guard leader != nil, !next.isEmpty, synced >= next.count / 2 + 1 else {
            violations.append("reconfig to \(next.sorted()) without a synced quorum (\(synced) of \(next.count) serve)")
            return false
        }
        participants = next
        counter += 1
        version = Int64(Zxid(epoch: epoch, counter: counter).raw)
        if let removing {
            staleVolumes.insert(removing)
            if removing == leader {
                members[removing]?.serving = false
                leader = nil
                elect()
            }
        }
        if let adding { staleVolumes.remove(adding) }
        return true
    }

    /// A follower that serves falls behind the leader for a while (the planner must notice).
    /// Only while everybody serves, so it never costs the quorum on its own.
    mutating func slowDownSomeone() {
        guard let leader, counter > 4 * Self.maxLag, members.keys.allSatisfy({ members[$0]!.exists == false || serves($0) }) else { return }
        guard let o = participants.sorted().filter({ $0 != leader && serves($0) }).randomElement(using: &rng) else { return }
        members[o]?.behindUntil = now + rng.seconds(10...60)
        members[o]?.zxid = Zxid(epoch: epoch, counter: counter - 3 * Self.maxLag)
    }

    /// A concurrent change by someone else: same members, a new version.
    mutating func bumpVersion() {
        counter += 1
        version = Int64(Zxid(epoch: epoch, counter: counter).raw)
    }

    // MARK: Time

    mutating func advance(by step: Duration = .seconds(5)) {
        now += step
        for o in members.keys.sorted() {
            guard var m = members[o] else { continue }
            if let until = m.terminatingUntil, until <= now {
                if m.stopping {
                    m.exists = false
                    m.terminatingUntil = nil
                    m.stopping = false
                } else {
                    recreate(&m)
                }
            }
            if m.exists, !m.running, m.terminatingUntil == nil, let up = m.upAt, up <= now {
                m.running = true
                m.serving = false
                m.syncAt = nil
            }
            members[o] = m
        }
        if let l = leader, !(serves(l) && participants.contains(l) && hasQuorum) {
            leader = nil
            for o in members.keys { members[o]?.serving = false }
        }
        if leader == nil { elect() }
        guard let leader else { return }
        counter += UInt32.random(in: 50...300, using: &rng)
        members[leader]?.zxid = Zxid(epoch: epoch, counter: counter)
        for o in members.keys.sorted() where o != leader {
            guard var m = members[o], m.exists, m.running, m.terminatingUntil == nil else { continue }
            if let until = m.behindUntil, until <= now { m.behindUntil = nil }
            if m.serving {
                let lag = m.behindUntil != nil ? 3 * Self.maxLag : UInt32.random(in: 0...3, using: &rng)
                m.zxid = Zxid(epoch: epoch, counter: counter >= lag ? counter - lag : 0)
            } else if m.outcome != .neverSyncs {
                let at = m.syncAt ?? now + rng.seconds(0...15)
                m.syncAt = at
                if at <= now {
                    m.serving = true
                    m.zxid = Zxid(epoch: epoch, counter: counter)
                }
            }
            members[o] = m
        }
    }

    /// Participants that run (and can sync) elect the one with the highest zxid, then id.
    mutating func elect() {
        let candidates = participants.filter {
            guard let m = members[$0] else { return false }
            return m.exists && m.running && m.terminatingUntil == nil && m.outcome != .neverSyncs
        }
        guard candidates.count >= participants.count / 2 + 1 else { return }
        let winner = candidates.max { (members[$0]!.zxid, $0) < (members[$1]!.zxid, $1) }!
        epoch += 1
        counter = 0
        elections += 1
        leader = winner
        leaderHistory.append(winner)
        let zxid = Zxid(epoch: epoch, counter: counter)
        for o in candidates {
            members[o]?.serving = true
            members[o]?.zxid = zxid
        }
        for o in members.keys where !candidates.contains(o) {
            members[o]?.serving = false
            members[o]?.syncAt = nil
        }
    }
}
