import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import NetCore
import Testing
import ZooKeeperOps
import ZooKeeperTestSupport

/// Probe timings that let a kubelet (the bridge) notice a member within a second or two.
let fastProbes: Value = [
    "readiness": ["initialDelaySeconds": 0, "periodSeconds": 1, "timeoutSeconds": 2, "failureThreshold": 1],
]

/// An Ensemble whose pods the bridge runs, and the operator managing it.
struct RollScenario {
    let cluster: TestCluster
    let bridge: KubeletBridge
    var op: OperatorProcess

    static let operatorArguments = ["--namespace", "default", "--member-probe-interval", "1", "--member-probe-timeout", "2"]

    static func startOperator(_ cluster: TestCluster, _ bridge: KubeletBridge, name: String = "operator") async throws -> OperatorProcess {
        try await OperatorProcess.start(name: name, kubeconfig: cluster.kubeconfig,
                                        arguments: operatorArguments + bridge.operatorMemberArguments)
    }

    func ensemble() async throws -> KubeObject? { try await cluster.ensemble("zk") }

    /// Waits until every member runs the StatefulSet's update revision, serves, and no change
    /// is under way; returns the Ensemble.
    func settled(_ what: String, timeout: Double = 120) async throws -> KubeObject {
        try await eventually(what, timeout: timeout, interval: 0.2) { () -> KubeObject? in
            let e = try await ensemble()
            guard let status = e?.status, status["phase"] == "Running", status["memberChange"] == nil,
                  status["readyReplicas"] == 3, status["updatedReplicas"] == 3, status["leader"]?.stringValue != nil,
                  status["observedGeneration"] == e?.generation.map(Value.int) else { return nil }
            return e
        }
    }

    /// The revision the StatefulSet rolls to, once its controller has seen the template.
    func updateRevision(after previous: String?) async throws -> String {
        try await eventually("the StatefulSet has a new update revision", timeout: 30) { () -> String? in
            let sts = try await cluster.exists(.statefulSets, "zk")
            guard let revision = sts?.status?["updateRevision"]?.stringValue, revision != previous else { return nil }
            return revision
        }
    }

    func patch(_ spec: Value) async throws {
        _ = try await cluster.client.patch(.ensembles, name: "zk", namespace: "default", patch: ["spec": spec])
    }

    func events(reason: String? = nil) async throws -> [Value] {
        try await cluster.client.list(.events, namespace: "default").items.map(\.value)
            .filter { $0["regarding"]?["name"] == "zk" && (reason == nil || $0["reason"]?.stringValue == reason) }
    }

    /// Ordinals whose pods the bridge saw deleted (in order) at or after `since`.
    func deletions(since: Double) -> [Int] {
        bridge.events.filter { $0.at >= since && $0.kind == .deleting }.map(\.ordinal)
    }

    func monitor() -> EnsembleMonitor {
        let monitor = EnsembleMonitor(endpoints: (0..<3).map { MemberEndpoint(ordinal: $0, name: "zk-\($0)", host: bridge.address(ordinal: $0), port: 2181) })
        _ = monitor.start()
        return monitor
    }
}

func withRollScenario(_ spec: Value, _ body: (inout RollScenario) async throws -> Void) async throws {
    try await withFakeAPIServer { fake in
        let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
        try await withKubeletBridge(fake: fake, ensemble: "zk") { bridge in
            var scenario = RollScenario(cluster: cluster, bridge: bridge, op: try await RollScenario.startOperator(cluster, bridge))
            defer { scenario.op.stop() }
            _ = try await cluster.create("zk", spec: spec)
            do {
                try await body(&scenario)
            } catch {
                print("bridge events:\n" + bridge.events.map(\.description).joined(separator: "\n"))
                print("operator log tail:\n" + String(scenario.op.log.suffix(6000)))
                throw error
            }
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct RollE2ETests {
    static let spec: Value = [
        "engine": "ZooKeeper", "probes": fastProbes,
        "updateStrategy": ["memberTimeoutSeconds": 30, "stepTimeoutSeconds": 60],
    ]

    /// A configuration change rolls the real members one at a time: followers from the highest
    /// ordinal down, then the leader, which hands leadership over first (removed from the
    /// configuration while it serves, restarted, added back). One election in all; every pod
    /// deleted exactly once; members got the super user's digest from the operator's Secret.
    @Test func aRollRestartsFollowersThenHandsLeadershipOver() async throws {
        try await withRollScenario(Self.spec) { scenario in
            let first = try await scenario.settled("the Ensemble runs with a leader")
            let leader = try #require(first.status?["leader"]?.stringValue.flatMap { Int($0.split(separator: "-").last!) })
            let before = try #require(first.status?["updateRevision"]?.stringValue)

            // The super user: a Secret of the operator's own, given to members through the Secret.
            let secret = try #require(try await scenario.cluster.exists(.secrets, "zk-super-user"))
            #expect(secret.ownerReferences.contains { $0.uid == first.uid && $0.controller })
            #expect(secret.value["immutable"] == true)
            let pod = try #require(try await scenario.cluster.exists(.pods, "zk-0"))
            let env = pod.spec?["containers"]?.arrayValue?.first?["env"]?.arrayValue ?? []
            #expect(env.contains { $0["name"] == "ENSEMBLE_SUPER_USER_FLAG" && $0["valueFrom"]?["secretKeyRef"]?["name"] == "zk-super-user" })
            #expect(env.contains { $0["name"] == "JVMFLAGS" && $0["value"]?.stringValue?.hasSuffix(" $(ENSEMBLE_SUPER_USER_FLAG)") == true })
            #expect(!"\(pod.value)".contains("superDigest"), "the digest never sits in the pod spec")

            let monitor = scenario.monitor()
            defer { _ = monitor.stop() }
            let start = scenario.bridge.now
            try await scenario.patch(["zookeeper": ["tickTime": 2500]])
            let target = try await scenario.updateRevision(after: before)
            let done = try await scenario.settled("the roll is done")
            let seconds = scenario.bridge.now - start
            let report = monitor.stop()

            #expect(done.status?["updateRevision"]?.stringValue == target)
            #expect(Set(scenario.bridge.runningRevisions().values) == [target], "every member runs the new revision")
            let followers = [0, 1, 2].filter { $0 != leader }.sorted(by: >)
            let deleted = scenario.deletions(since: start)
            print(String(format: "roll: %.1f s from the spec change to every member serving at the new revision; ", seconds)
                  + "leader was zk-\(leader); pods deleted in order: \(deleted.map { "zk-\($0)" }); monitor: \(report)")
            #expect(deleted == followers + [leader], "followers from the highest ordinal down, the leader last")
            #expect(report.elections == 1, "one election: the hand-off (\(report.leaders))")

            // An Event per action. The removed leader restarts as outside the configuration
            // (or, when /zookeeper/config could not be read during the election, as a follower
            // at an old revision); it comes back through the membership planner (AddingMember),
            // which runs first, or the roll planner (AddingToConfig).
            let reasons = try await scenario.events().compactMap { $0["reason"]?.stringValue }
            #expect(reasons.filter { $0 == "RestartingFollower" || $0 == "RestartingOutsideConfig" }.count == 3, "\(reasons)")
            #expect(reasons.contains("HandingOverLeadership") && (reasons.contains("AddingMember") || reasons.contains("AddingToConfig"))
                        && reasons.contains("RollStarted") && reasons.contains("RollComplete"), "\(reasons)")
            #expect(reasons.filter { $0 == "ReconfigApplied" }.count == 2, "the leader left the configuration and came back: \(reasons)")
            let notes = try await scenario.events().compactMap { $0["note"]?.stringValue }.joined(separator: "\n")
            let status = "\(done.status ?? .null)"
            let log = scenario.op.log
            let password = try #require(secretPassword(secret))
            for text in [notes, status, log] {
                #expect(!text.contains("superDigest") && !text.contains(password), "the secret never shows")
            }
        }
    }

    /// The operator killed (SIGKILL) right after it deleted the first pod of a roll: a new
    /// operator resumes from what it observes and never deletes a pod that already runs the
    /// new revision; the roll completes with every pod deleted once.
    @Test func anOperatorRestartedMidRollResumesWithoutRestartingAnUpdatedMember() async throws {
        try await withRollScenario(Self.spec) { scenario in
            let first = try await scenario.settled("the Ensemble runs with a leader")
            let before = try #require(first.status?["updateRevision"]?.stringValue)
            let start = scenario.bridge.now
            try await scenario.patch(["zookeeper": ["tickTime": 2500]])
            _ = try await scenario.updateRevision(after: before)
            _ = try await eventually("the first pod is being deleted", timeout: 60, interval: 0.05) {
                scenario.deletions(since: start).isEmpty ? nil : true
            }
            scenario.op.kill9()
            let killedAt = scenario.bridge.now
            // While no operator runs, the restarted member comes back at the new revision.
            _ = try await eventually("the restarted member serves again", timeout: 60) { () -> Bool? in
                scenario.bridge.events.contains { $0.at > killedAt && $0.kind == .ready } ? true : nil
            }
            scenario.op = try await RollScenario.startOperator(scenario.cluster, scenario.bridge, name: "operator-2")
            _ = try await scenario.settled("the new operator finishes the roll")
            let deleted = scenario.deletions(since: start)
            print("roll across an operator restart: pods deleted in order: \(deleted.map { "zk-\($0)" })")
            #expect(deleted.sorted() == [0, 1, 2], "every pod deleted exactly once: \(deleted)")
        }
    }

    /// A hand-off cut half-way: the leader has left the configuration, but its pod cannot be
    /// deleted (the API refuses) and the operator dies. The next operator finishes it from
    /// what it observes: it restarts the old leader at once (outside the configuration, it
    /// holds no vote) and adds it back; the followers, already updated, are left alone.
    @Test func aHandOffCutHalfWayIsFinishedByTheNextOperator() async throws {
        try await withRollScenario(Self.spec) { scenario in
            let first = try await scenario.settled("the Ensemble runs with a leader")
            let leader = try #require(first.status?["leader"]?.stringValue)
            let before = try #require(first.status?["updateRevision"]?.stringValue)
            let fake = try #require(scenario.cluster.fake)
            try await fake.inject(.init(verb: "delete", resource: "pods", name: leader, code: 500, reason: "InternalError",
                                        message: "injected: the leader's pod cannot be deleted", times: nil))
            let start = scenario.bridge.now
            try await scenario.patch(["zookeeper": ["tickTime": 2500]])
            _ = try await scenario.updateRevision(after: before)
            _ = try await eventually("the leader has left the configuration", timeout: 60, interval: 0.1) {
                try await scenario.events(reason: "ReconfigApplied").first
            }
            scenario.op.kill9()
            let half = try #require(try await scenario.ensemble()?.status?["memberChange"])
            #expect(half["leftConfiguration"]?.arrayValue?.count == 1, "the removed leader's server line is kept: \(half)")
            try await fake.clearFaults()
            scenario.op = try await RollScenario.startOperator(scenario.cluster, scenario.bridge, name: "operator-2")
            let done = try await scenario.settled("the next operator finishes the hand-off")
            let deleted = scenario.deletions(since: start)
            print("hand-off cut half-way: pods deleted in order: \(deleted.map { "zk-\($0)" }); leader now \(done.status?["leader"]?.stringValue ?? "-")")
            #expect(deleted.sorted() == [0, 1, 2] && deleted.last.map { "zk-\($0)" } == leader, "each pod once, the old leader last")
            let reasons = try await scenario.events().compactMap { $0["reason"]?.stringValue }
            #expect(reasons.filter { $0 == "ReconfigApplied" }.count == 2, "removed, then added back: \(reasons)")
        }
    }

    /// A restarted member that never comes back (its new configuration crashes ZooKeeper at
    /// start) stops the roll once memberTimeoutSeconds has passed: Degraded, the planner's
    /// reason naming the member, no other member restarted, the rest still serving. Undoing
    /// the change resumes the roll, which restarts the broken member first.
    @Test func aMemberThatNeverBecomesReadyBlocksTheRoll() async throws {
        try await withRollScenario(Self.spec) { scenario in
            let first = try await scenario.settled("the Ensemble runs with a leader")
            let before = try #require(first.status?["updateRevision"]?.stringValue)
            let start = scenario.bridge.now
            try await scenario.patch(["zookeeper": ["config": ["electionAlg": "not-a-number"]]])
            _ = try await scenario.updateRevision(after: before)
            let blocked = try await eventually("the roll is blocked", timeout: 90, interval: 0.2) { () -> KubeObject? in
                let e = try await scenario.ensemble()
                return scenario.cluster.condition(e, "Degraded")?["status"] == "True" ? e : nil
            }
            let degraded = try #require(scenario.cluster.condition(blocked, "Degraded"))
            print("blocked: \(degraded)")
            let victim = try #require(scenario.deletions(since: start).first)
            #expect(degraded["reason"] == "MemberDidNotRejoin")
            #expect(degraded["message"]?.stringValue?.contains("zk-\(victim)") == true)
            #expect(blocked.status?["phase"] == "Degraded")
            #expect(scenario.cluster.condition(blocked, "Available")?["status"] == "True", "the other two keep the quorum")
            #expect(scenario.deletions(since: start) == [victim], "nothing else was restarted")
            let warning = try await eventually("a Warning event says why", timeout: 10) {
                try await scenario.events(reason: "MemberDidNotRejoin").first
            }
            #expect(warning["type"] == "Warning")

            try await scenario.patch(["zookeeper": ["config": .null]])
            _ = try await scenario.settled("undoing the change lets the roll finish")
            #expect(scenario.deletions(since: start) == [victim, victim], "only the broken member was restarted again")
        }
    }
}

/// The password the Secret holds (to check it never shows anywhere).
func secretPassword(_ secret: KubeObject) -> String? {
    secret.value["data"]?["password"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
}
