import EnsembleCore
import ZKConfig
import Testing

/// An Ensemble as the API server returns it (with server-side metadata the cache trims).
func serverEnsemble(name: String = "zk", namespace: String = "ns", uid: String = "uid-1", generation: Int = 1,
                    spec: Value = ["engine": "ZooKeeper"], status: Value? = nil, finalizers: [String] = [], deleting: Bool = false) -> Value {
    var meta: Value = [
        "name": .string(name), "namespace": .string(namespace), "uid": .string(uid), "generation": .int(generation),
        "resourceVersion": "42", "creationTimestamp": "2025-01-01T00:00:00Z",
        "managedFields": [["manager": "kubectl", "operation": "Apply"]],
    ]
    if !finalizers.isEmpty { meta["finalizers"] = .array(finalizers.map(Value.string)) }
    if deleting { meta["deletionTimestamp"] = "2025-01-02T00:00:00Z" }
    var object: Value = ["apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble", "metadata": meta, "spec": spec]
    if let status { object["status"] = status }
    return object
}

func record(_ value: Value) throws -> EnsembleRecord { try #require(EnsembleRecord(value)) }

/// The children exactly as the API server would hold them after the plan's applies.
func observed(_ plan: ReconcilePlan, uid: String = "uid-1", statefulSet: StatefulSetState? = nil) -> [ObservedChild] {
    plan.apply.map { child in
        var state = statefulSet
        if child.kind == .statefulSet && state == nil {
            state = StatefulSetState(specReplicas: child.body["spec"]?["replicas"]?.intValue ?? 0, updateRevision: "rev-1")
        }
        return ObservedChild(kind: child.kind, namespace: child.namespace, name: child.name, instance: "zk", controllerUID: uid,
                             appliedHash: child.hash, statefulSet: child.kind == .statefulSet ? state : nil)
    }
}

func pods(_ count: Int, ready: Int? = nil, revision: String = "rev-1", name: String = "zk") -> [ObservedPod] {
    (0..<count).map { ObservedPod(namespace: "ns", name: "\(name)-\($0)", instance: name, ordinal: $0, ready: $0 < (ready ?? count), revision: revision) }
}

let now = "2025-01-01T00:00:10Z"
let later = "2025-01-01T00:05:00Z"

@Suite struct FinalizerTableTests {
    @Test(arguments: [
        (false, false, false, ClaimFinalizer.Step.none), (false, false, true, .add),
        (true, false, true, .none), (true, false, false, .remove),
        (true, true, true, .cleanUp(claims: ["data-zk-0"])), (true, true, false, .cleanUp(claims: ["data-zk-0"])),
        (false, true, true, .none), (false, true, false, .none),
    ])
    func fourCases(has: Bool, deleting: Bool, wanted: Bool, expected: ClaimFinalizer.Step) {
        let claims = [ObservedClaim(namespace: "ns", name: "data-zk-0", instance: "zk"),
                      ObservedClaim(namespace: "ns", name: "data-zk-1", instance: "zk", deleting: true)]
        #expect(ClaimFinalizer.step(hasFinalizer: has, deleting: deleting, wanted: wanted, claims: claims) == expected)
    }

    @Test func onlyThisEnsemblesClaimsAreCleanedUp() {
        let claims = [
            ObservedClaim(namespace: "ns", name: "data-zk-0", instance: "zk"),
            ObservedClaim(namespace: "ns", name: "data-zk-extra-0", instance: "zk-extra"),
            ObservedClaim(namespace: "ns", name: "data-zk-backup", instance: "zk"),
            ObservedClaim(namespace: "ns", name: "data-zk-1", instance: "other"),
        ]
        #expect(ClaimFinalizer.claims(of: "zk", in: claims).map(\.name) == ["data-zk-0"])
    }

    @Test func deletePolicyAddsTheFinalizerAndRetainRemovesIt() throws {
        let delete = try record(serverEnsemble(spec: ["engine": "ZooKeeper", "storage": ["reclaimPolicy": "Delete"]]))
        #expect(Reconciler.plan(ReconcileInput(record: delete, now: now)).finalizer == .add)
        let retain = try record(serverEnsemble(finalizers: [ClaimFinalizer.name]))
        #expect(Reconciler.plan(ReconcileInput(record: retain, now: now)).finalizer == .remove)
        let deleting = try record(serverEnsemble(spec: ["engine": "ZooKeeper", "storage": ["reclaimPolicy": "Delete"]],
                                                 finalizers: [ClaimFinalizer.name], deleting: true))
        let plan = Reconciler.plan(ReconcileInput(record: deleting, claims: [ObservedClaim(namespace: "ns", name: "data-zk-0", instance: "zk")], now: now))
        #expect(plan.finalizer == .cleanUp(claims: ["data-zk-0"]))
        #expect(plan.apply.isEmpty && plan.status == nil, "a deleted Ensemble gets no children and no status")
    }

    @Test func anInvalidSpecNeverDropsTheFinalizer() throws {
        let invalid = try record(serverEnsemble(spec: ["engine": "ZooKeeper", "replicas": 12], finalizers: [ClaimFinalizer.name]))
        #expect(Reconciler.plan(ReconcileInput(record: invalid, now: now)).finalizer == .none)
    }
}

@Suite struct ReconcilePlanTests {
    @Test func aNewEnsembleGetsEveryChildInOrderWithOwnerAndHash() throws {
        let plan = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), now: now))
        #expect(plan.apply.map(\.kind) == [.configMap, .service, .service, .podDisruptionBudget, .statefulSet])
        for child in plan.apply {
            #expect(child.body["metadata"]?["annotations"]?[appliedHashAnnotation]?.stringValue == child.hash)
            #expect(child.body["metadata"]?["ownerReferences"]?.arrayValue?.first?["uid"] == "uid-1")
        }
        #expect(plan.status?.phase == .pending)
        #expect(plan.status?.observedGeneration == 1)
        let created = plan.events.filter { $0.reason == "Created" }
        #expect(created.count == 1, "one event for all children")
        #expect(created.first?.message == "created ConfigMap zk-config, Service zk-hs, Service zk-client, PodDisruptionBudget zk-pdb, StatefulSet zk")
    }

    @Test func nothingChangedMeansAnEmptyPlan() throws {
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), pods: pods(3), now: now))
        let children = observed(first)
        // After the apply: status as written, children as applied.
        let second = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble(status: first.status!.value)), children: children,
                                                    pods: pods(3), now: now))
        let settled = try record(serverEnsemble(status: second.status!.value))
        let third = Reconciler.plan(ReconcileInput(record: settled, children: children, pods: pods(3), now: later))
        #expect(third.isEmpty, "\(third)")
    }

    @Test func aSpecChangeReappliesOnlyWhatItChangesAndObservedGenerationFollows() throws {
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), now: now))
        let changed = try record(serverEnsemble(generation: 2, spec: ["engine": "ZooKeeper", "zookeeper": ["heapSize": "768m"]],
                                                status: first.status!.value))
        let plan = Reconciler.plan(ReconcileInput(record: changed, children: observed(first), pods: pods(3), now: now))
        #expect(plan.apply.map(\.kind) == [.statefulSet])
        #expect(plan.events.map(\.reason).contains("Updated"))
        #expect(plan.status?.observedGeneration == 2)
        let zooCfgChange = try record(serverEnsemble(generation: 3, spec: ["engine": "ZooKeeper", "zookeeper": ["tickTime": 3000]]))
        let cfgPlan = Reconciler.plan(ReconcileInput(record: zooCfgChange, children: observed(first), now: now))
        // zoo.cfg and the configuration hash on the pod template; OnDelete keeps members running.
        #expect(cfgPlan.apply.map(\.kind) == [.configMap, .statefulSet])
    }

    @Test func someoneElsesScaleIsUndone() throws {
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), now: now))
        var children = observed(first)
        children[children.count - 1].statefulSet?.specReplicas = 0
        let gated = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), children: children, now: now))
        // Replicas 0 reads as "not running": the gate does not hold and the spec's 3 return.
        #expect(gated.apply.map(\.kind) == [.statefulSet])
        #expect(gated.apply[0].body["spec"]?["replicas"] == 3)
    }

    @Test func anInvalidSpecTouchesNothingAndNamesTheField() throws {
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), now: now))
        let invalid = try record(serverEnsemble(generation: 2, spec: ["engine": "ZooKeeper", "replicas": 12], status: first.status!.value))
        let plan = Reconciler.plan(ReconcileInput(record: invalid, children: observed(first), pods: pods(3), now: now))
        #expect(plan.apply.isEmpty && plan.delete.isEmpty)
        let status = try #require(plan.status)
        #expect(status.phase == .invalid)
        #expect(status.observedGeneration == 2)
        let degraded = try #require(status.condition(.degraded))
        #expect(degraded.status == .isTrue && degraded.reason == "InvalidSpec")
        #expect(degraded.message.contains("spec.replicas"))
        let warning = try #require(plan.events.first { $0.reason == "InvalidSpec" })
        #expect(warning.type == .warning && warning.message.contains("spec.replicas"))
        // The same invalid spec again: nothing to write, no second event.
        let again = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble(generation: 2, spec: ["engine": "ZooKeeper", "replicas": 12],
                                                                                     status: status.value)),
                                                   children: observed(first), pods: pods(3), now: later))
        #expect(again.isEmpty)
    }

    /// The member count of a running ZooKeeper ensemble is the membership planner's: a new
    /// spec.replicas never reaches the StatefulSet directly (ScaleReconcileTests has the steps).
    @Test func aRunningZooKeeperEnsembleKeepsItsMemberCountForThePlanner() throws {
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), pods: pods(3), now: now))
        let children = observed(first, statefulSet: StatefulSetState(specReplicas: 3, replicas: 3, readyReplicas: 3, updateRevision: "rev-1"))
        let scaled = try record(serverEnsemble(generation: 2, spec: ["engine": "ZooKeeper", "replicas": 5, "zookeeper": ["heapSize": "768m"]],
                                               status: first.status!.value))
        let plan = Reconciler.plan(ReconcileInput(record: scaled, children: children, pods: pods(3), now: now))
        // The heap change applies; the member count and the staged membership stay at 3.
        #expect(plan.apply.map(\.kind) == [.statefulSet])
        #expect(plan.apply[0].body["spec"]?["replicas"] == 3)
        #expect(plan.status?.condition(.progressing)?.reason != "ScalingHeld")
        #expect(!plan.events.contains { $0.reason == "ScalingHeld" })
        #expect(plan.status?.condition(.degraded)?.status == .isFalse, "3 of the 3 members that should run are ready")
    }

    @Test func cassandraMayGrowButNotShrink() throws {
        let spec: Value = ["engine": "Cassandra", "replicas": 3]
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble(spec: spec)), now: now))
        let children = observed(first, statefulSet: StatefulSetState(specReplicas: 3))
        // Growth goes through the planner, one node at a time (ScaleReconcileTests).
        let grow = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble(spec: ["engine": "Cassandra", "replicas": 4])), children: children, now: now))
        #expect(grow.apply.isEmpty)
        #expect(grow.status?.condition(.progressing)?.reason != "ScalingHeld")
        let shrink = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble(spec: ["engine": "Cassandra", "replicas": 2])), children: children, now: now))
        #expect(shrink.apply.isEmpty)
        #expect(shrink.status?.condition(.progressing)?.reason == "ScalingHeld")
        // The condition and the Warning say how to do it by hand: decommission first.
        let message = try #require(shrink.status?.condition(.progressing)?.message)
        #expect(message.contains("`kubectl -n ns exec zk-2 -c cassandra -- nodetool decommission`, once nodetool status no longer lists it `kubectl -n ns scale statefulset zk --replicas=2`"), "\(message)")
        #expect(shrink.events.contains { $0.type == .warning && $0.reason == "ScalingHeld" && $0.message == message })
        let five = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble(spec: ["engine": "Cassandra", "replicas": 3])),
                                                  children: observed(first, statefulSet: StatefulSetState(specReplicas: 5)), now: now))
        #expect(five.status?.condition(.progressing)?.message.contains("; then the same for zk-3 (`zkctl plan scale -f FILE --from 5`") == true,
                "\(five.status?.condition(.progressing)?.message ?? "")")
    }

    @Test func childrenOfSomeoneElseAreLeftAlone() throws {
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), now: now))
        let foreign = observed(first, uid: "someone-else")
        let plan = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), children: foreign, now: now))
        #expect(plan.apply.isEmpty && plan.delete.isEmpty)
        #expect(plan.status?.condition(.degraded)?.reason == "ChildConflict")
    }

    @Test func aDisabledDisruptionBudgetIsDeleted() throws {
        let first = Reconciler.plan(ReconcileInput(record: try record(serverEnsemble()), now: now))
        let plan = Reconciler.plan(ReconcileInput(
            record: try record(serverEnsemble(generation: 2, spec: ["engine": "ZooKeeper", "podDisruptionBudget": ["enabled": false]])),
            children: observed(first), now: now))
        #expect(plan.delete.map(\.kind) == [.podDisruptionBudget])
        #expect(plan.apply.isEmpty)
    }
}

@Suite struct StatusComputationTests {
    func compute(_ record: EnsembleRecord, statefulSet: StatefulSetState? = StatefulSetState(specReplicas: 3, updateRevision: "rev-1"),
                 pods: [ObservedPod], members: [Int: MemberAnswer] = [:], at time: String = now) -> EnsembleStatus {
        StatusComputation.compute(StatusInput(record: record, statefulSet: statefulSet, pods: pods, members: members, now: time))
    }

    let roles: [Int: MemberAnswer] = [
        0: MemberAnswer(ordinal: 0, answer: .zooKeeper(role: "follower", zxid: 0x100000002)),
        1: MemberAnswer(ordinal: 1, answer: .zooKeeper(role: "leader", zxid: 0x100000002)),
        2: MemberAnswer(ordinal: 2, answer: .failed("timed out reading from 127.0.0.3:2181")),
    ]

    @Test func allReadyIsRunningAndAvailableWithTheLeader() throws {
        let status = compute(try record(serverEnsemble()), pods: pods(3), members: roles)
        #expect(status.phase == .running)
        #expect(status.readyReplicas == 3 && status.replicas == 3 && status.updatedReplicas == 3)
        #expect(status.leader == "zk-1")
        #expect(status.members.map(\.role) == ["follower", "leader", "unknown"])
        #expect(status.members[1].zxid == "0x100000002")
        #expect(status.members[2].message == "timed out reading from 127.0.0.3:2181")
        #expect(status.condition(.available)?.status == .isTrue)
        #expect(status.condition(.available)?.message.contains("leader zk-1") == true)
        #expect(status.condition(.progressing)?.status == .isFalse)
        #expect(status.condition(.degraded)?.status == .isFalse)
        #expect(status.selector == "app.kubernetes.io/instance=zk,app.kubernetes.io/name=zookeeper")
    }

    @Test func phasesFollowTheMembers() throws {
        let fresh = try record(serverEnsemble())
        #expect(compute(fresh, statefulSet: nil, pods: []).phase == .pending)
        let starting = compute(fresh, pods: pods(3, ready: 1))
        #expect(starting.phase == .creating)
        #expect(starting.condition(.available)?.reason == "MembersStarting")
        #expect(compute(fresh, pods: pods(3, ready: 2)).condition(.available)?.status == .isTrue, "2 of 3 is a quorum")
        let served = try record(serverEnsemble(status: compute(fresh, pods: pods(3)).value))
        let oneDown = compute(served, pods: pods(3, ready: 2))
        #expect(oneDown.phase == .degraded)
        #expect(oneDown.condition(.degraded)?.reason == "MembersNotReady")
        #expect(oneDown.condition(.degraded)?.message.contains("zk-2") == true)
        let twoDown = compute(served, pods: pods(3, ready: 1))
        #expect(twoDown.condition(.available)?.reason == "QuorumLost")
        var mixed = pods(3)
        mixed[0].revision = "rev-0"
        let rolling = compute(served, pods: mixed)
        #expect(rolling.phase == .updating && rolling.updatedReplicas == 2)
        #expect(rolling.condition(.progressing)?.reason == "RollPending")
    }

    @Test func transitionTimesMoveOnlyOnFlips() throws {
        let first = compute(try record(serverEnsemble()), pods: pods(3, ready: 1), at: now)
        let same = compute(try record(serverEnsemble(status: first.value)), pods: pods(3, ready: 1), at: later)
        #expect(same == first)
        let flipped = compute(try record(serverEnsemble(status: first.value)), pods: pods(3), at: later)
        #expect(flipped.condition(.available)?.lastTransitionTime == later)
        #expect(flipped.condition(.degraded)?.lastTransitionTime == now)
    }

    @Test func cassandraMembersCarryTheirCQLAnswer() throws {
        let cassandra = try record(serverEnsemble(spec: ["engine": "Cassandra"]))
        let status = compute(cassandra, pods: pods(3), members: [0: MemberAnswer(ordinal: 0, answer: .cassandra(cqlVersion: "3.4.6"))])
        #expect(status.members[0].cqlVersion == "3.4.6")
        #expect(status.members[0].role == nil && status.leader == nil)
    }

    @Test func statusRoundTripsThroughItsStoredForm() throws {
        let status = compute(try record(serverEnsemble()), pods: pods(3, ready: 2), members: roles)
        #expect(EnsembleStatus(status.value) == status)
    }

    @Test func eventsOnTransitionsOnly() throws {
        let starting = compute(try record(serverEnsemble()), pods: pods(3, ready: 0))
        let up = compute(try record(serverEnsemble(status: starting.value)), pods: pods(3), members: roles)
        let events = TransitionEvents.between(starting, up, changes: [])
        #expect(events.map(\.reason) == ["Available", "LeaderElected"])
        #expect(TransitionEvents.between(up, up, changes: []).isEmpty)
        var newLeader = roles
        newLeader[0] = MemberAnswer(ordinal: 0, answer: .zooKeeper(role: "leader", zxid: 0x200000000))
        newLeader[1] = MemberAnswer(ordinal: 1, answer: .zooKeeper(role: "follower", zxid: 0x200000000))
        let moved = compute(try record(serverEnsemble(status: up.value)), pods: pods(3), members: newLeader)
        #expect(TransitionEvents.between(up, moved, changes: []).map(\.message) == ["zk-0 is the leader (was zk-1)"])
        let down = compute(try record(serverEnsemble(status: up.value)), pods: pods(3, ready: 1), members: roles)
        let downEvents = TransitionEvents.between(up, down, changes: [])
        #expect(downEvents.allSatisfy { $0.type == .warning } && downEvents.map(\.reason) == ["QuorumLost", "QuorumLost"])
    }
}

@Suite struct ObservedObjectTests {
    @Test func podsStatefulSetsAndClaimsAreTrimmedFromAPIObjects() throws {
        let pod: Value = [
            "metadata": ["name": "zk-2", "namespace": "ns", "labels": ["app.kubernetes.io/instance": "zk", "controller-revision-hash": "zk-abc"]],
            "status": ["conditions": [["type": "Initialized", "status": "True"], ["type": "Ready", "status": "True"]]],
        ]
        #expect(ObservedPod(pod) == ObservedPod(namespace: "ns", name: "zk-2", instance: "zk", ordinal: 2, ready: true, revision: "zk-abc"))
        let statefulSet: Value = [
            "kind": "StatefulSet",
            "metadata": ["name": "zk", "namespace": "ns", "generation": 4, "labels": ["app.kubernetes.io/instance": "zk"],
                         "annotations": [.init(stringLiteral: appliedHashAnnotation): "h"],
                         "ownerReferences": [["uid": "other", "controller": false], ["uid": "uid-1", "controller": true]]],
            "spec": ["replicas": 3],
            "status": ["observedGeneration": 3, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"],
        ]
        let child = try #require(ObservedChild(statefulSet))
        #expect(child.controllerUID == "uid-1" && child.appliedHash == "h" && child.instance == "zk")
        #expect(child.statefulSet == StatefulSetState(generation: 4, observedGeneration: 3, specReplicas: 3, replicas: 3, readyReplicas: 2,
                                                      updatedReplicas: 1, currentRevision: "a", updateRevision: "b"))
        #expect(ObservedChild(["kind": "Secret", "metadata": ["name": "x"]]) == nil, "only the kinds the operator renders")
        #expect(ObservedClaim(["metadata": ["name": "data-zk-0", "namespace": "ns", "deletionTimestamp": "t"]])?.deleting == true)
    }

    @Test func anEnsembleRecordDropsServerMetadataAndKeepsProblems() throws {
        let valid = try record(serverEnsemble(finalizers: ["a"]))
        #expect(valid.ensemble?.spec.replicas == 3 && valid.errors.isEmpty && valid.finalizers == ["a"] && valid.uid == "uid-1")
        let invalid = try record(serverEnsemble(spec: ["engine": "ZooKeeper", "replicas": "three"]))
        #expect(invalid.ensemble == nil)
        #expect(invalid.errors.first?.path == "spec.replicas")
    }
}

@Suite struct MemberAddressTests {
    @Test func defaultIsTheStableDNSName() throws {
        let zk = try #require(try record(serverEnsemble()).ensemble)
        let address = try #require(try MemberAddressTemplate().address(of: zk, ordinal: 2))
        #expect(address.host == "zk-2.zk-hs.ns.svc.cluster.local" && address.port == 2181)
        let cassandra = try #require(try record(serverEnsemble(spec: ["engine": "Cassandra"])).ensemble)
        #expect(try MemberAddressTemplate().address(of: cassandra, ordinal: 0)?.port == 9042)
    }

    @Test func templatesReachMembersOutsideTheCluster() throws {
        let zk = try #require(try record(serverEnsemble()).ensemble)
        let address = try #require(try MemberAddressTemplate("127.0.5.{id}:{port}").address(of: zk, ordinal: 0))
        #expect(address.host == "127.0.5.1" && address.port == 2181)
        #expect(try MemberAddressTemplate("[::1]:{port}").address(of: zk, ordinal: 0)?.host == "::1")
        #expect(try MemberAddressTemplate("{name}-{ordinal}.example:3000").address(of: zk, ordinal: 4)?.host == "zk-4.example")
    }

    @Test func badTemplatesAreRefusedWithTheReason() {
        #expect(throws: MemberAddressTemplate.Invalid.self) { try MemberAddressTemplate("{pod}.{svc}:{port}") }
        #expect(throws: MemberAddressTemplate.Invalid.self) { try MemberAddressTemplate("{pod") }
        #expect(throws: MemberAddressTemplate.Invalid.self) { try MemberAddressTemplate("{pod}.x") }
        do { _ = try MemberAddressTemplate("{pod}.{svc}:{port}") } catch { #expect(error.description.contains("{svc}")) }
    }
}

/// The server.N values members are given for each other (staged membership, reconfigs).
@Suite struct MemberServerTemplateTests {
    @Test func defaultIsTheStableDNSNameWithTheRenderedPorts() throws {
        let zk = try #require(try record(serverEnsemble()).ensemble)
        #expect(MemberServerTemplate.standard.value(of: zk, ordinal: 2) == "zk-2.zk-hs.ns.svc.cluster.local:2888:3888:participant;2181")
        #expect(Rendering.serverValue(zk, ordinal: 2) == ZooKeeperMember(id: 3, host: EnsembleNames(zk).memberHost(2)).serverValue)
        #expect(MemberServerTemplate.standard.joinTemplate(of: zk) == "zk-{ordinal}.zk-hs.ns.svc.cluster.local:2888:3888:participant;2181")
    }

    /// A template (a test's loopback block) goes everywhere a server value does: the staged
    /// membership and its join template.
    @Test func aTemplateNamesMembersEverywhere() throws {
        let zk = try #require(try record(serverEnsemble()).ensemble)
        let options = RenderOptions(memberServer: try MemberServerTemplate("127.3.4.{id}:2888:3888:participant;127.3.4.{id}:2181"))
        #expect(Rendering.serverValue(zk, ordinal: 0, options: options) == "127.3.4.1:2888:3888:participant;127.3.4.1:2181")
        let staged = Rendering.stagedMembership(zk, membership: nil, options: options)
        #expect(staged.config.server(ordinal: 2)?.value == "127.3.4.3:2888:3888:participant;127.3.4.3:2181")
        #expect(staged.start(ordinal: 5).servers.last?.value == "127.3.4.6:2888:3888:participant;127.3.4.6:2181")
        let configMap = try #require(Rendering.render(zk, options: options).first { $0["kind"] == "ConfigMap" })
        #expect(configMap.at("data")?[Rendering.membershipKey]?.stringValue?.contains("joinTemplate=127.3.4.{id}:2888:3888:participant;127.3.4.{id}:2181\n") == true)
    }

    @Test func badTemplatesAreRefusedWithTheReason() {
        #expect(throws: MemberAddressTemplate.Invalid.self) { try MemberServerTemplate("{pod}:{port}:3888;2181") }
        #expect(throws: MemberAddressTemplate.Invalid.self) { try MemberServerTemplate("{pod}:2888") }
        do { _ = try MemberServerTemplate("{pod}:2888") } catch { #expect(error.description.contains("not host:quorumPort:electionPort")) }
    }
}

@Suite struct ZxidTests {
    @Test(arguments: [
        (UInt64(0x2_0000_0000), UInt64(0x1_0000_0005), UInt64(0)),   // fresh leader, follower synced to the old epoch
        (0x2_0000_0007, 0x1_0000_0005, 7),                          // the member missed all of the new epoch
        (0x2_0000_0007, 0x2_0000_0004, 3),
        (0x2_0000_0007, 0x2_0000_0009, 0),                          // read a newer reply than the leader's
        (0x2_0000_0007, 0x3_0000_0001, 0),
    ])
    func lagCountsTransactionsOfTheLeadersEpoch(leader: UInt64, member: UInt64, lag: UInt64) {
        #expect(Zxid(member).transactionsBehind(Zxid(leader)) == lag)
    }
}
