import EnsembleCore
import Testing
import ZKConfig

/// A 3-member ZooKeeper Ensemble as the operator's caches hold it, its children applied (the
/// StatefulSet's update revision "rev-1"), with pods and the prober's answers as given.
enum RollInput {
    static let new = "rev-1"
    static let old = "rev-0"
    static let version: Int64 = 0x1_0000_0000
    static let superUser = try! SuperUser(password: "correct-horse")
    static let secret = ObservedSecret(namespace: "ns", name: "zk-super-user", instance: "zk", controllerUID: "uid-1", superUser: superUser)

    static func config(_ participants: [Int] = [0, 1, 2], host: (Int) -> String = { "zk-\($0).zk-hs.ns.svc.cluster.local" }) -> DynamicConfig {
        DynamicConfig(servers: participants.map { DynamicConfig.Server(id: $0 + 1, role: .participant, value: "\(host($0)):2888:3888:participant;2181") },
                      version: version)
    }

    static func uid(_ o: Int, _ revision: String) -> String { "pod-\(o)-\(revision)" }

    /// `members`: per ordinal, its revision and role ("leader", "follower", "down": refuses,
    /// "electing": answers without serving, "missing": no pod).
    static func make(_ members: [(String, String)], spec: Value = ["engine": "ZooKeeper"], status: Value? = nil,
                     config: DynamicConfig? = RollInput.config(), synced: Int? = 2, fresh: Bool = true, secret: Bool = true,
                     now: String = "2025-01-01T00:00:10Z") throws -> ReconcileInput {
        let record = try record(serverEnsemble(spec: spec, status: status))
        let secrets = secret ? [Self.secret] : []
        let children = observed(Reconciler.plan(ReconcileInput(record: record, secrets: secrets, now: now)))
        let digest = SuperUserSecret.reference(secrets.first)?.digestHash
        var pods: [ObservedPod] = []
        var answers: [Int: MemberAnswer] = [:]
        for (o, (revision, role)) in members.enumerated() where role != "missing" {
            let uid = uid(o, revision)
            pods.append(ObservedPod(namespace: "ns", name: "zk-\(o)", instance: "zk", ordinal: o, ready: role == "leader" || role == "follower",
                                    revision: revision, uid: uid, created: "2025-01-01T00:00:00Z", superUser: digest))
            switch role {
            case "leader", "follower":
                answers[o] = MemberAnswer(ordinal: o, answer: .zooKeeper(role: role, zxid: Zxid(epoch: 1, counter: 10).raw), podUID: uid,
                                          syncedFollowers: role == "leader" ? synced : nil)
            case "electing":
                answers[o] = MemberAnswer(ordinal: o, answer: .failed("not currently serving requests"), podUID: uid, answered: true)
            default:
                answers[o] = MemberAnswer(ordinal: o, answer: .failed("connection refused"), podUID: uid)
            }
        }
        let claims = (0..<members.count).map { ObservedClaim(namespace: "ns", name: "data-zk-\($0)", instance: "zk") }
        return ReconcileInput(record: record, children: children, pods: pods, claims: claims, members: answers, secrets: secrets,
                              live: LiveMembers(config: config, fresh: fresh), now: now)
    }

    /// The status a previous reconcile wrote, with a member change under way.
    static func status(_ change: Value, conditions: Value = []) -> Value {
        ["observedGeneration": 1, "phase": "Updating", "memberChange": change, "conditions": conditions]
    }
}

@Suite struct MemberChangeTests {
    typealias I = RollInput

    @Test func nothingPendingRunsNoPlannerAndKeepsNoSession() throws {
        let plan = Reconciler.plan(try I.make([(I.new, "leader"), (I.new, "follower"), (I.new, "follower")]))
        #expect(plan.memberChange == nil && !plan.wantsLiveConfig && plan.requeueAfter == nil)
    }

    @Test func aRollStartsWithTheHighestFollowerAndSaysSo() throws {
        let plan = Reconciler.plan(try I.make([(I.old, "follower"), (I.old, "leader"), (I.old, "follower")]))
        #expect(plan.memberAction == .deletePod(name: "zk-2", uid: I.uid(2, I.old)))
        #expect(plan.wantsLiveConfig && plan.requeueAfter == MemberChange.waitInterval)
        let status = try #require(plan.status)
        #expect(status.memberChange?.step == "restart zk-2" && status.memberChange?.activity == "Roll")
        #expect(status.memberChange?.targetRevision == I.new && status.memberChange?.leaderHandOff == "on")
        #expect(status.phase == .updating)
        #expect(status.condition(.progressing)?.reason == "RestartingFollower" && status.condition(.progressing)?.status == .isTrue)
        #expect(plan.events.map(\.reason).suffix(2) == ["RollStarted", "RestartingFollower"])
    }

    @Test func actionsWaitForObservationsMadeAfterTheLastOne() throws {
        let previous = I.status(["activity": "Roll", "step": "wait for zk-2"],
                                conditions: [["type": "Progressing", "status": "True", "reason": "WaitingForRejoin", "message": "earlier",
                                              "lastTransitionTime": "2025-01-01T00:00:00Z"]])
        let plan = Reconciler.plan(try I.make([(I.old, "follower"), (I.old, "leader"), (I.new, "follower")], status: previous, fresh: false))
        let step = try #require(plan.memberChange)
        #expect(step.held && plan.memberAction == nil && plan.requeueAfter == MemberChange.heldInterval)
        #expect(step.decision.action == .restart(ordinal: 0), "decided, not done")
        #expect(plan.status?.memberChange?.step == "wait for zk-2", "the status keeps the last step")
        #expect(plan.status?.condition(.progressing)?.message == "earlier")
        #expect(!plan.events.contains { $0.reason == "RestartingFollower" })
    }

    @Test func anAnswerFromAReplacedPodSaysNothingAboutItsSuccessor() throws {
        var input = try I.make([(I.old, "follower"), (I.old, "leader"), (I.new, "follower")])
        input.members[2]?.podUID = I.uid(2, I.old)
        let plan = Reconciler.plan(input)
        #expect(plan.memberAction == nil)
        #expect(plan.memberChange?.decision.reason.code == "WaitingForRejoin")
        #expect(plan.memberChange?.decision.reason.message.contains("zk-2 does not answer") == true)
    }

    /// Regression: between a pod's deletion and its successor's creation, the membership
    /// planner took a member left outside the configuration (a hand-off) for one to start
    /// afresh and deleted its volume as stale.
    @Test func aPodBetweenDeletionAndRecreationIsStoppingNeverStale() throws {
        let plan = Reconciler.plan(try I.make([(I.new, "leader"), (I.new, "follower"), (I.old, "missing")], config: I.config([0, 1])))
        let step = try #require(plan.memberChange)
        #expect(plan.memberAction == nil)
        #expect(step.decision.reason.code == "WaitingForRestart", "\(step.decision.line)")
    }

    @Test func theLeaderLeavesTheConfigurationAndItsLineIsKept() throws {
        let config = I.config(host: { "10.0.0.\($0 + 1)" })
        let plan = Reconciler.plan(try I.make([(I.old, "leader"), (I.new, "follower"), (I.new, "follower")], config: config))
        #expect(plan.memberAction == .reconfig(.removeFromConfig(ordinal: 0, fromVersion: I.version), serverValue: ""))
        #expect(plan.status?.memberChange?.leftConfiguration == ["server.1=10.0.0.1:2888:3888:participant;2181"])
        #expect(plan.events.contains { $0.reason == "HandingOverLeadership" })
    }

    @Test func aMemberTakenOutComesBackWithItsOwnLine() throws {
        let previous = I.status(["activity": "Roll", "step": "restart zk-0", "leftConfiguration": ["server.1=10.0.0.1:2888:3888:participant;2181"]])
        let config = I.config([1, 2], host: { "10.0.0.\($0 + 1)" })
        let plan = Reconciler.plan(try I.make([(I.new, "follower"), (I.new, "leader"), (I.new, "follower")], status: previous,
                                              config: config, synced: 1))
        #expect(plan.memberAction == .reconfig(.addToConfig(ordinal: 0, fromVersion: I.version), serverValue: "10.0.0.1:2888:3888:participant;2181"))
        #expect(plan.status?.memberChange?.leftConfiguration.count == 1, "kept until the change is over")
    }

    /// A hand-off the last operator left half-done, with nothing in the status: the leader
    /// reports a non-voting follower, which makes a change pending, and the member is added
    /// back as the rendered configuration lists it.
    @Test func aHalfDoneHandOffIsFoundWithoutTheStatus() throws {
        var input = try I.make([(I.new, "follower"), (I.new, "leader"), (I.new, "follower")], config: I.config([1, 2]), synced: 1)
        input.members[1]?.syncedNonVotingFollowers = 1
        let plan = Reconciler.plan(input)
        #expect(plan.memberAction == .reconfig(.addToConfig(ordinal: 0, fromVersion: I.version),
                                               serverValue: "zk-0.zk-hs.ns.svc.cluster.local:2888:3888:participant;2181"))
    }

    @Test func withoutTheSuperUserTheLeaderRestartsInPlaceAndTheStatusSaysWhy() throws {
        let plan = Reconciler.plan(try I.make([(I.old, "leader"), (I.new, "follower"), (I.new, "follower")], secret: false))
        #expect(plan.memberAction == .deletePod(name: "zk-0", uid: I.uid(0, I.old)))
        let status = try #require(plan.status)
        #expect(status.memberChange?.leaderHandOff?.hasPrefix("off: the operator's super-user Secret does not exist") == true)
        #expect(status.condition(.progressing)?.reason == "RestartingLeader")
        #expect(status.condition(.progressing)?.message.contains("leader hand-off unavailable") == true)
    }

    @Test func membersWithoutTheSuperUserMeanNoHandOff() throws {
        var input = try I.make([(I.old, "leader"), (I.new, "follower"), (I.new, "follower")])
        for index in input.pods.indices { input.pods[index].superUser = "an older one" }
        #expect(Reconciler.plan(input).memberChange?.leaderHandOff == .off("no serving member runs with the operator's super user yet (members get it when they restart at this revision)"))
    }

    /// The wait's start comes from the status, so a timeout survives an operator restart: the
    /// gate has waited since 00:00:00, more than stepTimeoutSeconds (300) before now.
    @Test func aWaitsClockComesFromTheStatus() throws {
        let gate = "gate 2 @ \(I.new)"
        let previous = I.status(["activity": "Roll", "step": "wait for zk-2", "waitingFor": .string(gate), "waitingSince": "2025-01-01T00:00:00Z"])
        let plan = Reconciler.plan(try I.make([(I.old, "follower"), (I.old, "leader"), (I.old, "follower")], status: previous,
                                              synced: 1, now: "2025-01-01T00:05:01Z"))
        let status = try #require(plan.status)
        #expect(plan.memberChange?.decision.isBlocked == true)
        #expect(status.condition(.degraded)?.status == .isTrue && status.condition(.degraded)?.reason == "QuorumNotReady")
        #expect(status.phase == .degraded && status.memberChange?.waitingSince == "2025-01-01T00:00:00Z")
        #expect(plan.requeueAfter == MemberChange.blockedInterval && plan.memberAction == nil)
        // A fresh clock: the same wait is not over yet.
        let fresh = Reconciler.plan(try I.make([(I.old, "follower"), (I.old, "leader"), (I.old, "follower")], synced: 1))
        #expect(fresh.memberChange?.decision.reason.code == "WaitingForQuorum")
        #expect(fresh.status?.memberChange?.waitingFor == gate && fresh.status?.memberChange?.waitingSince == "2025-01-01T00:00:10Z")
    }

    @Test func theRollEndsWithAnEventAndNoMemberChange() throws {
        let previous = I.status(["activity": "Roll", "step": "wait for zk-0"])
        let plan = Reconciler.plan(try I.make([(I.new, "follower"), (I.new, "leader"), (I.new, "follower")], status: previous))
        #expect(plan.memberChange?.decision.isDone == true && plan.memberAction == nil && plan.requeueAfter == nil)
        #expect(plan.status?.memberChange == nil && !plan.wantsLiveConfig)
        #expect(plan.events.map(\.reason).contains("RollComplete"))
    }

    @Test func manualUpdatesNeverRestart() throws {
        let plan = Reconciler.plan(try I.make([(I.old, "follower"), (I.old, "leader"), (I.old, "follower")],
                                              spec: ["engine": "ZooKeeper", "updateStrategy": ["type": "Manual"]]))
        #expect(plan.memberAction == nil && plan.memberChange?.decision.reason.code == "ManualUpdate")
    }

    @Test func aRefusedReconfigBlocksAddingBackAndSaysWhy() throws {
        var input = try I.make([(I.new, "follower"), (I.new, "leader"), (I.new, "follower")], config: I.config([1, 2]), synced: 1)
        input.members[1]?.syncedNonVotingFollowers = 1
        input.live.reconfigRefused = "not authorized"
        let plan = Reconciler.plan(input)
        #expect(plan.memberAction == nil && plan.status?.condition(.degraded)?.reason == "ReconfigRefused")
    }

    /// Cassandra rolls through the same step: no configuration, no super user, readiness
    /// (the CQL handshake) as the gate; the highest ordinal first.
    @Test func cassandraRollsTheHighestReadyNodeFirst() throws {
        let record = try record(serverEnsemble(spec: ["engine": "Cassandra"]))
        let children = observed(Reconciler.plan(ReconcileInput(record: record, now: now)))
        let pods = (0..<3).map { ObservedPod(namespace: "ns", name: "zk-\($0)", instance: "zk", ordinal: $0, ready: true, revision: RollInput.old,
                                             uid: RollInput.uid($0, RollInput.old)) }
        let answers = Dictionary(uniqueKeysWithValues: (0..<3).map { ($0, MemberAnswer(ordinal: $0, answer: .cassandra(cqlVersion: "3.4.7"),
                                                                                        podUID: RollInput.uid($0, RollInput.old))) })
        let plan = Reconciler.plan(ReconcileInput(record: record, children: children, pods: pods, members: answers,
                                                  live: LiveMembers(fresh: true), now: now))
        #expect(plan.memberAction == .deletePod(name: "zk-2", uid: RollInput.uid(2, RollInput.old)))
        #expect(plan.memberChange?.leaderHandOff == nil && !plan.wantsLiveConfig)
    }

    @Test func aRollWaitsForTheStatefulSetToSeeTheTemplate() throws {
        var input = try I.make([(I.old, "follower"), (I.old, "leader"), (I.old, "follower")])
        for index in input.children.indices where input.children[index].kind == .statefulSet {
            input.children[index].statefulSet?.generation = 2
        }
        #expect(Reconciler.plan(input).memberChange == nil)
    }
}

@Suite struct SuperUserSecretTests {
    @Test func theSecretIsOwnedImmutableAndHoldsThePasswordAndTheJVMOption() throws {
        let ensemble = try #require(try record(serverEnsemble()).ensemble)
        let secret = SuperUserSecret.render(ensemble, superUser: RollInput.superUser)
        #expect(secret["immutable"] == true && secret["metadata"]?["name"] == "zk-super-user")
        #expect(secret["metadata"]?["ownerReferences"]?.arrayValue?.first?["uid"] == "uid-1")
        #expect(secret["metadata"]?["labels"]?["app.kubernetes.io/managed-by"] == "ensemble-operator")
        let observed = try #require(ObservedSecret(secret))
        #expect(observed.superUser == RollInput.superUser && observed.controllerUID == "uid-1")
        let flag = try #require(secret["data"]?[SuperUserSecret.jvmFlagsKey]?.stringValue.flatMap(Base64.decode))
        #expect(String(decoding: flag, as: UTF8.self) == RollInput.superUser.jvmOption)
        #expect(!"\(observed)".contains("correct-horse"), "a cached Secret never prints its password")
    }

    @Test func neededOnceForAValidZooKeeperEnsemble() throws {
        let zk = try record(serverEnsemble())
        #expect(SuperUserSecret.needed(zk, secrets: []))
        #expect(!SuperUserSecret.needed(zk, secrets: [RollInput.secret]))
        var foreign = RollInput.secret
        foreign.controllerUID = "someone-else"
        #expect(SuperUserSecret.owned(by: zk, in: [foreign]) == nil, "another owner's Secret of that name is not ours")
        #expect(!SuperUserSecret.needed(try record(serverEnsemble(spec: ["engine": "Cassandra"])), secrets: []))
        #expect(!SuperUserSecret.needed(try record(serverEnsemble(deleting: true)), secrets: []))
    }

    @Test func membersGetTheDigestFromTheSecretNeverFromThePodSpec() throws {
        let ensemble = try #require(try record(serverEnsemble()).ensemble)
        let reference = SuperUserReference(secretName: "zk-super-user", superUser: RollInput.superUser)
        let with = try #require(Rendering.render(ensemble, superUser: reference).first { $0["kind"] == "StatefulSet" })
        let without = try #require(Rendering.render(ensemble).first { $0["kind"] == "StatefulSet" })
        let container = try #require(with["spec"]?["template"]?["spec"]?["containers"]?.arrayValue?.first)
        let env = container["env"]?.arrayValue ?? []
        let flagIndex = try #require(env.firstIndex { $0["name"] == "ENSEMBLE_SUPER_USER_FLAG" })
        let jvmIndex = try #require(env.firstIndex { $0["name"] == "JVMFLAGS" })
        #expect(env[flagIndex]["valueFrom"]?["secretKeyRef"] == ["name": "zk-super-user", "key": "jvm-flag"])
        #expect(flagIndex < jvmIndex && env[jvmIndex]["value"]?.stringValue?.hasSuffix(" $(ENSEMBLE_SUPER_USER_FLAG)") == true,
                "kubelet expands only variables defined before")
        #expect(with["spec"]?["template"]?["metadata"]?["annotations"]?[Rendering.superUserAnnotation] == .string(reference.digestHash))
        #expect(!"\(with)".contains(RollInput.superUser.digest) && !"\(with)".contains("correct-horse"))
        #expect(!"\(without)".contains("ENSEMBLE_SUPER_USER_FLAG") && without["spec"]?["template"]?["metadata"]?["annotations"]?[Rendering.superUserAnnotation] == nil)
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)), ("2025-01-01T00:00:10Z", 1_735_689_610), ("2024-02-29T23:59:59Z", 1_709_251_199),
        ("2025-01-01T02:00:10+02:00", 1_735_689_610), ("2025-01-01T00:00:10.123456Z", 1_735_689_610), ("1969-12-31T23:59:59Z", -1),
    ])
    func bothWays(text: String, seconds: Int64) {
        #expect(Timestamp.seconds(text) == seconds)
        if !text.contains("+") && !text.contains(".") { #expect(Timestamp.text(seconds: seconds) == text) }
    }

    @Test(arguments: ["", "2025-01-01", "2025-13-01T00:00:00Z", "2025-01-01T00:00:00", "2025-01-01T00:00:00Zjunk", "2025-01-01 00:00:00Z"])
    func notTimestamps(text: String) {
        #expect(Timestamp.seconds(text) == nil)
    }
}

@Suite struct Base64Tests {
    @Test(arguments: ["", "f", "fo", "foo", "foob", "fooba", "foobar"])
    func roundTrip(text: String) {
        #expect(Base64.decode(Base64.encode(Array(text.utf8))) == Array(text.utf8))
    }

    @Test(arguments: ["Zg", "Zg=", "Z===", "Zm9v!", "Zg==Zg=="])
    func notBase64(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

@Suite struct MergePatchTests {
    /// A status written without a field it had (a wait that ended) removes the field, also
    /// inside nested objects; what stays is sent as is.
    @Test func fieldsThatWentAwayBecomeNullAtEveryDepth() {
        let old: Value = ["phase": "Updating", "memberChange": ["step": "wait for zk-2", "waitingFor": "rejoin 2", "waitingSince": "x"],
                          "leader": "zk-1"]
        let new: Value = ["phase": "Updating", "memberChange": ["step": "restart zk-1"]]
        #expect(Value.mergePatch(from: old, to: new) == ["phase": "Updating", "memberChange": ["step": "restart zk-1", "waitingFor": nil, "waitingSince": nil],
                                                         "leader": nil])
        #expect(Value.mergePatch(from: nil, to: new) == new)
    }
}
