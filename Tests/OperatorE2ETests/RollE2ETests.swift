import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import NetCore
import Testing
import ZooKeeperTestSupport

/// Probe timings that let a kubelet (the bridge) notice a member within a second or two.
let fastProbes: Value = [
    "readiness": ["initialDelaySeconds": 0, "periodSeconds": 1, "timeoutSeconds": 2, "failureThreshold": 1],
]

@Suite(.serialized, .timeLimit(.minutes(5))) struct RollE2ETests {
    /// The kubelet bridge runs the operator's pods as real ZooKeeper members: they form a
    /// quorum from the rendered zoo.cfg, their pods turn ready from the rendered readiness
    /// probe, and the operator's srvr checks find the leader through the template.
    @Test func bridgeRunsThePodsAsRealMembers() async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            try await withKubeletBridge(fake: fake, ensemble: "zk") { bridge in
                let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: [
                    "--namespace", "default", "--member-probe-interval", "1", "--member-probe-timeout", "2",
                    "--member-address-template", bridge.memberAddressTemplate])
                defer { op.stop() }
                _ = try await cluster.create("zk", spec: ["engine": "ZooKeeper", "probes": fastProbes])
                let running = try await eventually("the Ensemble runs with a leader", timeout: 90) { () -> KubeObject? in
                    let e = try await cluster.ensemble("zk")
                    return e?.status?["phase"] == "Running" && e?.status?["leader"]?.stringValue != nil ? e : nil
                }
                let roles = (running.status?["members"]?.arrayValue ?? []).map { $0["role"]?.stringValue ?? "-" }
                #expect(roles.sorted() == ["follower", "follower", "leader"], "roles: \(roles)")
                #expect(Set(bridge.runningRevisions().keys) == [0, 1, 2])
                print(bridge.events.map(\.description).joined(separator: "\n"))
            }
        }
    }
}
