import EnsembleCore
import Testing

@Suite struct RollPlannerTests {
    static let v = Fixture.version
    static let longAgo = Fixture.now - .seconds(3600)

    static let zooKeeperCases: [RollCase] = [
        // Leader position: followers from the highest ordinal down, the leader last.
        RollCase(title: "leader first: the highest follower goes first", members: "L- F- F-", action: .restart(ordinal: 2), code: "RestartingFollower", mentions: ["zk-2", "quorum 2 of 3"]),
        RollCase(title: "leader last: it is skipped although it has the highest ordinal", members: "F- F- L-", action: .restart(ordinal: 1), code: "RestartingFollower"),
        RollCase(title: "leader in the middle of five", members: "F- F- L- F- F-", action: .restart(ordinal: 4), code: "RestartingFollower", mentions: ["quorum 3 of 5"]),
        RollCase(title: "followers already updated are never restarted again", members: "F- F+ L- F+ F-", action: .restart(ordinal: 4), code: "RestartingFollower"),
        RollCase(title: "then the next lower follower", members: "F- F+ L- F+ F+", action: .restart(ordinal: 0), code: "RestartingFollower"),
        RollCase(title: "the leader last: handed over with reconfig", members: "F+ L- F+",
                 action: .removeFromConfig(ordinal: 1, fromVersion: v), code: "HandingOverLeadership", mentions: ["zk-1", "0x500000010"]),
        RollCase(title: "the leader last, hand-off off: restarted in place", members: "F+ L- F+", handOff: false,
                 action: .restart(ordinal: 1), code: "RestartingLeader", mentions: ["hand-off is off"]),
        RollCase(title: "the leader last, config unreadable: wait rather than restart it blind", members: "F+ L- F+", config: false,
                 action: .wait(ordinal: 1), code: "WaitingForQuorum", mentions: ["/zookeeper/config"]),
        RollCase(title: "the leader last, config unreadable, hand-off off: restarted in place", members: "F+ L- F+", handOff: false, config: false,
                 action: .restart(ordinal: 1), code: "RestartingLeader"),

        // Unready and missing members first: they hold no vote.
        RollCase(title: "a missing member first", members: "L- F- M-", action: .restart(ordinal: 2), code: "RestartingMissingMember"),
        RollCase(title: "a missing member before a higher ordinal", members: "L- M- F-", action: .restart(ordinal: 1), code: "RestartingMissingMember"),
        RollCase(title: "missing before not serving", members: "L- D- M- F-", action: .restart(ordinal: 2), code: "RestartingMissingMember"),
        RollCase(title: "an unanswering member first", members: "L- D- F-", action: .restart(ordinal: 1), code: "RestartingUnreadyMember"),
        RollCase(title: "a member answering but not serving first", members: "N- L- F-", action: .restart(ordinal: 0), code: "RestartingUnreadyMember"),
        RollCase(title: "unready first even without a quorum (it may restore it)", members: "D- D- F-", action: .restart(ordinal: 1), code: "RestartingUnreadyMember"),
        RollCase(title: "an unanswering member before one that answers without serving", members: "L- D- N- F- F-", action: .restart(ordinal: 1), code: "RestartingUnreadyMember"),
        RollCase(title: "without a quorum: the unanswering members before those waiting for one", members: "N- D- D- N- N-", action: .restart(ordinal: 2), code: "RestartingUnreadyMember"),
        RollCase(title: "an observer in the config is outside the voters: restarted first", members: "L- F- O-", action: .restart(ordinal: 2), code: "RestartingOutsideConfig"),
        RollCase(title: "an updated observer is promoted to participant", members: "L- F- O+", action: .addToConfig(ordinal: 2, fromVersion: v), code: "AddingToConfig"),
        RollCase(title: "config unreadable: an observer before followers", members: "L- F- O-", config: false, action: .restart(ordinal: 2), code: "RestartingNonVoter"),

        // After a restart: wait until the member serves and has caught up.
        RollCase(title: "a restarted member that does not answer yet", members: "L- F- D+", action: .wait(ordinal: 2), code: "WaitingForRejoin", mentions: ["zk-2 does not answer"]),
        RollCase(title: "a restarted member that answers but does not serve", members: "L- F- N+", action: .wait(ordinal: 2), code: "WaitingForRejoin"),
        RollCase(title: "a restarted member in an old epoch has not caught up", members: "L- F- F+~", action: .wait(ordinal: 2), code: "WaitingForRejoin", mentions: ["epoch 4", "epoch 5", "more than 1000 transactions into it"]),
        // Real ZooKeeper after an election: the leader reports <epoch>00000000, its followers
        // the previous epoch's last zxid until the first write. They are synced all the same.
        RollCase(title: "after an election with no writes since, followers in the previous epoch are caught up", members: "L- F-~ F-~", counter: 0,
                 action: .restart(ordinal: 2), code: "RestartingFollower"),
        RollCase(title: "a restarted member that missed only a few transactions of a new epoch has caught up", members: "L- F- F+~", counter: 3,
                 action: .restart(ordinal: 1), code: "RestartingFollower"),
        RollCase(title: "hand-off: the old leader synced into an epoch without writes yet; add it back", members: "Fx+~ F+~ L+", counter: 0,
                 action: .addToConfig(ordinal: 0, fromVersion: v), code: "AddingToConfig"),
        RollCase(title: "a member that is stopping", members: "L- F- T-", action: .wait(ordinal: 2), code: "WaitingForRestart"),
        RollCase(title: "no leader: a restarted member that answers is as back as it can be", members: "N+ D- D-", action: .restart(ordinal: 2), code: "RestartingUnreadyMember"),
        RollCase(title: "no leader: a restarted member that does not answer is waited for", members: "D+ D- N-", action: .wait(ordinal: 0), code: "WaitingForRejoin", mentions: ["no leader serves"]),
        RollCase(title: "all updated but no leader: not done", members: "N+ N+ N+", action: .wait(ordinal: nil), code: "WaitingForQuorum", mentions: ["no leader serves yet"]),
        RollCase(title: "all updated, no leader for too long", members: "N+ N+ N+", waitedFor: .seconds(301), action: .blocked, code: "QuorumNotReady"),
        RollCase(title: "the restarted member is back: the next one", members: "L- F- F+", action: .restart(ordinal: 1), code: "RestartingFollower"),

        // Gates before a voter restarts.
        RollCase(title: "the leader reports fewer synced followers than serve", members: "L- F- F-", synced: 1,
                 action: .wait(ordinal: 2), code: "WaitingForQuorum", mentions: ["reports 1 synced followers of 2"]),
        RollCase(title: "the leader does not report synced followers", members: "L- F- F-", synced: .some(nil),
                 action: .wait(ordinal: 2), code: "WaitingForQuorum", mentions: ["does not report"]),
        RollCase(title: "another voter lags in an old epoch", members: "L- F-~ F-", action: .wait(ordinal: 2), code: "WaitingForQuorum", mentions: ["zk-1 is in epoch 4"]),
        RollCase(title: "no leader", members: "F- F- F-", action: .wait(ordinal: 2), code: "WaitingForQuorum", mentions: ["no member answers as the leader"]),

        // A member that was down before the roll and is not the one to restart: blocked.
        RollCase(title: "a non-victim down before the roll blocks it", members: "L- F- D+", startedAt: longAgo,
                 action: .blocked, code: "MemberDidNotRejoin", mentions: ["zk-2", "600s"]),
        RollCase(title: "an updated member that serves but lags gets the whole timeout from now", members: "L- F- F+~", startedAt: longAgo,
                 action: .wait(ordinal: 2), code: "WaitingForRejoin"),
        RollCase(title: "a non-victim not serving before the roll blocks it", members: "L- N+ F-", startedAt: longAgo,
                 action: .blocked, code: "MemberDidNotRejoin", mentions: ["zk-1 is not serving"]),

        // Timeouts: a wait turns into blocked once it lasted longer than the spec allows.
        RollCase(title: "rejoin within the member timeout", members: "L- F- D+", waitedFor: .seconds(599), action: .wait(ordinal: 2), code: "WaitingForRejoin"),
        RollCase(title: "rejoin after the member timeout", members: "L- F- D+", waitedFor: .seconds(601), action: .blocked, code: "MemberDidNotRejoin", mentions: ["the roll stops here"]),
        RollCase(title: "the gate within the step timeout", members: "L- F- F-", synced: 1, waitedFor: .seconds(299), action: .wait(ordinal: 2), code: "WaitingForQuorum"),
        RollCase(title: "the gate after the step timeout", members: "L- F- F-", synced: 1, waitedFor: .seconds(301), action: .blocked, code: "QuorumNotReady", mentions: ["zk-2 was not restarted"]),
        RollCase(title: "a member stuck stopping", members: "L- F- T-", waitedFor: .seconds(601), action: .blocked, code: "MemberStuckStopping"),

        // Leader hand-off, each step, and its repair after a crash part-way.
        // Restarted at once, election or not: a removed leader commits nothing, so the clients
        // still attached to it wait until it goes.
        RollCase(title: "hand-off: the old leader left, no new leader yet: restarted at once", members: "Nx- F+ F+",
                 action: .restart(ordinal: 0), code: "RestartingOutsideConfig", mentions: ["while the rest elect"]),
        RollCase(title: "hand-off: the old leader still answers as leader, the rest elect: restarted at once", members: "Lx- F+ F+",
                 action: .restart(ordinal: 0), code: "RestartingOutsideConfig"),
        RollCase(title: "hand-off: restarted, no leader among the rest", members: "Nx+ N+ N+", action: .wait(ordinal: 0), code: "WaitingForSync",
                 mentions: ["zk-0 is not serving"]),
        RollCase(title: "hand-off: restarted, no leader among the rest for too long", members: "Nx+ N+ N+", waitedFor: .seconds(601),
                 action: .blocked, code: "MemberDidNotSync"),
        RollCase(title: "hand-off: a new leader; restart the old one outside the config", members: "Fx- F+ L+", action: .restart(ordinal: 0), code: "RestartingOutsideConfig", mentions: ["zk-2 leads"]),
        // Real ZooKeeper: the removed leader answers as leader for up to half a tick after the
        // others elected; the voter that leads is the leader.
        RollCase(title: "hand-off: the old leader still answers as leader, a voter leads: restart the old one", members: "Lx- F+ L+",
                 action: .restart(ordinal: 0), code: "RestartingOutsideConfig", mentions: ["zk-2 leads"]),
        RollCase(title: "hand-off: restarted, not synced yet", members: "Dx+ F+ L+", action: .wait(ordinal: 0), code: "WaitingForSync"),
        RollCase(title: "hand-off: restarted, in an old epoch", members: "Fx+~ F+ L+", action: .wait(ordinal: 0), code: "WaitingForSync"),
        RollCase(title: "hand-off: synced as a non-voter; add it back", members: "Fx+ F+ L+",
                 action: .addToConfig(ordinal: 0, fromVersion: v), code: "AddingToConfig", mentions: ["0x500000010"]),
        RollCase(title: "hand-off: synced, but the grown config would lack a synced quorum", members: "Fx+ D+ L+ D+", startedAt: Fixture.now,
                 action: .wait(ordinal: 0), code: "WaitingForQuorum", mentions: ["needs 3 of 4 members synced; 2 are"]),
        RollCase(title: "repair before anything else: a member left out of the config is added back", members: "L- F- Fx+",
                 action: .addToConfig(ordinal: 2, fromVersion: v), code: "AddingToConfig"),
        RollCase(title: "repair under Manual: added back without a restart", members: "Fx- F+ L+", manual: true,
                 action: .addToConfig(ordinal: 0, fromVersion: v), code: "AddingToConfig", mentions: ["Manual"]),
        RollCase(title: "the old leader rejoined as a voter: done", members: "F+ F+ L+", action: .done, code: "RollComplete", mentions: ["leader zk-2"]),

        // Small ensembles.
        RollCase(title: "one member: restarted, no quorum to keep", members: "L-", action: .restart(ordinal: 0), code: "RestartingOnlyMember"),
        RollCase(title: "one member back: done", members: "L+", action: .done, code: "RollComplete"),
        RollCase(title: "two members: the follower leaves the config before its restart", members: "L- F-",
                 action: .removeFromConfig(ordinal: 1, fromVersion: v), code: "RemovingBeforeRestart", mentions: ["below the quorum of 2"]),
        RollCase(title: "two members, hand-off off: blocked", members: "L- F-", handOff: false, action: .blocked, code: "QuorumTooSmall"),
        RollCase(title: "two members: the leader is handed over too", members: "L- F+",
                 action: .removeFromConfig(ordinal: 0, fromVersion: v), code: "HandingOverLeadership"),

        // Strategy and scope.
        RollCase(title: "Manual never restarts", members: "L- F- F-", manual: true, action: .wait(ordinal: nil), code: "ManualUpdate", mentions: ["zk-0, zk-1, zk-2"]),
        RollCase(title: "a member beyond replicas: scaling first", members: "L- F- F- F-", replicas: 3, action: .wait(ordinal: 3), code: "WaitingForMembership"),
        RollCase(title: "all updated and serving", members: "F+ L+ F+", action: .done, code: "RollComplete"),
        RollCase(title: "an unknown revision counts as old", members: "L+ F+ F?", action: .restart(ordinal: 2), code: "RestartingFollower", mentions: ["an unknown revision"]),
    ]

    static let cassandraCases: [RollCase] = [
        RollCase(title: "Cassandra: highest ordinal first", members: "F- F- F-", engine: .cassandra, action: .restart(ordinal: 2), code: "RestartingMember"),
        RollCase(title: "Cassandra: a missing node first", members: "F- M- F-", engine: .cassandra, action: .restart(ordinal: 1), code: "RestartingMissingMember"),
        RollCase(title: "Cassandra: an unready node first", members: "N- F- F-", engine: .cassandra, action: .restart(ordinal: 0), code: "RestartingUnreadyMember"),
        RollCase(title: "Cassandra: wait until the restarted node is ready", members: "F- F- N+", engine: .cassandra, action: .wait(ordinal: 2), code: "WaitingForRejoin"),
        RollCase(title: "Cassandra: then the next", members: "F- F- F+", engine: .cassandra, action: .restart(ordinal: 1), code: "RestartingMember"),
        RollCase(title: "Cassandra: another node not UN (leaving)", members: "G- F- F-", engine: .cassandra, action: .wait(ordinal: 2), code: "WaitingForRing", mentions: ["cass-0 is UL"]),
        RollCase(title: "Cassandra: another node not in the ring", members: "Fx- F- F-", engine: .cassandra, action: .wait(ordinal: 2), code: "WaitingForRing", mentions: ["not in the ring"]),
        RollCase(title: "Cassandra: gate timed out", members: "G- F- F-", engine: .cassandra, waitedFor: .seconds(301), action: .blocked, code: "RingNotReady"),
        RollCase(title: "Cassandra: restarted node not ready after the timeout", members: "F- F- N+", engine: .cassandra, startedAt: longAgo,
                 action: .blocked, code: "MemberDidNotRejoin"),
        RollCase(title: "Cassandra: all updated and ready", members: "F+ F+ F+", engine: .cassandra, action: .done, code: "RollComplete"),
    ]

    static let ordinalCases: [RollCase] = [
        RollCase(title: "StatefulSet order: highest ordinal first, even the leader", members: "F- F- L-", order: .ordinal, action: .restart(ordinal: 2), code: "RestartingByOrdinal"),
        RollCase(title: "StatefulSet order: ignores an unready lower member (the quorum goes)", members: "F- D- F-", order: .ordinal, action: .restart(ordinal: 2), code: "RestartingByOrdinal"),
        RollCase(title: "StatefulSet order: waits for the updated pod to be ready", members: "F- F- N+", order: .ordinal, action: .wait(ordinal: 2), code: "WaitingForReady"),
        RollCase(title: "StatefulSet order: does not check catch-up", members: "L- F- F+~", order: .ordinal, action: .restart(ordinal: 1), code: "RestartingByOrdinal"),
        RollCase(title: "StatefulSet order: a terminating pod's old start time does not count", members: "F- F- T-", order: .ordinal, startedAt: longAgo,
                 action: .wait(ordinal: 2), code: "WaitingForReady"),
        RollCase(title: "StatefulSet order: done", members: "F+ L+ F+", order: .ordinal, action: .done, code: "RollComplete"),
    ]

    @Test(arguments: zooKeeperCases + cassandraCases + ordinalCases)
    func nextAction(_ c: RollCase) {
        let d = c.plan()
        c.check(d)
        // Every answer names the member it is about.
        if let o = d.ordinal {
            let name = c.engine == .zooKeeper ? "zk-\(o)" : "cass-\(o)"
            #expect(d.summary.contains(name) || d.reason.message.contains(name), "\(d.line)")
        }
        // Waits carry a clock (they can time out), except the Manual pause and scaling.
        if case .wait = d.action, c.code != "ManualUpdate", c.code != "WaitingForMembership" {
            #expect(d.clock != nil)
        }
    }

    @Test func invalidObservationsAreRefused() {
        var observation = Fixture.zooKeeper("L- F- F-")
        observation.members.append(observation.members[1])
        let d = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: observation, settings: Fixture.settings())
        #expect(d.action == .blocked)
        #expect(d.reason.code == "InvalidObservation")
        #expect(d.reason.message.contains("ordinals observed twice: 1"))
        let empty = RollPlanner.next(desiredRevision: "", replicas: 3, observation: Fixture.zooKeeper("L- F- F-"), settings: Fixture.settings())
        #expect(empty.reason.code == "InvalidObservation")
    }

    /// The clock of a wait survives across calls: the same step keeps its start, a new step
    /// starts a new clock, and a known restart time wins over both.
    @Test func stepClockIsCarriedAndReset() throws {
        let settings = Fixture.settings()
        let waiting = Fixture.zooKeeper("L- F- D+")
        let first = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: waiting, settings: settings)
        let clock = try #require(first.clock)
        #expect(clock.since == Fixture.now)
        var later = Fixture.zooKeeper("L- F- D+", now: Fixture.now + .seconds(60))
        let second = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: later, settings: settings, clock: clock)
        #expect(second.clock == clock)
        // Another step (a different member restarting) starts its own clock.
        later = Fixture.zooKeeper("L- D+ F+", now: Fixture.now + .seconds(60))
        let other = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: later, settings: settings, clock: clock)
        #expect(other.clock?.since == Fixture.now + .seconds(60))
        #expect(other.clock?.step != clock.step)
        // The member's own start time is authoritative (an operator restart loses nothing).
        let started = Fixture.zooKeeper("L- F- D+", startedAt: Fixture.now - .seconds(30))
        let fromStart = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: started, settings: settings)
        #expect(fromStart.clock?.since == Fixture.now - .seconds(30))
    }

    /// A new desired revision mid-roll: members at the previous target are old again, and the
    /// clock of a wait for the previous revision does not carry over.
    @Test func newRevisionMidRollStartsOver() throws {
        let settings = Fixture.settings()
        let observation = Fixture.zooKeeper("L- F- D+")
        let waiting = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: observation, settings: settings)
        let next = RollPlanner.next(desiredRevision: "rev-newer", replicas: 3, observation: observation, settings: settings, clock: waiting.clock)
        #expect(next.action == .restart(ordinal: 2))
        #expect(next.reason.code == "RestartingUnreadyMember")
    }

    @Test func settingsComeFromTheSpec() throws {
        let ensemble = try decodeOne(resource("""
            engine: ZooKeeper
            storage:
              reclaimPolicy: Delete
            updateStrategy:
              type: Manual
              memberTimeoutSeconds: 120
              stepTimeoutSeconds: 45
              leaderHandOff: false
            """))
        let settings = PlanSettings(spec: ensemble.spec)
        #expect(settings == PlanSettings(engine: .zooKeeper, manual: true, leaderHandOff: false, memberTimeout: .seconds(120),
                                         stepTimeout: .seconds(45), streamingTimeout: .seconds(86400), deleteVolumesOnScaleDown: true))
        let defaults = PlanSettings(spec: try decodeOne(resource("engine: Cassandra\ncassandra:\n  streamingTimeoutSeconds: 7200")).spec)
        #expect(defaults == PlanSettings(engine: .cassandra, manual: false, leaderHandOff: true, memberTimeout: .seconds(600),
                                         stepTimeout: .seconds(300), streamingTimeout: .seconds(7200), deleteVolumesOnScaleDown: false))
    }

    @Test func zxidHalves() {
        let z = Zxid(0x0000_0007_0000_0123)
        #expect(z.epoch == 7)
        #expect(z.counter == 0x123)
        #expect(Zxid(epoch: 7, counter: 0x123) == z)
        #expect(z.description == "0x700000123")
        #expect(Zxid(epoch: 6, counter: .max) < Zxid(epoch: 7, counter: 0))
    }
}

@Suite struct RollPlannerReadinessTests {
    /// A restarted ZooKeeper member that serves but whose readiness probe does not pass yet
    /// (clients reach it through the Service only once it does) holds the roll.
    @Test func aRestartedMemberMustBeReadyBeforeTheNextRestart() {
        var observation = Fixture.zooKeeper("F- L- F+")
        observation.members[2].ready = false
        let decision = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: observation,
                                        settings: PlanSettings(engine: .zooKeeper))
        #expect(decision.action == .wait(ordinal: 2) && decision.reason.code == "WaitingForRejoin")
        #expect(decision.reason.message.contains("is not ready"), "\(decision.reason.message)")
        observation.members[2].ready = true
        #expect(RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: observation,
                                 settings: PlanSettings(engine: .zooKeeper)).action == .restart(ordinal: 0))
    }
}

extension RollPlannerReadinessTests {
    /// A member whose pod is ready but which the operator cannot reach is not taken for a
    /// down member and restarted: the roll stops and says how members are reached.
    @Test func aReadyMemberTheRollCannotReachIsNotRestarted() {
        var observation = Fixture.zooKeeper("F- L- F-")
        observation.members[2].reachable = false
        observation.members[2].role = .notServing
        observation.members[2].ready = true
        let decision = RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: observation,
                                        settings: PlanSettings(engine: .zooKeeper))
        #expect(decision.isBlocked && decision.reason.code == "MemberUnreachable", "\(decision.line)")
        observation.members[2].ready = false
        #expect(RollPlanner.next(desiredRevision: Fixture.desired, replicas: 3, observation: observation,
                                 settings: PlanSettings(engine: .zooKeeper)).action == .restart(ordinal: 2))
    }
}
