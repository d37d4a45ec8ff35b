import ZKConfig

/// Everything wrong with an Ensemble, found in one pass: every problem with its field path,
/// errors and warnings separated.
public struct ValidationReport: Sendable, Equatable {
    public var problems: [Problem]
    /// The decoded resource, when it decoded (it may still have semantic errors).
    public var ensemble: Ensemble?
    public var errors: [Problem] { problems.filter { $0.severity == .error } }
    public var warnings: [Problem] { problems.filter { $0.severity == .warning } }
    public var isValid: Bool { errors.isEmpty }
}

public enum Validator {
    /// Structural and semantic problems of one document.
    public static func validate(document: SourceDocument) -> ValidationReport {
        let decoded = EnsembleDecoder.decode(document)
        // Without a fully valid decode, `decode` already ran the semantic rules on what it could.
        guard let ensemble = decoded.ensemble else { return ValidationReport(problems: decoded.problems) }
        return ValidationReport(problems: decoded.problems + validate(ensemble).problems, ensemble: ensemble)
    }

    /// Semantic rules on a decoded (structurally valid, defaulted) Ensemble.
    public static func validate(_ ensemble: Ensemble) -> ValidationReport {
        var rules = Rules(ensemble: ensemble)
        rules.run()
        let problems = rules.problems.map { problem -> Problem in
            var p = problem
            p.position = EnsembleDecoder.position(of: problem.path, in: ensemble.positions)
            return p
        }
        return ValidationReport(problems: problems, ensemble: ensemble)
    }

    /// Env variables the operator sets itself; overriding them would break the members.
    public static let operatorOwnedEnv: [Engine: Set<String>] = [
        .zooKeeper: ["JVMFLAGS", "SERVER_JVMFLAGS", "ZOOCFGDIR", "ZOO_CONF_DIR", "ZOO_DATA_DIR", "ZOO_DATA_LOG_DIR", "ZOO_MY_ID", "ZOO_SERVERS",
                     "ZOO_LOG_DIR", "ZOO_4LW_COMMANDS_WHITELIST"],
        .cassandra: ["MAX_HEAP_SIZE", "HEAP_NEWSIZE", "CASSANDRA_SEEDS", "CASSANDRA_CLUSTER_NAME", "CASSANDRA_DC", "CASSANDRA_RACK",
                     "CASSANDRA_ENDPOINT_SNITCH", "CASSANDRA_NUM_TOKENS", "POD_IP"],
    ]
}

/// zoo.cfg is read as Java properties: keep keys to characters that mean nothing special there.
private func isConfigKeyScalar(_ c: Unicode.Scalar) -> Bool {
    c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-")
}

private struct Rules {
    let ensemble: Ensemble
    var problems: [Problem] = []
    var spec: EnsembleSpec { ensemble.spec }

    init(ensemble: Ensemble) { self.ensemble = ensemble }

    mutating func error(_ path: String, _ message: String) { problems.append(Problem(.error, path, message)) }
    mutating func warning(_ path: String, _ message: String) { problems.append(Problem(.warning, path, message)) }

    mutating func run() {
        names()
        replicas()
        engineBlocks()
        resources()
        storage()
        pod()
        scheduling()
        disruptionBudget()
        probes()
        if spec.engine == .zooKeeper { zooKeeper() } else { cassandra() }
        if spec.engine == .zooKeeper { metrics() }
    }

    mutating func names() {
        let name = ensemble.metadata.name
        if !Syntax.isDNS1035Label(name, maxLength: 253) {
            error("metadata.name", "must be lower-case letters, digits and '-', start with a letter and end with a letter or digit, got '\(name)'")
        } else if name.count > EnsembleAPI.maxNameLength {
            error("metadata.name", "must be at most \(EnsembleAPI.maxNameLength) characters so pod labels (controller-revision-hash) fit in 63, got \(name.count)")
        }
        if !Syntax.isDNSLabel(ensemble.metadata.namespace) {
            error("metadata.namespace", "must be a DNS label (lower-case letters, digits, '-'), got '\(ensemble.metadata.namespace)'")
        }
        if !Syntax.isDNSSubdomain(spec.clusterDomain) {
            error("spec.clusterDomain", "must be a DNS domain such as cluster.local, got '\(spec.clusterDomain)'")
        }
        let names = EnsembleNames(ensemble)
        let longest = names.memberHost(max(0, spec.replicas - 1))
        if longest.count > 253 {
            error("metadata.name", "member address '\(longest)' is longer than 253 characters; shorten the name, namespace or clusterDomain")
        }
        if let image = spec.image { self.image("spec.image", image) }
    }

    mutating func replicas() {
        let n = spec.replicas
        switch spec.engine {
        case .zooKeeper:
            if n < 1 || n > EnsembleAPI.zooKeeperMaxReplicas {
                error("spec.replicas", "must be between 1 and \(EnsembleAPI.zooKeeperMaxReplicas) for ZooKeeper, got \(n)")
            } else if n % 2 == 0 {
                warning("spec.replicas", "\(n) members tolerate \((n - 1) / 2) failure(s), no more than \(n - 1) would; an odd count is recommended")
            }
        case .cassandra:
            if n < 1 || n > EnsembleAPI.cassandraMaxReplicas {
                error("spec.replicas", "must be between 1 and \(EnsembleAPI.cassandraMaxReplicas) for Cassandra, got \(n)")
            }
        }
    }

    mutating func engineBlocks() {
        if spec.engine == .cassandra && spec.hasZooKeeperBlock {
            error("spec.zookeeper", "is only valid when spec.engine is ZooKeeper")
        }
        if spec.engine == .zooKeeper && spec.hasCassandraBlock {
            error("spec.cassandra", "is only valid when spec.engine is Cassandra")
        }
    }

    mutating func quantity(_ path: String, _ text: String?) -> Double? {
        guard let text else { return nil }
        guard let value = Quantity.parse(text) else {
            error(path, "must be a Kubernetes quantity such as 500m, 2 or 1Gi, got '\(text)'")
            return nil
        }
        if value <= 0 { error(path, "must be greater than zero, got '\(text)'") }
        return value
    }

    mutating func resources() {
        let r = spec.resources
        let requestCPU = quantity("spec.resources.requests.cpu", r.requestsCPU)
        let requestMemory = quantity("spec.resources.requests.memory", r.requestsMemory)
        let limitCPU = quantity("spec.resources.limits.cpu", r.limitsCPU)
        let limitMemory = quantity("spec.resources.limits.memory", r.limitsMemory)
        if let requestCPU, let limitCPU, requestCPU > limitCPU {
            error("spec.resources.requests.cpu", "must not exceed the limit (\(r.limitsCPU!)), got '\(r.requestsCPU!)'")
        }
        if let requestMemory, let limitMemory, requestMemory > limitMemory {
            error("spec.resources.requests.memory", "must not exceed the limit (\(r.limitsMemory!)), got '\(r.requestsMemory!)'")
        }
        let heapPath = spec.engine == .zooKeeper ? "spec.zookeeper.heapSize" : "spec.cassandra.maxHeapSize"
        let heap = spec.engine == .zooKeeper ? spec.zookeeper.heapSize : spec.cassandra.maxHeapSize
        let memory = limitMemory ?? requestMemory ?? Quantity.parse(Defaults.memoryRequest)!
        if let bytes = Quantity.jvmBytes(heap), bytes >= memory {
            error(heapPath, "heap \(heap) does not fit in the container's memory (\(r.limitsMemory ?? r.requestsMemory ?? Defaults.memoryRequest)); the JVM needs room beyond the heap")
        }
    }

    mutating func storage() {
        _ = quantity("spec.storage.size", spec.storage.size)
        // "" is Kubernetes' own "no class": the volumes bind only to pre-provisioned ones.
        if let cls = spec.storage.storageClassName, !cls.isEmpty, !Syntax.isDNSSubdomain(cls) {
            error("spec.storage.storageClassName", "must be a DNS subdomain (lower-case letters, digits, '-', '.'), got '\(cls)'")
        }
    }

    mutating func labels(_ path: String, _ map: [String: String], reserved: Set<String> = []) {
        for key in map.keys.sorted() {
            if !Syntax.isQualifiedName(key) {
                error(join(path, key), "is not a valid label key (optional DNS prefix and '/', then up to 63 of [A-Za-z0-9-_.])")
            } else if reserved.contains(key) {
                error(join(path, key), "is set by the operator to select the members and cannot be overridden")
            }
            if !Syntax.isLabelValue(map[key]!) {
                error(join(path, key), "value '\(map[key]!)' is not a valid label value (up to 63 of [A-Za-z0-9-_.], alphanumeric at both ends)")
            }
        }
    }

    mutating func annotations(_ path: String, _ map: [String: String]) {
        for key in map.keys.sorted() where !Syntax.isQualifiedName(key) {
            error(join(path, key), "is not a valid annotation key")
        }
    }

    mutating func pod() {
        let names = EnsembleNames(ensemble)
        labels("spec.pod.labels", spec.pod.labels, reserved: Set(names.selectorLabels.keys))
        annotations("spec.pod.annotations", spec.pod.annotations)
        annotations("spec.service.annotations", spec.service.annotations)
        if spec.pod.annotations.keys.contains(Rendering.configHashAnnotation) {
            error(join("spec.pod.annotations", Rendering.configHashAnnotation), "is set by the operator to roll members on configuration changes")
        }
        // Duplicate names (env, volumes, mounts, sidecars, pull secrets) are refused by the
        // schema's list keys, before these rules run.
        let owned = Validator.operatorOwnedEnv[spec.engine]!
        for (i, variable) in spec.pod.env.enumerated() {
            let path = "spec.pod.env[\(i)]"
            if !Syntax.isEnvName(variable.name) {
                error("\(path).name", "'\(variable.name)' is not a valid variable name (letters, digits, '-', '.', '_', not starting with a digit)")
            } else if owned.contains(variable.name) {
                error("\(path).name", "'\(variable.name)' is set by the operator; use the typed spec field instead")
            }
            if variable.value != nil && variable.valueFrom != nil {
                error("\(path).valueFrom", "takes the place of value: set one of them")
            }
            if let references = variable.valueFrom, references.count != 1 {
                error("\(path).valueFrom", "takes exactly one of secretKeyRef and configMapKeyRef, got \(references.count)")
            }
            for reference in variable.valueFrom ?? [] {
                objectName("\(path).valueFrom.\(reference.kind.rawValue).name", reference.name)
                if !Syntax.isConfigKey(reference.key) {
                    error("\(path).valueFrom.\(reference.kind.rawValue).key", "'\(reference.key)' is not a valid key (letters, digits, '-', '_', '.')")
                }
            }
        }
        if let pc = spec.pod.priorityClassName { objectName("spec.pod.priorityClassName", pc) }
        if let account = spec.pod.serviceAccountName { objectName("spec.pod.serviceAccountName", account) }
        for (i, secret) in spec.pod.imagePullSecrets.enumerated() { objectName("spec.pod.imagePullSecrets[\(i)].name", secret) }
        volumes()
        mounts()
        for (hook, commands) in [("postStart", spec.pod.postStart), ("preStop", spec.pod.preStop)] {
            for (i, command) in commands.enumerated() where command.first?.isEmpty ?? true {
                error("spec.pod.lifecycle.\(hook)[\(i)].command", "needs a program to run")
            }
        }
        sidecars()
    }

    mutating func objectName(_ path: String, _ name: String) {
        if !Syntax.isDNSSubdomain(name) {
            error(path, "must be a DNS subdomain (lower-case letters, digits, '-', '.'), got '\(name)'")
        }
    }

    mutating func image(_ path: String, _ image: String) {
        if image.isEmpty || image.contains(where: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
            error(path, "must be an image reference without whitespace, got '\(image)'")
        }
    }

    mutating func volumes() {
        let allowed = Set(spec.pod.allowedHostPathVolumes)
        for (i, volume) in spec.pod.volumes.enumerated() {
            let path = "spec.pod.volumes[\(i)]"
            if !Syntax.isDNSLabel(volume.name) {
                error("\(path).name", "must be a DNS label (lower-case letters, digits, '-'), got '\(volume.name)'")
            } else if EnsembleAPI.operatorVolumeNames.contains(volume.name) {
                error("\(path).name", "'\(volume.name)' is a volume of the operator's (\(EnsembleAPI.operatorVolumeNames.joined(separator: ", ")))")
            }
            guard volume.sources.count == 1, let source = volume.sources.first else {
                error(path, volume.sources.isEmpty ? "needs a source: configMap, secret, emptyDir or hostPath"
                                                    : "has several sources (\(volume.sources.joined(separator: ", "))); give exactly one")
                continue
            }
            let definition = volume.definition[source]!
            switch source {
            case "configMap": objectName("\(path).configMap.name", definition["name"]?.stringValue ?? "")
            case "secret": objectName("\(path).secret.secretName", definition["secretName"]?.stringValue ?? "")
            case "hostPath":
                if !allowed.contains(volume.name) {
                    error("\(path).hostPath", "exposes the node's files to the pod: allowed only for volumes named in spec.pod.allowedHostPathVolumes")
                }
                if let hostPath = definition["path"]?.stringValue, !Syntax.isCleanAbsolutePath(hostPath) {
                    error("\(path).hostPath.path", "must be an absolute path without '.' or '..' parts, got '\(hostPath)'")
                }
            default: break
            }
            for (j, item) in (definition["items"]?.arrayValue ?? []).enumerated() {
                let file = item["path"]?.stringValue ?? ""
                if file.hasPrefix("/") || !Syntax.isCleanAbsolutePath("/" + file) {
                    error("\(path).\(source).items[\(j)].path", "must be a relative path without '.' or '..' parts, got '\(file)'")
                }
            }
        }
        for (i, name) in spec.pod.allowedHostPathVolumes.enumerated()
        where !spec.pod.volumes.contains(where: { $0.name == name && $0.sources == ["hostPath"] }) {
            error("spec.pod.allowedHostPathVolumes[\(i)]", "'\(name)' is not a hostPath volume in spec.pod.volumes")
        }
    }

    /// Where a mount path runs into one of the operator's, if it does.
    func clash(_ mountPath: String) -> String? {
        EnsembleAPI.operatorMountPaths.first { own in
            mountPath == own || mountPath.hasPrefix(own + "/") || own.hasPrefix(mountPath + "/")
        }
    }

    mutating func mounts() {
        let volumes = Set(spec.pod.volumes.map(\.name))
        for (i, mount) in spec.pod.volumeMounts.enumerated() {
            let path = "spec.pod.volumeMounts[\(i)]"
            if !volumes.contains(mount.name) {
                error("\(path).name", "'\(mount.name)' is not a volume in spec.pod.volumes")
            }
            if !Syntax.isCleanAbsolutePath(mount.mountPath) || mount.mountPath == "/" {
                error("\(path).mountPath", "must be an absolute path below / without '.', '..' or empty parts, got '\(mount.mountPath)'")
            } else if let own = clash(mount.mountPath) {
                error("\(path).mountPath", "'\(mount.mountPath)' runs into the operator's mount \(own)")
            }
            if let sub = mount.subPath, sub.hasPrefix("/") || !Syntax.isCleanAbsolutePath("/" + sub) {
                error("\(path).subPath", "must be a relative path without '.' or '..' parts, got '\(sub)'")
            }
        }
    }

    /// Ports the member container uses (containerPort: name).
    var memberPorts: [Int: String] {
        switch spec.engine {
        case .zooKeeper:
            var ports = [2181: "client", 2888: "server", 3888: "leader-election"]
            if spec.zookeeper.metrics.enabled { ports[spec.zookeeper.metrics.port] = "metrics" }
            return ports
        case .cassandra:
            return [7000: "intra-node", 7001: "tls-intra-node", 7199: "jmx", 9042: "cql"]
        }
    }

    mutating func sidecars() {
        let volumes = Set(spec.pod.volumes.map(\.name))
        let ports = memberPorts
        var sidecarPorts: [Int: String] = [:]
        for (i, sidecar) in spec.pod.sidecars.enumerated() {
            let path = "spec.pod.sidecars[\(i)]"
            let name = sidecar["name"]?.stringValue ?? ""
            if !Syntax.isDNSLabel(name) {
                error("\(path).name", "must be a DNS label (lower-case letters, digits, '-'), got '\(name)'")
            } else if EnsembleAPI.operatorContainerNames.contains(name) {
                error("\(path).name", "'\(name)' is a container of the operator's")
            }
            image("\(path).image", sidecar["image"]?.stringValue ?? "")
            if sidecar["securityContext"]?["privileged"] == true {
                error("\(path).securityContext.privileged", "member pods run no privileged containers")
            }
            for (j, mount) in (sidecar["volumeMounts"]?.arrayValue ?? []).enumerated() {
                let volume = mount["name"]?.stringValue ?? ""
                if volumes.contains(volume) { continue }
                if volume == "data" {
                    if mount["readOnly"] != true {
                        error("\(path).volumeMounts[\(j)].readOnly", "must be true: sidecars may read the members' data, never write it")
                    }
                } else {
                    error("\(path).volumeMounts[\(j)].name", "'\(volume)' is not a volume in spec.pod.volumes (or data, read-only)")
                }
            }
            for (j, port) in (sidecar["ports"]?.arrayValue ?? []).enumerated() {
                guard let number = port["containerPort"]?.intValue else { continue }
                if let taken = ports[number] ?? sidecarPorts[number] {
                    error("\(path).ports[\(j)].containerPort", "\(number) is already the pod's '\(taken)' port: containers of a pod share its network")
                }
                sidecarPorts[number] = port["name"]?.stringValue ?? name
                if let portName = port["name"]?.stringValue, ports.values.contains(portName) {
                    error("\(path).ports[\(j)].name", "'\(portName)' is a port name of the member container")
                }
            }
        }
    }

    mutating func scheduling() {
        labels("spec.scheduling.nodeSelector", spec.scheduling.nodeSelector)
        for (i, t) in spec.scheduling.tolerations.enumerated() {
            let path = "spec.scheduling.tolerations[\(i)]"
            if t.operator == "Exists" && !(t.value ?? "").isEmpty {
                error("\(path).value", "must be empty when operator is Exists")
            }
            if t.operator == "Equal" && (t.key ?? "").isEmpty {
                error("\(path).key", "is required when operator is Equal")
            }
            if let key = t.key, !key.isEmpty, !Syntax.isQualifiedName(key) {
                error("\(path).key", "'\(key)' is not a valid taint key")
            }
            if t.tolerationSeconds != nil && t.effect != "NoExecute" {
                error("\(path).tolerationSeconds", "only applies to effect NoExecute")
            }
        }
        if let affinity = spec.scheduling.nodeAffinity, affinity.objectValue == nil {
            error("spec.scheduling.nodeAffinity", "must be an object (a Kubernetes NodeAffinity), got \(affinity.typeName)")
        }
        for (i, constraint) in spec.scheduling.topologySpreadConstraints.enumerated() {
            let path = "spec.scheduling.topologySpreadConstraints[\(i)]"
            guard constraint.objectValue != nil else { error(path, "must be an object, got \(constraint.typeName)"); continue }
            if (constraint["maxSkew"]?.intValue ?? 0) < 1 { error("\(path).maxSkew", "is required and must be at least 1") }
            if constraint["topologyKey"]?.stringValue?.isEmpty ?? true { error("\(path).topologyKey", "is required") }
            if !["DoNotSchedule", "ScheduleAnyway"].contains(constraint["whenUnsatisfiable"]?.stringValue ?? "") {
                error("\(path).whenUnsatisfiable", "must be DoNotSchedule or ScheduleAnyway")
            }
        }
        if !Syntax.isQualifiedName(spec.scheduling.antiAffinityTopologyKey) {
            error("spec.scheduling.antiAffinityTopologyKey", "'\(spec.scheduling.antiAffinityTopologyKey)' is not a valid node label key")
        }
    }

    mutating func disruptionBudget() {
        let limit = (spec.replicas - 1) / 2
        if let max = spec.podDisruptionBudget.maxUnavailable, max > limit {
            error("spec.podDisruptionBudget.maxUnavailable",
                  "must be at most floor((replicas-1)/2) = \(limit) for \(spec.replicas) members, got \(max): a drain could otherwise break the quorum")
        }
        if spec.podDisruptionBudget.enabled && limit == 0 && spec.podDisruptionBudget.maxUnavailable == nil {
            warning("spec.podDisruptionBudget", "with \(spec.replicas) member(s) no member may be disrupted (maxUnavailable 0): node drains will wait until you scale up or disable the budget")
        }
    }

    mutating func probes() {
        for (name, timing) in [("readiness", spec.probes.readiness), ("liveness", spec.probes.liveness), ("startup", spec.probes.startup)] {
            if timing.timeoutSeconds > timing.periodSeconds {
                warning("spec.probes.\(name).timeoutSeconds", "(\(timing.timeoutSeconds)) is longer than periodSeconds (\(timing.periodSeconds)); probes will overlap")
            }
        }
        if spec.probes.liveness.failureThreshold * spec.probes.liveness.periodSeconds < spec.zookeeper.tickTime * spec.zookeeper.syncLimit / 1000 && spec.engine == .zooKeeper {
            warning("spec.probes.liveness", "fails faster than a follower may lag (syncLimit x tickTime); a slow but healthy member may be restarted")
        }
    }

    mutating func zooKeeper() {
        let z = spec.zookeeper
        if z.minSessionTimeout > z.maxSessionTimeout {
            error("spec.zookeeper.minSessionTimeout", "must not exceed maxSessionTimeout (\(z.maxSessionTimeout)), got \(z.minSessionTimeout)")
        }
        if z.minSessionTimeout < 2 * z.tickTime {
            warning("spec.zookeeper.minSessionTimeout", "\(z.minSessionTimeout) ms is below 2 x tickTime (\(2 * z.tickTime) ms); clients cannot get sessions that short")
        }
        for (i, word) in z.fourLetterWords.enumerated() {
            if word != "*" && !(word.count == 4 && word.allSatisfy({ $0.isASCII && $0.isLowercase })) {
                error("spec.zookeeper.fourLetterWords[\(i)]", "must be four lower-case letters (e.g. cons) or *, got '\(word)'")
            }
        }
        heap("spec.zookeeper.heapSize", z.heapSize, example: "512m or 2g")
        for key in z.config.keys.sorted() {
            let path = join("spec.zookeeper.config", key)
            if let reason = ZooCfg.operatorOwnedKeyReason(key) {
                error(path, reason)
            } else if key.isEmpty || key.unicodeScalars.contains(where: { !isConfigKeyScalar($0) }) {
                error(path, "is not a valid zoo.cfg key (letters, digits, '.', '_', '-')")
            }
            if z.config[key]!.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 }) {
                error(path, "value must be a single line without control characters")
            } else if z.config[key]!.hasSuffix("\\") {
                error(path, "value must not end with '\\' (Java properties would join it with the next line)")
            }
        }
    }

    /// A JVM heap: its syntax, and at least the smallest heap the JVM starts with.
    mutating func heap(_ path: String, _ text: String, example: String) {
        if !Quantity.isJVMSize(text) {
            error(path, "must be a JVM size such as \(example), got '\(text)'")
        } else if let bytes = Quantity.jvmBytes(text), bytes < Double(EnsembleAPI.minimumHeapBytes) {
            error(path, "must be at least \(EnsembleAPI.minimumHeap): the JVM does not start with a smaller heap, got '\(text)'")
        }
    }

    mutating func cassandra() {
        let c = spec.cassandra
        if c.seeds > spec.replicas {
            error("spec.cassandra.seeds", "must not exceed spec.replicas (\(spec.replicas)), got \(c.seeds)")
        }
        heap("spec.cassandra.maxHeapSize", c.maxHeapSize, example: "512M or 2G")
        if !Quantity.isJVMSize(c.heapNewSize) {
            error("spec.cassandra.heapNewSize", "must be a JVM size such as 512M or 2G, got '\(c.heapNewSize)'")
        }
        if let heap = Quantity.jvmBytes(c.maxHeapSize), let young = Quantity.jvmBytes(c.heapNewSize), young >= heap {
            error("spec.cassandra.heapNewSize", "must be smaller than maxHeapSize (\(c.maxHeapSize)), got '\(c.heapNewSize)'")
        }
        for (path, text) in [("spec.cassandra.clusterName", c.clusterName ?? ensemble.metadata.name), ("spec.cassandra.datacenter", c.datacenter), ("spec.cassandra.rack", c.rack)] {
            if text.contains(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || "-_. ".contains($0))) }) {
                error(path, "may contain only letters, digits, '-', '_', '.' and spaces, got '\(text)'")
            }
        }
        if c.clusterName?.isEmpty == true { error("spec.cassandra.clusterName", "must not be empty (unset uses the Ensemble's name)") }
        if c.datacenter.isEmpty { error("spec.cassandra.datacenter", "must not be empty") }
        if c.rack.isEmpty { error("spec.cassandra.rack", "must not be empty") }
    }

    mutating func metrics() {
        let m = spec.zookeeper.metrics
        guard m.enabled else { return }
        if let taken = [2181: "client", 2888: "server", 3888: "leader-election"][m.port] {
            error("spec.zookeeper.metrics.port", "\(m.port) is the \(taken) port")
        }
        if !m.className.contains(".") || m.className.contains(where: { $0.isWhitespace }) {
            error("spec.zookeeper.metrics.className", "must be a fully qualified Java class name, got '\(m.className)'")
        }
    }
}
