import EnsembleCore
import Testing
import ZKConfig

@Suite struct DefaultsTests {
    @Test func engineAloneIsAWorkingThreeMemberEnsemble() throws {
        let ensemble = try decodeOne(resource())
        #expect(Validator.validate(ensemble).problems.isEmpty)
        let spec = ensemble.spec
        #expect(spec.replicas == 3)
        #expect(spec.effectiveImage == Defaults.zooKeeperImage)
        #expect(spec.storage.size == "10Gi")
        #expect(spec.storage.reclaimPolicy == "Retain")
        #expect(spec.scheduling.antiAffinity == "Required")
        #expect(spec.podDisruptionBudget.enabled)
        #expect(Rendering.maxUnavailable(spec) == 1)
        #expect(spec.zookeeper.tickTime == 2000)
        #expect(spec.zookeeper.fourLetterWords == ZooCfg.requiredFourLetterWords)
        #expect(ensemble.metadata.namespace == "default")
        let objects = Rendering.render(ensemble)
        #expect(objects.compactMap { $0["kind"]?.stringValue } == ["ConfigMap", "Service", "Service", "PodDisruptionBudget", "StatefulSet"])
        let sts = try #require(object(objects, kind: "StatefulSet"))
        #expect(sts.at("spec.replicas") == .int(3))
        #expect(sts.at("spec.template.spec.containers[0].resources.requests.memory") == "1Gi")
    }

    @Test func cassandraDefaults() throws {
        let ensemble = try decodeOne(resource(name: "ring", "engine: Cassandra"))
        #expect(Validator.validate(ensemble).errors.isEmpty)
        #expect(ensemble.spec.effectiveImage == Defaults.cassandraImage)
        let objects = Rendering.render(ensemble)
        #expect(objects.compactMap { $0["kind"]?.stringValue } == ["Service", "Service", "PodDisruptionBudget", "StatefulSet"])
        let sts = try #require(object(objects, kind: "StatefulSet"))
        #expect(sts.at("spec.template.spec.terminationGracePeriodSeconds") == 500)
        #expect(sts.at("spec.template.spec.securityContext.runAsUser") == 999)
        let env = try #require(sts.at("spec.template.spec.containers[0].env")?.arrayValue)
        #expect(env.first { $0["name"] == "CASSANDRA_CLUSTER_NAME" }?["value"] == "ring")
        #expect(env.first { $0["name"] == "CASSANDRA_SEEDS" }?["value"] == "ring-0.ring-hs.default.svc.cluster.local,ring-1.ring-hs.default.svc.cluster.local")
    }

    @Test func defaultsAreAppliedLikeTheAPIServerInsideUserObjects() throws {
        // A partially written block keeps its other defaults.
        let ensemble = try decodeOne(resource("engine: ZooKeeper\nzookeeper:\n  autopurge:\n    purgeInterval: 1"))
        #expect(ensemble.spec.zookeeper.purgeInterval == 1)
        #expect(ensemble.spec.zookeeper.snapRetainCount == 3)
        #expect(ensemble.spec.zookeeper.initLimit == 10)
    }

    @Test(arguments: [(1, 0), (2, 0), (3, 1), (4, 1), (5, 1), (7, 1), (9, 1)])
    func disruptionBudgetDefaultFollowsQuorumMath(replicas: Int, expected: Int) throws {
        let ensemble = try decodeOne(resource("engine: ZooKeeper\nreplicas: \(replicas)"))
        #expect(Rendering.maxUnavailable(ensemble.spec) == expected)
        #expect(expected <= (replicas - 1) / 2)
    }

    @Test func seedsAreNumericOrdinalOrderAndCappedByReplicas() throws {
        let ensemble = try decodeOne(resource(name: "c", "engine: Cassandra\nreplicas: 12\ncassandra:\n  seeds: 3"))
        let sts = try #require(object(Rendering.render(ensemble), kind: "StatefulSet"))
        let env = try #require(sts.at("spec.template.spec.containers[0].env")?.arrayValue)
        let seeds = env.first { $0["name"] == "CASSANDRA_SEEDS" }?["value"]?.stringValue
        #expect(seeds == "c-0.c-hs.default.svc.cluster.local,c-1.c-hs.default.svc.cluster.local,c-2.c-hs.default.svc.cluster.local")
    }

    @Test func singleMemberReadinessAcceptsStandalone() throws {
        let one = try #require(object(Rendering.render(try decodeOne(resource("engine: ZooKeeper\nreplicas: 1"))), kind: "StatefulSet"))
        let three = try #require(object(Rendering.render(try decodeOne(resource())), kind: "StatefulSet"))
        #expect(one.at("spec.template.spec.containers[0].readinessProbe.exec.command")?.arrayValue?.contains("--allow-standalone") == true)
        #expect(three.at("spec.template.spec.containers[0].readinessProbe.exec.command")?.arrayValue?.contains("--allow-standalone") == false)
    }

    /// Fields whose default depends on the engine or the cluster: unset in what the API
    /// server stores (a stored 0 would read as "kill at once" or root, "" as "no class"),
    /// defaulted in rendering, and `kubectl explain` says what unset means.
    static let unsetUntilRendered = ["image", "storage.storageClassName", "pod.priorityClassName", "pod.terminationGracePeriodSeconds",
                                     "securityContext.runAsUser", "securityContext.runAsGroup", "securityContext.fsGroup",
                                     "pod.serviceAccountName", "cassandra.clusterName"]

    @Test func storedResourcesShowNoPlaceholders() throws {
        for engine in ["ZooKeeper", "Cassandra"] {
            // What the API server stores for `spec: {engine: ...}` (the CRD's defaults).
            let stored = EnsembleAPI.spec.applyingDefaults(to: ["engine": .string(engine)])
            for path in Self.unsetUntilRendered {
                #expect(stored.lookup(path) == nil, "\(engine): spec.\(path) is stored as \(String(describing: stored.lookup(path)))")
            }
        }
        for path in Self.unsetUntilRendered {
            let schema = try #require(EnsembleAPI.spec.schema(at: path))
            #expect(schema.defaultValue == nil)
            #expect(schema.description.contains("Unset:"), "spec.\(path): kubectl explain must say what unset means")
        }
        // No default anywhere (array items and map values included) is an empty string.
        func walk(_ schema: Schema, _ path: String) {
            if case .string(let text)? = schema.defaultValue { #expect(!text.isEmpty, "\(path) defaults to an empty string") }
            switch schema.kind {
            case .object(let properties): for p in properties { walk(p.schema, path + "." + p.name) }
            case .array(let items): walk(items, path + "[]")
            case .map(let values): walk(values, path + "{}")
            default: break
            }
        }
        walk(EnsembleAPI.spec, "spec")
        // Rendering fills in what they mean.
        let zk = try #require(object(Rendering.render(try decodeOne(resource())), kind: "StatefulSet"))
        #expect(zk.at("spec.template.spec.terminationGracePeriodSeconds") == .int(Defaults.zooKeeperGracePeriod))
        #expect(zk.at("spec.template.spec.securityContext.runAsUser") == .int(Defaults.zooKeeperUser))
        #expect(zk.at("spec.template.spec.securityContext.runAsGroup") == .int(Defaults.zooKeeperUser))
        #expect(zk.at("spec.template.spec.containers[0].image") == .string(Defaults.zooKeeperImage))
        #expect(zk.at("spec.volumeClaimTemplates[0].spec.storageClassName") == nil)
        #expect(zk.at("spec.template.spec.priorityClassName") == nil)
        #expect(zk.at("spec.template.spec.serviceAccountName") == nil)
    }
}
