import ZKConfig

/// Where things live inside a ZooKeeper member pod.
public enum ZooKeeperLayout {
    public static let volumeMount = "/var/lib/zookeeper"
    public static let dataDir = "/var/lib/zookeeper/data"
    public static let dataLogDir = "/var/lib/zookeeper/log"
    /// Writable copy of the configuration: ZooKeeper rewrites zoo.cfg when it starts.
    public static let configDir = "/conf"
    /// The ConfigMap, read-only; the init step copies it into `configDir`.
    public static let configSource = "/config-source"
    /// ZooKeeper's own log directory (logging itself goes to stdout).
    public static let logDir = "/logs"
}

/// Where things live inside a Cassandra member pod.
public enum CassandraLayout {
    /// The official image's data directory (data, commit log, saved caches, hints).
    public static let dataDir = "/var/lib/cassandra"
}

/// Paths every member container has.
public enum PodLayout {
    /// A small writable emptyDir: the root filesystem may be read-only.
    public static let tmp = "/tmp"
}

/// Where the probe binary lives in member pods and how it gets there.
public enum ProbeInstall {
    /// Shared emptyDir the init container copies the binary into.
    public static let directory = "/probe"
    public static var binary: String { "\(directory)/ensemble-probe" }
    /// Path of the binary inside the operator image.
    public static let sourceBinary = "/usr/local/bin/ensemble-probe"
}

public struct RenderOptions: Sendable {
    /// Image that carries the ensemble-probe binary (the operator's image).
    public var probeImage: String
    /// ZooKeeper: how members name each other in `server.N` values.
    public var memberServer: MemberServerTemplate

    public init(probeImage: String = Defaults.probeImage, memberServer: MemberServerTemplate = .standard) {
        self.probeImage = probeImage
        self.memberServer = memberServer
    }
}

/// The operator's super user for one ZooKeeper Ensemble, as rendering refers to it: members
/// read its digest from the Secret (never from the pod spec), and the pod template carries a
/// hash of it, so members started before it existed (or with an older one) are rolled.
public struct SuperUserReference: Equatable, Sendable {
    public var secretName: String
    /// fnv1a64 of the digest: a hash of a one-way hash of a random password.
    public var digestHash: String

    public init(secretName: String, digestHash: String) {
        self.secretName = secretName
        self.digestHash = digestHash
    }

    public init(secretName: String, superUser: SuperUser) {
        self.init(secretName: secretName, digestHash: fnv1a64(superUser.digest))
    }
}

/// Manifests for one Ensemble, as pure functions of it.
public enum Rendering {
    public static let configHashAnnotation = "ensemble.dev/config-hash"
    /// On member pods: `SuperUserReference.digestHash` of the super user the member accepts.
    public static let superUserAnnotation = "ensemble.dev/super-user"

    /// The ConfigMap key with the membership a starting member is given (`StagedMembership`).
    public static let membershipKey = StagedMembership.fileName

    /// Every object the operator creates for the Ensemble, in apply order.
    ///
    /// - Parameters:
    ///   - superUser: ZooKeeper, the operator's Secret once it exists: gives members the super
    ///     user's digest.
    ///   - membership: ZooKeeper: the membership as the operator last read it
    ///     (`/zookeeper/config`); nil renders members 0 to replicas - 1 (an ensemble that has
    ///     not formed yet). It goes into the ConfigMap's `membershipKey` and sizes the
    ///     PodDisruptionBudget, and never into the hash that rolls members.
    ///   - left: ZooKeeper: servers a scale-down took out, and from which version
    ///     (`StagedMembership.left`).
    public static func render(_ ensemble: Ensemble, options: RenderOptions = RenderOptions(),
                              superUser: SuperUserReference? = nil, membership: DynamicConfig? = nil, left: [Int: Int64] = [:]) -> [Value] {
        let zooKeeper = ensemble.spec.engine == .zooKeeper
        let context = RenderContext(ensemble: ensemble, options: options, superUser: zooKeeper ? superUser : nil,
                                    membership: zooKeeper ? membership : nil, left: zooKeeper ? left : [:])
        var objects: [Value] = []
        if ensemble.spec.engine == .zooKeeper { objects.append(context.zooKeeperConfigMap()) }
        objects.append(context.headlessService())
        objects.append(context.clientService())
        if ensemble.spec.podDisruptionBudget.enabled { objects.append(context.podDisruptionBudget()) }
        objects.append(context.statefulSet())
        if context.metrics?.serviceMonitor == true { objects.append(context.serviceMonitor()) }
        return objects.map { $0.pruned() }
    }

    /// The PodDisruptionBudget's maxUnavailable: the spec's, else 1 when quorum math allows
    /// it; never more than the quorum math of `voters` (ZooKeeper: the participants of the
    /// live configuration, which lag `spec.replicas` while a scale is under way: growing from
    /// 1, a second pod may start before a second member votes).
    public static func maxUnavailable(_ spec: EnsembleSpec, voters: Int? = nil) -> Int {
        let count = min(spec.replicas, voters ?? spec.replicas)
        return max(0, min(spec.podDisruptionBudget.maxUnavailable ?? 1, (count - 1) / 2))
    }

    /// zoo.cfg for members running in Kubernetes, without the membership: members get that
    /// from `stagedMembership` (so a new member joins with the live membership, and a change
    /// of membership alone rolls nobody).
    public static func zooCfg(_ ensemble: Ensemble) -> String {
        var settings = ensemble.zooKeeperSettings()
        // Pods only: local mode runs Debian's ZooKeeper, which lacks the Prometheus provider.
        let metrics = ensemble.spec.zookeeper.metrics
        if metrics.enabled { settings.metricsProvider = MetricsProvider(className: metrics.className, httpPort: metrics.port) }
        return ZooCfg.render(settings: settings, servers: [])
    }

    /// The `server.N` value of a member (by default its stable DNS name and the rendered
    /// ports): what the staged membership lists and a reconfig adds.
    public static func serverValue(_ ensemble: Ensemble, ordinal: Int, options: RenderOptions = RenderOptions()) -> String {
        options.memberServer.value(of: ensemble, ordinal: ordinal)
    }

    /// The membership starting members are given: `membership` when known, else members 0 to
    /// replicas - 1 at version 0.
    public static func stagedMembership(_ ensemble: Ensemble, membership: DynamicConfig?, left: [Int: Int64] = [:],
                                        options: RenderOptions = RenderOptions()) -> StagedMembership {
        let config = membership ?? DynamicConfig(
            servers: (0..<ensemble.spec.replicas).map { .init(id: $0 + 1, role: .participant, value: serverValue(ensemble, ordinal: $0, options: options)) },
            version: 0)
        return StagedMembership(config: config, joinTemplate: options.memberServer.joinTemplate(of: ensemble), left: left)
    }

    /// The pod's termination grace period: the spec's, else the engine's default.
    public static func gracePeriod(_ spec: EnsembleSpec) -> Int {
        spec.pod.terminationGracePeriodSeconds ?? (spec.engine == .zooKeeper ? Defaults.zooKeeperGracePeriod : Defaults.cassandraGracePeriod)
    }

    /// The probe's own timeout: below kubelet's so the probe, not kubelet, says why it failed.
    static func probeTimeout(_ timeoutSeconds: Int) -> String {
        timeoutSeconds <= 1 ? "0.8" : String(timeoutSeconds - 1)
    }
}

/// FNV-1a, 64 bit: a stable content hash (Swift's Hasher is seeded per process).
public func fnv1a64(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

struct RenderContext {
    let ensemble: Ensemble
    let options: RenderOptions
    let superUser: SuperUserReference?
    let membership: DynamicConfig?
    let left: [Int: Int64]
    let names: EnsembleNames
    var spec: EnsembleSpec { ensemble.spec }
    var isZooKeeper: Bool { spec.engine == .zooKeeper }

    init(ensemble: Ensemble, options: RenderOptions, superUser: SuperUserReference? = nil, membership: DynamicConfig? = nil,
         left: [Int: Int64] = [:]) {
        self.ensemble = ensemble
        self.options = options
        self.superUser = superUser
        self.membership = membership
        self.left = left
        self.names = EnsembleNames(ensemble)
    }

    func metadata(_ name: String, annotations: [String: String] = [:]) -> Value {
        var meta: Value = [
            "name": .string(name),
            "namespace": .string(ensemble.metadata.namespace),
            "labels": .sortedMap(names.labels),
        ]
        if !annotations.isEmpty { meta["annotations"] = .sortedMap(annotations) }
        if let uid = ensemble.metadata.uid {
            meta["ownerReferences"] = [[
                "apiVersion": .string(EnsembleAPI.apiVersion), "kind": .string(EnsembleAPI.kind),
                "name": .string(ensemble.metadata.name), "uid": .string(uid),
                "controller": true, "blockOwnerDeletion": true,
            ]]
        }
        return meta
    }

    // MARK: ConfigMap

    /// What members are configured with: a change here rolls them.
    var configData: [(String, String)] {
        [
            ("zoo.cfg", Rendering.zooCfg(ensemble)),
            ("logback.xml", ZooKeeperLogging.logback(level: spec.zookeeper.logLevel)),
            ("log4j.properties", ZooKeeperLogging.log4j(level: spec.zookeeper.logLevel)),
        ]
    }

    var configHash: String {
        fnv1a64(configData.map { "\($0.0)\u{0}\($0.1)" }.joined(separator: "\u{0}"))
    }

    func zooKeeperConfigMap() -> Value {
        // The membership changes with every scale step and is read only when a member starts:
        // outside the hash.
        let membershipText = Rendering.stagedMembership(ensemble, membership: membership, left: left, options: options).text
        return [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": metadata(names.configMap),
            "data": .object(Object(configData.map { ($0.0, .string($0.1)) } + [(Rendering.membershipKey, .string(membershipText))])),
        ]
    }

    // MARK: Services

    var peerPorts: [Value] {
        isZooKeeper
            ? [["name": "server", "port": 2888, "targetPort": 2888], ["name": "leader-election", "port": 3888, "targetPort": 3888]]
            : [["name": "intra-node", "port": 7000, "targetPort": 7000], ["name": "cql", "port": 9042, "targetPort": 9042]]
    }

    /// The metrics settings when the provider is on (ZooKeeper only).
    var metrics: MetricsSettings? {
        isZooKeeper && spec.zookeeper.metrics.enabled ? spec.zookeeper.metrics : nil
    }

    var clientPort: Value {
        isZooKeeper ? ["name": "client", "port": 2181, "targetPort": 2181] : ["name": "cql", "port": 9042, "targetPort": 9042]
    }

    func headlessService() -> Value {
        var ports = peerPorts
        var annotations: [String: String] = [:]
        if let metrics {
            ports.append(["name": "metrics", "port": .int(metrics.port), "targetPort": .int(metrics.port)])
            // For Prometheus set-ups that discover targets from Service annotations: the
            // headless Service lists every member, ready or not.
            annotations = ["prometheus.io/scrape": "true", "prometheus.io/port": String(metrics.port), "prometheus.io/path": "/metrics"]
        }
        return [
            "apiVersion": "v1", "kind": "Service",
            "metadata": metadata(names.headlessService, annotations: annotations),
            "spec": [
                "clusterIP": "None",
                // Members must find each other before they are ready: election needs peers' DNS.
                "publishNotReadyAddresses": true,
                "ports": .array(ports),
                "selector": .sortedMap(names.selectorLabels),
            ],
        ]
    }

    /// For the Prometheus Operator: scrapes the port named metrics of the Services with the
    /// members' labels (only the headless Service has one).
    func serviceMonitor() -> Value {
        [
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": metadata(names.serviceMonitor),
            "spec": [
                "selector": ["matchLabels": .sortedMap(names.selectorLabels)],
                "endpoints": [["port": "metrics", "path": "/metrics"]],
            ],
        ]
    }

    func clientService() -> Value {
        [
            "apiVersion": "v1", "kind": "Service",
            "metadata": metadata(names.clientService, annotations: spec.service.annotations),
            "spec": [
                "type": .string(spec.service.type),
                "ports": [clientPort],
                "selector": .sortedMap(names.selectorLabels),
            ],
        ]
    }

    func podDisruptionBudget() -> Value {
        [
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": metadata(names.podDisruptionBudget),
            "spec": [
                "maxUnavailable": .int(Rendering.maxUnavailable(spec, voters: membership?.participantOrdinals.count)),
                "selector": ["matchLabels": .sortedMap(names.selectorLabels)],
            ],
        ]
    }

    // MARK: StatefulSet

    func statefulSet() -> Value {
        var podAnnotations = spec.pod.annotations
        if isZooKeeper { podAnnotations[Rendering.configHashAnnotation] = configHash }
        if let superUser { podAnnotations[Rendering.superUserAnnotation] = superUser.digestHash }
        var templateMeta: Value = ["labels": .sortedMap(names.labels.merging(spec.pod.labels) { operatorValue, _ in operatorValue })]
        if !podAnnotations.isEmpty { templateMeta["annotations"] = .sortedMap(podAnnotations) }
        var volumeClaimSpec: Value = [
            "accessModes": ["ReadWriteOnce"],
            "resources": ["requests": ["storage": .string(spec.storage.size)]],
        ]
        if let storageClassName = spec.storage.storageClassName {
            volumeClaimSpec["storageClassName"] = .string(storageClassName)
        }
        return [
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": metadata(names.statefulSet),
            "spec": [
                "serviceName": .string(names.headlessService),
                "replicas": .int(spec.replicas),
                // ZooKeeper members are ready only inside a quorum, so OrderedReady would wait
                // forever for member 0 before creating member 1. Cassandra nodes must join one
                // at a time, which OrderedReady gives.
                "podManagementPolicy": isZooKeeper ? "Parallel" : "OrderedReady",
                // The operator orders restarts itself (followers first, leader last, quorum checked).
                "updateStrategy": ["type": "OnDelete"],
                "persistentVolumeClaimRetentionPolicy": [
                    "whenDeleted": .string(spec.storage.reclaimPolicy), "whenScaled": .string(spec.storage.reclaimPolicy),
                ],
                "selector": ["matchLabels": .sortedMap(names.selectorLabels)],
                "template": ["metadata": templateMeta, "spec": podSpec()],
                "volumeClaimTemplates": [[
                    "metadata": ["name": "data", "labels": .sortedMap(names.selectorLabels)],
                    "spec": volumeClaimSpec,
                ]],
            ],
        ]
    }

    var defaultUser: Int { isZooKeeper ? Defaults.zooKeeperUser : Defaults.cassandraUser }

    func podSpec() -> Value {
        let s = spec.securityContext
        var pod: Value = [
            // Members never talk to the Kubernetes API.
            "automountServiceAccountToken": false,
            // Service links inject *_PORT variables that some images misread as their own settings.
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": .int(Rendering.gracePeriod(spec)),
            "securityContext": [
                "runAsNonRoot": true,
                "runAsUser": .int(s.runAsUser ?? defaultUser),
                "runAsGroup": .int(s.runAsGroup ?? defaultUser),
                "fsGroup": .int(s.fsGroup ?? defaultUser),
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": ["type": "RuntimeDefault"],
            ],
            "affinity": affinity(),
        ]
        if let priorityClassName = spec.pod.priorityClassName { pod["priorityClassName"] = .string(priorityClassName) }
        if let serviceAccount = spec.pod.serviceAccountName { pod["serviceAccountName"] = .string(serviceAccount) }
        if !spec.pod.imagePullSecrets.isEmpty {
            pod["imagePullSecrets"] = .array(spec.pod.imagePullSecrets.map { ["name": .string($0)] })
        }
        if !spec.scheduling.nodeSelector.isEmpty { pod["nodeSelector"] = .sortedMap(spec.scheduling.nodeSelector) }
        if !spec.scheduling.tolerations.isEmpty {
            pod["tolerations"] = .array(spec.scheduling.tolerations.map { t in
                var v: Value = ["operator": .string(t.operator)]
                if let key = t.key, !key.isEmpty { v["key"] = .string(key) }
                if let value = t.value, !value.isEmpty { v["value"] = .string(value) }
                if let effect = t.effect, !effect.isEmpty { v["effect"] = .string(effect) }
                if let seconds = t.tolerationSeconds { v["tolerationSeconds"] = .int(seconds) }
                return v
            })
        }
        if !spec.scheduling.topologySpreadConstraints.isEmpty {
            pod["topologySpreadConstraints"] = .array(spec.scheduling.topologySpreadConstraints.map { constraint in
                var c = constraint
                if c["labelSelector"] == nil { c["labelSelector"] = ["matchLabels": .sortedMap(names.selectorLabels)] }
                return c
            })
        }
        pod["initContainers"] = [installContainer()]
        pod["containers"] = .array([isZooKeeper ? zooKeeperContainer() : cassandraContainer()] + sidecars())
        pod["volumes"] = .array(volumes() + spec.pod.volumes.map(\.definition))
        return pod
    }

    func affinity() -> Value {
        // The selector is the pods' own selector labels, so it always matches the members
        // (the tutorial's `app: zk` expression only works while nothing else shares the label).
        let term: Value = [
            "labelSelector": ["matchLabels": .sortedMap(names.selectorLabels)],
            "topologyKey": .string(spec.scheduling.antiAffinityTopologyKey),
        ]
        var affinity: Value = [:]
        if spec.scheduling.antiAffinity == "Required" {
            affinity["podAntiAffinity"] = ["requiredDuringSchedulingIgnoredDuringExecution": [term]]
        } else {
            affinity["podAntiAffinity"] = ["preferredDuringSchedulingIgnoredDuringExecution": [["weight": 100, "podAffinityTerm": term]]]
        }
        if let nodeAffinity = spec.scheduling.nodeAffinity { affinity["nodeAffinity"] = nodeAffinity }
        return affinity
    }

    var restrictedContainerSecurity: Value {
        let readOnly: Bool
        switch spec.securityContext.readOnlyRootFilesystem {
        case "True": readOnly = true
        case "False": readOnly = false
        default: readOnly = isZooKeeper
        }
        return [
            "allowPrivilegeEscalation": false,
            "capabilities": ["drop": ["ALL"]],
            "readOnlyRootFilesystem": .bool(readOnly),
            "runAsNonRoot": true,
        ]
    }

    func installContainer() -> Value {
        var command: [Value] = [.string(ProbeInstall.sourceBinary), "install", .string(ProbeInstall.directory)]
        var mounts: [Value] = [["name": "probe", "mountPath": .string(ProbeInstall.directory)]]
        if isZooKeeper {
            command += ["--data-dir", .string(ZooKeeperLayout.dataDir), "--config-source", .string(ZooKeeperLayout.configSource),
                        "--config-dir", .string(ZooKeeperLayout.configDir)]
            mounts += [
                ["name": "data", "mountPath": .string(ZooKeeperLayout.volumeMount)],
                ["name": "config-source", "mountPath": .string(ZooKeeperLayout.configSource), "readOnly": true],
                ["name": "conf", "mountPath": .string(ZooKeeperLayout.configDir)],
            ]
        }
        var security = restrictedContainerSecurity
        security["readOnlyRootFilesystem"] = true
        return [
            "name": "install",
            "image": .string(options.probeImage),
            "imagePullPolicy": "IfNotPresent",
            "command": .array(command),
            "env": [[
                // The ordinal, for myid (Kubernetes 1.28+ labels pods with it; else the hostname).
                "name": "POD_INDEX",
                "valueFrom": ["fieldRef": ["fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"]],
            ]],
            "resources": ["requests": ["cpu": "10m", "memory": "16Mi"], "limits": ["memory": "64Mi"]],
            "securityContext": security,
            "volumeMounts": .array(mounts),
        ]
    }

    func resources() -> Value {
        let r = spec.resources
        var requests: Value = ["cpu": .string(r.requestsCPU ?? Defaults.cpuRequest), "memory": .string(r.requestsMemory ?? Defaults.memoryRequest)]
        requests = requests.pruned()
        var result: Value = ["requests": requests]
        var limits: Value = [:]
        if let cpu = r.limitsCPU { limits["cpu"] = .string(cpu) }
        if let memory = r.limitsMemory { limits["memory"] = .string(memory) }
        if limits != [:] { result["limits"] = limits }
        return result
    }

    func probe(_ command: [String], _ timing: ProbeTiming) -> Value {
        [
            "exec": ["command": .array(([ProbeInstall.binary] + command + ["--timeout", Rendering.probeTimeout(timing.timeoutSeconds)]).map(Value.string))],
            "initialDelaySeconds": .int(timing.initialDelaySeconds),
            "periodSeconds": .int(timing.periodSeconds),
            "timeoutSeconds": .int(timing.timeoutSeconds),
            "failureThreshold": .int(timing.failureThreshold),
            "successThreshold": 1,
        ]
    }

    var userEnv: [Value] {
        spec.pod.env.map { variable in
            var v: Value = ["name": .string(variable.name)]
            if let reference = variable.valueFrom?.first {
                var ref: Value = ["name": .string(reference.name), "key": .string(reference.key)]
                if let optional = reference.optional { ref["optional"] = .bool(optional) }
                v["valueFrom"] = .object(Object([(reference.kind.rawValue, ref)]))
            } else {
                v["value"] = .string(variable.value ?? "")
            }
            return v
        }
    }

    /// The member container's mounts: the operator's, then the user's.
    func volumeMounts(_ ours: [Value]) -> Value {
        .array(ours + spec.pod.volumeMounts.map { mount in
            var m: Value = ["name": .string(mount.name), "mountPath": .string(mount.mountPath)]
            if let subPath = mount.subPath { m["subPath"] = .string(subPath) }
            if let readOnly = mount.readOnly { m["readOnly"] = .bool(readOnly) }
            return m
        })
    }

    /// postStart and preStop of the member container. Several commands, or the user's
    /// preStop before ours, run through `ensemble-probe hooks` (the image may have no
    /// shell): the user's get half the grace period, ours runs after them whatever happens.
    func lifecycle(ownPreStop: [String]?) -> Value? {
        func exec(_ argv: [String]) -> Value { ["exec": ["command": .array(argv.map(Value.string))]] }
        func steps(_ commands: [[String]]) -> [String] { commands.flatMap { [String($0.count)] + $0 } }
        var result: Value = [:]
        switch spec.pod.postStart.count {
        case 0: break
        case 1: result["postStart"] = exec(spec.pod.postStart[0])
        default: result["postStart"] = exec([ProbeInstall.binary, "hooks"] + steps(spec.pod.postStart))
        }
        if spec.pod.preStop.isEmpty {
            if let ownPreStop { result["preStop"] = exec(ownPreStop) }
        } else {
            let budget = max(1, Rendering.gracePeriod(spec) / 2)
            let finally = ownPreStop.map { ["--finally"] + steps([$0]) } ?? []
            result["preStop"] = exec([ProbeInstall.binary, "hooks", "--budget", String(budget)] + steps(spec.pod.preStop) + finally)
        }
        return result == [:] ? nil : result
    }

    /// Sidecars as written, with the members' restricted security context when they bring none.
    func sidecars() -> [Value] {
        spec.pod.sidecars.map { container in
            var c = container
            if c["securityContext"] == nil {
                c["securityContext"] = ["allowPrivilegeEscalation": false, "capabilities": ["drop": ["ALL"]], "runAsNonRoot": true]
            }
            return c
        }
    }

    func zooKeeperContainer() -> Value {
        let heap = spec.zookeeper.heapSize
        let readiness = spec.replicas == 1 ? ["zk-ready", "--allow-standalone"] : ["zk-ready"]
        return [
            "name": "zookeeper",
            "image": .string(spec.effectiveImage),
            "imagePullPolicy": .string(spec.imagePullPolicy),
            // Bypass the image's entrypoint: it would write a default myid and its own zoo.cfg.
            "command": ["zkServer.sh", "start-foreground"],
            "env": .array([
                ["name": "ZOOCFGDIR", "value": .string(ZooKeeperLayout.configDir)],
                ["name": "ZOO_LOG_DIR", "value": .string(ZooKeeperLayout.logDir)],
            ] + superUserEnv + [
                ["name": "JVMFLAGS", "value": .string("-Xms\(heap) -Xmx\(heap) -Dzookeeper.log.dir=\(ZooKeeperLayout.logDir)"
                    + (superUser == nil ? "" : " $(\(SuperUserSecret.environmentVariable))"))],
            ] + userEnv),
            "ports": .array([
                ["name": "client", "containerPort": 2181],
                ["name": "server", "containerPort": 2888],
                ["name": "leader-election", "containerPort": 3888],
            ] + (metrics.map { [["name": "metrics", "containerPort": .int($0.port)]] } ?? [])),
            "resources": resources(),
            "lifecycle": lifecycle(ownPreStop: nil) ?? .null,
            "startupProbe": probe(["zk-startup"], spec.probes.startup),
            "readinessProbe": probe(readiness, spec.probes.readiness),
            "livenessProbe": probe(["zk-live"], spec.probes.liveness),
            "securityContext": restrictedContainerSecurity,
            "volumeMounts": volumeMounts([
                ["name": "data", "mountPath": .string(ZooKeeperLayout.volumeMount)],
                ["name": "conf", "mountPath": .string(ZooKeeperLayout.configDir)],
                ["name": "probe", "mountPath": .string(ProbeInstall.directory), "readOnly": true],
                ["name": "logs", "mountPath": .string(ZooKeeperLayout.logDir)],
                ["name": "tmp", "mountPath": .string(PodLayout.tmp)],
            ]),
        ]
    }

    /// The super user's digest option, from the Secret (so it never sits in the pod spec),
    /// into JVMFLAGS through kubelet's $(VAR) expansion of variables defined before it:
    /// zkServer.sh runs `java ... $SERVER_JVMFLAGS $JVMFLAGS QuorumPeerMain`, and
    /// SERVER_JVMFLAGS stays the user's.
    var superUserEnv: [Value] {
        guard let superUser else { return [] }
        return [[
            "name": .string(SuperUserSecret.environmentVariable),
            "valueFrom": ["secretKeyRef": ["name": .string(superUser.secretName), "key": .string(SuperUserSecret.jvmFlagsKey)]],
        ]]
    }

    var seeds: String {
        (0..<min(spec.cassandra.seeds, spec.replicas)).map { names.memberHost($0) }.joined(separator: ",")
    }

    func cassandraContainer() -> Value {
        let c = spec.cassandra
        return [
            "name": "cassandra",
            "image": .string(spec.effectiveImage),
            "imagePullPolicy": .string(spec.imagePullPolicy),
            "env": .array([
                ["name": "MAX_HEAP_SIZE", "value": .string(c.maxHeapSize)],
                ["name": "HEAP_NEWSIZE", "value": .string(c.heapNewSize)],
                // Seeds by ordinal (numeric order), stable DNS names; no API access from the JVM.
                ["name": "CASSANDRA_SEEDS", "value": .string(seeds)],
                ["name": "CASSANDRA_CLUSTER_NAME", "value": .string(c.clusterName ?? ensemble.metadata.name)],
                ["name": "CASSANDRA_DC", "value": .string(c.datacenter)],
                ["name": "CASSANDRA_RACK", "value": .string(c.rack)],
                ["name": "CASSANDRA_ENDPOINT_SNITCH", "value": "GossipingPropertyFileSnitch"],
                ["name": "CASSANDRA_NUM_TOKENS", "value": .string(String(c.numTokens))],
                ["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]],
            ] + userEnv),
            "ports": [
                ["name": "intra-node", "containerPort": 7000],
                ["name": "tls-intra-node", "containerPort": 7001],
                ["name": "jmx", "containerPort": 7199],
                ["name": "cql", "containerPort": 9042],
            ],
            "resources": resources(),
            // Flush memtables and stop accepting writes before the JVM goes away.
            "lifecycle": lifecycle(ownPreStop: ["nodetool", "drain"]) ?? .null,
            // The CQL port opens only after bootstrap (which can stream for hours) and closes on
            // disablebinary; startup and liveness watch the storage port, open all along. The
            // image's entrypoint sets listen_address to the pod's IP, so the storage port
            // listens there and not on 127.0.0.1 (exec probes get no $(VAR) expansion: the
            // probe reads POD_IP itself). CQL listens on 0.0.0.0 (rpc_address), 127.0.0.1 too.
            "startupProbe": probe(["tcp-live", "--host-env", "POD_IP", "--port", "7000"], spec.probes.startup),
            "readinessProbe": probe(["cql-ready"], spec.probes.readiness),
            "livenessProbe": probe(["tcp-live", "--host-env", "POD_IP", "--port", "7000"], spec.probes.liveness),
            "securityContext": restrictedContainerSecurity,
            "volumeMounts": volumeMounts([
                ["name": "data", "mountPath": .string(CassandraLayout.dataDir)],
                ["name": "probe", "mountPath": .string(ProbeInstall.directory), "readOnly": true],
                ["name": "tmp", "mountPath": .string(PodLayout.tmp)],
            ]),
        ]
    }

    func volumes() -> [Value] {
        var volumes: [Value] = [
            ["name": "probe", "emptyDir": ["sizeLimit": "64Mi"]],
            ["name": "tmp", "emptyDir": ["sizeLimit": "256Mi"]],
        ]
        if isZooKeeper {
            volumes += [
                ["name": "config-source", "configMap": ["name": .string(names.configMap)]],
                ["name": "conf", "emptyDir": ["sizeLimit": "16Mi"]],
                ["name": "logs", "emptyDir": ["sizeLimit": "256Mi"]],
            ]
        }
        return volumes
    }
}
