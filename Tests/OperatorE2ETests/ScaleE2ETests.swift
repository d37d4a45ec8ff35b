import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import NetCore
import Testing
import ZooKeeperTestSupport

/// Scaling a running ZooKeeper ensemble through the operator, against the fake API server
/// with the kubelet bridge: every pod a real ZooKeeper member started from the rendered
/// configuration (init container included), so the operator's reconfigs change a real
/// membership and its replica changes start and stop real processes.
@Suite(.serialized, .timeLimit(.minutes(6))) struct ScaleE2ETests {
    /// 3 -> 5 -> 3 with `kubectl scale ens` (the CRD's scale subresource): one member at a
    /// time, each new member started before it is added, each leaving member removed before
    /// its pod goes; the PodDisruptionBudget follows; the final /zookeeper/config (read with
    /// kazoo) is the desired membership and no removed member's process is left.
    @Test func threeToFiveToThreeOneMemberAtATime() async throws {
        try await withScaleCluster { cluster, bridge in
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: operatorArguments(bridge))
            defer { op.stop() }
            _ = try await cluster.create("zk", spec: ["engine": "ZooKeeper", "probes": fastProbes])
            let three = try await settled(cluster, members: 3)
            let firstVersion = try #require(three.status?["membership"]?["version"]?.stringValue)
            #expect(try await maxUnavailable(cluster) == 1)

            try await kubectl(cluster, ["scale", "ens", "zk", "--replicas", "5"])
            let five = try await settled(cluster, members: 5)
            #expect(five.status?["membership"]?["version"]?.stringValue != firstVersion)
            #expect(try await maxUnavailable(cluster) == 1)
            #expect(try await liveConfig(bridge).participants == [1, 2, 3, 4, 5])

            try await kubectl(cluster, ["scale", "ens", "zk", "--replicas", "3"])
            _ = try await settled(cluster, members: 3)
            let config = try await liveConfig(bridge)
            #expect(config.participants == [1, 2, 3])
            #expect(config.observers.isEmpty)

            // The sequence: replica changes and reconfigs, one member at a time.
            let steps = try await memberSteps(cluster)
            #expect(steps == [
                "StartingMember zk-3", "AddingMember zk-3", "StartingMember zk-4", "AddingMember zk-4",
                "RemovingMember zk-4", "StoppingMember zk-4", "RemovingMember zk-3", "StoppingMember zk-3",
            ], "\(steps)")
            // What the kubelet saw: zk-3 ran before zk-4 started, zk-4 stopped before zk-3.
            let lifecycle = bridge.events.compactMap { event -> String? in
                guard event.ordinal >= 3 else { return nil }
                switch event.kind {
                case .started: return "started \(event.pod)"
                case .stopped: return "stopped \(event.pod)"
                default: return nil
                }
            }
            #expect(lifecycle == ["started zk-3", "started zk-4", "stopped zk-4", "stopped zk-3"], "\(bridge.events)")
            // No member process left beyond the three (Retain keeps the removed members' claims).
            #expect(Set(bridge.runningRevisions().keys) == [0, 1, 2])
            for claim in ["data-zk-3", "data-zk-4"] { #expect(try await cluster.exists(.persistentVolumeClaims, claim) != nil, "\(claim) retained") }
        }
    }

    /// An operator killed in the middle of a scale leaves a half-done change; the next one
    /// repairs it from observations alone and finishes, never repeating a step that was done.
    /// To stop it at a known point, the fake refuses the StatefulSet patches that would take
    /// the next step: growing, it is killed once zk-3 was added and zk-4 could not be started;
    /// shrinking, once zk-4 left the configuration and could not be stopped (a member removed
    /// but still running, which the next operator stops).
    @Test func anOperatorKilledMidScaleIsRepairedByTheNext() async throws {
        try await withScaleCluster { cluster, bridge in
            guard let fake = cluster.fake else { return }
            let refuseScaling = FakeAPIServer.Fault(verb: "patch", resource: "statefulsets", code: 500, reason: "InternalError",
                                                    message: "injected by the test", times: nil)
            var op = try await OperatorProcess.start(name: "first", kubeconfig: cluster.kubeconfig, arguments: operatorArguments(bridge))
            defer { op.stop() }
            _ = try await cluster.create("zk", spec: ["engine": "ZooKeeper", "probes": fastProbes, "storage": ["reclaimPolicy": "Delete"]])
            _ = try await settled(cluster, members: 3)

            _ = try await cluster.client.patch(.ensembles, name: "zk", namespace: cluster.namespace, patch: ["spec": ["replicas": 5]])
            _ = try await eventually("zk-3 is started", timeout: 60) {
                try await cluster.exists(.statefulSets, "zk")?.spec?["replicas"] == 4 ? true : nil
            }
            try await fake.inject(refuseScaling)
            _ = try await eventually("zk-3 is added", timeout: 60) { try await liveConfig(bridge).participants == [1, 2, 3, 4] ? true : nil }
            op.kill9()
            #expect(try await cluster.exists(.statefulSets, "zk")?.spec?["replicas"] == 4, "zk-4 was not started")
            try await fake.clearFaults()
            op = try await OperatorProcess.start(name: "second", kubeconfig: cluster.kubeconfig, arguments: operatorArguments(bridge))
            _ = try await settled(cluster, members: 5)
            #expect(try await liveConfig(bridge).participants == [1, 2, 3, 4, 5])

            // Shrinking, zk-4 leaves the configuration and runs on.
            try await fake.inject(refuseScaling)
            _ = try await cluster.client.patch(.ensembles, name: "zk", namespace: cluster.namespace, patch: ["spec": ["replicas": 4]])
            _ = try await eventually("zk-4 has left the configuration", timeout: 60) {
                try await liveConfig(bridge).participants == [1, 2, 3, 4] ? true : nil
            }
            #expect(try await cluster.exists(.statefulSets, "zk")?.spec?["replicas"] == 5)
            #expect(bridge.runningRevisions()[4] != nil, "zk-4 still runs")
            op.kill9()
            try await fake.clearFaults()
            op = try await OperatorProcess.start(name: "third", kubeconfig: cluster.kubeconfig, arguments: operatorArguments(bridge))
            _ = try await settled(cluster, members: 4)
            #expect(try await liveConfig(bridge).participants == [1, 2, 3, 4])
            #expect(Set(bridge.runningRevisions().keys) == [0, 1, 2, 3])
            _ = try await eventually("the removed member's claim is deleted (reclaimPolicy Delete)", timeout: 30) {
                try await cluster.exists(.persistentVolumeClaims, "data-zk-4") == nil ? true : nil
            }

            // Every step once: what the killed operators did is not done again.
            let steps = try await memberSteps(cluster).filter { !$0.hasPrefix("DeletingVolume") }
            #expect(steps == [
                "StartingMember zk-3", "AddingMember zk-3", "StartingMember zk-4", "AddingMember zk-4",
                "RemovingMember zk-4", "StoppingMember zk-4",
            ], "\(steps)")
        }
    }

    // MARK: Helpers

    func operatorArguments(_ bridge: KubeletBridge) -> [String] {
        ["--namespace", "default", "--member-probe-interval", "1", "--member-probe-timeout", "2"] + bridge.operatorMemberArguments
    }

    func withScaleCluster(_ body: (TestCluster, KubeletBridge) async throws -> Void) async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            try await withKubeletBridge(fake: fake, ensemble: "zk") { bridge in
                do {
                    try await body(cluster, bridge)
                } catch {
                    print(bridge.events.map(\.description).joined(separator: "\n"))
                    throw error
                }
            }
        }
    }

    /// The Ensemble once `members` serve and the operator has nothing left to do: the
    /// membership it shows is members 0 to n-1, every pod is ready, no change is under way.
    func settled(_ cluster: TestCluster, members: Int) async throws -> KubeObject {
        try await eventually("\(members) members and nothing under way", timeout: 120) { () -> KubeObject? in
            guard let e = try await cluster.ensemble("zk"), let status = e.status else { return nil }
            let servers = (status["membership"]?["servers"]?.arrayValue ?? []).compactMap { $0["member"]?.stringValue }
            guard status["phase"] == "Running", status["readyReplicas"]?.intValue == members, status["memberChange"] == nil,
                  servers == (0..<members).map({ "zk-\($0)" }),
                  try await cluster.exists(.statefulSets, "zk")?.spec?["replicas"]?.intValue == members else { return nil }
            return e
        }
    }

    func maxUnavailable(_ cluster: TestCluster) async throws -> Int? {
        try await cluster.exists(.podDisruptionBudgets, "zk-pdb")?.spec?["maxUnavailable"]?.intValue
    }

    /// The operator's Events for member actions, oldest first: "<reason> <pod>".
    func memberSteps(_ cluster: TestCluster) async throws -> [String] {
        let reasons: Set<String> = ["StartingMember", "StartingConfiguredMember", "AddingMember", "RemovingMember", "StoppingMember",
                                    "DeletingVolume", "DeletingStaleVolume"]
        let events = try await cluster.client.list(.events, namespace: cluster.namespace).items
            .filter { $0.value["regarding"]?["name"] == "zk" && reasons.contains($0.value["reason"]?.stringValue ?? "") }
            .sorted { Int($0.resourceVersion ?? "") ?? 0 < Int($1.resourceVersion ?? "") ?? 0 }
        return events.map { event in
            // The step's summary names the member first ("start zk-3: ...", "delete the volume of zk-4: ...").
            let note = event.value["note"]?.stringValue ?? ""
            let pod = note.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ":,")) }
                .first { $0.hasPrefix("zk-") && Int($0.dropFirst(3)) != nil } ?? "?"
            return "\(event.value["reason"]?.stringValue ?? "") \(pod)"
        }
    }

    /// The real kubectl (from .venv-test) against the fake.
    func kubectl(_ cluster: TestCluster, _ arguments: [String]) async throws {
        let result = try await runProcessInBackground("kubectl", ["--kubeconfig", cluster.kubeconfig, "-n", cluster.namespace] + arguments, timeout: 60)
        try #require(result.status == 0, "kubectl \(arguments.joined(separator: " ")): \(result.stderr)")
    }

    /// `/zookeeper/config` as kazoo (an independent client) reads it from the running members.
    func liveConfig(_ bridge: KubeletBridge) async throws -> (participants: [Int], observers: [Int]) {
        let hosts = bridge.endpoints().map { "\($0.host):\($0.port)" }.joined(separator: ",")
        let script = """
            import sys
            from kazoo.client import KazooClient
            zk = KazooClient(hosts=sys.argv[1], timeout=5)
            zk.start(timeout=10)
            try:
                zk.sync("/zookeeper/config")
                print(zk.get("/zookeeper/config")[0].decode())
            finally:
                zk.stop()
            """
        let result = try await runProcessInBackground("python3", ["-c", script, hosts], timeout: 30)
        try #require(result.status == 0, "kazoo: \(result.stderr)")
        var participants: [Int] = [], observers: [Int] = []
        for line in result.stdout.split(separator: "\n") where line.hasPrefix("server.") {
            guard let eq = line.firstIndex(of: "="), let id = Int(line[line.index(line.startIndex, offsetBy: 7)..<eq]) else { continue }
            if line.contains(":observer") { observers.append(id) } else { participants.append(id) }
        }
        return (participants.sorted(), observers.sorted())
    }
}
