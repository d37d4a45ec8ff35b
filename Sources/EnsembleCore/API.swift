import ZKConfig

/// An `Ensemble` resource: typed, defaulted, and structurally valid (see `EnsembleDecoder`).
public struct Ensemble: Equatable, Sendable {
    public var metadata: ObjectMeta
    public var spec: EnsembleSpec
    /// The status as stored; the operator writes it, rendering ignores it.
    public var status: Value?
    /// Where fields came from, for error messages; not part of equality.
    public var positions: [String: SourcePosition] = [:]

    public static func == (a: Ensemble, b: Ensemble) -> Bool {
        a.metadata == b.metadata && a.spec == b.spec && a.status == b.status
    }
}

public struct ObjectMeta: Equatable, Sendable {
    public var name: String
    public var namespace: String
    public var uid: String?
    public var generation: Int?
    public var labels: [String: String]
    public var annotations: [String: String]
}

public enum Engine: String, Sendable, CaseIterable {
    case zooKeeper = "ZooKeeper"
    case cassandra = "Cassandra"
}

public struct EnsembleSpec: Equatable, Sendable {
    public var engine: Engine
    public var replicas: Int
    /// nil: the engine's default (`effectiveImage`).
    public var image: String?
    public var imagePullPolicy: String
    public var resources: Resources
    public var storage: Storage
    public var pod: PodSettings
    public var scheduling: Scheduling
    public var securityContext: SecuritySettings
    public var service: ServiceSettings
    public var podDisruptionBudget: DisruptionBudget
    public var probes: ProbeSettings
    public var updateStrategy: UpdateStrategy
    public var clusterDomain: String
    public var zookeeper: ZooKeeperSpec
    public var cassandra: CassandraSpec
    /// Which engine blocks were written by the user (the other engine's block is an error).
    public var hasZooKeeperBlock: Bool
    public var hasCassandraBlock: Bool

    /// The image to run: the spec's, or the engine's default.
    public var effectiveImage: String {
        image ?? (engine == .zooKeeper ? Defaults.zooKeeperImage : Defaults.cassandraImage)
    }
}

public struct Resources: Equatable, Sendable {
    public var requestsCPU: String?
    public var requestsMemory: String?
    public var limitsCPU: String?
    public var limitsMemory: String?
}

public struct Storage: Equatable, Sendable {
    public var size: String
    /// nil: the cluster's default StorageClass.
    public var storageClassName: String?
    public var reclaimPolicy: String
}

public struct EnvVar: Equatable, Sendable {
    public var name: String
    public var value: String?
    /// The references in `valueFrom` (exactly one when valid); nil without `valueFrom`.
    public var valueFrom: [KeyReference]?
}

/// A key of a Secret or ConfigMap (an environment variable's `valueFrom`).
public struct KeyReference: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable { case secret = "secretKeyRef", configMap = "configMapKeyRef" }
    public var kind: Kind
    public var name: String
    public var key: String
    public var optional: Bool?
}

/// A volume of `spec.pod.volumes`, in the Pod API's shape (rendered as written).
public struct PodVolume: Equatable, Sendable {
    public var name: String
    /// The sources present (configMap, secret, emptyDir, hostPath): exactly one when valid.
    public var sources: [String]
    public var definition: Value
}

public struct VolumeMount: Equatable, Sendable {
    public var name: String
    public var mountPath: String
    public var subPath: String?
    public var readOnly: Bool?
}

public struct PodSettings: Equatable, Sendable {
    public var labels: [String: String]
    public var annotations: [String: String]
    public var env: [EnvVar]
    public var volumes: [PodVolume]
    public var volumeMounts: [VolumeMount]
    public var allowedHostPathVolumes: [String]
    public var imagePullSecrets: [String]
    public var serviceAccountName: String?
    /// Each command's argv, in order.
    public var postStart: [[String]]
    public var preStop: [[String]]
    /// Containers in the Pod API's shape, as written.
    public var sidecars: [Value]
    public var priorityClassName: String?
    /// nil: the engine's default (`Defaults.zooKeeperGracePeriod` / `cassandraGracePeriod`).
    public var terminationGracePeriodSeconds: Int?
}

public struct Toleration: Equatable, Sendable {
    public var key: String?
    public var `operator`: String
    public var value: String?
    public var effect: String?
    public var tolerationSeconds: Int?
}

public struct Scheduling: Equatable, Sendable {
    public var nodeSelector: [String: String]
    public var tolerations: [Toleration]
    public var nodeAffinity: Value?
    public var topologySpreadConstraints: [Value]
    public var antiAffinity: String
    public var antiAffinityTopologyKey: String
}

public struct SecuritySettings: Equatable, Sendable {
    /// nil: the image's user and group (`Defaults.zooKeeperUser` / `cassandraUser`).
    public var runAsUser: Int?
    public var runAsGroup: Int?
    public var fsGroup: Int?
    public var readOnlyRootFilesystem: String
}

public struct ServiceSettings: Equatable, Sendable {
    public var type: String
    public var annotations: [String: String]
}

public struct DisruptionBudget: Equatable, Sendable {
    public var enabled: Bool
    public var maxUnavailable: Int?
}

public struct ProbeTiming: Equatable, Sendable {
    public var initialDelaySeconds: Int
    public var periodSeconds: Int
    public var timeoutSeconds: Int
    public var failureThreshold: Int
}

public struct ProbeSettings: Equatable, Sendable {
    public var readiness: ProbeTiming
    public var liveness: ProbeTiming
    public var startup: ProbeTiming
}

public struct UpdateStrategy: Equatable, Sendable {
    public var type: String
    public var memberTimeoutSeconds: Int
    public var stepTimeoutSeconds: Int
    public var leaderHandOff: Bool
}

public struct ZooKeeperSpec: Equatable, Sendable {
    public var tickTime: Int
    public var initLimit: Int
    public var syncLimit: Int
    public var maxClientCnxns: Int
    public var minSessionTimeout: Int
    public var maxSessionTimeout: Int
    public var snapRetainCount: Int
    public var purgeInterval: Int
    public var fourLetterWords: [String]
    public var heapSize: String
    public var logLevel: String
    public var metrics: MetricsSettings
    /// Overrides in key order (sorted), so the rendered file is stable.
    public var config: [String: String]
}

public struct MetricsSettings: Equatable, Sendable {
    public var enabled: Bool
    public var className: String
    public var port: Int
    public var serviceMonitor: Bool
}

public struct CassandraSpec: Equatable, Sendable {
    /// nil: the Ensemble's name.
    public var clusterName: String?
    public var datacenter: String
    public var rack: String
    public var numTokens: Int
    public var seeds: Int
    public var maxHeapSize: String
    public var heapNewSize: String
    public var streamingTimeoutSeconds: Int
}

// MARK: Decoding

/// Turns a YAML document into an `Ensemble`: structural checks with field paths against
/// `EnsembleAPI.spec`, then defaulting, then typed fields.
public enum EnsembleDecoder {
    /// The metadata fields a resource may carry (what the API server stores).
    static let metadataSchema = Schema.object("metadata", defaulted: false, required: ["name"], [
        ("name", .string("name", maxLength: 253)), ("namespace", .string("namespace", maxLength: 63)),
        ("uid", .string("uid")), ("generation", .integer("generation")),
        ("labels", .map("labels", of: .string("value", maxLength: 63), maxProperties: 256)),
        ("annotations", .map("annotations", of: .string("value", maxLength: 262144), maxProperties: 256)),
        ("resourceVersion", .string("rv")), ("creationTimestamp", .string("ts")),
        ("generateName", .string("generateName")), ("managedFields", .freeform("managedFields")),
        ("finalizers", .array("finalizers", of: .string("finalizer"))), ("ownerReferences", .freeform("ownerReferences")),
        ("deletionTimestamp", .string("ts")), ("deletionGracePeriodSeconds", .integer("s")),
    ])

    public static func decode(_ document: SourceDocument) -> (ensemble: Ensemble?, problems: [Problem]) {
        decode(document, semanticOnPartial: true)
    }

    static func decode(_ document: SourceDocument, semanticOnPartial: Bool) -> (ensemble: Ensemble?, problems: [Problem]) {
        var problems: [Problem] = []
        let root = document.value
        guard case .object = root else {
            return (nil, [located(Problem(.error, "document \(document.index + 1)", "must be a mapping (a Kubernetes resource), got \(root.typeName)"), document)])
        }
        if root["apiVersion"]?.stringValue != EnsembleAPI.apiVersion {
            problems.append(Problem(.error, "apiVersion", "must be \(EnsembleAPI.apiVersion), got \(describe(root["apiVersion"]))"))
        }
        if root["kind"]?.stringValue != EnsembleAPI.kind {
            problems.append(Problem(.error, "kind", "must be \(EnsembleAPI.kind), got \(describe(root["kind"]))"))
        }
        problems += metadataSchema.structuralProblems(of: root["metadata"] ?? .null, path: "metadata")
        if root["metadata"] == nil { problems.append(Problem(.error, "metadata", "is required")) }
        for key in root.objectValue!.keys where !["apiVersion", "kind", "metadata", "spec", "status"].contains(key) {
            problems.append(Problem(.error, key, "unknown field"))
        }
        guard let specValue = root["spec"], specValue != .null else {
            problems.append(Problem(.error, "spec", "is required (at least spec.engine)"))
            return (nil, problems.map { located($0, document) })
        }
        let metadataFine = !problems.contains { $0.severity == .error }
        problems += EnsembleAPI.spec.structuralProblems(of: specValue, path: "spec")
        if problems.contains(where: { $0.severity == .error }) {
            // Keep going on what is well-formed so the semantic rules report their problems
            // too: the user sees everything wrong in one pass.
            if semanticOnPartial, metadataFine, let sane = EnsembleAPI.spec.sanitized(specValue), sane["engine"] != nil {
                var partial = root
                partial["spec"] = sane
                partial["status"] = nil
                let partialDocument = SourceDocument(value: partial, positions: document.positions, index: document.index, source: document.source)
                if let ensemble = decode(partialDocument, semanticOnPartial: false).ensemble {
                    problems += Validator.validate(ensemble).problems
                }
            }
            return (nil, problems.map { located($0, document) })
        }
        let meta = root["metadata"]!
        let metadata = ObjectMeta(
            name: meta["name"]!.stringValue!,
            namespace: meta["namespace"]?.stringValue ?? "default",
            uid: meta["uid"]?.stringValue,
            generation: meta["generation"]?.intValue,
            labels: stringMap(meta["labels"]),
            annotations: stringMap(meta["annotations"]))
        var spec = EnsembleAPI.spec.applyingDefaults(to: specValue.pruned())
        // Engine blocks carry no `default: {}` (the API server would then store both on every
        // Ensemble); the selected engine's block is defaulted here instead.
        for (engine, block) in [(Engine.zooKeeper, "zookeeper"), (.cassandra, "cassandra")]
        where spec["engine"]?.stringValue == engine.rawValue && spec[block] == nil {
            spec[block] = EnsembleAPI.spec.property(block)!.applyingDefaults(to: .object(Object()))
        }
        let ensemble = Ensemble(metadata: metadata, spec: typedSpec(spec, raw: specValue), status: root["status"],
                                positions: document.positions)
        return (ensemble, problems.map { located($0, document) })
    }

    /// Builds an Ensemble from an in-memory spec value (tests, the operator's watch cache).
    public static func decode(value: Value, source: String = "<memory>") -> (ensemble: Ensemble?, problems: [Problem]) {
        decode(SourceDocument(value: value, positions: [:], index: 0, source: source))
    }

    static func located(_ problem: Problem, _ document: SourceDocument) -> Problem {
        var p = problem
        p.position = position(of: problem.path, in: document.positions)
        return p
    }

    /// The position of a path, or of its nearest ancestor that has one.
    static func position(of path: String, in positions: [String: SourcePosition]) -> SourcePosition? {
        var candidate = path
        while true {
            if let position = positions[candidate] { return position }
            guard let cut = candidate.lastIndex(where: { $0 == "." || $0 == "[" }) else { return positions[""] }
            candidate = String(candidate[..<cut])
        }
    }

    private static func describe(_ value: Value?) -> String {
        guard let value else { return "nothing" }
        if let s = value.stringValue { return "'\(s)'" }
        return value.typeName
    }

    static func stringMap(_ value: Value?) -> [String: String] {
        var result: [String: String] = [:]
        for (key, item) in value?.objectValue ?? Object() {
            result[key] = item.stringValue ?? item.quantityText ?? (item.boolValue.map { String($0) }) ?? ""
        }
        return result
    }

    static func typedSpec(_ s: Value, raw: Value) -> EnsembleSpec {
        func str(_ path: String) -> String { s.lookup(path)?.stringValue ?? "" }
        func optionalString(_ path: String) -> String? { s.lookup(path)?.stringValue }
        func int(_ path: String) -> Int { s.lookup(path)?.intValue ?? 0 }
        func bool(_ path: String) -> Bool { s.lookup(path)?.boolValue ?? false }
        func quantity(_ path: String) -> String? { s.lookup(path)?.quantityText }
        func timing(_ name: String) -> ProbeTiming {
            ProbeTiming(initialDelaySeconds: int("probes.\(name).initialDelaySeconds"), periodSeconds: int("probes.\(name).periodSeconds"),
                        timeoutSeconds: int("probes.\(name).timeoutSeconds"), failureThreshold: int("probes.\(name).failureThreshold"))
        }
        let tolerations = (s.lookup("scheduling.tolerations")?.arrayValue ?? []).map { t in
            Toleration(key: t["key"]?.stringValue, operator: t["operator"]?.stringValue ?? "Equal", value: t["value"]?.stringValue,
                       effect: t["effect"]?.stringValue, tolerationSeconds: t["tolerationSeconds"]?.intValue)
        }
        let env = (s.lookup("pod.env")?.arrayValue ?? []).map { item in
            let references = item["valueFrom"].map { from in
                KeyReference.Kind.allCases.compactMap { kind in
                    from[kind.rawValue].map { ref in
                        KeyReference(kind: kind, name: ref["name"]?.stringValue ?? "", key: ref["key"]?.stringValue ?? "", optional: ref["optional"]?.boolValue)
                    }
                }
            }
            return EnvVar(name: item["name"]?.stringValue ?? "", value: item["value"]?.stringValue, valueFrom: references)
        }
        let volumes = (s.lookup("pod.volumes")?.arrayValue ?? []).map { item in
            PodVolume(name: item["name"]?.stringValue ?? "",
                      sources: ["configMap", "secret", "emptyDir", "hostPath"].filter { item[$0] != nil }, definition: item)
        }
        let mounts = (s.lookup("pod.volumeMounts")?.arrayValue ?? []).map { item in
            VolumeMount(name: item["name"]?.stringValue ?? "", mountPath: item["mountPath"]?.stringValue ?? "",
                        subPath: item["subPath"]?.stringValue, readOnly: item["readOnly"]?.boolValue)
        }
        func commands(_ path: String) -> [[String]] {
            (s.lookup(path)?.arrayValue ?? []).map { ($0["command"]?.arrayValue ?? []).compactMap(\.stringValue) }
        }
        return EnsembleSpec(
            engine: Engine(rawValue: str("engine"))!,
            replicas: int("replicas"),
            image: optionalString("image"),
            imagePullPolicy: str("imagePullPolicy"),
            resources: Resources(requestsCPU: quantity("resources.requests.cpu"), requestsMemory: quantity("resources.requests.memory"),
                                 limitsCPU: quantity("resources.limits.cpu"), limitsMemory: quantity("resources.limits.memory")),
            storage: Storage(size: quantity("storage.size") ?? "", storageClassName: optionalString("storage.storageClassName"),
                             reclaimPolicy: str("storage.reclaimPolicy")),
            pod: PodSettings(labels: stringMap(s.lookup("pod.labels")), annotations: stringMap(s.lookup("pod.annotations")), env: env,
                             volumes: volumes, volumeMounts: mounts,
                             allowedHostPathVolumes: (s.lookup("pod.allowedHostPathVolumes")?.arrayValue ?? []).compactMap(\.stringValue),
                             imagePullSecrets: (s.lookup("pod.imagePullSecrets")?.arrayValue ?? []).compactMap { $0["name"]?.stringValue },
                             serviceAccountName: optionalString("pod.serviceAccountName"),
                             postStart: commands("pod.lifecycle.postStart"), preStop: commands("pod.lifecycle.preStop"),
                             sidecars: s.lookup("pod.sidecars")?.arrayValue ?? [],
                             priorityClassName: optionalString("pod.priorityClassName"),
                             terminationGracePeriodSeconds: s.lookup("pod.terminationGracePeriodSeconds")?.intValue),
            scheduling: Scheduling(nodeSelector: stringMap(s.lookup("scheduling.nodeSelector")), tolerations: tolerations,
                                   nodeAffinity: s.lookup("scheduling.nodeAffinity"),
                                   topologySpreadConstraints: s.lookup("scheduling.topologySpreadConstraints")?.arrayValue ?? [],
                                   antiAffinity: str("scheduling.antiAffinity"),
                                   antiAffinityTopologyKey: str("scheduling.antiAffinityTopologyKey")),
            securityContext: SecuritySettings(runAsUser: s.lookup("securityContext.runAsUser")?.intValue,
                                              runAsGroup: s.lookup("securityContext.runAsGroup")?.intValue,
                                              fsGroup: s.lookup("securityContext.fsGroup")?.intValue,
                                              readOnlyRootFilesystem: str("securityContext.readOnlyRootFilesystem")),
            service: ServiceSettings(type: str("service.type"), annotations: stringMap(s.lookup("service.annotations"))),
            podDisruptionBudget: DisruptionBudget(enabled: s.lookup("podDisruptionBudget.enabled")?.boolValue ?? true,
                                                  maxUnavailable: s.lookup("podDisruptionBudget.maxUnavailable")?.intValue),
            probes: ProbeSettings(readiness: timing("readiness"), liveness: timing("liveness"), startup: timing("startup")),
            updateStrategy: UpdateStrategy(type: str("updateStrategy.type"), memberTimeoutSeconds: int("updateStrategy.memberTimeoutSeconds"),
                                           stepTimeoutSeconds: int("updateStrategy.stepTimeoutSeconds"),
                                           leaderHandOff: s.lookup("updateStrategy.leaderHandOff")?.boolValue ?? true),
            clusterDomain: str("clusterDomain"),
            zookeeper: ZooKeeperSpec(
                tickTime: int("zookeeper.tickTime"), initLimit: int("zookeeper.initLimit"), syncLimit: int("zookeeper.syncLimit"),
                maxClientCnxns: int("zookeeper.maxClientCnxns"), minSessionTimeout: int("zookeeper.minSessionTimeout"),
                maxSessionTimeout: int("zookeeper.maxSessionTimeout"), snapRetainCount: int("zookeeper.autopurge.snapRetainCount"),
                purgeInterval: int("zookeeper.autopurge.purgeInterval"),
                fourLetterWords: (s.lookup("zookeeper.fourLetterWords")?.arrayValue ?? []).compactMap(\.stringValue),
                heapSize: str("zookeeper.heapSize"), logLevel: str("zookeeper.logLevel"),
                metrics: MetricsSettings(enabled: bool("zookeeper.metrics.enabled"), className: str("zookeeper.metrics.className"),
                                         port: int("zookeeper.metrics.port"), serviceMonitor: bool("zookeeper.metrics.serviceMonitor")),
                config: stringMap(s.lookup("zookeeper.config"))),
            cassandra: CassandraSpec(
                clusterName: optionalString("cassandra.clusterName"), datacenter: str("cassandra.datacenter"), rack: str("cassandra.rack"),
                numTokens: int("cassandra.numTokens"), seeds: int("cassandra.seeds"),
                maxHeapSize: str("cassandra.maxHeapSize"), heapNewSize: str("cassandra.heapNewSize"),
                streamingTimeoutSeconds: int("cassandra.streamingTimeoutSeconds")),
            hasZooKeeperBlock: raw["zookeeper"] != nil && raw["zookeeper"] != .null,
            hasCassandraBlock: raw["cassandra"] != nil && raw["cassandra"] != .null)
    }
}

extension Ensemble {
    /// zoo.cfg settings from the spec, with the pod's data layout.
    public func zooKeeperSettings() -> ZooKeeperSettings {
        let z = spec.zookeeper
        var settings = ZooKeeperSettings()
        settings.tickTime = z.tickTime
        settings.initLimit = z.initLimit
        settings.syncLimit = z.syncLimit
        settings.maxClientCnxns = z.maxClientCnxns
        settings.minSessionTimeout = z.minSessionTimeout
        settings.maxSessionTimeout = z.maxSessionTimeout
        settings.snapRetainCount = z.snapRetainCount
        settings.purgeInterval = z.purgeInterval
        settings.fourLetterWords = z.fourLetterWords
        settings.dataDir = ZooKeeperLayout.dataDir
        settings.dataLogDir = ZooKeeperLayout.dataLogDir
        settings.overrides = z.config.keys.sorted().map { ($0, z.config[$0]!) }
        return settings
    }
}
