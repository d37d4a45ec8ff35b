import EnsembleCore
import Testing
import ZKConfig

/// One reconcile of an Ensemble whose members are as described: the children as the plan
/// renders them, the StatefulSet at `statefulSetReplicas`, a pod per running ordinal (the
/// first the leader), `/zookeeper/config` listing `config`.
struct ScaleReconcileScenario {
    var engine = "ZooKeeper"
    var replicas: Int
    var statefulSetReplicas: Int
    /// Ordinals with a pod; those in `ready` pass readiness (and, ZooKeeper, serve).
    var running: [Int]
    var ready: [Int]? = nil
    /// Participants of the live configuration; nil: it cannot be read.
    var config: [Int]? = [0, 1, 2]
    var version: Int64 = 0x1_0000_0003
    var claims: [Int]? = nil
    var deletingClaims: [Int] = []
    var reclaimPolicy = "Retain"
    var status: EnsembleStatus? = nil
    var fresh = true

    static let template = "zk-{ordinal}.zk-hs.ns.svc.cluster.local:2888:3888:participant;2181"

    var liveConfig: DynamicConfig? {
        config.map { ordinals in
            DynamicConfig(servers: ordinals.map { .init(id: $0 + 1, role: .participant, value: "zk-\($0).zk-hs.ns.svc.cluster.local:2888:3888:participant;0.0.0.0:2181") },
                          version: version)
        }
    }

    func record() throws -> EnsembleRecord {
        let spec: Value = engine == "ZooKeeper"
            ? ["engine": "ZooKeeper", "replicas": .int(replicas), "storage": ["reclaimPolicy": .string(reclaimPolicy)]]
            : ["engine": "Cassandra", "replicas": .int(replicas), "storage": ["reclaimPolicy": .string(reclaimPolicy)]]
        return try ReconcileTestSupport.record(serverEnsemble(spec: spec, status: status?.value))
    }

    var pods: [ObservedPod] {
        running.map { o in
            ObservedPod(namespace: "ns", name: "zk-\(o)", instance: "zk", ordinal: o, ready: (ready ?? running).contains(o), revision: "rev-1",
                        uid: "uid-zk-\(o)", created: "2025-01-01T00:00:00Z")
        }
    }

    var answers: [Int: MemberAnswer] {
        guard engine == "ZooKeeper" else {
            return Dictionary(uniqueKeysWithValues: (ready ?? running).map { ($0, MemberAnswer(ordinal: $0, answer: .cassandra(cqlVersion: "3.4.6"), podUID: "uid-zk-\($0)")) })
        }
        let voters = config ?? []
        var result: [Int: MemberAnswer] = [:]
        for o in ready ?? running {
            let role = o == (ready ?? running).first ? "leader" : "follower"
            result[o] = MemberAnswer(ordinal: o, answer: .zooKeeper(role: role, zxid: 0x1_0000_0010), podUID: "uid-zk-\(o)",
                                     syncedFollowers: role == "leader" ? voters.count - 1 : nil)
        }
        return result
    }

    /// The children as the API server holds them once the operator applied them (the
    /// ConfigMap staging `staged`), the StatefulSet's controller caught up.
    func children(_ record: EnsembleRecord, staged: DynamicConfig?) throws -> [ObservedChild] {
        var ensemble = try #require(record.ensemble)
        ensemble.spec.replicas = statefulSetReplicas
        return DesiredChildren.render(ensemble, options: RenderOptions(), membership: staged).compactMap { child in
            guard var observed = ObservedChild(child.body) else { return nil }
            if child.kind == .statefulSet {
                observed.statefulSet = StatefulSetState(specReplicas: statefulSetReplicas, replicas: running.count,
                                                        readyReplicas: (ready ?? running).count, updatedReplicas: running.count,
                                                        currentRevision: "rev-1", updateRevision: "rev-1")
            }
            return observed
        }
    }

    /// The plan, with the ConfigMap already staging the live configuration (or `staged`).
    func plan(staged: DynamicConfig?? = nil) throws -> ReconcilePlan {
        let record = try record()
        let claimOrdinals = claims ?? running
        let claims = claimOrdinals.map { ObservedClaim(namespace: "ns", name: "data-zk-\($0)", instance: "zk", deleting: deletingClaims.contains($0)) }
        return Reconciler.plan(ReconcileInput(
            record: record, children: try children(record, staged: staged ?? liveConfig), pods: pods, claims: claims, members: answers,
            live: LiveMembers(config: liveConfig, fresh: fresh), now: now))
    }
}

/// `serverEnsemble` and `record` of ReconcileTests, by a name the scenario can call.
enum ReconcileTestSupport {
    static func record(_ value: Value) throws -> EnsembleRecord { try #require(EnsembleRecord(value)) }
}

/// Scaling through the reconciler: the membership planner's one action per reconcile, as the
/// shell is told to perform it, with the status and Events that go with it.
@Suite struct ScaleReconcileTests {
    @Test func growingStartsAMemberThenAddsIt() throws {
        // 3 -> 5: zk-3 first gets a pod (the StatefulSet raised to 4)...
        let start = try ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 3, running: [0, 1, 2]).plan()
        let step = try #require(start.memberChange)
        #expect(step.activity == "Scaling" && step.decision.reason.code == "StartingMember")
        #expect(start.memberAction == .scaleStatefulSet(replicas: 4))
        #expect(start.apply.isEmpty, "the StatefulSet keeps its own count until the planner changes it")
        #expect(start.events.map(\.reason).suffix(2) == ["ScalingStarted", "StartingMember"])
        #expect(start.events.first { $0.reason == "ScalingStarted" }?.message.hasPrefix("scaling to 5 members: start zk-3") == true)
        let status = try #require(start.status)
        #expect(status.memberChange?.step == "start zk-3")
        #expect(status.condition(.progressing)?.reason == "StartingMember")
        #expect(status.membership == EnsembleStatus.Membership(version: "0x100000003", servers: (0..<3).map {
            .init(id: $0 + 1, member: "zk-\($0)", role: "participant")
        }))
        #expect(start.wantsLiveConfig)

        // ...then, serving (as a non-voting follower) and caught up, it is added with the
        // server value members reach it at, conditional on the version.
        let add = try ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 4, running: [0, 1, 2, 3], status: status).plan()
        #expect(add.memberAction == .reconfig(.addToConfig(ordinal: 3, fromVersion: 0x1_0000_0003),
                                              serverValue: "zk-3.zk-hs.ns.svc.cluster.local:2888:3888:participant;2181"))
        #expect(add.events.map(\.reason) == ["AddingMember"])

        // Once the configuration lists it, the ConfigMap stages the new membership before
        // the next member starts, in the same reconcile.
        let next = try ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 4, running: [0, 1, 2, 3], config: [0, 1, 2, 3], version: 0x1_0000_0005,
                                     status: status).plan(staged: ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 3, running: []).liveConfig)
        #expect(next.apply.map(\.kind) == [.configMap])
        let staged = try StagedMembership.parse(try #require(next.apply[0].body["data"]?[Rendering.membershipKey]?.stringValue))
        #expect(staged.config.participantOrdinals == [0, 1, 2, 3] && staged.config.version == 0x1_0000_0005)
        #expect(staged.joinTemplate == ScaleReconcileScenario.template)
        #expect(next.memberAction == .scaleStatefulSet(replicas: 5))
        #expect(next.status?.membership?.version == "0x100000005")
    }

    @Test func shrinkingRemovesAMemberBeforeItsPodGoes() throws {
        let five = ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 5, running: [0, 1, 2, 3, 4], config: [0, 1, 2, 3, 4])
        let remove = try five.plan()
        #expect(remove.memberAction == .reconfig(.removeFromConfig(ordinal: 4, fromVersion: 0x1_0000_0003), serverValue: ""))
        #expect(remove.memberChange?.decision.reason.code == "RemovingMember")

        // Out of the configuration, it is stopped (the StatefulSet lowered to its ordinal).
        var left = five
        left.config = [0, 1, 2, 3]
        let stop = try left.plan()
        #expect(stop.memberAction == .scaleStatefulSet(replicas: 4))
        #expect(stop.memberChange?.decision.reason.code == "StoppingMember")
    }

    /// The cache keeps a ConfigMap's staged membership without its comment lines (half its
    /// size, at a thousand Ensembles a few hundred kilobytes) and reads back the same membership.
    @Test func cachedMembershipDropsOnlyComments() throws {
        let ensemble = try #require(EnsembleDecoder.decode(value: ["apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble",
                                                                   "metadata": ["name": "zk"], "spec": ["engine": "ZooKeeper"]]).ensemble)
        let staged = Rendering.stagedMembership(ensemble, membership: nil, left: [4: 0x2_0000_0001])
        let configMap = try #require(Rendering.render(ensemble).first { $0["kind"] == "ConfigMap" })
        var withLeft = configMap
        withLeft["data"]?[Rendering.membershipKey] = .string(staged.text)
        let child = try #require(ObservedChild(withLeft))
        let cached = try #require(child.membership)
        #expect(staged.text.contains("\n#") || staged.text.hasPrefix("#"))
        #expect(!cached.contains("#"))
        #expect(try StagedMembership.parse(cached) == staged)
    }

    /// The ConfigMap records which servers a scale-down took out, from which version (install
    /// refuses data such a member wrote before); a hand-off is not one, and a server added back
    /// is one no more.
    @Test func departuresAreStagedForInstall() throws {
        func left(_ plan: ReconcilePlan) throws -> [Int: Int64]? {
            guard let text = plan.apply.first(where: { $0.kind == .configMap })?.body["data"]?[Rendering.membershipKey]?.stringValue else { return nil }
            return try StagedMembership.parse(text).left
        }
        let five = ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 5, running: [0, 1, 2, 3, 4], config: [0, 1, 2, 3, 4], version: 0x2_0000_0001)
        var removed = ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 5, running: [0, 1, 2, 3, 4], config: [0, 1, 2, 3], version: 0x2_0000_0002)
        #expect(try left(removed.plan(staged: five.liveConfig)) == [5: 0x2_0000_0002])
        // A leader hand-off (below the desired count): nothing recorded.
        removed.replicas = 5
        #expect(try left(removed.plan(staged: five.liveConfig)) == [:])

        // Added back: the entry goes.
        let record = try five.record()
        var ensemble = try #require(record.ensemble)
        ensemble.spec.replicas = 4
        let staged = Rendering.stagedMembership(ensemble, membership: removed.liveConfig, left: [5: 0x2_0000_0002])
        let children = try five.children(record, staged: nil).map { child -> ObservedChild in
            var c = child
            if c.kind == .configMap { c.membership = staged.text }
            return c
        }
        let back = Reconciler.plan(ReconcileInput(record: record, children: children, pods: five.pods, members: five.answers,
                                                  live: LiveMembers(config: five.liveConfig, fresh: true), now: now))
        #expect(try left(back) == [:])
    }

    /// A crash between two steps leaves one of these; every reconcile plans from what it
    /// sees, so the next one finishes the change.
    @Test func halfDoneChangesAreRepaired() throws {
        // Removed from the configuration but still running: stopped.
        let removedButRunning = try ScaleReconcileScenario(replicas: 4, statefulSetReplicas: 5, running: [0, 1, 2, 3, 4], config: [0, 1, 2, 3]).plan()
        #expect(removedButRunning.memberAction == .scaleStatefulSet(replicas: 4))
        // Added to the configuration but never started: started.
        let addedNeverStarted = try ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 4, running: [0, 1, 2, 3], config: [0, 1, 2, 3, 4]).plan()
        #expect(addedNeverStarted.memberAction == .scaleStatefulSet(replicas: 5))
        #expect(addedNeverStarted.memberChange?.decision.reason.code == "StartingConfiguredMember")
        // A StatefulSet someone raised by hand: the extra member is stopped again.
        let raisedByHand = try ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 4, running: [0, 1, 2, 3]).plan()
        #expect(raisedByHand.memberAction == .scaleStatefulSet(replicas: 3))
        #expect(raisedByHand.memberChange?.decision.reason.code == "StoppingMember")
    }

    /// A removed member's volume goes before its ordinal is used again (Retain), or as soon as
    /// it has stopped (Delete); a start waits until a volume being deleted is gone.
    @Test func volumesOfRemovedMembersNeverComeBack() throws {
        let stale = try ScaleReconcileScenario(replicas: 4, statefulSetReplicas: 3, running: [0, 1, 2], claims: [0, 1, 2, 3]).plan()
        #expect(stale.memberAction == .deleteClaim(name: "data-zk-3"))
        #expect(stale.memberChange?.decision.reason.code == "DeletingStaleVolume")
        let going = try ScaleReconcileScenario(replicas: 4, statefulSetReplicas: 3, running: [0, 1, 2], claims: [0, 1, 2, 3], deletingClaims: [3]).plan()
        #expect(going.memberAction == nil, "nothing starts while the old volume is still there")
        #expect(going.memberChange?.requeueAfter != nil)

        let retained = try ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 3, running: [0, 1, 2], claims: [0, 1, 2, 3]).plan()
        #expect(retained.memberAction == nil && retained.memberChange == nil, "Retain keeps it until the ordinal is reused")
        let deleted = try ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 3, running: [0, 1, 2], claims: [0, 1, 2, 3], reclaimPolicy: "Delete").plan()
        #expect(deleted.memberAction == .deleteClaim(name: "data-zk-3"))
        #expect(deleted.memberChange?.decision.reason.code == "DeletingVolume")
    }

    /// Nothing acts on observations older than the last action (the shell says `fresh`).
    @Test func actionsWaitForFreshObservations() throws {
        let stale = try ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 3, running: [0, 1, 2], fresh: false).plan()
        #expect(stale.memberAction == nil && stale.memberChange?.held == true)
    }

    /// Done: no change under way, the status shows the membership, and the next reconcile
    /// with nothing new writes nothing (the session is released: the ConfigMap's staged
    /// membership stands for the live one).
    @Test func aFinishedScaleIsQuiet() throws {
        let done = try ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 5, running: [0, 1, 2, 3, 4], config: [0, 1, 2, 3, 4]).plan()
        #expect(done.memberAction == nil)
        #expect(done.status?.memberChange == nil)
        #expect(done.status?.membership?.servers.count == 5)
        #expect(!done.wantsLiveConfig)
        var again = ScaleReconcileScenario(replicas: 5, statefulSetReplicas: 5, running: [0, 1, 2, 3, 4], config: [0, 1, 2, 3, 4], status: done.status)
        let staged = again.liveConfig
        again.config = nil
        let quiet = try again.plan(staged: staged)
        #expect(quiet.isEmpty, "\(quiet)")
    }

    /// Before the membership was ever read, the operator reads it once the members serve.
    @Test func theMembershipIsReadOnceMembersServe() throws {
        var fresh = ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 3, running: [0, 1, 2], config: nil)
        let serving = try fresh.plan(staged: .some(nil))
        #expect(serving.wantsLiveConfig && serving.status?.membership == nil)
        fresh.ready = []
        #expect(try !fresh.plan(staged: .some(nil)).wantsLiveConfig, "members that do not answer are not asked")
    }

    /// Growing from one member, the budget allows a disruption only once a third member votes
    /// (with two voters and a third pod running, one eviction would cost the quorum).
    @Test func theDisruptionBudgetFollowsTheVotersWhileScaling() throws {
        let two = ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 3, running: [0, 1, 2], config: [0, 1], version: 7)
        let before = try two.children(try two.record(), staged: two.liveConfig).first { $0.kind == .podDisruptionBudget }
        #expect(try two.plan().apply.isEmpty, "two voters: the budget stays")
        let three = try ScaleReconcileScenario(replicas: 3, statefulSetReplicas: 3, running: [0, 1, 2], config: [0, 1, 2], version: 9)
            .plan(staged: two.liveConfig)
        #expect(three.apply.map(\.kind) == [.configMap, .podDisruptionBudget])
        #expect(three.apply.last?.body["spec"]?["maxUnavailable"] == 1)
        #expect(before?.appliedHash != three.apply.last?.hash)
        let rendered = Rendering.render(try #require(try two.record().ensemble), membership: two.liveConfig)
        #expect(rendered.first { $0["kind"] == "PodDisruptionBudget" }?.at("spec.maxUnavailable") == 0)
    }

    /// Cassandra grows one node at a time through the planner: the next node starts once the
    /// previous one answers CQL (native transport opens only after bootstrap).
    @Test func cassandraGrowsOneNodeAtATime() throws {
        let grow = try ScaleReconcileScenario(engine: "Cassandra", replicas: 5, statefulSetReplicas: 3, running: [0, 1, 2], config: nil).plan()
        #expect(grow.memberAction == .scaleStatefulSet(replicas: 4))
        let joining = try ScaleReconcileScenario(engine: "Cassandra", replicas: 5, statefulSetReplicas: 4, running: [0, 1, 2, 3], ready: [0, 1, 2], config: nil).plan()
        #expect(joining.memberAction == nil && joining.memberChange?.decision.reason.code == "WaitingForJoin")
        let joined = try ScaleReconcileScenario(engine: "Cassandra", replicas: 5, statefulSetReplicas: 4, running: [0, 1, 2, 3], config: nil).plan()
        #expect(joined.memberAction == .scaleStatefulSet(replicas: 5))
        #expect(joined.status?.membership == nil)
    }
}
