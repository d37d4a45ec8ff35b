import ZKConfig

/// The `ensemble.dev/v1alpha1` API: every field, its description (shown by `kubectl explain`),
/// its default and the rules the API server can check at admission. One source of truth for
/// the CRD, offline validation and defaulting; the typed structs in API.swift read from it.
public enum EnsembleAPI {
    public static let group = "ensemble.dev"
    public static let version = "v1alpha1"
    public static let apiVersion = "\(group)/\(version)"
    public static let kind = "Ensemble"
    public static let plural = "ensembles"
    public static let singular = "ensemble"
    public static let shortNames = ["ens"]

    /// Longest Ensemble name: the StatefulSet's pods carry a `controller-revision-hash` label
    /// of `<name>-<hash up to 10 chars>`, and label values are at most 63 characters.
    public static let maxNameLength = 52

    public static let zooKeeperMaxReplicas = 9
    public static let cassandraMaxReplicas = 100


    static func probe(_ what: String, initialDelay: Int, period: Int, timeout: Int, failureThreshold: Int) -> Schema {
        .object("Timings of the \(what) probe (run by kubelet with the ensemble-probe binary).", [
            ("initialDelaySeconds", .integer("Seconds after the container starts before the first probe.", default: initialDelay, minimum: 0, maximum: 3600)),
            ("periodSeconds", .integer("Seconds between probes.", default: period, minimum: 1, maximum: 3600)),
            ("timeoutSeconds", .integer("Seconds after which kubelet counts a probe as failed. The probe binary bounds itself below this.", default: timeout, minimum: 1, maximum: 600)),
            ("failureThreshold", .integer("Consecutive failures before the probe counts as failed.", default: failureThreshold, minimum: 1, maximum: 1000)),
        ])
    }

    static let labelMap = Schema.map("Labels (key: value).", of: .string("Label value.", maxLength: 63))

    public static let spec: Schema = .object("Desired state of the ensemble.", defaulted: false, required: ["engine"], [
        ("engine", Schema.string("Which system runs: ZooKeeper or Cassandra. Cannot change after creation.",
                                 enum: ["ZooKeeper", "Cassandra"]).with(.init("self == oldSelf", "engine is immutable"))),
        ("replicas", .integer("Number of members. ZooKeeper: 1 to \(zooKeeperMaxReplicas), an odd number (an even count tolerates no more failures than one fewer). Cassandra: 1 to \(cassandraMaxReplicas).",
                              default: 3, minimum: 1, maximum: cassandraMaxReplicas)),
        ("image", .string("Container image for the members. Empty picks the engine's default (\(Defaults.zooKeeperImage) or \(Defaults.cassandraImage)).", default: "", maxLength: 512)),
        ("imagePullPolicy", .string("When kubelet pulls the image.", default: "IfNotPresent", enum: ["Always", "IfNotPresent", "Never"])),
        ("resources", .object("CPU and memory for each member container. Unset values take the engine's defaults (requests cpu 500m, memory 1Gi).", [
            ("requests", .object("Resources reserved for each member.", [
                ("cpu", .quantity("CPU request, e.g. 500m.")),
                ("memory", .quantity("Memory request, e.g. 1Gi. Must hold the JVM heap plus overhead.")),
            ])),
            ("limits", .object("Upper bounds for each member; unset means no limit.", [
                ("cpu", .quantity("CPU limit.")),
                ("memory", .quantity("Memory limit. Keep it at or above the request.")),
            ])),
        ])),
        ("storage", .object("The persistent volume of each member.", [
            ("size", .quantity("Size of each member's volume.", default: "10Gi")),
            ("storageClassName", Schema.string("StorageClass of the volumes; empty uses the cluster default. Cannot change after creation.", default: "", maxLength: 253)
                .with(.init("self == oldSelf", "storageClassName is immutable: volumes already exist"))),
            ("reclaimPolicy", .string("What happens to volumes when the Ensemble is deleted or scaled down: Retain keeps them (safe default; a member that comes back finds its data), Delete removes them.",
                                      default: "Retain", enum: ["Retain", "Delete"])),
        ])),
        ("pod", .object("Extra settings for the member pods.", [
            ("labels", labelMap.described("Labels added to every member pod. The operator's own app.kubernetes.io/name and instance labels cannot be overridden.")),
            ("annotations", Schema.map("Annotations added to every member pod.", of: .string("Annotation value.", maxLength: 4096))),
            ("env", .array("Extra environment variables for the member container. Variables the operator sets cannot be overridden.", of:
                .object("An environment variable.", defaulted: false, required: ["name"], [
                    ("name", .string("Variable name.", maxLength: 256)),
                    ("value", .string("Variable value.", default: "", maxLength: 32768)),
                ]))),
            ("priorityClassName", .string("PriorityClass of the member pods; empty uses the cluster default.", default: "", maxLength: 253)),
            ("terminationGracePeriodSeconds", .integer("Seconds a member gets to stop cleanly. 0 picks the engine's default (ZooKeeper 30; Cassandra 500, time for nodetool drain).",
                                                       default: 0, minimum: 0, maximum: 86400)),
        ])),
        ("scheduling", .object("Where members may run.", [
            ("nodeSelector", labelMap.described("Node labels a node must have to run a member.")),
            ("tolerations", .array("Taints the members tolerate.", of:
                .object("A toleration, as in the Pod API.", defaulted: false, [
                    ("key", .string("Taint key; empty with operator Exists matches every taint.", maxLength: 317)),
                    ("operator", .string("Exists or Equal.", default: "Equal", enum: ["Exists", "Equal"])),
                    ("value", .string("Taint value (Equal only).", maxLength: 63)),
                    ("effect", .string("Taint effect to match; empty matches all.", enum: ["", "NoSchedule", "PreferNoSchedule", "NoExecute"])),
                    ("tolerationSeconds", .integer("For NoExecute: seconds the member stays after the taint appears.", minimum: 0, maximum: 31_536_000)),
                ]))),
            ("nodeAffinity", .freeform("A Kubernetes NodeAffinity, copied into the member pods as written.")),
            ("topologySpreadConstraints", .array("Kubernetes TopologySpreadConstraints, copied as written. The operator fills in labelSelector when it is missing.", of: .freeform("A TopologySpreadConstraint."))),
            ("antiAffinity", .string("Keep members on different topology domains: Required never co-locates two members (a lost node costs at most one), Preferred co-locates only when nothing else fits.",
                                     default: "Required", enum: ["Required", "Preferred"])),
            ("antiAffinityTopologyKey", .string("Node label that defines the domains anti-affinity spreads members over.", default: "kubernetes.io/hostname", maxLength: 317)),
        ])),
        ("securityContext", .object("Identity the member processes run as. Members never run as root: no privilege escalation, all capabilities dropped.", [
            ("runAsUser", .integer("User id of the member processes. 0 picks the image's user (ZooKeeper 1000, Cassandra 999).", default: 0, minimum: 0, maximum: 2147483647)),
            ("runAsGroup", .integer("Group id of the member processes. 0 picks the image's group.", default: 0, minimum: 0, maximum: 2147483647)),
            ("fsGroup", .integer("Group that owns the volumes. 0 picks the image's group.", default: 0, minimum: 0, maximum: 2147483647)),
            ("readOnlyRootFilesystem", .string("Auto (ZooKeeper: read-only; Cassandra: writable, its image edits its config at start), True or False.", default: "Auto", enum: ["Auto", "True", "False"])),
        ])),
        ("service", .object("The client Service.", [
            ("type", .string("Service type of the client Service.", default: "ClusterIP", enum: ["ClusterIP", "NodePort", "LoadBalancer"])),
            ("annotations", Schema.map("Annotations of the client Service (e.g. for a cloud load balancer).", of: .string("Annotation value.", maxLength: 4096))),
        ])),
        ("podDisruptionBudget", .object("Limits voluntary disruptions (node drains) so they never cost a quorum.", [
            ("enabled", .boolean("Create a PodDisruptionBudget.", default: true)),
            ("maxUnavailable", .integer("Members a drain may take down at once. At most floor((replicas-1)/2), the failures a quorum survives. Unset: 1 when that is allowed, else 0.", minimum: 0, maximum: 49)),
        ])),
        ("probes", .object("Probe timings. The probes themselves are fixed: readiness means serving inside a quorum, liveness means the process answers.", [
            ("readiness", probe("readiness", initialDelay: 10, period: 10, timeout: 5, failureThreshold: 3)),
            ("liveness", probe("liveness", initialDelay: 0, period: 10, timeout: 5, failureThreshold: 6)),
            ("startup", probe("startup", initialDelay: 5, period: 5, timeout: 5, failureThreshold: 120)),
        ])),
        ("updateStrategy", .object("How the operator rolls members when the pod template or configuration changes.", [
            ("type", .string("QuorumSafe: one member at a time, followers first and the leader last, each only while the rest keep a quorum. Manual: the operator never restarts members; delete pods yourself.",
                             default: "QuorumSafe", enum: ["QuorumSafe", "Manual"])),
            ("memberTimeoutSeconds", .integer("How long a restarted member may take to rejoin and catch up before the roll stops and the Ensemble is marked Degraded.", default: 600, minimum: 30, maximum: 86400)),
        ])),
        ("clusterDomain", .string("DNS domain of the cluster, used in member addresses.", default: "cluster.local", maxLength: 253)),
        ("zookeeper", .object("ZooKeeper settings (engine ZooKeeper only).", defaulted: false, [
            ("tickTime", .integer("Basic time unit in milliseconds.", default: 2000, minimum: 100, maximum: 60000)),
            ("initLimit", .integer("Ticks a follower may take to connect and sync to the leader.", default: 10, minimum: 1, maximum: 1000)),
            ("syncLimit", .integer("Ticks a follower may lag behind the leader.", default: 5, minimum: 1, maximum: 1000)),
            ("maxClientCnxns", .integer("Concurrent connections one client address may open; 0 is unlimited.", default: 60, minimum: 0, maximum: 100000)),
            ("minSessionTimeout", .integer("Smallest session timeout in milliseconds a client may negotiate.", default: 4000, minimum: 1, maximum: 86_400_000)),
            ("maxSessionTimeout", .integer("Largest session timeout in milliseconds a client may negotiate.", default: 40000, minimum: 1, maximum: 86_400_000)),
            ("autopurge", .object("Purging of old snapshots and transaction logs.", [
                ("snapRetainCount", .integer("Snapshots (and their logs) to keep.", default: 3, minimum: 3, maximum: 1000)),
                ("purgeInterval", .integer("Hours between purges; 0 disables purging.", default: 12, minimum: 0, maximum: 8760)),
            ])),
            ("fourLetterWords", .array("Four-letter words the members answer. The probe's words (\(ZooCfg.requiredFourLetterWords.joined(separator: ", "))) are always added.",
                                       of: .string("A four-letter word, e.g. cons, or * for all.", maxLength: 4), maxItems: 32,
                                       default: .array(ZooCfg.requiredFourLetterWords.map(Value.string)))),
            ("heapSize", .string("JVM heap (-Xms and -Xmx), e.g. 512m or 2g.", default: "512m", maxLength: 16)),
            ("logLevel", .string("Log level; logs go to stdout.", default: "INFO", enum: ZooKeeperLogging.levels)),
            ("config", Schema.map("Extra zoo.cfg keys, applied last so they really override. Keys the operator owns (dataDir, clientPort, server.N, dynamicConfigFile, ...) are rejected; typed fields above are set there.",
                                  of: .string("zoo.cfg value.", maxLength: 1024))
                .with(.init("self.all(k, !(k in \(celList(ZooCfg.fixedKeys.sorted() + ZooCfg.typedFields.keys.sorted() + ["myid"]))) && !k.startsWith('server.') && !k.startsWith('group.') && !k.startsWith('weight.'))",
                            "config may not set keys the operator owns (dataDir, clientPort, server.N, dynamicConfigFile, ...) or keys with a typed field"))),
        ]).with(.init("self.minSessionTimeout <= self.maxSessionTimeout", "minSessionTimeout must not exceed maxSessionTimeout"))),
        ("cassandra", .object("Cassandra settings (engine Cassandra only).", defaulted: false, [
            ("clusterName", .string("Cassandra cluster name; empty uses the Ensemble's name. Cannot change once data exists.", default: "", maxLength: 128)),
            ("datacenter", .string("Datacenter name (GossipingPropertyFileSnitch).", default: "dc1", maxLength: 64)),
            ("rack", .string("Rack name (GossipingPropertyFileSnitch).", default: "rack1", maxLength: 64)),
            ("numTokens", .integer("Virtual nodes per member.", default: 16, minimum: 1, maximum: 1536)),
            ("seeds", .integer("How many of the first members (by ordinal: 0, 1, 2, ...) serve as seeds.", default: 2, minimum: 1, maximum: 10)),
            ("maxHeapSize", .string("JVM heap (MAX_HEAP_SIZE), e.g. 512M.", default: "512M", maxLength: 16)),
            ("heapNewSize", .string("Young generation size (HEAP_NEWSIZE), e.g. 100M.", default: "100M", maxLength: 16)),
        ])),
    ]).with(
        .init("self.engine == 'Cassandra' || self.replicas <= \(zooKeeperMaxReplicas)", "ZooKeeper ensembles have 1 to \(zooKeeperMaxReplicas) members"),
        .init("!has(self.zookeeper) || self.engine == 'ZooKeeper'", "spec.zookeeper is only valid with engine ZooKeeper"),
        .init("!has(self.cassandra) || self.engine == 'Cassandra'", "spec.cassandra is only valid with engine Cassandra"),
        .init("!has(self.podDisruptionBudget) || !has(self.podDisruptionBudget.maxUnavailable) || self.podDisruptionBudget.maxUnavailable <= (self.replicas - 1) / 2",
              "podDisruptionBudget.maxUnavailable must not exceed floor((replicas-1)/2): more would let a drain break the quorum")
    )

    static let condition: Schema = .object("A condition of the ensemble.", defaulted: false, required: ["type", "status"], [
        ("type", .string("Available, Progressing or Degraded.", maxLength: 64)),
        ("status", .string("True, False or Unknown.", enum: ["True", "False", "Unknown"])),
        ("reason", .string("Machine-readable reason in CamelCase.", maxLength: 128)),
        ("message", .string("What happened, for people.", maxLength: 4096)),
        ("observedGeneration", .integer("The spec generation the condition was computed from.", minimum: 0)),
        ("lastTransitionTime", .string("When the status last changed.", format: "date-time")),
    ])

    public static let status: Schema = .object("Observed state, written by the operator.", defaulted: false, [
        ("observedGeneration", .integer("The spec generation this status describes.", minimum: 0)),
        ("phase", .string("Summary: Pending, Creating, Running, Updating, Degraded or Invalid.", maxLength: 32)),
        ("replicas", .integer("Members that exist.", minimum: 0)),
        ("readyReplicas", .integer("Members serving inside a quorum.", minimum: 0)),
        ("updatedReplicas", .integer("Members running the update revision.", minimum: 0)),
        ("leader", .string("Pod name of the ZooKeeper leader.", maxLength: 253)),
        ("selector", .string("Label selector of the member pods (for the scale subresource).", maxLength: 1024)),
        ("currentRevision", .string("Revision (configuration hash) most members run.", maxLength: 128)),
        ("updateRevision", .string("Revision the members are being rolled to.", maxLength: 128)),
        ("members", .array("Per-member state.", of: .object("One member.", defaulted: false, [
            ("name", .string("Pod name.", maxLength: 253)),
            ("ordinal", .integer("StatefulSet ordinal (ZooKeeper server id = ordinal + 1).", minimum: 0)),
            ("role", .string("ZooKeeper: leader, follower, observer, standalone, read-only, or unknown when the member did not answer srvr.", maxLength: 32)),
            ("ready", .boolean("Serving inside a quorum.")),
            ("zxid", .string("ZooKeeper: last zxid the member has seen, hexadecimal.", maxLength: 32)),
            ("cqlVersion", .string("Cassandra: the CQL versions the member's OPTIONS answer lists.", maxLength: 128)),
            ("revision", .string("StatefulSet revision the member's pod was created from.", maxLength: 128)),
            ("message", .string("Why the member gave no answer to the operator's check.", maxLength: 1024)),
        ]), maxItems: cassandraMaxReplicas)),
        ("conditions", .array("Available, Progressing and Degraded.", of: condition, maxItems: 16)),
    ])

    static func celList(_ items: [String]) -> String {
        "[" + items.map { "'\($0)'" }.joined(separator: ", ") + "]"
    }
}

extension Schema {
    func described(_ text: String) -> Schema {
        var s = self
        s.description = text
        return s
    }
}

/// Engine-dependent defaults that a schema default cannot express.
public enum Defaults {
    public static let zooKeeperImage = "zookeeper:3.9.4"
    public static let cassandraImage = "cassandra:4.1.7"
    public static let probeImage = "ghcr.io/ensemble-dev/ensemble-operator:0.1.0"
    public static let cpuRequest = "500m"
    public static let memoryRequest = "1Gi"
}
