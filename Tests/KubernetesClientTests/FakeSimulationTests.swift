import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import Testing

/// The fake's StatefulSet/Pod simulation, which the operator's end-to-end tests rely on.
@Suite(.serialized, .timeLimit(.minutes(2))) struct FakeSimulationTests {
    func statefulSet(replicas: Int, image: String, strategy: String = "OnDelete", retention: String = "Retain") -> Value {
        [
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": ["name": "zk"],
            "spec": [
                "replicas": .int(replicas), "serviceName": "zk-hs", "podManagementPolicy": "Parallel",
                "updateStrategy": ["type": .string(strategy)],
                "persistentVolumeClaimRetentionPolicy": ["whenDeleted": .string(retention), "whenScaled": .string(retention)],
                "selector": ["matchLabels": ["app": "zk"]],
                "template": [
                    "metadata": ["labels": ["app": "zk"]],
                    "spec": ["containers": [["name": "zookeeper", "image": .string(image)]]],
                ],
                "volumeClaimTemplates": [["metadata": ["name": "data"], "spec": ["resources": ["requests": ["storage": "1Gi"]]]]],
            ],
        ]
    }

    func pods(_ client: KubernetesClient) async throws -> [KubeObject] {
        try await client.list(.pods, options: ListOptions(labelSelector: LabelSelector(matching: ["app": "zk"]))).items
    }

    @Test func podsFollowReplicasRevisionsAndReadiness() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let created = try await client.apply(.statefulSets, statefulSet(replicas: 3, image: "zookeeper:3.9.3"))
            try await eventually("three pods") { try await pods(client).count == 3 }
            let first = try await client.get(.statefulSets, name: "zk")
            let revision = try #require(first.status?["updateRevision"]?.stringValue)
            #expect(revision.hasPrefix("zk-"))
            let initial = try await pods(client)
            #expect(initial.compactMap(\.name) == ["zk-0", "zk-1", "zk-2"])
            #expect(initial.allSatisfy { $0.labels["controller-revision-hash"] == revision })
            #expect(initial.allSatisfy { $0.ownerReferences.first?.uid == created.uid })
            #expect(initial[1].spec?["volumes"]?.arrayValue?.first == ["name": "data", "persistentVolumeClaim": ["claimName": "data-zk-1"]])
            #expect(try await client.list(.persistentVolumeClaims).items.compactMap(\.name) == ["data-zk-0", "data-zk-1", "data-zk-2"])
            #expect(try await client.get(.controllerRevisions, name: revision).value["revision"] == 1)

            // Readiness is the test's to set; the StatefulSet's status follows.
            for name in ["zk-0", "zk-1"] { try await server.setPodReady(name: name, ready: true) }
            try await eventually("readyReplicas 2") {
                try await client.get(.statefulSets, name: "zk").status?["readyReplicas"] == 2
            }

            // A template change: a new update revision, but OnDelete keeps the pods...
            _ = try await client.apply(.statefulSets, statefulSet(replicas: 3, image: "zookeeper:3.9.4"))
            try await eventually("a new update revision") {
                try await client.get(.statefulSets, name: "zk").status?["updateRevision"]?.stringValue != revision
            }
            let status = try await client.get(.statefulSets, name: "zk").status
            let updateRevision = try #require(status?["updateRevision"]?.stringValue)
            #expect(status?["currentRevision"]?.stringValue == revision)
            #expect(status?["updatedReplicas"] == 0)
            #expect(try await pods(client).allSatisfy { $0.labels["controller-revision-hash"] == revision })
            // ...until one is deleted: it comes back at the update revision, not ready.
            let old = try await client.get(.pods, name: "zk-1")
            _ = try await client.delete(.pods, name: "zk-1")
            try await eventually("zk-1 recreated") {
                let pod = try? await client.get(.pods, name: "zk-1")
                return pod != nil && pod?.uid != old.uid
            }
            let recreated = try await client.get(.pods, name: "zk-1")
            #expect(recreated.labels["controller-revision-hash"] == updateRevision)
            #expect(recreated.spec?["containers"]?.arrayValue?.first?["image"] == "zookeeper:3.9.4")
            try await eventually("status counts the updated pod") {
                let status = try await client.get(.statefulSets, name: "zk").status
                return status?["updatedReplicas"] == 1 && status?["readyReplicas"] == 1
            }

            // Scale down removes the highest ordinals; claims are retained.
            _ = try await client.apply(.statefulSets, statefulSet(replicas: 1, image: "zookeeper:3.9.4"))
            try await eventually("one pod") { try await pods(client).compactMap(\.name) == ["zk-0"] }
            #expect(try await client.list(.persistentVolumeClaims).items.count == 3)

            // Deleting the StatefulSet takes its pods (owner references).
            _ = try await client.delete(.statefulSets, name: "zk")
            try await eventually("pods garbage-collected") { try await pods(client).isEmpty }
        }
    }

    @Test func claimsGoWithScaleDownWhenTheRetentionPolicySaysDelete() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            _ = try await client.apply(.statefulSets, statefulSet(replicas: 2, image: "x", retention: "Delete"))
            try await eventually("two claims") { try await client.list(.persistentVolumeClaims).items.count == 2 }
            _ = try await client.apply(.statefulSets, statefulSet(replicas: 1, image: "x", retention: "Delete"))
            try await eventually("one claim left") {
                try await client.list(.persistentVolumeClaims).items.compactMap(\.name) == ["data-zk-0"]
            }
            _ = try await client.delete(.statefulSets, name: "zk")
            try await eventually("claims deleted with the StatefulSet") {
                try await client.list(.persistentVolumeClaims).items.isEmpty
            }
        }
    }

    @Test func podStatusCanBeScripted() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            _ = try await client.apply(.statefulSets, statefulSet(replicas: 1, image: "x"))
            try await eventually("a pod") { try await pods(client).count == 1 }
            try await server.patchPodStatus(name: "zk-0", status: ["podIP": "127.0.0.1"])
            #expect(try await client.get(.pods, name: "zk-0").status?["podIP"] == "127.0.0.1")
        }
    }
}
