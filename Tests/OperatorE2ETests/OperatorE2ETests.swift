import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import NetCore
import Testing
import ZooKeeperTestSupport

/// Where the scenarios run: the fake API server (always), or a real API server when
/// ENSEMBLE_TEST_KUBECONFIG names a kubeconfig (each test then uses a fresh namespace).
struct TestCluster: Sendable {
    let kubeconfig: String
    let client: KubernetesClient
    let namespace: String
    let fake: FakeAPIServer?

    static let realKubeconfig = ProcessInfo.processInfo.environment["ENSEMBLE_TEST_KUBECONFIG"]

    /// Pods in the fake start not ready (no kubelet): the test says when they are.
    func markReady(_ pods: [String]) async throws {
        guard let fake else { return }
        for pod in pods { try await fake.setPodReady(namespace: namespace, name: pod, ready: true) }
    }

    func ensemble(_ name: String) async throws -> KubeObject? {
        do { return try await client.get(.ensembles, name: name, namespace: namespace) } catch where error.isNotFound { return nil }
    }

    func exists(_ type: ResourceType, _ name: String) async throws -> KubeObject? {
        do { return try await client.get(type, name: name, namespace: namespace) } catch where error.isNotFound { return nil }
    }

    func create(_ name: String, spec: Value) async throws -> KubeObject {
        try await client.create(.ensembles, ["apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble",
                                             "metadata": ["name": .string(name), "namespace": .string(namespace)], "spec": spec],
                                namespace: namespace)
    }

    func condition(_ object: KubeObject?, _ type: String) -> Value? {
        object?.status?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }
}

extension Error {
    var isNotFound: Bool { (self as? KubernetesError)?.isNotFound ?? false }
}

enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case fake, real
    var testDescription: String { rawValue }
}

/// Runs `body` against a backend; the real one is skipped (with the reason) without a kubeconfig.
func withCluster(_ backend: Backend, _ body: (TestCluster) async throws -> Void) async throws {
    switch backend {
    case .fake:
        try await withFakeAPIServer { fake in
            try await body(TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake))
        }
    case .real:
        guard let kubeconfig = TestCluster.realKubeconfig else { return }
        var configuration = try ClientConfiguration.fromKubeconfig(path: kubeconfig)
        let namespace = "ensemble-e2e-\(UInt32.random(in: 0...UInt32.max))"
        configuration.namespace = namespace
        let client = try KubernetesClient(configuration)
        _ = try await client.create(.namespaces, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]])
        do {
            try await body(TestCluster(kubeconfig: kubeconfig, client: client, namespace: namespace, fake: nil))
        } catch {
            _ = try? await client.delete(.namespaces, name: namespace)
            throw error
        }
        _ = try await client.delete(.namespaces, name: namespace)
    }
}

let realSkipped = "ENSEMBLE_TEST_KUBECONFIG is not set: the real-API-server runs of these scenarios are skipped (they always run against the fake)"

@Suite(.serialized, .timeLimit(.minutes(5))) struct OperatorE2ETests {
    /// The same scenarios against a real API server; skipped, with the reason, without one.
    @Test(.enabled(if: TestCluster.realKubeconfig != nil, Comment(rawValue: realSkipped)))
    func realAPIServer() async throws {
        try await lifecycle(backend: .real)
        try await retainKeepsClaims(backend: .real)
        try await invalidSpec(backend: .real)
    }

    static let childNames: [(ResourceType, String)] = [
        (.configMaps, "zk-config"), (.services, "zk-hs"), (.services, "zk-client"), (.podDisruptionBudgets, "zk-pdb"), (.statefulSets, "zk"),
    ]

    /// Create -> children -> Available with roles from real ZooKeeper servers; no writes at
    /// rest; spec change -> children updated, observedGeneration follows, no member restarted;
    /// a replica change starts with one member; delete -> children and (policy Delete) claims gone.
    @Test(arguments: [Backend.fake])
    func lifecycle(backend: Backend) async throws {
        if backend == .fake {
            // Members are real ZooKeeper servers on 127.x.y.1-3, reached through the template.
            try await withZooKeeperEnsemble { zookeeper in
                let base = zookeeper.addresses[0].split(separator: ".").dropLast().joined(separator: ".")
                try await lifecycle(backend, template: "\(base).{id}:\(zookeeper.clientPort)", leader: { zookeeper.leaderID().map { "zk-\($0 - 1)" } })
            }
        } else {
            // Real pods: roles only when the operator can reach them (ENSEMBLE_TEST_MEMBER_ADDRESS_TEMPLATE).
            let template = ProcessInfo.processInfo.environment["ENSEMBLE_TEST_MEMBER_ADDRESS_TEMPLATE"]
            try await lifecycle(backend, template: template, leader: nil)
        }
    }

    func lifecycle(_ backend: Backend, template: String?, leader: (@Sendable () -> String?)?) async throws {
        let timeout: Double = backend == .fake ? 60 : 600
        try await withCluster(backend) { cluster in
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: [
                "--namespace", cluster.namespace, "--member-probe-interval", "1", "--member-probe-timeout", "2"]
                + (template.map { ["--member-address-template", $0] } ?? []))
            defer { op.stop() }
            // Manual: these members are not the pods' (the pods are the fake's), so no roll.
            let created = try await cluster.create("zk", spec: ["engine": "ZooKeeper", "storage": ["reclaimPolicy": "Delete"],
                                                                "updateStrategy": ["type": "Manual"]])
            let uid = try #require(created.uid)

            for (type, name) in Self.childNames {
                let child = try await eventually("\(type) \(name) exists", timeout: 30) { try await cluster.exists(type, name) }
                #expect(child.ownerReferences.contains { $0.uid == uid && $0.controller }, "\(name) is owned by the Ensemble")
            }
            let statefulSet = try #require(try await cluster.exists(.statefulSets, "zk"))
            #expect(statefulSet.spec?["updateStrategy"]?["type"] == "OnDelete")
            _ = try await eventually("the finalizer is on", timeout: 30) {
                try await cluster.ensemble("zk")?.finalizers.contains(ClaimFinalizer.name) == true ? true : nil
            }

            let pods = ["zk-0", "zk-1", "zk-2"]
            _ = try await eventually("pods exist", timeout: 30) {
                for pod in pods where try await cluster.exists(.pods, pod) == nil { return nil as Bool? }
                return true
            }
            try await cluster.markReady(pods)
            let expectedLeader = leader?()
            let available = try await eventually("status is Running with the leader", timeout: timeout) { () -> KubeObject? in
                let ensemble = try await cluster.ensemble("zk")
                guard ensemble?.status?["phase"] == "Running" else { return nil }
                if template != nil, ensemble?.status?["leader"]?.stringValue == nil { return nil }
                // The operator reads the membership once the members serve (then the ConfigMap
                // stages it and the status shows it); after that it is at rest.
                if template != nil, ensemble?.status?["membership"]?["version"] == nil { return nil }
                if let expectedLeader, ensemble?.status?["leader"]?.stringValue != expectedLeader { return nil }
                return ensemble
            }
            let leaderPod = available.status?["leader"]?.stringValue ?? "zk-0"
            let status = try #require(available.status)
            #expect(status["observedGeneration"] == 1 && status["readyReplicas"] == 3)
            #expect(cluster.condition(available, "Available")?["status"] == "True")
            #expect(cluster.condition(available, "Degraded")?["status"] == "False")
            if template != nil {
                let roles = (status["members"]?.arrayValue ?? []).map { $0["role"]?.stringValue ?? "-" }
                #expect(roles.sorted() == ["follower", "follower", "leader"], "roles from srvr: \(roles)")
                #expect((status["members"]?.arrayValue ?? []).allSatisfy { $0["zxid"]?.stringValue?.hasPrefix("0x") == true })

                // Per-member figures from the srvr/mntr replies the operator already read.
                let metrics = try op.metricsText()
                #expect(metrics.contains("ensemble_member_role{namespace=\"\(cluster.namespace)\",ensemble=\"zk\",pod=\"\(leaderPod)\",role=\"leader\"} 1"))
                #expect(metrics.contains("ensemble_member_zxid_lag{namespace=\"\(cluster.namespace)\",ensemble=\"zk\",pod=\"zk-0\"} 0"))
                #expect(metrics.contains("ensemble_member_outstanding_requests{"))
                #expect(metrics.contains("ensemble_member_up{namespace=\"\(cluster.namespace)\",ensemble=\"zk\",pod=\"zk-2\"} 1"))
            }
            #expect(try op.metricsText().contains("ensemble_operator_ensembles{phase=\"Running\"} 1"))

            // At rest: member checks keep going, the API sees no write at all.
            if let fake = cluster.fake {
                try await fake.resetRequestCounts()
                let rounds = try op.metric("ensemble_member_probe_rounds_total") ?? 0
                _ = try await eventually("three more rounds of member checks", timeout: 30) {
                    (try op.metric("ensemble_member_probe_rounds_total") ?? 0) >= rounds + 3 ? true : nil
                }
                let counts = try await fake.requestCounts()
                #expect(counts.writes == 0, "writes at rest: \(counts.byVerb)")
            }

            // A spec change: children updated in place, nothing restarted (OnDelete, and
            // updateStrategy Manual: the operator leaves the pods alone and says so).
            let podUIDs = try await pods.asyncMap { try await cluster.exists(.pods, $0)?.uid }
            let hashBefore = statefulSet.spec?["template"]?["metadata"]?["annotations"]?[Rendering.configHashAnnotation]
            _ = try await cluster.client.patch(.ensembles, name: "zk", namespace: cluster.namespace,
                                               patch: ["spec": ["zookeeper": ["tickTime": 3000]]])
            _ = try await eventually("zoo.cfg has the new tickTime", timeout: 30) {
                try await cluster.exists(.configMaps, "zk-config")?.value["data"]?["zoo.cfg"]?.stringValue?.contains("tickTime=3000") == true ? true : nil
            }
            _ = try await eventually("observedGeneration follows", timeout: 30) {
                try await cluster.ensemble("zk")?.status?["observedGeneration"] == 2 ? true : nil
            }
            let updated = try #require(try await cluster.exists(.statefulSets, "zk"))
            #expect(updated.spec?["template"]?["metadata"]?["annotations"]?[Rendering.configHashAnnotation] != hashBefore)
            #expect(try await pods.asyncMap { try await cluster.exists(.pods, $0)?.uid } == podUIDs, "OnDelete: no member restarted")

            // A replica change of a running ZooKeeper ensemble goes to the membership planner:
            // one member at a time, zk-3 first (ScaleE2ETests runs whole scales with real pods).
            _ = try await cluster.client.patch(.ensembles, name: "zk", namespace: cluster.namespace, patch: ["spec": ["replicas": 5]])
            if template != nil {
                // The status is written after the step it reports: wait for both.
                _ = try await eventually("the StatefulSet is raised by one, and the status says so", timeout: 30) { () -> Bool? in
                    guard try await cluster.exists(.statefulSets, "zk")?.spec?["replicas"] == 4 else { return nil }
                    let status = try await cluster.ensemble("zk")?.status
                    return status?["observedGeneration"] == 3 && status?["memberChange"]?["activity"] == "Scaling" ? true : nil
                }
            }

            // Delete: the finalizer removes the claims, the garbage collector the children.
            let claims = ["data-zk-0", "data-zk-1", "data-zk-2"]
            if cluster.fake != nil {
                for claim in claims { #expect(try await cluster.exists(.persistentVolumeClaims, claim) != nil) }
            }
            _ = try await cluster.client.delete(.ensembles, name: "zk", namespace: cluster.namespace)
            _ = try await eventually("the Ensemble is gone", timeout: 60) { try await cluster.ensemble("zk") == nil ? true : nil }
            for claim in claims {
                _ = try await eventually("claim \(claim) is gone", timeout: 60) {
                    try await cluster.exists(.persistentVolumeClaims, claim) == nil ? true : nil
                }
            }
            for (type, name) in Self.childNames {
                _ = try await eventually("\(name) is gone", timeout: 60) { try await cluster.exists(type, name) == nil ? true : nil }
            }
            #expect(op.stop() == 0, "SIGTERM ends the operator cleanly")
            #expect(op.logLines().contains { $0["msg"] == "stopped" })
        }
    }

    /// Retain (the default): no finalizer, and the claims outlive the Ensemble.
    @Test(arguments: [Backend.fake])
    func retainKeepsClaims(backend: Backend) async throws {
        try await withCluster(backend) { cluster in
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: ["--namespace", cluster.namespace])
            defer { op.stop() }
            _ = try await cluster.create("keep", spec: ["engine": "ZooKeeper", "replicas": 1])
            _ = try await eventually("the StatefulSet exists", timeout: 30) { try await cluster.exists(.statefulSets, "keep") }
            #expect(try await cluster.ensemble("keep")?.finalizers.isEmpty == true)
            guard cluster.fake != nil else { return }
            _ = try await eventually("the claim exists", timeout: 30) { try await cluster.exists(.persistentVolumeClaims, "data-keep-0") }
            _ = try await cluster.client.delete(.ensembles, name: "keep", namespace: cluster.namespace)
            _ = try await eventually("the StatefulSet is gone", timeout: 30) { try await cluster.exists(.statefulSets, "keep") == nil ? true : nil }
            #expect(try await cluster.exists(.persistentVolumeClaims, "data-keep-0") != nil, "Retain keeps the volume")
        }
    }

    /// A spec the schema admits but the operator cannot run: Degraded/InvalidSpec naming the
    /// field, a Warning event, nothing created; fixing it creates the children.
    @Test(arguments: [Backend.fake])
    func invalidSpec(backend: Backend) async throws {
        try await withCluster(backend) { cluster in
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: ["--namespace", cluster.namespace])
            defer { op.stop() }
            _ = try await cluster.create("bad", spec: ["engine": "ZooKeeper", "zookeeper": ["heapSize": "2g"]])
            let invalid = try await eventually("status says InvalidSpec", timeout: 30) { () -> KubeObject? in
                let e = try await cluster.ensemble("bad")
                return cluster.condition(e, "Degraded")?["reason"] == "InvalidSpec" ? e : nil
            }
            #expect(invalid.status?["phase"] == "Invalid")
            #expect(cluster.condition(invalid, "Degraded")?["message"]?.stringValue?.contains("spec.zookeeper.heapSize") == true)
            let event = try await eventually("a Warning event names the field", timeout: 30) { () -> Value? in
                let events = try await cluster.client.list(.events, namespace: cluster.namespace)
                return events.items.first { $0.value["reason"] == "InvalidSpec" && $0.value["regarding"]?["name"] == "bad" }?.value
            }
            #expect(event["type"] == "Warning" && event["note"]?.stringValue?.contains("spec.zookeeper.heapSize") == true)
            let statefulSet = try await cluster.exists(.statefulSets, "bad")
            let configMap = try await cluster.exists(.configMaps, "bad-config")
            #expect(statefulSet == nil && configMap == nil, "an invalid spec creates nothing")
            _ = try await cluster.client.patch(.ensembles, name: "bad", namespace: cluster.namespace, patch: ["spec": ["zookeeper": ["heapSize": "512m"]]])
            _ = try await eventually("fixed: the StatefulSet exists", timeout: 30) { try await cluster.exists(.statefulSets, "bad") }
        }
    }

    /// 409s, 500s, slow answers, dropped watches and a compacted history: every Ensemble still
    /// converges (fake only: faults are the fake's control endpoints).
    @Test func recoversFromInjectedFaults() async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            try await fake.inject(.init(verb: "apply", resource: "statefulsets", code: 500, reason: "InternalError", message: "injected", times: 2))
            try await fake.inject(.init(verb: "patch", resource: "ensembles", subresource: "status", code: 409, reason: "Conflict", message: "injected", times: 2))
            try await fake.inject(.init(verb: "list", resource: "pods", delaySeconds: 3, times: 1))
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: ["--namespace", "default"])
            defer { op.stop() }
            _ = try await cluster.create("f1", spec: ["engine": "ZooKeeper", "replicas": 1])
            _ = try await eventually("f1 converges despite 500s, 409s and a slow list", timeout: 60) { () -> Bool? in
                guard try await cluster.exists(.statefulSets, "f1") != nil else { return nil }
                return try await cluster.ensemble("f1")?.status?["phase"] != nil ? true : nil
            }
            #expect((try op.metric("ensemble_operator_reconcile_errors_total{controller=\"ensemble\"}") ?? 0) >= 2)
            #expect((try op.metric("ensemble_operator_api_requests_total{verb=\"apply\",code=\"500\"}") ?? 0) >= 2)

            // Dropped watches resume; a compacted history forces a fresh list.
            try await fake.dropWatches()
            _ = try await cluster.create("f2", spec: ["engine": "ZooKeeper", "replicas": 1])
            _ = try await eventually("f2 is reconciled after the watches dropped", timeout: 60) { try await cluster.exists(.statefulSets, "f2") }
            try await fake.compact()
            try await fake.dropWatches()
            _ = try await cluster.create("f3", spec: ["engine": "ZooKeeper", "replicas": 1])
            _ = try await eventually("f3 is reconciled after the history was compacted", timeout: 60) { try await cluster.exists(.statefulSets, "f3") }
            try await cluster.markReady(["f3-0"])
            _ = try await eventually("f3 sees its pod ready", timeout: 60) { try await cluster.ensemble("f3")?.status?["readyReplicas"] == 1 ? true : nil }
        }
    }

    /// Two operators with leader election: one reconciles; the other takes over once the
    /// lease expires after the leader dies; SIGTERM releases the lease at once.
    @Test func leaderElectionAndFailover() async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            let election = ["--namespace", "default", "--leader-elect", "--leader-election-namespace", "default",
                            "--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "0.5"]
            let first = try await OperatorProcess.start(name: "first", kubeconfig: cluster.kubeconfig, arguments: election)
            defer { first.stop() }
            _ = try await eventually("first leads", timeout: 30) { try first.metric("ensemble_operator_leader") == 1 ? true : nil }
            let second = try await OperatorProcess.start(name: "second", kubeconfig: cluster.kubeconfig, arguments: election)
            defer { second.stop() }
            let standbyReady = try second.get("/readyz")
            #expect(standbyReady.status == 200 && standbyReady.body.contains("standby"))
            _ = try await cluster.create("l1", spec: ["engine": "ZooKeeper", "replicas": 1])
            _ = try await eventually("the leader reconciles l1", timeout: 30) { try await cluster.exists(.statefulSets, "l1") }
            #expect(try second.metric("ensemble_operator_leader") != 1)
            #expect(try second.metric("ensemble_operator_reconcile_total{controller=\"ensemble\",result=\"success\"}") == nil,
                    "the standby reconciles nothing")
            let lease = try await cluster.client.get(.leases, name: "ensemble-operator", namespace: "default")
            #expect(lease.value["spec"]?["holderIdentity"] == "first")

            first.kill9()
            let killedAt = monotonicNanoseconds()
            _ = try await cluster.create("l2", spec: ["engine": "ZooKeeper", "replicas": 1])
            _ = try await eventually("the standby takes over and reconciles l2", timeout: 30) { try await cluster.exists(.statefulSets, "l2") }
            let takeover = Double(monotonicNanoseconds() - killedAt) / 1e9
            #expect(takeover >= 3, "not before the lease (4 s) could expire: \(takeover) s")
            #expect(try second.metric("ensemble_operator_leader") == 1)

            #expect(second.stop() == 0)
            let released = try await cluster.client.get(.leases, name: "ensemble-operator", namespace: "default")
            #expect(released.value["spec"]?["holderIdentity"] == "", "the lease is released on shutdown")
        }
    }
}

extension OperatorE2ETests {
    /// The CRD installed without its CEL rules (an old apply, a hand-edited copy): a
    /// ZooKeeper ensemble of 12 gets past admission; the operator reports it (InvalidSpec on
    /// spec.replicas) and creates nothing.
    @Test func aSpecTheCRDNoLongerRejects() async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            let crds = ResourceType(group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
                                    kind: "CustomResourceDefinition", namespaced: false)
            // Installed again rather than updated: the fake takes a CRD's schema when it is created.
            let crd = try await cluster.client.get(crds, name: "ensembles.ensemble.dev")
            _ = try await cluster.client.delete(crds, name: "ensembles.ensemble.dev")
            var stripped = Self.withoutCEL(crd.value)
            stripped["metadata"] = ["name": "ensembles.ensemble.dev"]
            stripped["status"] = nil
            _ = try await cluster.client.create(crds, stripped)
            _ = try await eventually("admission lets 12 ZooKeeper members through", timeout: 30) { () -> Bool? in
                do {
                    _ = try await cluster.create("twelve", spec: ["engine": "ZooKeeper", "replicas": 12])
                    return true
                } catch let error as KubernetesError where error.status?.code == 422 {
                    return nil  // the new schema is not in force yet
                }
            }
            let op = try await OperatorProcess.start(kubeconfig: cluster.kubeconfig, arguments: ["--namespace", "default"])
            defer { op.stop() }
            let invalid = try await eventually("status says InvalidSpec", timeout: 30) { () -> KubeObject? in
                let e = try await cluster.ensemble("twelve")
                return cluster.condition(e, "Degraded")?["reason"] == "InvalidSpec" ? e : nil
            }
            #expect(cluster.condition(invalid, "Degraded")?["message"]?.stringValue?.contains("spec.replicas: must be between 1 and 9") == true)
            #expect(try await cluster.exists(.statefulSets, "twelve") == nil)
        }
    }

    /// A restarted operator acts only once every cache has had its first list: with the
    /// StatefulSet list slow, an Ensemble waiting to grow from 3 to 5 members must not look
    /// childless (its StatefulSet would be applied at 5 replicas, skipping the membership
    /// planner and quorum-safe steps). The members do not answer here, so scaling waits.
    @Test func aRestartedOperatorActsOnlyOnSyncedCaches() async throws {
        try await withFakeAPIServer { fake in
            let cluster = TestCluster(kubeconfig: fake.kubeconfigPath, client: try fake.client(), namespace: "default", fake: fake)
            let first = try await OperatorProcess.start(name: "first", kubeconfig: cluster.kubeconfig, arguments: ["--namespace", "default"])
            defer { first.stop() }
            _ = try await cluster.create("grow", spec: ["engine": "ZooKeeper", "replicas": 3])
            _ = try await eventually("the StatefulSet has 3 replicas", timeout: 30) {
                try await cluster.exists(.statefulSets, "grow")?.spec?["replicas"] == 3 ? true : nil
            }
            #expect(first.stop() == 0)
            let patched = try await cluster.client.patch(.ensembles, name: "grow", namespace: cluster.namespace, patch: ["spec": ["replicas": 5]])
            try await fake.inject(.init(verb: "list", resource: "statefulsets", delaySeconds: 3, times: 1))
            let second = try await OperatorProcess.start(name: "second", kubeconfig: cluster.kubeconfig, arguments: ["--namespace", "default"])
            defer { second.stop() }
            _ = try await eventually("the new generation is observed", timeout: 30) { () -> Bool? in
                try await cluster.ensemble("grow")?.status?["observedGeneration"]?.intValue == patched.generation ? true : nil
            }
            #expect(try await cluster.exists(.statefulSets, "grow")?.spec?["replicas"] == 3)
            #expect(!second.logLines().contains { $0["msg"] == "applied" && $0["kind"] == "StatefulSet" }, "\(second.log)")
        }
    }

    static func withoutCEL(_ value: Value) -> Value {
        switch value {
        case .object(let object):
            var out = Object()
            for (key, item) in object where key != "x-kubernetes-validations" { out[key] = withoutCEL(item) }
            return .object(out)
        case .array(let items): return .array(items.map(withoutCEL))
        default: return value
        }
    }

    /// A leader that finds the lease taken by someone else stops reconciling and exits 1
    /// (its Deployment restarts it as a standby), never acting as a second leader.
    @Test func aLeaderWhoseLeaseIsTakenStops() async throws {
        try await withFakeAPIServer { fake in
            let client = try fake.client()
            let op = try await OperatorProcess.start(kubeconfig: fake.kubeconfigPath, arguments: [
                "--namespace", "default", "--leader-elect", "--leader-election-namespace", "default",
                "--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "0.5"])
            defer { op.stop() }
            _ = try await eventually("it leads", timeout: 30) { try op.metric("ensemble_operator_leader") == 1 ? true : nil }
            var lease = try await client.get(.leases, name: "ensemble-operator", namespace: "default").value
            lease["spec"]?["holderIdentity"] = "intruder"
            _ = try await client.replace(.leases, lease, namespace: "default")
            _ = try await eventually("the operator exits", timeout: 30) { op.isRunning ? nil : true }
            #expect(op.stop() == 1)
            #expect(op.logLines().contains { $0["level"] == "error" && $0["msg"]?.contains("leadership lost") == true })
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
