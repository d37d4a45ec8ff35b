import EnsembleCore
import Testing
import ZKConfig

@Suite struct MembershipPlannerTests {
    static let v = Fixture.version
    static let longAgo = Fixture.now - .seconds(7200)

    /// Every step of 3 -> 5, in order.
    static let threeToFive: [MembershipCase] = [
        MembershipCase(title: "3->5: start member 3", members: "L F F", desired: 5, action: .start(ordinal: 3), code: "StartingMember", mentions: ["non-voting follower", "0x500000010"]),
        MembershipCase(title: "3->5: member 3 starting", members: "L F F Dx", desired: 5, action: .wait(ordinal: 3), code: "WaitingForSync"),
        MembershipCase(title: "3->5: member 3 answers, not serving", members: "L F F Nx", desired: 5, action: .wait(ordinal: 3), code: "WaitingForSync"),
        MembershipCase(title: "3->5: member 3 serving, not caught up", members: "L F F Fx~", desired: 5, action: .wait(ordinal: 3), code: "WaitingForSync", mentions: ["epoch 4"]),
        MembershipCase(title: "3->5: add member 3", members: "L F F Fx", desired: 5, action: .addToConfig(ordinal: 3, fromVersion: v), code: "AddingMember", mentions: ["making 4 voters", "0x500000010"]),
        MembershipCase(title: "3->5: start member 4", members: "L F F F", desired: 5, action: .start(ordinal: 4), code: "StartingMember"),
        MembershipCase(title: "3->5: member 4 starting", members: "L F F F Dx", desired: 5, action: .wait(ordinal: 4), code: "WaitingForSync"),
        MembershipCase(title: "3->5: add member 4", members: "L F F F Fx", desired: 5, action: .addToConfig(ordinal: 4, fromVersion: v), code: "AddingMember", mentions: ["making 5 voters"]),
        MembershipCase(title: "3->5: done", members: "L F F F F", desired: 5, action: .done, code: "MembershipComplete"),
    ]

    /// Every step of 5 -> 3, with either reclaim policy.
    static let fiveToThree: [MembershipCase] = [
        MembershipCase(title: "5->3: remove member 4", members: "L F F F F", desired: 3, action: .removeFromConfig(ordinal: 4, fromVersion: v), code: "RemovingMember", mentions: ["before it stops"]),
        MembershipCase(title: "5->3: stop member 4", members: "L F F F Fx", desired: 3, action: .stop(ordinal: 4), code: "StoppingMember"),
        MembershipCase(title: "5->3: member 4 stopping", members: "L F F F Tx", desired: 3, action: .wait(ordinal: 4), code: "WaitingForStop"),
        MembershipCase(title: "5->3 Retain: the volume stays, remove member 3", members: "L F F F Mxv", desired: 3, action: .removeFromConfig(ordinal: 3, fromVersion: v), code: "RemovingMember"),
        MembershipCase(title: "5->3 Delete: delete member 4's volume", members: "L F F F Mxv", desired: 3, deleteVolumes: true, action: .deleteVolume(ordinal: 4), code: "DeletingVolume"),
        MembershipCase(title: "5->3: remove member 3", members: "L F F F Mx", desired: 3, action: .removeFromConfig(ordinal: 3, fromVersion: v), code: "RemovingMember"),
        MembershipCase(title: "5->3: stop member 3", members: "L F F Fx Mx", desired: 3, action: .stop(ordinal: 3), code: "StoppingMember"),
        MembershipCase(title: "5->3: done", members: "L F F Mx Mx", desired: 3, action: .done, code: "MembershipComplete"),
        MembershipCase(title: "5->3 Retain: done with volumes kept", members: "L F F Mxv Mxv", desired: 3, action: .done, code: "MembershipComplete"),
        MembershipCase(title: "5->3 Delete: the last volume", members: "L F F Mxv Mx", desired: 3, deleteVolumes: true, action: .deleteVolume(ordinal: 3), code: "DeletingVolume"),
        MembershipCase(title: "5->3: the leader leaves like any member", members: "F F F F L", desired: 4, action: .removeFromConfig(ordinal: 4, fromVersion: v), code: "RemovingMember", mentions: ["it leads"]),
    ]

    /// 3 -> 1 -> 3 (standaloneEnabled=false lets one member grow again), Retain volumes.
    static let threeToOneToThree: [MembershipCase] = [
        MembershipCase(title: "3->1: remove member 2", members: "L F F", desired: 1, action: .removeFromConfig(ordinal: 2, fromVersion: v), code: "RemovingMember"),
        MembershipCase(title: "3->1: stop member 2", members: "L F Fx", desired: 1, action: .stop(ordinal: 2), code: "StoppingMember"),
        MembershipCase(title: "3->1: remove member 1, leaving one voter", members: "L F Mxv", desired: 1, action: .removeFromConfig(ordinal: 1, fromVersion: v), code: "RemovingMember"),
        MembershipCase(title: "3->1: stop member 1", members: "L Fx Mxv", desired: 1, action: .stop(ordinal: 1), code: "StoppingMember"),
        MembershipCase(title: "3->1: done", members: "L Mxv Mxv", desired: 1, action: .done, code: "MembershipComplete"),
        MembershipCase(title: "1->3: member 1's stale volume goes first", members: "L Mxv Mxv", desired: 3, action: .deleteVolume(ordinal: 1), code: "DeletingStaleVolume", mentions: ["stale data"]),
        MembershipCase(title: "1->3: start member 1", members: "L Mx Mxv", desired: 3, action: .start(ordinal: 1), code: "StartingMember"),
        MembershipCase(title: "1->3: member 1 starting", members: "L Dx Mxv", desired: 3, action: .wait(ordinal: 1), code: "WaitingForSync"),
        MembershipCase(title: "1->3: add member 1, making two voters", members: "L Fx Mxv", desired: 3, action: .addToConfig(ordinal: 1, fromVersion: v), code: "AddingMember", mentions: ["making 2 voters"]),
        MembershipCase(title: "1->3: member 2's stale volume", members: "L F Mxv", desired: 3, action: .deleteVolume(ordinal: 2), code: "DeletingStaleVolume"),
        MembershipCase(title: "1->3: start member 2", members: "L F Mx", desired: 3, action: .start(ordinal: 2), code: "StartingMember"),
        MembershipCase(title: "1->3: add member 2", members: "L F Fx", desired: 3, action: .addToConfig(ordinal: 2, fromVersion: v), code: "AddingMember"),
        MembershipCase(title: "1->3: done", members: "L F F", desired: 3, action: .done, code: "MembershipComplete"),
    ]

    static let repairsAndGates: [MembershipCase] = [
        // A member that never syncs.
        MembershipCase(title: "never syncs: blocked after the member timeout from its start", members: "L F F Nx", desired: 4, startedAt: longAgo,
                       action: .blocked, code: "MemberDidNotSync", mentions: ["zk-3", "600s"]),
        MembershipCase(title: "never syncs: blocked after the member timeout of the wait", members: "L F F Nx", desired: 4, waitedFor: .seconds(601),
                       action: .blocked, code: "MemberDidNotSync"),
        MembershipCase(title: "serving but lagging: the whole timeout from when it was seen", members: "L F F Fx~", desired: 4, startedAt: longAgo,
                       action: .wait(ordinal: 3), code: "WaitingForSync"),
        MembershipCase(title: "never syncs: still waiting within it", members: "L F F Nx", desired: 4, waitedFor: .seconds(599),
                       action: .wait(ordinal: 3), code: "WaitingForSync"),
        // A crash between a reconfig and the replica change: the next step repairs it.
        MembershipCase(title: "crash after removing, before stopping: stopped now", members: "L F F Fx", desired: 3, action: .stop(ordinal: 3), code: "StoppingMember"),
        MembershipCase(title: "crash after adding, the pod gone: started again", members: "L F F M", desired: 5, action: .start(ordinal: 3), code: "StartingConfiguredMember"),
        MembershipCase(title: "added but never started, even below a shrink", members: "L M F F", desired: 3, action: .start(ordinal: 1), code: "StartingConfiguredMember"),
        MembershipCase(title: "a member above desired, down, still in the config: removed", members: "L F F D", desired: 3, action: .removeFromConfig(ordinal: 3, fromVersion: v), code: "RemovingMember"),
        // Quorum gates: ZooKeeper's own rule for a reconfig, and settling between steps.
        MembershipCase(title: "remove: the config without it lacks a synced quorum", members: "L D D F F", desired: 3, action: .wait(ordinal: 4), code: "WaitingForQuorum", mentions: ["2 of its 4 members", "needs 3"]),
        MembershipCase(title: "remove: gate timed out", members: "L D D F F", desired: 3, waitedFor: .seconds(301), action: .blocked, code: "QuorumNotReady"),
        MembershipCase(title: "start: the config lacks a synced quorum", members: "L D D", desired: 5, action: .wait(ordinal: 3), code: "WaitingForQuorum"),
        MembershipCase(title: "start: a member lags in an old epoch, the quorum does not count it", members: "L F~ F~", desired: 4, action: .wait(ordinal: 3), code: "WaitingForQuorum"),
        MembershipCase(title: "add: the grown config would lack a synced quorum", members: "L D D Fx", desired: 4, action: .wait(ordinal: 3), code: "WaitingForQuorum", mentions: ["2 of its 4 members"]),
        MembershipCase(title: "add: one voter down is fine for ZooKeeper's rule", members: "L D F Fx", desired: 4, action: .addToConfig(ordinal: 3, fromVersion: v), code: "AddingMember"),
        MembershipCase(title: "an observer below desired is promoted", members: "L F F O", desired: 4, action: .addToConfig(ordinal: 3, fromVersion: v), code: "AddingMember", mentions: ["as an observer"]),
        MembershipCase(title: "an observer above desired is removed", members: "L F F O", desired: 3, action: .removeFromConfig(ordinal: 3, fromVersion: v), code: "RemovingMember"),
        // The roll's leader hand-off is left to the roll.
        MembershipCase(title: "an old member out of the config mid-roll is the roll's", members: "Fx- F L", desired: 3, revision: Fixture.desired, action: .done, code: "HandOffInProgress", mentions: ["zk-0"]),
        MembershipCase(title: "without a roll target it is added back", members: "Fx- F L", desired: 3, action: .addToConfig(ordinal: 0, fromVersion: v), code: "AddingMember"),
        MembershipCase(title: "a hand-off does not hold up a shrink", members: "Fx- F L F", desired: 3, revision: Fixture.desired, action: .removeFromConfig(ordinal: 3, fromVersion: v), code: "RemovingMember"),
        MembershipCase(title: "a member a roll restarts is not a membership matter", members: "L F T-", desired: 3, action: .done, code: "MembershipComplete"),
        // An unreadable configuration.
        MembershipCase(title: "config unreadable, the members that exist are the desired ones", members: "L F F", desired: 3, config: false, action: .done, code: "MembershipUnverified"),
        MembershipCase(title: "config unreadable, a change is due", members: "L F F", desired: 5, config: false, action: .wait(ordinal: nil), code: "WaitingForMembership"),
        MembershipCase(title: "config unreadable for too long", members: "L F F", desired: 5, config: false, waitedFor: .seconds(301), action: .blocked, code: "MembershipUnknown"),
    ]

    static let cassandraCases: [MembershipCase] = [
        MembershipCase(title: "Cassandra 3->5: start node 3", members: "F F F", desired: 5, engine: .cassandra, action: .start(ordinal: 3), code: "StartingMember", mentions: ["one node at a time"]),
        MembershipCase(title: "Cassandra 3->5: node 3 not listed yet", members: "F F F Nx", desired: 5, engine: .cassandra, action: .wait(ordinal: 3), code: "WaitingForJoin", mentions: ["not in the ring yet"]),
        MembershipCase(title: "Cassandra 3->5: node 3 joining", members: "F F F J", desired: 5, engine: .cassandra, action: .wait(ordinal: 3), code: "WaitingForJoin", mentions: ["UJ"]),
        MembershipCase(title: "Cassandra 3->5: node 3 UN but CQL not up: the next waits", members: "F F F N", desired: 5, engine: .cassandra, action: .wait(ordinal: 3), code: "WaitingForRing", mentions: ["cass-3 is UN and not ready"]),
        MembershipCase(title: "Cassandra 3->5: start node 4", members: "F F F F", desired: 5, engine: .cassandra, action: .start(ordinal: 4), code: "StartingMember"),
        MembershipCase(title: "Cassandra 3->5: done", members: "F F F F F", desired: 5, engine: .cassandra, action: .done, code: "MembershipComplete"),
        MembershipCase(title: "Cassandra: scaled back up while a node leaves: it leaves first", members: "F F F G", desired: 4, engine: .cassandra,
                       action: .wait(ordinal: 3), code: "WaitingForDecommission", mentions: ["earlier scale-down"]),
        MembershipCase(title: "Cassandra: join timed out", members: "F F F J", desired: 4, engine: .cassandra, startedAt: longAgo, action: .blocked, code: "NodeDidNotJoin"),
        MembershipCase(title: "Cassandra: a stale volume before a start", members: "F F F Mxv", desired: 4, engine: .cassandra, action: .deleteVolume(ordinal: 3), code: "DeletingStaleVolume", mentions: ["decommissioned"]),
        MembershipCase(title: "Cassandra 5->3: decommission the highest node", members: "F F F F F", desired: 3, engine: .cassandra, action: .decommission(ordinal: 4), code: "DecommissioningNode"),
        MembershipCase(title: "Cassandra 5->3: node 4 leaving", members: "F F F F G", desired: 3, engine: .cassandra, action: .wait(ordinal: 4), code: "WaitingForDecommission", mentions: ["UL"]),
        MembershipCase(title: "Cassandra 5->3: decommission timed out", members: "F F F F G", desired: 3, engine: .cassandra, waitedFor: .seconds(3601), action: .blocked, code: "DecommissionTimedOut"),
        MembershipCase(title: "Cassandra 5->3: left the ring: stop it", members: "F F F F Fx", desired: 3, engine: .cassandra, action: .stop(ordinal: 4), code: "StoppingMember"),
        MembershipCase(title: "Cassandra 5->3 Delete: its PVC", members: "F F F F Mxv", desired: 3, engine: .cassandra, deleteVolumes: true, action: .deleteVolume(ordinal: 4), code: "DeletingVolume"),
        MembershipCase(title: "Cassandra 5->3 Retain: the next node", members: "F F F F Mxv", desired: 3, engine: .cassandra, action: .decommission(ordinal: 3), code: "DecommissioningNode"),
        MembershipCase(title: "Cassandra: another node not ready, no decommission", members: "F N F F F", desired: 3, engine: .cassandra, action: .wait(ordinal: 1), code: "WaitingForRing"),
        MembershipCase(title: "Cassandra: a node that also goes, still in the ring, not ready: no decommission yet", members: "F F F N F", desired: 3, engine: .cassandra,
                       action: .wait(ordinal: 3), code: "WaitingForRing", mentions: ["cass-3 is UN and not ready"]),
        MembershipCase(title: "Cassandra: a down node cannot decommission", members: "F F F F D", desired: 3, engine: .cassandra, action: .blocked, code: "NodeDown", mentions: ["nodetool removenode"]),
        MembershipCase(title: "Cassandra: ring unreadable, members as desired", members: "F F F", desired: 3, engine: .cassandra, config: false, action: .done, code: "MembershipUnverified"),
        MembershipCase(title: "Cassandra: ring unreadable, a change due", members: "F F F", desired: 4, engine: .cassandra, config: false, action: .wait(ordinal: nil), code: "WaitingForMembership"),
    ]

    @Test(arguments: threeToFive + fiveToThree + threeToOneToThree + repairsAndGates + cassandraCases)
    func nextStep(_ c: MembershipCase) {
        c.check(c.plan())
    }

    /// Every reconfig carries the version it was planned from; when the live config moved on
    /// (ours applied after all, or someone else's change), the next plan starts from the new one.
    @Test func reconfigsAreConditionalOnTheObservedVersion() {
        let settings = Fixture.settings()
        let planned = MembershipPlanner.next(desiredReplicas: 3, observation: Fixture.zooKeeper("L F F F F", version: 0x5_0000_0010), settings: settings)
        #expect(planned.action == .removeFromConfig(ordinal: 4, fromVersion: 0x5_0000_0010))
        // Someone else changed the config meanwhile (same members, new version): re-planned from it.
        let moved = MembershipPlanner.next(desiredReplicas: 3, observation: Fixture.zooKeeper("L F F F F", version: 0x5_0000_0042), settings: settings)
        #expect(moved.action == .removeFromConfig(ordinal: 4, fromVersion: 0x5_0000_0042))
        // The removal did commit before the failure was seen: the next step is the stop.
        let applied = MembershipPlanner.next(desiredReplicas: 3, observation: Fixture.zooKeeper("L F F F Fx", version: 0x5_0000_0043), settings: settings)
        #expect(applied.action == .stop(ordinal: 4))
    }

    @Test func invalidObservationsAreRefused() {
        var observation = Fixture.zooKeeper("L F F")
        observation.members.append(observation.members[0])
        let d = MembershipPlanner.next(desiredReplicas: 3, observation: observation, settings: Fixture.settings())
        #expect(d.action == .blocked)
        #expect(d.reason.message.contains("ordinals observed twice: 0"))
        let zero = MembershipPlanner.next(desiredReplicas: 0, observation: Fixture.zooKeeper("L F F"), settings: Fixture.settings())
        #expect(zero.reason.code == "InvalidObservation")
    }

    // MARK: Dry run

    static func ensemble(_ engine: Engine, replicas: Int, reclaim: String = "Retain") throws -> Ensemble {
        try decodeOne(resource(name: engine == .zooKeeper ? "zk" : "cass", """
            engine: \(engine.rawValue)
            replicas: \(replicas)
            storage:
              reclaimPolicy: \(reclaim)
            """))
    }

    @Test func cassandraScaleDownDryRun() throws {
        let steps = ScalePreview.steps(for: try Self.ensemble(.cassandra, replicas: 3, reclaim: "Delete"), from: 5)
        #expect(steps.compactMap(\.command) == [
            "kubectl -n default exec cass-4 -c cassandra -- nodetool decommission",
            "kubectl -n default scale statefulset cass --replicas=4",
            "kubectl -n default delete pvc data-cass-4",
            "kubectl -n default exec cass-3 -c cassandra -- nodetool decommission",
            "kubectl -n default scale statefulset cass --replicas=3",
            "kubectl -n default delete pvc data-cass-3",
        ])
        #expect(steps.map(\.decision.reason.code) == [
            "DecommissioningNode", "WaitingForDecommission", "StoppingMember", "DeletingVolume",
            "DecommissioningNode", "WaitingForDecommission", "StoppingMember", "DeletingVolume", "MembershipComplete",
        ])
        let text = ScalePreview.render(steps)
        #expect(text.hasPrefix("1. decommission cass-4: scaling to 3 nodes: cass-4 is decommissioned"))
        #expect(text.contains("\n     $ kubectl -n default exec cass-4 -c cassandra -- nodetool decommission\n2. wait for cass-4: cass-4 is UL; waiting until it has left the ring\n"))
        #expect(text.hasSuffix("9. scaling done: the ring has exactly the 3 desired nodes\n"))
    }

    @Test func cassandraScaleDownRetainKeepsVolumes() throws {
        let steps = ScalePreview.steps(for: try Self.ensemble(.cassandra, replicas: 4), from: 5)
        #expect(steps.compactMap(\.command) == [
            "kubectl -n default exec cass-4 -c cassandra -- nodetool decommission",
            "kubectl -n default scale statefulset cass --replicas=4",
        ])
    }

    @Test func cassandraScaleUpDryRunAddsOneNodeAtATime() throws {
        let steps = ScalePreview.steps(for: try Self.ensemble(.cassandra, replicas: 5), from: 3)
        #expect(steps.map(\.decision.reason.code) == ["StartingMember", "WaitingForJoin", "StartingMember", "WaitingForJoin", "MembershipComplete"])
        #expect(steps.compactMap(\.command) == [
            "kubectl -n default scale statefulset cass --replicas=4",
            "kubectl -n default scale statefulset cass --replicas=5",
        ])
    }

    @Test func zooKeeperScaleDryRun() throws {
        let up = ScalePreview.steps(for: try Self.ensemble(.zooKeeper, replicas: 5), from: 3)
        #expect(up.compactMap(\.command) == [
            "kubectl -n default scale statefulset zk --replicas=4",
            "zkCli.sh -server zk-client:2181 reconfig -v <version> -add server.4=zk-3.zk-hs.default.svc.cluster.local:2888:3888:participant;2181",
            "kubectl -n default scale statefulset zk --replicas=5",
            "zkCli.sh -server zk-client:2181 reconfig -v <version> -add server.5=zk-4.zk-hs.default.svc.cluster.local:2888:3888:participant;2181",
        ])
        // Members about to start are named like the others; versions are unknown ahead of time.
        let text = ScalePreview.render(up)
        #expect(text.hasPrefix("1. start zk-3: scaling to 5 members: zk-3 starts and joins as a non-voting follower of configuration <version>\n"))
        #expect(text.contains("(conditional on config version <version>), making 4 voters"))
        #expect(!text.contains("0x"))
        let down = ScalePreview.steps(for: try Self.ensemble(.zooKeeper, replicas: 1), from: 3)
        #expect(down.compactMap(\.command) == [
            "zkCli.sh -server zk-client:2181 reconfig -v <version> -remove 3",
            "kubectl -n default scale statefulset zk --replicas=2",
            "zkCli.sh -server zk-client:2181 reconfig -v <version> -remove 2",
            "kubectl -n default scale statefulset zk --replicas=1",
        ])
        #expect(down.last?.decision.reason.code == "MembershipComplete")
    }
}
