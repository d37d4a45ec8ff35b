import EnsembleCore
import Testing

/// Every leaf field of the spec schema is changed, one at a time, on the every-field
/// example: the decoded Ensemble must change (the field is read) and, unless the field only
/// steers the operator's own behaviour, so must the rendered manifests (the field has an
/// effect). A field added to the schema without being wired through fails here.
@Suite struct FieldEffectTests {
    /// Fields that steer the operator's reconcile loop, not the manifests (with why).
    static let operatorOnly: [String: String] = [
        "updateStrategy.type": "the roll planner reads it; manifests always use OnDelete",
        "updateStrategy.memberTimeoutSeconds": "the planners' deadline for a restarted or started member",
        "updateStrategy.stepTimeoutSeconds": "the planners' deadline for every other wait",
        "updateStrategy.leaderHandOff": "the roll planner hands leadership over with reconfig",
        "cassandra.streamingTimeoutSeconds": "the membership planner's deadline for bootstrap and decommission",
    ]

    /// Fields that only allow something elsewhere in the spec: their effect is that the
    /// alternative value makes the example invalid (with why).
    static let gates: [String: String] = [
        "pod.allowedHostPathVolumes": "without it the example's hostPath volume is refused",
    ]

    /// A different valid value for fields whose type alone cannot suggest one.
    static let alternatives: [String: Value] = [
        "image": "zookeeper:3.9.3",
        "storage.storageClassName": "standard",
        "pod.labels": ["team": "payments"],
        "pod.annotations": ["example.com/owner": "payments"],
        "pod.env": [["name": "SERVER_JVMFLAGS", "value": "-XX:+UseZGC"]],
        "pod.volumes": [["name": "jaas", "secret": ["secretName": "other-jaas"]], ["name": "scratch", "emptyDir": ["medium": "Memory"]],
                        ["name": "node-certs", "hostPath": ["path": "/etc/pki"]], ["name": "extra-config", "configMap": ["name": "other"]]],
        "pod.volumeMounts": [["name": "jaas", "mountPath": "/etc/jaas"]],
        "pod.allowedHostPathVolumes": [],
        "pod.imagePullSecrets": [["name": "other-registry"]],
        "pod.serviceAccountName": "orders-zk-backup",
        "pod.lifecycle.postStart": [["command": ["/bin/true"]], ["command": ["/bin/true", "again"]]],
        "pod.lifecycle.preStop": [["command": ["/bin/sh", "-c", "sleep 1"]], ["command": ["/bin/true"]]],
        "pod.sidecars": [["name": "audit-shipper", "image": "fluent/fluent-bit:3.2"]],
        "zookeeper.metrics.className": "org.example.metrics.OtherProvider",
        "pod.priorityClassName": "batch-low",
        "scheduling.nodeSelector": ["disk": "ssd"],
        "scheduling.tolerations": [["key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30]],
        "scheduling.nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [["matchExpressions": [["key": "pool", "operator": "In", "values": ["zk"]]]]]]],
        "scheduling.topologySpreadConstraints": [["maxSkew": 2, "topologyKey": "topology.kubernetes.io/region", "whenUnsatisfiable": "DoNotSchedule"]],
        "scheduling.antiAffinityTopologyKey": "topology.kubernetes.io/zone",
        "service.annotations": ["example.com/lb": "internal"],
        "clusterDomain": "corp.example",
        "resources.requests.cpu": "750m",
        "resources.requests.memory": "1536Mi",
        "resources.limits.cpu": "3",
        "resources.limits.memory": "3Gi",
        "storage.size": "20Gi",
        "zookeeper.fourLetterWords": ["ruok", "srvr", "mntr", "stat", "conf", "isro", "wchs"],
        "zookeeper.heapSize": "768m",
        "zookeeper.config": ["snapCount": "100000"],
        "cassandra.clusterName": "payments",
        "cassandra.datacenter": "dc2",
        "cassandra.rack": "rack2",
        "cassandra.maxHeapSize": "600M",
        "cassandra.heapNewSize": "120M",
        "replicas": 5,
        "podDisruptionBudget.maxUnavailable": 0,
        "cassandra.seeds": 1,
        "securityContext.runAsUser": 1001,
        "securityContext.runAsGroup": 1001,
        "securityContext.fsGroup": 1001,
        "pod.terminationGracePeriodSeconds": 90,
        // Auto is read-only for ZooKeeper, so True would not be a change.
        "securityContext.readOnlyRootFilesystem": "False",
    ]

    static var leafPaths: [String] {
        EnsembleAPI.spec.leafPaths().map(\.path)
    }

    @Test func everyFieldIsCovered() {
        // Guards the parameterised test below against an empty or shrinking field list.
        #expect(Self.leafPaths.count >= 60)
        #expect(Self.leafPaths.contains("zookeeper.autopurge.purgeInterval"))
        #expect(Self.leafPaths.contains("cassandra.numTokens"))
    }

    @Test(arguments: leafPaths)
    func changingTheFieldHasAnEffect(path: String) throws {
        let documents = try ManifestLoader.loadDocuments(yaml: readRepoFile("examples/every-field.yaml"), source: "every-field.yaml")
        try #require(documents.count == 2)
        let base = path.hasPrefix("cassandra.") ? documents[1].value : documents[0].value
        let original = try #require(EnsembleDecoder.decode(value: base).ensemble)

        var mutated = base
        let schema = try #require(EnsembleAPI.spec.schema(at: path))
        let current = base.lookup("spec.\(path)") ?? EnsembleAPI.spec.applyingDefaults(to: base["spec"]!).lookup(path)
        let replacement = try #require(Self.alternative(for: path, schema: schema, current: current), "no alternative value for \(path)")
        try set(&mutated, path: "spec.\(path)", to: replacement)
        if path == "engine" { mutated["spec"]?["zookeeper"] = nil }

        let decoded = EnsembleDecoder.decode(value: mutated)
        if Self.gates[path] != nil {
            let problems = decoded.problems + (decoded.ensemble.map { Validator.validate($0).problems } ?? [])
            #expect(problems.contains { $0.severity == .error }, "\(path) gates nothing: the example stays valid without it")
            return
        }
        let changed = try #require(decoded.ensemble, "mutation of \(path) made the resource invalid: \(decoded.problems)")
        let report = Validator.validate(changed)
        #expect(report.errors.isEmpty, "mutation of \(path) is invalid: \(report.errors)")
        let typedDiffers = changed != original
        #expect(typedDiffers, "\(path) is not read into the typed spec")
        if Self.operatorOnly[path] != nil { return }
        let renderedDiffers = Rendering.render(changed) != Rendering.render(original)
        #expect(renderedDiffers, "\(path) has no effect on the rendered manifests")
    }

    static func alternative(for path: String, schema: Schema, current: Value?) -> Value? {
        if let value = alternatives[path] { return value }
        switch schema.kind {
        case .boolean: return .bool(!(current?.boolValue ?? false))
        case .integer:
            let now = current?.intValue ?? schema.minimum ?? 0
            let up = now + 1
            if let maximum = schema.maximum, up > maximum { return .int(now - 1) }
            return .int(up)
        case .string:
            if let values = schema.enumValues { return values.first { $0 != current?.stringValue }.map(Value.string) }
            return nil
        default:
            return nil
        }
    }

    func set(_ value: inout Value, path: String, to newValue: Value) throws {
        let keys = path.split(separator: ".").map(String.init)
        func assign(_ node: inout Value, _ rest: ArraySlice<String>) {
            guard let key = rest.first else { node = newValue; return }
            if node[key] == nil || node[key] == .null { node[key] = .object(Object()) }
            var child = node[key]!
            assign(&child, rest.dropFirst())
            node[key] = child
        }
        assign(&value, keys[...])
    }
}
