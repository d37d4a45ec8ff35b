import EnsembleCore
import Testing

/// A small model of a Cassandra ring on a StatefulSet, enough to drive both planners and
/// check the rules they must keep: one node changes at a time, a node restarts only while
/// every other node is up and ready, a node leaves the ring (decommission) before its pod
/// goes, and a node never starts on the volume of one that left.
///
/// - A restarted pod terminates (0-30 s), is recreated at the desired revision and is UN and
///   ready 10-60 s later (DN meanwhile), unless it never starts.
/// - A started node comes up in 10-30 s, joins (UJ) for 1-10 minutes while it streams, then
///   is UN and ready, unless it never finishes joining.
/// - A decommissioned node leaves (UL) for 1-10 minutes, then is gone from the ring; its
///   process keeps running, not ready, until it is stopped.
struct CassandraSimulator {
    enum Outcome: Equatable { case normal, neverStarts }

    struct Node {
        var exists = true
        var terminatingUntil: Duration?
        var stopping = false
        var revision: String?
        var startedAt: Duration? = .zero
        /// When the process answers (CQL); nil: not yet scheduled, or never.
        var upAt: Duration?
        var ring: RingStatus? = .upNormal
        /// When a joining or leaving node's streaming ends.
        var streamingUntil: Duration?
        var hasVolume = true
        var nextOutcome: Outcome = .normal
        /// A hiccup (a long GC pause): CQL does not answer until then.
        var hiccupUntil: Duration?
    }

    var nodes: [Int: Node] = [:]
    var now: Duration = .seconds(1_000_000)
    var rng: SplitMix64
    let desiredRevision: String
    var violations: [String] = []
    var restarts: [Int] = []
    var staleVolumes: Set<Int> = []

    init(nodes count: Int, revision: String, desiredRevision: String, seed: UInt64) {
        rng = SplitMix64(seed: seed)
        self.desiredRevision = desiredRevision
        for o in 0..<count { nodes[o] = Node(revision: revision, upAt: .zero) }
    }

    func name(_ o: Int) -> String { "cass-\(o)" }

    func ready(_ o: Int) -> Bool {
        guard let n = nodes[o], n.exists, n.terminatingUntil == nil, let up = n.upAt, up <= now else { return false }
        if let until = n.hiccupUntil, until > now { return false }
        return n.ring == .upNormal
    }

    /// Nodes that exist but are not up, normal and ready (restarting, joining, leaving, down).
    var unsettled: [Int] { nodes.keys.sorted().filter { nodes[$0]!.exists && !ready($0) } }

    func observation() -> EnsembleObservation {
        let members: [MemberObservation] = nodes.keys.sorted().compactMap { o in
            let n = nodes[o]!
            guard n.exists else { return n.hasVolume ? .missing(ordinal: o, name: name(o), hasVolume: true) : nil }
            return MemberObservation(ordinal: o, name: name(o), terminating: n.terminatingUntil != nil, revision: n.revision,
                                     ready: ready(o), reachable: false, startedAt: n.startedAt, hasVolume: n.hasVolume, ring: n.ring)
        }
        return EnsembleObservation(members: members, ringKnown: true, now: now, namePrefix: "cass-")
    }

    mutating func apply(_ action: PlanAction) {
        switch action {
        case .restart(let o):
            restarts.append(o)
            if ready(o), let other = unsettled.first(where: { $0 != o }) {
                violations.append("restarted \(name(o)) while \(name(other)) was not ready")
            }
            var n = nodes[o] ?? Node(exists: false, ring: nil, hasVolume: false)
            if n.exists {
                n.terminatingUntil = now + rng.seconds(0...30)
                if n.ring != nil { n.ring = RingStatus(up: false, state: .normal) }
            } else {
                recreate(&n, joining: n.ring == nil)
            }
            nodes[o] = n
        case .start(let o):
            if nodes[o]?.exists == true { return }
            if let other = unsettled.first { violations.append("started \(name(o)) while \(name(other)) was not ready") }
            if staleVolumes.contains(o) && nodes[o]?.hasVolume == true { violations.append("started \(name(o)) on a decommissioned node's volume") }
            if let gap = (0..<o).first(where: { nodes[$0]?.exists != true }) {
                violations.append("started \(name(o)) while \(name(gap)) does not exist")
            }
            var n = nodes[o] ?? Node(exists: false, ring: nil, hasVolume: false)
            recreate(&n, joining: true)
            nodes[o] = n
        case .decommission(let o):
            guard var n = nodes[o], n.ring == .upNormal else {
                violations.append("decommissioned \(name(o)) while it was not UN")
                return
            }
            if let other = unsettled.first(where: { $0 != o }) {
                violations.append("decommissioned \(name(o)) while \(name(other)) was not ready")
            }
            n.ring = RingStatus(up: true, state: .leaving)
            n.streamingUntil = now + rng.seconds(60...600)
            nodes[o] = n
        case .stop(let o):
            guard var n = nodes[o], n.exists else { return }
            if n.ring != nil { violations.append("stopped \(name(o)) while it is in the ring") }
            if let higher = nodes.keys.filter({ $0 > o && nodes[$0]!.exists }).min() {
                violations.append("stopped \(name(o)) while \(name(higher)) exists")
            }
            n.stopping = true
            n.terminatingUntil = now + rng.seconds(0...30)
            nodes[o] = n
        case .deleteVolume(let o):
            if nodes[o]?.exists == true { violations.append("deleted the volume of \(name(o)) while it exists") }
            nodes[o]?.hasVolume = false
            staleVolumes.remove(o)
        case .addToConfig, .removeFromConfig:
            violations.append("reconfig in a Cassandra ring")
        case .wait, .done, .blocked:
            break
        }
    }

    mutating func recreate(_ n: inout Node, joining: Bool) {
        n.exists = true
        n.terminatingUntil = nil
        n.revision = desiredRevision
        n.startedAt = now
        n.hasVolume = true
        let never = n.nextOutcome == .neverStarts
        n.nextOutcome = .normal
        n.upAt = never ? nil : now + rng.seconds(10...60)
        if joining {
            n.ring = nil
            n.streamingUntil = never ? nil : n.upAt! + rng.seconds(60...600)
        }
    }

    /// One settled node stops answering for a while, as in a long GC pause; only while all
    /// are settled, so it never adds to a change under way.
    mutating func hiccup() {
        guard unsettled.isEmpty, let o = nodes.keys.sorted().filter(ready).randomElement(using: &rng) else { return }
        nodes[o]!.hiccupUntil = now + rng.seconds(10...60)
    }

    /// Nodes unsettled for a reason other than a hiccup.
    var changing: [Int] { unsettled.filter { nodes[$0]!.hiccupUntil.map { $0 <= now } ?? true } }

    mutating func advance(by step: Duration = .seconds(5)) {
        now += step
        for o in nodes.keys.sorted() {
            var n = nodes[o]!
            if let until = n.terminatingUntil, until <= now {
                if n.stopping {
                    n = Node(exists: false, startedAt: nil, ring: nil, hasVolume: n.hasVolume)
                } else {
                    recreate(&n, joining: n.ring == nil)
                }
            }
            if n.exists, n.terminatingUntil == nil, let up = n.upAt, up <= now {
                if n.ring == nil, let until = n.streamingUntil {
                    n.ring = until <= now ? .upNormal : RingStatus(up: true, state: .joining)
                    if until <= now { n.streamingUntil = nil }
                } else if n.ring?.state == .joining, let until = n.streamingUntil, until <= now {
                    n.ring = .upNormal
                    n.streamingUntil = nil
                } else if n.ring?.state == .leaving, let until = n.streamingUntil, until <= now {
                    n.ring = nil
                    n.streamingUntil = nil
                    n.upAt = nil
                    staleVolumes.insert(o)
                } else if n.ring == RingStatus(up: false, state: .normal) {
                    n.ring = .upNormal
                }
            }
            nodes[o] = n
        }
    }
}

@Suite struct CassandraSimulationTests {
    static let settings = PlanSettings(engine: .cassandra, memberTimeout: .seconds(600), stepTimeout: .seconds(300),
                                       streamingTimeout: .seconds(3600))

    /// Drives a planner until it is done or blocked, with hiccups; every step keeps at most one
    /// node changing (beyond those unsettled from the start).
    static func drive(_ sim: inout CassandraSimulator, seed: UInt64, initiallyUnsettled: Int = 0,
                      plan: (EnsembleObservation, StepClock?) -> PlanDecision) -> PlanDecision? {
        var faults = SplitMix64(seed: seed &* 13)
        var clock: StepClock?
        for _ in 0..<5000 {
            let d = plan(sim.observation(), clock)
            if d.isDone || d.isBlocked { return d }
            clock = faults.chance(0.05) ? nil : d.clock
            if !faults.chance(0.05) { sim.apply(d.action) }
            sim.advance()
            if faults.chance(0.1) { sim.hiccup() }
            #expect(sim.changing.count <= max(1, initiallyUnsettled), "changing: \(sim.changing) after \(d.line)")
        }
        return nil
    }

    @Test(arguments: 1...150)
    func roll(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let count = Int.random(in: 3...7, using: &rng)
        var sim = CassandraSimulator(nodes: count, revision: "rev-1", desiredRevision: "rev-2", seed: UInt64(seed))
        let down = rng.chance(0.3) ? Int.random(in: 0..<count, using: &rng) : nil
        if let down { sim.nodes[down]!.ring = RingStatus(up: false, state: .normal); sim.nodes[down]!.upAt = nil }
        let stall = rng.chance(0.25) ? Int.random(in: 0..<count, using: &rng) : nil
        if let stall { sim.nodes[stall]!.nextOutcome = .neverStarts }
        let final = try #require(Self.drive(&sim, seed: UInt64(seed), initiallyUnsettled: down == nil ? 0 : 1) { observation, clock in
            RollPlanner.next(desiredRevision: "rev-2", replicas: count, observation: observation, settings: Self.settings, clock: clock)
        })
        #expect(sim.violations.isEmpty, "\(sim.violations)")
        for o in 0..<count { #expect(sim.restarts.filter { $0 == o }.count <= 1, "restarts \(sim.restarts)") }
        if let down { #expect(sim.restarts.first == down, "the down node first: \(sim.restarts)") }
        if let stall {
            #expect(final.isBlocked && final.reason.code == "MemberDidNotRejoin" && final.reason.message.contains("cass-\(stall)"), "\(final.line)")
            #expect(sim.restarts.last == stall)
            return
        }
        #expect(final.isDone, "\(final.line)")
        #expect(sim.nodes.values.allSatisfy { $0.revision == "rev-2" })
        #expect((0..<count).allSatisfy(sim.ready))
    }

    @Test(arguments: 1...150)
    func scale(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let from = [1, 3, 5].randomElement(using: &rng)!
        let to = Int.random(in: 1...6, using: &rng)
        let deleteVolumes = rng.chance(0.5)
        var sim = CassandraSimulator(nodes: from, revision: "rev-1", desiredRevision: "rev-1", seed: UInt64(seed))
        for o in from..<6 where rng.chance(0.3) {
            sim.nodes[o] = .init(exists: false, startedAt: nil, ring: nil, hasVolume: true)
            sim.staleVolumes.insert(o)
        }
        let stall = to > from && rng.chance(0.2) ? Int.random(in: from..<to, using: &rng) : nil
        if let stall { sim.nodes[stall, default: .init(exists: false, startedAt: nil, ring: nil, hasVolume: false)].nextOutcome = .neverStarts }
        var settings = Self.settings
        settings.deleteVolumesOnScaleDown = deleteVolumes
        let final = try #require(Self.drive(&sim, seed: UInt64(seed)) { observation, clock in
            MembershipPlanner.next(desiredReplicas: to, observation: observation, settings: settings, clock: clock)
        })
        #expect(sim.violations.isEmpty, "\(sim.violations)")
        if let stall {
            #expect(final.isBlocked && final.reason.code == "NodeDidNotJoin" && final.reason.message.contains("cass-\(stall)"), "\(final.line)")
            return
        }
        #expect(final.isDone, "\(final.line)")
        #expect((0..<to).allSatisfy { sim.nodes[$0]?.exists == true && sim.nodes[$0]?.ring == .upNormal }, "not all of 0..<\(to) are UN")
        for (o, n) in sim.nodes where o >= to {
            #expect(!n.exists && n.ring == nil, "cass-\(o) is still there")
            if deleteVolumes { #expect(!n.hasVolume, "cass-\(o) kept its volume under Delete") }
        }
    }
}
