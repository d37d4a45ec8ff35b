import EnsembleCore
import Testing

/// A random ensemble to roll: its size, where the leader is, which members are unready before
/// the roll, and whether one member's restart stalls. Replayable from its seed.
struct RollScenario: Sendable, CustomTestStringConvertible {
    enum Unready: Sendable, CaseIterable { case missing, down, stuck }

    var seed: UInt64
    var members: Int
    var leader: Int?
    var unready: [Int: Unready]
    var stall: (ordinal: Int, outcome: ZooKeeperSimulator.Outcome)?
    var handOff: Bool

    /// A leader and a serving quorum before the roll starts.
    var healthy: Bool { leader != nil }
    var testDescription: String {
        "seed \(seed): \(members) members, leader \(leader.map(String.init) ?? "none"), unready \(unready.sorted { $0.key < $1.key }), "
            + "stall \(stall.map { "\($0.ordinal) \($0.outcome)" } ?? "none"), hand-off \(handOff)"
    }

    init(seed: UInt64) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        members = [3, 5, 7].randomElement(using: &rng)!
        let healthy = rng.chance(0.85)
        let tolerated = (members - 1) / 2
        let count = healthy ? Int.random(in: 0...tolerated, using: &rng) : Int.random(in: (tolerated + 1)...members, using: &rng)
        let down = Array(0..<members).shuffled(using: &rng).prefix(count)
        unready = Dictionary(uniqueKeysWithValues: down.map { ($0, Unready.allCases.randomElement(using: &rng)!) })
        leader = healthy ? (0..<members).filter { !down.contains($0) }.randomElement(using: &rng) : nil
        stall = rng.chance(0.25) ? (Int.random(in: 0..<members, using: &rng), rng.chance(0.5) ? .neverStarts : .neverSyncs) : nil
        handOff = rng.chance(0.5)
    }

    static let all = (1...500).map { RollScenario(seed: UInt64($0)) }
}

/// What happened when a planner drove one scenario to its end.
struct RollRun {
    var sim: ZooKeeperSimulator
    var decisions: [PlanDecision] = []
    var final: PlanDecision?
    var lostQuorum = false
    var restartedAt: [Int: Duration] = [:]
}

@Suite struct RollSimulationTests {
    static let desired = "rev-2"
    static let memberTimeout: Duration = .seconds(600)

    /// - Parameter reconciler: plan as the reconciler does, membership first and the roll only
    ///   when membership has nothing to do.
    static func run(_ s: RollScenario, order: PlanSettings.Order, reconciler: Bool = false) -> RollRun {
        var sim = ZooKeeperSimulator(members: s.members, leader: s.leader, revision: "rev-1", desiredRevision: desired, seed: s.seed)
        for (o, kind) in s.unready {
            switch kind {
            case .missing: sim.members[o]!.exists = false
            case .down: sim.members[o]!.upAt = nil
            case .stuck: sim.members[o]!.outcome = .neverSyncs
            }
            sim.members[o]!.running = kind == .stuck
            sim.members[o]!.serving = false
        }
        if s.leader == nil { for o in 0..<s.members { sim.members[o]!.serving = false } }
        if let stall = s.stall { sim.members[stall.ordinal]!.nextOutcome = stall.outcome }
        precondition(sim.hasQuorum == s.healthy, "scenario \(s.seed) is not what it claims")

        let settings = PlanSettings(engine: .zooKeeper, order: order, leaderHandOff: s.handOff,
                                    memberTimeout: memberTimeout, stepTimeout: .seconds(300))
        // The operator's own faults: it restarts (losing the step clock) or dies before acting.
        var faults = SplitMix64(seed: s.seed &* 31)
        var run = RollRun(sim: sim)
        var clock: StepClock?
        for _ in 0..<3000 {
            let observation = run.sim.observation()
            var d = RollPlanner.next(desiredRevision: desired, replicas: s.members, observation: observation, settings: settings, clock: clock)
            if reconciler {
                let membership = MembershipPlanner.next(desiredReplicas: s.members, observation: observation, settings: settings,
                                                        desiredRevision: desired, clock: clock)
                if !membership.isDone { d = membership }
            }
            run.decisions.append(d)
            if d.isDone || d.isBlocked {
                run.final = d
                break
            }
            clock = faults.chance(0.05) ? nil : d.clock
            if !faults.chance(0.05) {
                if case .restart(let o) = d.action { run.restartedAt[o] = run.sim.now }
                run.sim.apply(d.action)
            }
            run.sim.advance()
            if faults.chance(0.2) { run.sim.slowDownSomeone() }
            if !run.sim.hasQuorum { run.lostQuorum = true }
        }
        return run
    }

    @Test(arguments: RollScenario.all)
    func quorumSafeRoll(_ s: RollScenario) throws {
        let run = Self.run(s, order: .quorumSafe)
        let sim = run.sim
        let final = try #require(run.final, "the roll neither finished nor stopped; last: \(run.decisions.last?.line ?? "-")")
        #expect(sim.violations.isEmpty, "\(sim.violations)")
        // No member restarted twice, and the unready ones before any that served.
        for o in 0..<s.members {
            #expect(sim.restarts.filter { $0 == o }.count <= 1, "\(o) restarted \(sim.restarts.filter { $0 == o }.count) times: \(sim.restarts)")
        }
        if s.healthy {
            let firstServing = sim.restarts.firstIndex { s.unready[$0] == nil } ?? sim.restarts.count
            #expect(sim.restarts[firstServing...].allSatisfy { s.unready[$0] == nil }, "restart order \(sim.restarts)")
            #expect(!run.lostQuorum, "fewer than a quorum of voters served at some step")
        }

        if let stall = s.stall {
            // A stalled member blocks the roll after its timeout, with a reason, and nothing
            // is restarted after it.
            #expect(final.isBlocked, "\(final.line)")
            #expect(["MemberDidNotRejoin", "MemberDidNotSync"].contains(final.reason.code), "\(final.line)")
            #expect(final.reason.message.contains("zk-\(stall.ordinal)"), "\(final.line)")
            if s.healthy {
                #expect(sim.restarts.last == stall.ordinal)
                let waited = sim.now - (run.restartedAt[stall.ordinal] ?? sim.now)
                #expect(waited >= Self.memberTimeout && waited <= Self.memberTimeout + .seconds(25), "blocked after \(waited)")
            }
            return
        }
        #expect(final.isDone, "\(final.line)")
        #expect(sim.members.values.allSatisfy { $0.revision == Self.desired && $0.exists && $0.serving })
        #expect(sim.participants == Set(0..<s.members))
        if let leader = s.leader {
            // Exactly one leader change, and the old leader went last.
            #expect(sim.elections == 1, "\(sim.elections) elections, leaders \(sim.leaderHistory)")
            #expect(sim.restarts.last == leader, "restart order \(sim.restarts), leader \(leader)")
            let handOffs = run.decisions.filter { if case .removeFromConfig = $0.action { return true } else { return false } }
            #expect(Set(handOffs.map(\.ordinal)) == (s.handOff ? [leader] : []))
        }
    }

    /// The reconciler runs the membership planner first: it must leave a leader hand-off to
    /// the roll (it would otherwise add the old leader back before its restart), and the two
    /// together still roll with one leader change and no member restarted twice.
    @Test func membershipFirstLeavesTheHandOffToTheRoll() {
        var compared = 0
        for s in RollScenario.all where s.healthy && s.stall == nil && s.handOff {
            let run = Self.run(s, order: .quorumSafe, reconciler: true)
            compared += 1
            #expect(run.final?.isDone == true, "\(s.testDescription): \(run.final?.line ?? "-")")
            #expect(run.sim.violations.isEmpty, "\(s.testDescription): \(run.sim.violations)")
            #expect(run.sim.elections == 1, "\(s.testDescription): \(run.sim.leaderHistory)")
            #expect(Set(run.sim.restarts).count == run.sim.restarts.count, "\(s.testDescription): \(run.sim.restarts)")
            #expect(!run.lostQuorum)
            // The old leader was restarted while outside the configuration, then added back
            // (by whichever planner saw it synced first).
            let codes = run.decisions.map(\.reason.code)
            let removed = codes.firstIndex(of: "HandingOverLeadership")
            let restarted = codes.firstIndex(of: "RestartingOutsideConfig")
            let added = codes.firstIndex { $0 == "AddingMember" || $0 == "AddingToConfig" }
            #expect(removed != nil && restarted != nil && added != nil, "\(s.testDescription)")
            if let removed, let restarted, let added { #expect(removed < restarted && restarted < added, "\(s.testDescription)") }
        }
        #expect(compared >= 100)
    }

    /// The StatefulSet order on the same ensembles: no quorum gate and no leader awareness
    /// cost quorum and extra elections where the quorum-safe order costs neither.
    @Test func statefulSetOrderComparison() {
        var quorumSafeElections = 0
        var ordinalElections = 0
        var ordinalLostQuorum = 0
        var compared = 0
        for s in RollScenario.all where s.healthy && s.stall == nil {
            let safe = Self.run(s, order: .quorumSafe)
            let ordinal = Self.run(s, order: .ordinal)
            #expect(!safe.lostQuorum)
            compared += 1
            quorumSafeElections += safe.sim.elections
            ordinalElections += ordinal.sim.elections
            if ordinal.lostQuorum { ordinalLostQuorum += 1 }
            #expect(ordinal.sim.elections >= safe.sim.elections, "\(s.testDescription): \(ordinal.final?.line ?? "-")")
            #expect(safe.sim.elections == 1, "\(s.testDescription): \(safe.final?.line ?? "-") \(safe.sim.leaderHistory) \(safe.sim.restarts)")
        }
        #expect(compared >= 200)
        #expect(quorumSafeElections == compared)
        #expect(ordinalElections > quorumSafeElections)
        #expect(ordinalLostQuorum > 0)
    }
}
