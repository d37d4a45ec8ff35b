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

    /// Smallest JVM heap a member may ask for, as -Xmx text and in bytes. Tried with OpenJDK 17:
    /// below 2m the JVM refuses to start ("Too small maximum heap"), and G1, its collector on
    /// machines with 2+ CPUs and 2+ GiB, fails at 2m too ("GC triggered before VM
    /// initialization completed"); 4m starts with every collector, ZooKeeper included.
    public static let minimumHeap = "4m"
    public static let minimumHeapBytes = Int(Quantity.jvmBytes(minimumHeap)!)

    /// A JVM heap size field: the syntax and the minimum are checked at admission (CEL) and
    /// by the offline validator (`Quantity.jvmBytes` against `minimumHeapBytes`).
    static func jvmHeap(_ description: String, default value: String) -> Schema {
        Schema.string(description + " At least \(minimumHeap): the JVM does not start with less.", default: value, maxLength: 16)
            .with(.init("self.matches('\(Quantity.jvmSizePattern(atLeast: minimumHeapBytes))')",
                        "must be a JVM size (digits with an optional k, m or g) of at least \(minimumHeap), such as 512m or 2g"))
    }

    static func probe(_ what: String, initialDelay: Int, period: Int, timeout: Int, failureThreshold: Int) -> Schema {
        .object("Timings of the \(what) probe (run by kubelet with the ensemble-probe binary).", [
            ("initialDelaySeconds", .integer("Seconds after the container starts before the first probe.", default: initialDelay, minimum: 0, maximum: 3600)),
            ("periodSeconds", .integer("Seconds between probes.", default: period, minimum: 1, maximum: 3600)),
            ("timeoutSeconds", .integer("Seconds after which kubelet counts a probe as failed. The probe binary bounds itself below this.", default: timeout, minimum: 1, maximum: 600)),
            ("failureThreshold", .integer("Consecutive failures before the probe counts as failed.", default: failureThreshold, minimum: 1, maximum: 1000)),
        ])
    }

    static let labelMap = Schema.map("Labels (key: value).", of: .string("Label value.", maxLength: 63))

    /// Volumes the operator puts into member pods; user volumes may not take these names.
    public static let operatorVolumeNames = ["data", "conf", "config-source", "probe", "logs", "tmp"]
    /// Paths the operator mounts in member containers (either engine); user mounts may not
    /// be at, inside or above them.
    public static let operatorMountPaths = [ZooKeeperLayout.volumeMount, ZooKeeperLayout.configDir, ZooKeeperLayout.configSource,
                                            ZooKeeperLayout.logDir, CassandraLayout.dataDir, ProbeInstall.directory, PodLayout.tmp]
    /// Containers the operator puts into member pods.
    public static let operatorContainerNames = ["zookeeper", "cassandra", "install"]

    static func keyReference(_ kind: String) -> Schema {
        .object("A key of a \(kind) in the Ensemble's namespace.", defaulted: false, required: ["name", "key"], [
            ("name", .string("\(kind) name.", maxLength: 253)),
            ("key", .string("The key whose value to use.", maxLength: 253)),
            ("optional", .boolean("Start the member even when the \(kind) or key does not exist (the variable is then unset). Unset: false.")),
        ])
    }

    static let keyPaths = Schema.array("Which keys become files, under which names. Unset: every key, named after itself.", of:
        .object("A key and the file it becomes.", defaulted: false, required: ["key", "path"], [
            ("key", .string("The key.", maxLength: 253)),
            ("path", .string("Relative path of the file in the volume.", maxLength: 1024)),
            ("mode", .integer("Permission bits of this file, e.g. 0400 (256). Unset: defaultMode.", minimum: 0, maximum: 0o777)),
        ]), maxItems: 64)

    static let fileMode = Schema.integer("Permission bits of the files, e.g. 0440 (288 in JSON). Unset: 0644.", minimum: 0, maximum: 0o777)

    static let hookCommand = Schema.object("A command.", defaulted: false, required: ["command"], [
        ("command", .array("The program (an absolute path or a name on the container's PATH) and its arguments.", of: .string("An argument.", maxLength: 4096), maxItems: 64)),
    ])

    public static let spec: Schema = .object("Desired state of the ensemble.", defaulted: false, required: ["engine"], [
        ("engine", Schema.string("Which system runs: ZooKeeper or Cassandra. Cannot change after creation.",
                                 enum: ["ZooKeeper", "Cassandra"]).with(.init("self == oldSelf", "engine is immutable"))),
        ("replicas", .integer("Number of members. ZooKeeper: 1 to \(zooKeeperMaxReplicas), an odd number (an even count tolerates no more failures than one fewer). Cassandra: 1 to \(cassandraMaxReplicas).",
                              default: 3, minimum: 1, maximum: cassandraMaxReplicas)),
        ("image", .string("Container image for the members. Unset: the engine's default (\(Defaults.zooKeeperImage) or \(Defaults.cassandraImage)).", maxLength: 512)),
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
        ("storage", Schema.object("The persistent volume of each member.", [
            ("size", .quantity("Size of each member's volume.", default: "10Gi")),
            ("storageClassName", .string("StorageClass of the volumes. Unset: the cluster's default StorageClass; \"\": no class, only pre-provisioned volumes without one. Cannot change after creation (neither set nor unset).", maxLength: 253)),
            ("reclaimPolicy", .string("What happens to volumes when the Ensemble is deleted or scaled down: Retain keeps them (safe default), Delete removes them. A member removed by scaling down never comes back with its old data: its volume is deleted before its ordinal is reused (ZooKeeper would rejoin with a stale membership, Cassandra refuses a decommissioned node's data).",
                                      default: "Retain", enum: ["Retain", "Delete"])),
        ]).with(.init("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",
                      "storageClassName is immutable: volumes already exist"))),
        ("pod", Schema.object("Extra settings for the member pods.", [
            ("labels", labelMap.described("Labels added to every member pod. The operator's own app.kubernetes.io/name and instance labels cannot be overridden.")),
            ("annotations", Schema.map("Annotations added to every member pod.", of: .string("Annotation value.", maxLength: 4096))),
            ("env", Schema.array("Extra environment variables for the member container. Variables the operator sets cannot be overridden.", of:
                Schema.object("An environment variable: a value, or a key of a Secret or ConfigMap.", defaulted: false, required: ["name"], [
                    ("name", .string("Variable name.", maxLength: 256)),
                    ("value", .string("Variable value. Unset with valueFrom; unset without it: the empty string.", maxLength: 32768)),
                    ("valueFrom", Schema.object("Take the value from a key of a Secret or a ConfigMap in the Ensemble's namespace (exactly one).", defaulted: false, [
                        ("secretKeyRef", keyReference("Secret")),
                        ("configMapKeyRef", keyReference("ConfigMap")),
                    ]).with(.init("has(self.secretKeyRef) != has(self.configMapKeyRef)", "valueFrom takes exactly one of secretKeyRef and configMapKeyRef"))),
                ]).with(.init("!has(self.value) || !has(self.valueFrom)", "an environment variable takes value or valueFrom, not both"))).keyed(by: "name")),
            ("volumes", Schema.array("Extra volumes of the member pods: ConfigMap, Secret and emptyDir, and hostPath only for volumes named in allowedHostPathVolumes. The member container mounts them through volumeMounts, sidecars through their own volumeMounts.", of:
                Schema.object("A volume with exactly one source (configMap, secret, emptyDir or hostPath).", defaulted: false, required: ["name"], [
                    ("name", .string("Volume name, unique in the pod. The operator's own (\(operatorVolumeNames.joined(separator: ", "))) are taken.", maxLength: 63)),
                    ("configMap", Schema.object("Files from a ConfigMap in the Ensemble's namespace, one per key.", defaulted: false, required: ["name"], [
                        ("name", .string("ConfigMap name.", maxLength: 253)),
                        ("items", keyPaths),
                        ("defaultMode", fileMode),
                        ("optional", .boolean("Start the pod even when the ConfigMap or a listed key does not exist. Unset: false.")),
                    ])),
                    ("secret", Schema.object("Files from a Secret in the Ensemble's namespace, one per key.", defaulted: false, required: ["secretName"], [
                        ("secretName", .string("Secret name.", maxLength: 253)),
                        ("items", keyPaths),
                        ("defaultMode", fileMode),
                        ("optional", .boolean("Start the pod even when the Secret or a listed key does not exist. Unset: false.")),
                    ])),
                    ("emptyDir", Schema.object("An empty directory that lives as long as the pod.", defaulted: false, [
                        ("medium", .string("Memory: a tmpfs, counted against the container's memory. Unset: the node's disk.", enum: ["Memory"])),
                        ("sizeLimit", .quantity("Most the directory may hold, e.g. 1Gi. Unset: no limit beyond the node's.")),
                    ])),
                    ("hostPath", Schema.object("A file or directory of the node the pod runs on. Allowed only for volumes named in allowedHostPathVolumes: it exposes the node's files to the pod, and what it holds stays behind on that node.", defaulted: false, required: ["path"], [
                        ("path", .string("Absolute path on the node.", maxLength: 4096)),
                        ("type", .string("What must exist at path, as in the Pod API. Unset: no check.", enum: ["DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"])),
                    ])),
                ]).with(
                    .init("(has(self.configMap) ? 1 : 0) + (has(self.secret) ? 1 : 0) + (has(self.emptyDir) ? 1 : 0) + (has(self.hostPath) ? 1 : 0) == 1",
                          "a volume takes exactly one of configMap, secret, emptyDir and hostPath"),
                    .init("!(self.name in \(celList(operatorVolumeNames)))", "volume names \(operatorVolumeNames.joined(separator: ", ")) are the operator's")),
                maxItems: 32).keyed(by: "name")),
            ("volumeMounts", Schema.array("Mounts of volumes from volumes in the member container.", of:
                Schema.object("A mount.", defaulted: false, required: ["name", "mountPath"], [
                    ("name", .string("Name of a volume in volumes.", maxLength: 63)),
                    ("mountPath", .string("Absolute path in the member container. The operator's paths (\(operatorMountPaths.joined(separator: ", "))), and paths inside or above them, are taken.", maxLength: 1024)),
                    ("subPath", .string("Path inside the volume to mount instead of its root. Unset: the root.", maxLength: 1024)),
                    ("readOnly", .boolean("Mount read-only. Unset: read-write (ConfigMap and Secret volumes are read-only whatever this says).")),
                ]).with(.init("self.mountPath.startsWith('/') && self.mountPath != '/' && !(self.mountPath in \(celList(operatorMountPaths))) && !\(celList(operatorMountPaths)).exists(p, self.mountPath.startsWith(p + '/') || p.startsWith(self.mountPath + '/'))",
                                  "mountPath must be an absolute path clear of the operator's (\(operatorMountPaths.joined(separator: ", ")))")),
                maxItems: 32).keyed(by: "mountPath")),
            ("allowedHostPathVolumes", Schema.array("Names of the volumes in volumes that may use hostPath. Unset: none may.", of: .string("A volume name.", maxLength: 63), maxItems: 8).distinct()),
            ("imagePullSecrets", Schema.array("Secrets with registry credentials (type kubernetes.io/dockerconfigjson) for the member, probe and sidecar images.", of:
                Schema.object("A Secret in the Ensemble's namespace.", defaulted: false, required: ["name"], [("name", .string("Secret name.", maxLength: 253))]),
                maxItems: 8).keyed(by: "name")),
            ("serviceAccountName", .string("ServiceAccount of the member pods. Unset: the namespace's default. Its token is not mounted: members never call the Kubernetes API (workload-identity webhooks inject their own token).", maxLength: 253)),
            ("lifecycle", Schema.object("Commands run in the member container when it starts and before it stops.", defaulted: false, [
                ("postStart", Schema.array("Run in order right after the member container starts (exec: no shell unless you call one). If one fails, kubelet kills the container and restarts it.", of: hookCommand, maxItems: 8)),
                ("preStop", Schema.array("Run in order before the member stops, before the operator's own step (Cassandra: nodetool drain), which runs after them even if they fail. Together they get at most half the termination grace period.", of: hookCommand, maxItems: 8)),
            ])),
            ("sidecars", Schema.array("Extra containers in every member pod, as in the Pod API (name and image required). Without a securityContext of their own they get the members' restricted one. They may mount volumes from volumes, and the operator's data volume read-only.", of:
                Schema.object("A container.", defaulted: false, required: ["name", "image"], [
                    ("name", .string("Container name, unique in the pod; \(operatorContainerNames.joined(separator: ", ")) are taken.", maxLength: 63)),
                    ("image", .string("Container image.", maxLength: 512)),
                ]).keepingUnknownFields().with(.init("!(self.name in \(celList(operatorContainerNames)))", "container names \(operatorContainerNames.joined(separator: ", ")) are the operator's")),
                maxItems: 8).keyed(by: "name")),
            ("priorityClassName", .string("PriorityClass of the member pods. Unset: the cluster's default priority.", maxLength: 253)),
            ("terminationGracePeriodSeconds", .integer("Seconds a member gets to stop cleanly. Unset: ZooKeeper \(Defaults.zooKeeperGracePeriod), Cassandra \(Defaults.cassandraGracePeriod) (time for nodetool drain).",
                                                       minimum: 1, maximum: 86400)),
        ]).with(
            .init("!has(self.volumes) || self.volumes.all(v, !has(v.hostPath) || (has(self.allowedHostPathVolumes) && v.name in self.allowedHostPathVolumes))",
                  "hostPath volumes must be named in allowedHostPathVolumes"),
            .init("!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && self.volumes.exists(v, v.name == m.name))",
                  "volumeMounts must name volumes from volumes"))),
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
            ("runAsUser", .integer("User id of the member processes; never 0 (root). Unset: the image's user (ZooKeeper \(Defaults.zooKeeperUser), Cassandra \(Defaults.cassandraUser)).", minimum: 1, maximum: 2147483647)),
            ("runAsGroup", .integer("Group id of the member processes; never 0. Unset: the image's group (ZooKeeper \(Defaults.zooKeeperUser), Cassandra \(Defaults.cassandraUser)).", minimum: 1, maximum: 2147483647)),
            ("fsGroup", .integer("Group that owns the volumes; never 0. Unset: the image's group (ZooKeeper \(Defaults.zooKeeperUser), Cassandra \(Defaults.cassandraUser)).", minimum: 1, maximum: 2147483647)),
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
            ("memberTimeoutSeconds", .integer("How long a restarted or newly started member may take to serve again and catch up (ZooKeeper: in the leader's epoch, zxid close behind; Cassandra: CQL answers) before the roll or scaling stops and the Ensemble is marked Degraded.", default: 600, minimum: 30, maximum: 86400)),
            ("stepTimeoutSeconds", .integer("How long any other wait of a roll or scaling step may take (the other members syncing before the next restart, a leader election after a hand-off, a new configuration's quorum) before it stops and the Ensemble is marked Degraded.", default: 300, minimum: 10, maximum: 86400)),
            ("leaderHandOff", .boolean("ZooKeeper: before the leader restarts, remove it from the dynamic configuration (a reconfig conditional on the config version) so the others elect a new leader while it still serves, then restart it and add it back once it has synced. A 2-member ensemble restarts each member this way, so it keeps its quorum. false restarts the leader in place: the others elect a new leader only once it is down.", default: true)),
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
            ("heapSize", jvmHeap("JVM heap (-Xms and -Xmx), e.g. 512m or 2g.", default: "512m")),
            ("logLevel", .string("Log level; logs go to stdout.", default: "INFO", enum: ZooKeeperLogging.levels)),
            ("metrics", .object("Prometheus metrics of each member from ZooKeeper's own metrics provider (zoo.cfg metricsProvider.*), served at /metrics on the port named metrics, which the headless Service exposes with prometheus.io/scrape annotations.", [
                ("enabled", .boolean("Turn the metrics provider on. The official image ships it (lib/zookeeper-prometheus-metrics-*.jar); turn it off for an image without it, where ZooKeeper would not start.", default: true)),
                ("className", .string("metricsProvider.className: the provider class.", default: Defaults.metricsProviderClass, maxLength: 256)),
                ("port", .integer("metricsProvider.httpPort: the HTTP port of /metrics, named metrics on the pods and the headless Service.", default: 7000, minimum: 1024, maximum: 65535)),
                ("serviceMonitor", .boolean("Also create a Prometheus Operator ServiceMonitor (monitoring.coreos.com/v1) scraping the port named metrics; needs the Prometheus Operator's CRDs.", default: false)),
            ])),
            ("config", Schema.map("Extra zoo.cfg keys, applied last so they really override. Keys the operator owns (dataDir, clientPort, server.N, dynamicConfigFile, ...) are rejected; typed fields above are set there.",
                                  of: .string("zoo.cfg value.", maxLength: 1024))
                .with(.init("self.all(k, !(k in \(celList(ZooCfg.fixedKeys.sorted() + ZooCfg.typedFields.keys.sorted() + ["myid"]))) && !k.startsWith('server.') && !k.startsWith('group.') && !k.startsWith('weight.'))",
                            "config may not set keys the operator owns (dataDir, clientPort, server.N, dynamicConfigFile, ...) or keys with a typed field"))),
        ]).with(.init("self.minSessionTimeout <= self.maxSessionTimeout", "minSessionTimeout must not exceed maxSessionTimeout"))),
        ("cassandra", .object("Cassandra settings (engine Cassandra only).", defaulted: false, [
            ("clusterName", .string("Cassandra cluster name. Unset: the Ensemble's name. Cannot change once data exists.", maxLength: 128)),
            ("datacenter", .string("Datacenter name (GossipingPropertyFileSnitch).", default: "dc1", maxLength: 64)),
            ("rack", .string("Rack name (GossipingPropertyFileSnitch).", default: "rack1", maxLength: 64)),
            ("numTokens", .integer("Virtual nodes per member.", default: 16, minimum: 1, maximum: 1536)),
            ("seeds", .integer("How many of the first members (by ordinal: 0, 1, 2, ...) serve as seeds.", default: 2, minimum: 1, maximum: 10)),
            ("maxHeapSize", jvmHeap("JVM heap (MAX_HEAP_SIZE), e.g. 512M.", default: "512M")),
            ("heapNewSize", .string("Young generation size (HEAP_NEWSIZE), e.g. 100M.", default: "100M", maxLength: 16)),
            ("streamingTimeoutSeconds", .integer("How long a node may take to join the ring (bootstrap) or leave it (decommission), both of which stream data, before scaling stops and the Ensemble is marked Degraded.", default: 86400, minimum: 60, maximum: 604800)),
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
        ("memberChange", .object("A roll or a scale under way, one member at a time; absent when there is none. Why the operator waits or stopped is the Progressing (or Degraded) condition's reason and message.", defaulted: false, [
            ("activity", .string("Roll or Scaling.", maxLength: 32)),
            ("step", .string("What the operator does or waits for now, e.g. restart zk-2.", maxLength: 256)),
            ("targetRevision", .string("The revision members are rolled to.", maxLength: 128)),
            ("leaderHandOff", .string("ZooKeeper: on, or why the leader restarts in place instead (then the others elect a new leader once it is down).", maxLength: 1024)),
            ("waitingFor", .string("The wait under way; its timeout counts from waitingSince, also across operator restarts.", maxLength: 256)),
            ("waitingSince", .string("When that wait began (RFC 3339).", maxLength: 64)),
            ("leftConfiguration", .array("server.N lines of members the operator took out of the dynamic configuration (a leader hand-off); each is added back as it was.",
                                         of: .string("A server.N=... line.", maxLength: 1024), maxItems: 16)),
        ])),
        ("membership", .object("ZooKeeper: the membership as the operator last read it from /zookeeper/config. Scaling changes it one server at a time, each reconfig conditional on the version.", defaulted: false, [
            ("version", .string("The configuration version (hexadecimal, as ZooKeeper prints it); every reconfig moves it.", maxLength: 32)),
            ("servers", .array("The servers of the configuration.", of: .object("One server.", defaulted: false, [
                ("id", .integer("Server id (myid) = StatefulSet ordinal + 1.", minimum: 1)),
                ("member", .string("Pod name.", maxLength: 253)),
                ("role", .string("participant (votes) or observer.", maxLength: 32)),
            ]), maxItems: 255)),
        ])),
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
    /// The users of the official images (uid = gid): `zookeeper` and `cassandra`.
    public static let zooKeeperUser = 1000
    public static let cassandraUser = 999
    public static let zooKeeperGracePeriod = 30
    public static let cassandraGracePeriod = 500
    public static let metricsProviderClass = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
}
