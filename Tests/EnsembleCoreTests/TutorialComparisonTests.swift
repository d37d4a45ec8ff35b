import EnsembleCore
import Testing
import ZKConfig

/// The rendered ZooKeeper manifests next to the Kubernetes tutorial's (seed 001, section 4,
/// kept verbatim in Golden/tutorial-zookeeper.yaml) for examples/zookeeper-3.yaml, which
/// is that ensemble written as an Ensemble.
///
/// Same as the tutorial: ports and their names, PodDisruptionBudget (maxUnavailable 1),
/// three replicas, anti-affinity on kubernetes.io/hostname (required), readiness
/// and liveness probe timings (initialDelaySeconds 10 for readiness, timeoutSeconds 5),
/// runAsUser/fsGroup 1000, one ReadWriteOnce 10Gi claim mounted at /var/lib/zookeeper,
/// requests cpu 0.5 / memory 1Gi, and the zoo.cfg values from the start-zookeeper flags.
///
/// Deliberate differences, each with its reason:
/// - podManagementPolicy Parallel instead of OrderedReady: our readiness means "serving inside
///   a quorum", which member 0 alone never is, so OrderedReady would never create member 1.
///   (The tutorial's readiness is `ruok`, true without a quorum.) Restarts stay ordered by
///   the operator (OnDelete).
/// - updateStrategy OnDelete instead of RollingUpdate: the operator orders restarts itself
///   (followers first, leader last, quorum checked before each).
/// - Anti-affinity selects on the Ensemble's own selector labels, which always match its
///   pods; the tutorial's `app In [zk]` also matches any foreign pod labelled app=zk.
/// - Labels are app.kubernetes.io/name + instance (recommended labels) instead of app=zk.
/// - Probes exec ensemble-probe (no shell, no nc): readiness means "serving inside a quorum",
///   liveness "the process answers"; the tutorial uses one script for both. A startup probe
///   covers slow snapshot loading so liveness can stay strict (initialDelaySeconds 0).
/// - zoo.cfg comes from a ConfigMap (hash annotated on the pod template so a change rolls the
///   members), staged with myid by an init container, instead of start-zookeeper flags.
/// - dataLogDir is /var/lib/zookeeper/log (the tutorial's flag says data/log, its zoo.cfg says
///   log): a sibling of the snapshots, on the same volume.
/// - syncLimit 5 as the tutorial's flag says (its printed zoo.cfg shows 2000, a typo there).
/// - Service names zk-hs (same) and zk-client (tutorial: zk-cs); PDB zk-pdb (same).
/// - The headless Service publishes not-ready addresses (election needs peers' DNS early).
/// - Security beyond the tutorial: runAsNonRoot, no privilege escalation, all capabilities
///   dropped, read-only root filesystem, RuntimeDefault seccomp, no service-account token.
/// - imagePullPolicy IfNotPresent (tutorial: Always) and the official zookeeper image.
@Suite struct TutorialComparisonTests {
    let tutorial: [Value]
    let ours: [Value]

    init() throws {
        tutorial = try ManifestLoader.loadDocuments(yaml: readRepoFile("Tests/EnsembleCoreTests/Golden/tutorial-zookeeper.yaml"), source: "tutorial").map(\.value)
        ours = try loadExample("zookeeper-3.yaml").flatMap { Rendering.render($0) }
    }

    func named(_ objects: [Value], _ kind: String, _ name: String) throws -> Value {
        try #require(objects.first { $0["kind"]?.stringValue == kind && $0.at("metadata.name")?.stringValue == name }, "\(kind) \(name)")
    }

    /// Ports by name; our metrics port (the provider the tutorial's image lacks) is a
    /// deliberate addition and left out of the comparison.
    func ports(_ value: Value?, _ key: String) -> [String: Int] {
        var result: [String: Int] = [:]
        for port in value?.arrayValue ?? [] where port["name"] != "metrics" { result[port["name"]!.stringValue!] = port[key]!.intValue! }
        return result
    }

    @Test func servicesExposeTheSamePorts() throws {
        let theirHeadless = try named(tutorial, "Service", "zk-hs"), ourHeadless = try named(ours, "Service", "zk-hs")
        #expect(ports(theirHeadless.at("spec.ports"), "port") == ports(ourHeadless.at("spec.ports"), "port"))
        #expect(theirHeadless.at("spec.clusterIP") == ourHeadless.at("spec.clusterIP"))
        let theirClient = try named(tutorial, "Service", "zk-cs"), ourClient = try named(ours, "Service", "zk-client")
        #expect(ports(theirClient.at("spec.ports"), "port") == ports(ourClient.at("spec.ports"), "port"))
        #expect(ourHeadless.at("spec.publishNotReadyAddresses") == true)
    }

    @Test func disruptionBudgetIsTheSame() throws {
        let theirs = try named(tutorial, "PodDisruptionBudget", "zk-pdb"), mine = try named(ours, "PodDisruptionBudget", "zk-pdb")
        #expect(theirs.at("spec.maxUnavailable") == mine.at("spec.maxUnavailable"))
        #expect(theirs["apiVersion"] == mine["apiVersion"])
    }

    @Test func statefulSetKeepsTheTutorialsShapeAndFixesItsSelector() throws {
        let theirs = try named(tutorial, "StatefulSet", "zk"), mine = try named(ours, "StatefulSet", "zk")
        for path in ["spec.replicas", "spec.serviceName",
                     "spec.template.spec.securityContext.runAsUser", "spec.template.spec.securityContext.fsGroup",
                     "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
                     "spec.template.spec.containers[0].resources.requests.memory",
                     "spec.template.spec.containers[0].readinessProbe.initialDelaySeconds",
                     "spec.template.spec.containers[0].readinessProbe.timeoutSeconds",
                     "spec.template.spec.containers[0].livenessProbe.timeoutSeconds",
                     "spec.volumeClaimTemplates[0].spec.accessModes",
                     "spec.volumeClaimTemplates[0].spec.resources.requests.storage"] {
            #expect(theirs.at(path) == mine.at(path), "\(path)")
        }
        #expect(Quantity.parse(theirs.at("spec.template.spec.containers[0].resources.requests.cpu")!) == Quantity.parse(mine.at("spec.template.spec.containers[0].resources.requests.cpu")!))
        let theirContainer = try #require(theirs.at("spec.template.spec.containers[0]")), myContainer = try #require(mine.at("spec.template.spec.containers[0]"))
        #expect(ports(theirContainer["ports"], "containerPort") == ports(myContainer["ports"], "containerPort"))
        #expect(theirContainer.at("volumeMounts[0].mountPath") == myContainer.at("volumeMounts[0].mountPath"))
        // Probes: same intent, split meanings.
        #expect(theirContainer["readinessProbe"] != nil && myContainer["readinessProbe"] != nil)
        #expect(theirContainer["livenessProbe"] != nil && myContainer["livenessProbe"] != nil)
        #expect(myContainer.at("readinessProbe.exec.command[1]") == "zk-ready")
        #expect(myContainer.at("livenessProbe.exec.command[1]") == "zk-live")
        // Deliberate: OnDelete, and an anti-affinity selector equal to the pod selector.
        #expect(theirs.at("spec.podManagementPolicy") == "OrderedReady")
        #expect(mine.at("spec.podManagementPolicy") == "Parallel")
        #expect(theirs.at("spec.updateStrategy.type") == "RollingUpdate")
        #expect(mine.at("spec.updateStrategy.type") == "OnDelete")
        let term = try #require(mine.at("spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels")?.objectValue)
        let podLabels = try #require(mine.at("spec.template.metadata.labels")?.objectValue)
        #expect(term.allSatisfy { podLabels[$0.key] == $0.value }, "anti-affinity must select the members")
        #expect(mine.at("spec.selector.matchLabels") == .object(term))
        // Hardening beyond the tutorial.
        #expect(myContainer.at("securityContext.allowPrivilegeEscalation") == false)
        #expect(myContainer.at("securityContext.capabilities.drop") == ["ALL"])
        #expect(mine.at("spec.template.spec.securityContext.runAsNonRoot") == true)
    }

    @Test func zooCfgCarriesTheTutorialsSettings() throws {
        // The tutorial passes these as start-zookeeper flags.
        let command = try #require(tutorial.first { $0["kind"] == "StatefulSet" }?.at("spec.template.spec.containers[0].command[2]")?.stringValue)
        var flags: [String: String] = [:]
        for part in command.split(separator: " ") where part.hasPrefix("--") {
            let pieces = part.dropFirst(2).split(separator: "=", maxSplits: 1)
            if pieces.count == 2 { flags[String(pieces[0])] = String(pieces[1]) }
        }
        let config = try #require(ours.first { $0["kind"] == "ConfigMap" }?.at("data")?["zoo.cfg"]?.stringValue)
        let entries = Dictionary(uniqueKeysWithValues: try ZooCfg.parse(config).map { ($0.key, $0.value) })
        let mapping = [
            "tick_time": "tickTime", "init_limit": "initLimit", "sync_limit": "syncLimit", "client_port": "clientPort",
            "max_client_cnxns": "maxClientCnxns", "snap_retain_count": "autopurge.snapRetainCount",
            "purge_interval": "autopurge.purgeInterval", "max_session_timeout": "maxSessionTimeout",
            "min_session_timeout": "minSessionTimeout", "data_dir": "dataDir",
        ]
        for (flag, key) in mapping {
            #expect(flags[flag] == entries[key], "\(flag) vs \(key)")
        }
        // The tutorial's server list, which members here take from the staged membership.
        let membership = try #require(ours.first { $0["kind"] == "ConfigMap" }?.at("data")?[Rendering.membershipKey]?.stringValue)
        let servers = try StagedMembership.parse(membership).config
        #expect(servers.server(ordinal: 0)?.value.hasPrefix("zk-0.zk-hs.default.svc.cluster.local:2888:3888") == true)
        #expect(servers.server(ordinal: 2)?.value.hasPrefix("zk-2.zk-hs.default.svc.cluster.local:2888:3888") == true)
        #expect(flags["heap"]?.lowercased() == "512m")
    }
}
