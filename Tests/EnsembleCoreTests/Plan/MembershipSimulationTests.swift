import EnsembleCore
import Testing

/// A random scale: from and to how many members, where the leader is, which ordinals have a
/// volume left over from an earlier scale-down, the reclaim policy, and whether a joining
/// member never syncs. Replayable from its seed.
struct ScaleScenario: Sendable, CustomTestStringConvertible {
    var seed: UInt64
    var from: Int
    var to: Int
    var leader: Int
    var leftoverVolumes: [Int]
    var deleteVolumes: Bool
    var neverSyncs: Int?

    var testDescription: String {
        "seed \(seed): \(from) -> \(to), leader \(leader), leftover volumes \(leftoverVolumes), "
            + "reclaim \(deleteVolumes ? "Delete" : "Retain"), never syncs \(neverSyncs.map(String.init) ?? "none")"
    }

    init(seed: UInt64) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        from = [1, 3, 5, 7].randomElement(using: &rng)!
        to = Int.random(in: 1...7, using: &rng)
        leader = Int.random(in: 0..<from, using: &rng)
        leftoverVolumes = (from..<7).filter { _ in rng.chance(0.4) }
        deleteVolumes = rng.chance(0.5)
        neverSyncs = to > from && rng.chance(0.2) ? Int.random(in: from..<to, using: &rng) : nil
    }

    /// Every step of 3 -> 1 -> 3 and 1 -> 7 -> 1 is among these, with random leaders.
    static let all = (1...500).map { ScaleScenario(seed: UInt64($0)) }
}

@Suite struct MembershipSimulationTests {
    static let revision = "rev-1"

    @Test(arguments: ScaleScenario.all)
    func scale(_ s: ScaleScenario) throws {
        var sim = ZooKeeperSimulator(members: s.from, leader: s.leader, revision: Self.revision, desiredRevision: Self.revision, seed: s.seed)
        for o in s.leftoverVolumes {
            sim.members[o] = .init(exists: false, running: false, serving: false, revision: Self.revision, hasVolume: true)
            sim.staleVolumes.insert(o)
        }
        if let o = s.neverSyncs {
            sim.members[o, default: .init(exists: false, running: false, serving: false, hasVolume: false)].nextOutcome = .neverSyncs
        }
        let settings = PlanSettings(engine: .zooKeeper, memberTimeout: .seconds(600), stepTimeout: .seconds(300),
                                    deleteVolumesOnScaleDown: s.deleteVolumes)
        // The outside world: someone else's reconfig moves the version, the operator restarts
        // (losing the step clock) or dies between deciding and acting.
        var faults = SplitMix64(seed: s.seed &* 77)
        var clock: StepClock?
        var final: PlanDecision?
        var concurrentChanges = 0
        var previous = sim.participants
        for _ in 0..<3000 {
            let d = MembershipPlanner.next(desiredReplicas: s.to, observation: sim.observation(), settings: settings,
                                           desiredRevision: Self.revision, clock: clock)
            if d.isDone || d.isBlocked {
                final = d
                break
            }
            clock = faults.chance(0.05) ? nil : d.clock
            switch d.action {
            case .addToConfig, .removeFromConfig:
                if faults.chance(0.1) {
                    sim.bumpVersion()
                    concurrentChanges += 1
                }
            default: break
            }
            if !faults.chance(0.05) { sim.apply(d.action) }
            sim.advance()
            if faults.chance(0.2) { sim.slowDownSomeone() }
            // One change at a time, and every configuration keeps a serving, synced quorum.
            #expect(sim.participants.symmetricDifference(previous).count <= 1, "\(previous.sorted()) -> \(sim.participants.sorted())")
            #expect(sim.hasQuorum, "\(sim.servingVoters) of \(sim.participants.count) voters serve after: \(d.line)")
            previous = sim.participants
        }
        let end = try #require(final, "scaling neither finished nor stopped")
        #expect(sim.violations.isEmpty, "\(sim.violations)")
        #expect(sim.staleRejections <= concurrentChanges)

        if let stuck = s.neverSyncs {
            #expect(end.isBlocked, "\(end.line)")
            #expect(end.reason.code == "MemberDidNotSync", "\(end.line)")
            #expect(end.reason.message.contains("zk-\(stuck)"))
            #expect(!sim.participants.contains(stuck))
            return
        }
        #expect(end.isDone, "\(end.line)")
        #expect(end.reason.code == "MembershipComplete", "\(end.line)")
        #expect(sim.participants == Set(0..<s.to))
        for (o, m) in sim.members {
            if o < s.to {
                #expect(m.exists && m.serving, "zk-\(o) does not serve")
            } else {
                #expect(!m.exists, "zk-\(o) still runs")
                if s.deleteVolumes { #expect(!m.hasVolume, "zk-\(o) kept its volume under Delete") }
            }
        }
    }

    @Test func scenariosCoverTheInterestingScales() {
        let pairs = Set(ScaleScenario.all.map { [$0.from, $0.to] })
        for pair in [[3, 1], [1, 3], [3, 5], [5, 3], [1, 7], [7, 1], [3, 4], [5, 2]] {
            #expect(pairs.contains(pair), "no scenario scales \(pair[0]) -> \(pair[1])")
        }
        #expect(ScaleScenario.all.contains { $0.neverSyncs != nil })
        #expect(ScaleScenario.all.contains { !$0.leftoverVolumes.filter { $0 < 7 }.isEmpty && $0.to > $0.from })
    }
}
