import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import NetCore
import Synchronization
import Testing
import ZooKeeperTestSupport

/// A listener that accepts connections and never answers: what pravega's operator waits 33 s
/// per attempt on. Holds every connection until stopped.
final class DeafListener: @unchecked Sendable {
    let listener: TCPListener
    private let stopped = Atomic<Bool>(false)
    private let held = Mutex<[TCPConnection]>([])
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        listener = try TCPListener.bind(host: "127.0.0.1", port: 0)
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .relaxed) {
                if let connection = try? listener.accept(deadline: .after(seconds: 0.2)) { held.withLock { $0.append(connection) } }
            }
            done.signal()
        }
    }

    var accepted: Int { held.withLock { $0.count } }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        done.wait()
        held.withLock { connections in for c in connections { c.close() }; connections.removeAll() }
        listener.close()
    }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct IsolationE2ETests {
    /// Every member of 6 Ensembles accepts TCP and never answers: a new Ensemble still gets
    /// its children and a status at once, and the hung checks cost their own timeout only.
    @Test func hungMembersNeverHoldUpReconciles() async throws {
        let deaf = try DeafListener()
        defer { deaf.stop() }
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: [
                "--namespace", "default", "--member-address-template", "127.0.0.1:\(deaf.listener.port)",
                "--member-probe-interval", "1", "--member-probe-timeout", "5"])
            defer { op.stop() }
            for i in 0..<6 { _ = try await cluster.create("hung\(i)", spec: ["engine": "ZooKeeper"]) }
            _ = try await eventually("the hung members are being asked", timeout: 30) { deaf.accepted >= 18 ? true : nil }
            let start = monotonicNanoseconds()
            _ = try await cluster.create("fresh", spec: ["engine": "ZooKeeper"])
            _ = try await eventually("the new Ensemble has its StatefulSet and a status", timeout: 30) { () -> Bool? in
                guard try await cluster.exists(.statefulSets, "fresh") != nil else { return nil }
                return try await cluster.ensemble("fresh")?.status?["phase"] != nil ? true : nil
            }
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            #expect(seconds < 3.5, "children and status took \(seconds) s while 18 member checks hang for 5 s each")
            // The hung checks end with their timeout and say why.
            let status = try await eventually("hung members are reported", timeout: 30) { () -> Value? in
                let members = try await cluster.ensemble("hung0")?.status?["members"]?.arrayValue ?? []
                return members.first { $0["message"]?.stringValue?.contains("timed out") == true }
            }
            #expect(status["role"] == "unknown")
        }
    }

    /// A namespace holding an Ensemble with the volume-claim finalizer is deleted as usual.
    @Test func finalizerNeverBlocksNamespaceDeletion() async throws {
        try await withFakeAPIServer { fake in
            let client = try fake.client()
            _ = try await client.create(.namespaces, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "doomed"]])
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: client, namespace: "doomed", fake: fake)
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig)  // all namespaces
            defer { op.stop() }
            _ = try await cluster.create("zk", spec: ["engine": "ZooKeeper", "storage": ["reclaimPolicy": "Delete"]])
            _ = try await eventually("the finalizer is on and claims exist", timeout: 30) { () -> Bool? in
                guard try await cluster.ensemble("zk")?.finalizers.contains(ClaimFinalizer.name) == true else { return nil }
                return try await cluster.exists(.persistentVolumeClaims, "data-zk-0") != nil ? true : nil
            }
            _ = try await client.delete(.namespaces, name: "doomed")
            _ = try await eventually("the namespace and the Ensemble are gone", timeout: 30) { () -> Bool? in
                do { _ = try await client.get(.namespaces, name: "doomed"); return nil } catch where error.isNotFound { return true }
            }
        }
    }

    /// Claims that cannot be deleted (every delete fails) hold the Ensemble for a few
    /// bounded retries, then the finalizer goes with a Warning event naming them.
    @Test func aFailingCleanupGivesUpInsteadOfBlocking() async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: ["--namespace", "default"])
            defer { op.stop() }
            _ = try await cluster.create("stuck", spec: ["engine": "ZooKeeper", "replicas": 1, "storage": ["reclaimPolicy": "Delete"]])
            _ = try await eventually("the claim exists", timeout: 30) { try await cluster.exists(.persistentVolumeClaims, "data-stuck-0") }
            _ = try await eventually("the finalizer is on", timeout: 30) {
                try await cluster.ensemble("stuck")?.finalizers.contains(ClaimFinalizer.name) == true ? true : nil
            }
            try await fake.inject(.init(verb: "delete", resource: "persistentvolumeclaims", code: 500, reason: "InternalError",
                                        message: "injected", times: nil))
            _ = try await cluster.client.delete(.ensembles, name: "stuck", namespace: "default")
            _ = try await eventually("the Ensemble is gone anyway", timeout: 30) { try await cluster.ensemble("stuck") == nil ? true : nil }
            let events = try await cluster.client.list(.events, namespace: "default").items
            #expect(events.contains { $0.value["reason"] == "VolumeClaimsLeft" && $0.value["type"] == "Warning"
                && $0.value["note"]?.stringValue?.contains("data-stuck-0") == true })
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct ShutdownE2ETests {
    /// SIGTERM in the middle of a reconcile: the reconcile finishes (every child applied),
    /// then the operator exits 0.
    @Test func sigtermFinishesTheReconcileInFlight() async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            // The StatefulSet is applied last; its apply answers after 3 s.
            try await fake.inject(.init(verb: "apply", resource: "statefulsets", delaySeconds: 3, times: 1))
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: ["--namespace", "default"])
            defer { op.stop() }
            _ = try await cluster.create("inflight", spec: ["engine": "ZooKeeper", "replicas": 1])
            _ = try await eventually("the reconcile is in flight (PodDisruptionBudget applied)", timeout: 30) {
                try await cluster.exists(.podDisruptionBudgets, "inflight-pdb")
            }
            #expect(try await cluster.exists(.statefulSets, "inflight") == nil, "still waiting for the slow apply")
            #expect(op.stop(grace: 30) == 0)
            #expect(try await cluster.exists(.statefulSets, "inflight") != nil, "the reconcile in flight finished before the exit")
            #expect(try await cluster.ensemble("inflight")?.status?["phase"] != nil, "including its status")
        }
    }
}

/// A CQL native-protocol peer that answers OPTIONS with SUPPORTED, as a Cassandra node's
/// native transport does (CQL_VERSION and PROTOCOL_VERSIONS), one connection at a time.
final class CQLPeer: @unchecked Sendable {
    let listener: TCPListener
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(cqlVersion: String) throws {
        listener = try TCPListener.bind(host: "127.0.0.1", port: 0)
        let body = Self.supported([("CQL_VERSION", [cqlVersion]), ("PROTOCOL_VERSIONS", ["3/v3", "4/v4", "5/v5"])])
        let length = UInt32(body.count)
        let frame: [UInt8] = [0x84, 0, 0, 0, 0x06, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + body
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .relaxed) {
                guard let connection = try? listener.accept(deadline: .after(seconds: 0.2)) else { continue }
                if let request = try? connection.readExactly(9, deadline: .after(seconds: 2)), request[4] == 0x05 {
                    try? connection.writeAll(frame, deadline: .after(seconds: 2))
                }
                connection.close()
            }
            done.signal()
        }
    }

    static func supported(_ options: [(String, [String])]) -> [UInt8] {
        func string(_ s: String) -> [UInt8] { let b = Array(s.utf8); return [UInt8(b.count >> 8), UInt8(b.count & 0xff)] + b }
        var out: [UInt8] = [0, UInt8(options.count)]
        for (key, values) in options {
            out += string(key) + [0, UInt8(values.count)]
            for value in values { out += string(value) }
        }
        return out
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        done.wait()
        listener.close()
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct CassandraE2ETests {
    /// A Cassandra ring's members are asked with the CQL OPTIONS handshake; the status carries
    /// each member's answer, and a member that does not answer says why.
    @Test func membersCarryTheirCQLAnswer() async throws {
        let peer = try CQLPeer(cqlVersion: "3.4.7")
        defer { peer.stop() }
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: [
                "--namespace", "default", "--member-probe-interval", "1",
                // Ordinal 0 answers; ordinal 1 is a closed port on another loopback address.
                "--member-address-template", "127.0.0.{id}:\(peer.listener.port)"])
            defer { op.stop() }
            _ = try await cluster.create("ring", spec: ["engine": "Cassandra", "replicas": 2])
            // OrderedReady: the second node starts once the first is ready.
            _ = try await eventually("the first member exists", timeout: 30) { try await cluster.exists(.pods, "ring-0") }
            try await cluster.markReady(["ring-0"])
            _ = try await eventually("the second member exists", timeout: 30) { try await cluster.exists(.pods, "ring-1") }
            let members = try await eventually("both members were asked", timeout: 30) { () -> [Value]? in
                let members = try await cluster.ensemble("ring")?.status?["members"]?.arrayValue ?? []
                return members.count == 2 && members.allSatisfy({ $0["cqlVersion"] != nil || $0["message"] != nil }) ? members : nil
            }
            #expect(members[0]["cqlVersion"] == "3.4.7")
            #expect(members[1]["cqlVersion"] == nil && members[1]["message"]?.stringValue?.contains("127.0.0.2:\(peer.listener.port)") == true)
            #expect(members.allSatisfy { $0["role"] == nil }, "roles are ZooKeeper's")
            #expect(try op.metricsText().contains("ensemble_member_up{namespace=\"default\",ensemble=\"ring\",pod=\"ring-0\"} 1"))
            #expect(try op.metricsText().contains("ensemble_member_up{namespace=\"default\",ensemble=\"ring\",pod=\"ring-1\"} 0"))
        }
    }
}
