import EnsembleCore
import Foundation
import KubernetesClient
import LocalEnsemble
import ZooKeeperTestSupport
#if canImport(Glibc)
import Glibc
#endif

// The pieces of `KubeletBridge`: what it reads of a pod, how it lays volumes out, runs the
// init container, the member process and the readiness probe, and translates zoo.cfg.

struct BridgeState {
    var slots: [Int: Slot] = [:]
    /// Pods whose deletion the bridge has finished (or is finishing).
    var finished: Set<String> = []
    var events: [KubeletBridge.Event] = []
}

/// One ordinal: the pod the bridge runs for it and its process.
struct Slot {
    var uid = ""
    var pod: PodView?
    var busy = false
    var process: MemberProcess?
    /// The init containers ran for this pod: a restart after a crash skips them.
    var started = false
    var processStartedAt: Double = 0
    var crashes = 0
    var retryAt: Double = 0
    var probe = ProbeState()
    /// What the pod's Ready condition says (the fake creates pods not ready).
    var reportedReady: Bool? = false
}

struct ProbeState {
    var running = false
    var next: Double = 0
    var successes = 0
    var failures = 0
}

/// The fields of a pod the bridge acts on.
struct PodView: Sendable {
    struct Readiness: Sendable {
        var command: [String]
        var initialDelay: Int
        var period: Int
        var timeout: Int
        var successThreshold: Int
        var failureThreshold: Int
    }

    var name: String
    var uid: String
    var ordinal: Int
    var revision: String
    var deleting: Bool
    var deletionGrace: Int?
    var grace: Int
    var labels: [String: String]
    var annotations: [String: String]
    var spec: Value
    var readiness: Readiness?

    init?(_ object: KubeObject) {
        guard let name = object.name, let uid = object.uid, let spec = object.spec else { return nil }
        let labels = object.labels
        guard let ordinal = labels["apps.kubernetes.io/pod-index"].flatMap({ Int($0) }) ?? name.split(separator: "-").last.flatMap({ Int($0) })
        else { return nil }
        self.name = name
        self.uid = uid
        self.ordinal = ordinal
        revision = labels["controller-revision-hash"] ?? ""
        deleting = object.isBeingDeleted
        deletionGrace = object.metadata?["deletionGracePeriodSeconds"]?.intValue
        grace = spec["terminationGracePeriodSeconds"]?.intValue ?? 30
        self.labels = labels
        annotations = object.annotations
        self.spec = spec
        if let probe = Self.memberContainer(spec)?["readinessProbe"], let command = probe["exec"]?["command"]?.arrayValue?.compactMap(\.stringValue) {
            readiness = Readiness(command: command, initialDelay: probe["initialDelaySeconds"]?.intValue ?? 0,
                                  period: max(1, probe["periodSeconds"]?.intValue ?? 10), timeout: max(1, probe["timeoutSeconds"]?.intValue ?? 1),
                                  successThreshold: max(1, probe["successThreshold"]?.intValue ?? 1),
                                  failureThreshold: max(1, probe["failureThreshold"]?.intValue ?? 3))
        }
    }

    /// The ZooKeeper container (the first one: sidecars follow it).
    static func memberContainer(_ spec: Value) -> Value? { spec["containers"]?.arrayValue?.first }
}

/// A container's view of the pod's volumes: mount path to host directory.
struct Mounts {
    var entries: [(path: String, host: String)]

    init(container: Value, volumes: [String: String]) {
        entries = (container["volumeMounts"]?.arrayValue ?? []).compactMap { mount in
            guard let path = mount["mountPath"]?.stringValue, let name = mount["name"]?.stringValue, let host = volumes[name] else { return nil }
            let sub = mount["subPath"]?.stringValue.map { "/" + $0 } ?? ""
            return (path, host + sub)
        }.sorted { $0.path.count > $1.path.count }
    }

    /// The host path of a container path, nil when no mount holds it.
    func host(_ path: String) -> String? {
        for entry in entries where path == entry.path || path.hasPrefix(entry.path.hasSuffix("/") ? entry.path : entry.path + "/") {
            return entry.host + path.dropFirst(entry.path.count)
        }
        return nil
    }
}

/// A member's java process.
final class MemberProcess: @unchecked Sendable {
    let process: Process

    init(_ process: Process) { self.process = process }

    var isRunning: Bool { process.isRunning }
    var status: Int32 { process.isRunning ? 0 : process.terminationStatus }

    func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// SIGTERM, up to `grace` seconds, then SIGKILL; true when it had to be killed.
    func stop(grace: Double) -> Bool {
        guard process.isRunning else { return false }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        let killed = process.isRunning
        if killed { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return killed
    }
}

struct BridgeFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs blocking work on a thread of its own, never on one of Swift's few cooperative threads.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}

extension KubeletBridge {
    func podDirectory(_ pod: PodView) -> String { "\(stateDirectory)/pods/\(pod.name)-\(pod.uid.prefix(8))" }

    /// Volumes, the init containers (first start only), then the member process.
    func launch(_ pod: PodView, restart: Bool) async throws -> MemberProcess {
        let directory = podDirectory(pod)
        let volumes = try await prepareVolumes(pod, directory: directory, fresh: !restart)
        guard let container = PodView.memberContainer(pod.spec) else { throw BridgeFailure(description: "\(pod.name) has no containers") }
        let mounts = Mounts(container: container, volumes: volumes)
        if !restart {
            for initContainer in pod.spec["initContainers"]?.arrayValue ?? [] {
                try await runInitContainer(initContainer, pod: pod, volumes: volumes)
            }
        }
        let environment = try await resolveEnvironment(container, pod: pod)
        let command = (container["command"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard command == ["zkServer.sh", "start-foreground"] else {
            throw BridgeFailure(description: "\(pod.name): the member container runs \(command), not zkServer.sh start-foreground")
        }
        guard let configDirectory = mounts.host(environment["ZOOCFGDIR"] ?? "/conf") else {
            throw BridgeFailure(description: "\(pod.name): ZOOCFGDIR \(environment["ZOOCFGDIR"] ?? "/conf") is on no volume")
        }
        let logDirectory = environment["ZOO_LOG_DIR"].flatMap(mounts.host) ?? directory
        let flags = ((environment["SERVER_JVMFLAGS"] ?? "") + " " + (environment["JVMFLAGS"] ?? ""))
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            .filter { !$0.hasPrefix("-Xms") && !$0.hasPrefix("-Xmx") }
            .map { flag -> String in
                // -Dname=/container/path: the same file on this machine.
                guard flag.hasPrefix("-D"), let equals = flag.firstIndex(of: "="),
                      let mapped = mounts.host(String(flag[flag.index(after: equals)...])) else { return flag }
                return flag[...equals] + mapped
            }
        let arguments = ["-Dzookeeper.log.dir=\(logDirectory)"] + installation.jvmOptions
            + ["-cp", ([configDirectory] + installation.classpath).joined(separator: ":")] + options.heap + flags
            + [ZooKeeperInstallation.mainClass, configDirectory + "/zoo.cfg"]
        let logPath = directory + "/zookeeper.log"
        return try await onThread { [installation] in
            Result { () throws -> MemberProcess in
                if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
                let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
                log.seekToEndOfFile()
                let process = Process()
                process.executableURL = URL(fileURLWithPath: installation.java)
                process.arguments = arguments
                process.currentDirectoryURL = URL(fileURLWithPath: directory)
                process.standardOutput = log
                process.standardError = log
                process.standardInput = FileHandle.nullDevice
                try process.run()
                try log.close()
                return MemberProcess(process)
            }
        }.get()
    }

    /// Directories for the pod's volumes by name. A claim's directory outlives the pod and is
    /// emptied when the claim is a new one (its uid changed); the others are the pod's own.
    func prepareVolumes(_ pod: PodView, directory: String, fresh: Bool) async throws -> [String: String] {
        let files = FileManager.default
        var result: [String: String] = [:]
        for volume in pod.spec["volumes"]?.arrayValue ?? [] {
            guard let name = volume["name"]?.stringValue else { continue }
            if let claim = volume["persistentVolumeClaim"]?["claimName"]?.stringValue {
                let host = "\(stateDirectory)/volumes/\(claim)"
                let uid: String
                do {
                    uid = try await client.get(.persistentVolumeClaims, name: claim, namespace: options.namespace).uid ?? ""
                } catch {
                    throw BridgeFailure(description: "\(pod.name): volume claim \(claim): \(error)")
                }
                let marker = host + "/.claim-uid"
                let known = (try? String(contentsOfFile: marker, encoding: .utf8)) ?? ""
                if known != uid {
                    try? files.removeItem(atPath: host)
                    try files.createDirectory(atPath: host, withIntermediateDirectories: true)
                    try uid.write(toFile: marker, atomically: true, encoding: .utf8)
                }
                result[name] = host
                continue
            }
            let host = "\(directory)/volumes/\(name)"
            result[name] = host
            if !fresh { continue }
            try? files.removeItem(atPath: host)
            try files.createDirectory(atPath: host, withIntermediateDirectories: true)
            if let configMap = volume["configMap"]?["name"]?.stringValue {
                let object = try await client.get(.configMaps, name: configMap, namespace: options.namespace)
                for (key, value) in object.value["data"]?.objectValue ?? Object() {
                    guard let text = value.stringValue else { continue }
                    try translatedFile(key, text, pod: pod).write(toFile: "\(host)/\(key)", atomically: true, encoding: .utf8)
                }
            } else if let secret = volume["secret"]?["secretName"]?.stringValue {
                let object = try await client.get(.secrets, name: secret, namespace: options.namespace)
                for (key, value) in object.value["data"]?.objectValue ?? Object() {
                    guard let data = value.stringValue.flatMap({ Data(base64Encoded: $0) }) else { continue }
                    try data.write(to: URL(fileURLWithPath: "\(host)/\(key)"))
                }
            }
        }
        return result
    }

    /// zoo.cfg* files translated for this machine; other files as they are.
    func translatedFile(_ name: String, _ text: String, pod: PodView) -> String {
        guard name.hasPrefix("zoo.cfg"), let container = PodView.memberContainer(pod.spec) else { return text }
        // Paths inside zoo.cfg are the member container's: map them through its mounts.
        let volumes = Dictionary(uniqueKeysWithValues: (pod.spec["volumes"]?.arrayValue ?? []).compactMap { volume -> (String, String)? in
            guard let name = volume["name"]?.stringValue else { return nil }
            if let claim = volume["persistentVolumeClaim"]?["claimName"]?.stringValue { return (name, "\(stateDirectory)/volumes/\(claim)") }
            return (name, "\(podDirectory(pod))/volumes/\(name)")
        })
        let mounts = Mounts(container: container, volumes: volumes)
        return KubeletBridge.translate(zooCfg: text, address: { "\(block).\($0)" }, hostPath: mounts.host)
    }

    /// A zoo.cfg for members sharing this machine: `server.N` on `address(N)` with its client
    /// port bound there, `quorumListenOnAllIPs=false`, container paths mapped by `hostPath`,
    /// no `metricsProvider.*`. Comments and unknown lines stay as they are.
    static func translate(zooCfg text: String, address: (Int) -> String, hostPath: (String) -> String?) -> String {
        var clientPort = "2181"
        for line in text.split(separator: "\n") where line.hasPrefix("clientPort=") { clientPort = String(line.dropFirst("clientPort=".count)) }
        var out: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else {
                out.append(String(line))
                continue
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("metricsProvider.") { continue }
            if key == "quorumListenOnAllIPs" {
                out.append("quorumListenOnAllIPs=false")
            } else if key.hasPrefix("server."), let id = Int(key.dropFirst("server.".count)) {
                let host = address(id)
                let halves = value.split(separator: ";", maxSplits: 1).map(String.init)
                var peer = halves[0].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                peer[0] = host
                let client = halves.count > 1 ? halves[1] : clientPort
                let port = client.split(separator: ":").last.map(String.init) ?? clientPort
                out.append("\(key)=\(peer.joined(separator: ":"));\(host):\(port)")
            } else if value.hasPrefix("/"), let mapped = hostPath(value) {
                out.append("\(key)=\(mapped)")
            } else {
                out.append(String(line))
            }
        }
        return out.joined(separator: "\n")
    }

    /// The init container's command with the real `ensemble-probe`, paths mapped through its
    /// mounts, its environment resolved. Fails (the pod does not start) on a non-zero exit.
    func runInitContainer(_ container: Value, pod: PodView, volumes: [String: String]) async throws {
        let mounts = Mounts(container: container, volumes: volumes)
        var command = (container["command"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard !command.isEmpty else { return }
        command[0] = command[0].hasSuffix("/ensemble-probe") ? probeBinary : command[0]
        let arguments = command.dropFirst().map { argument in argument.hasPrefix("/") ? mounts.host(argument) ?? argument : argument }
        var environment = try await resolveEnvironment(container, pod: pod)
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let name = container["name"]?.stringValue ?? "init"
        let result = try await runProcessInBackground(command[0], Array(arguments), environment: environment, timeout: 60)
        guard result.status == 0 else {
            throw BridgeFailure(description: "\(pod.name): init container \(name) exited \(result.status): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// A container's environment as kubelet gives it: values, and references to the pod's own
    /// fields, Secrets and ConfigMaps. A missing required reference fails the start.
    func resolveEnvironment(_ container: Value, pod: PodView) async throws -> [String: String] {
        var environment: [String: String] = [:]
        for variable in container["env"]?.arrayValue ?? [] {
            guard let name = variable["name"]?.stringValue else { continue }
            if let value = variable["value"]?.stringValue {
                environment[name] = value
                continue
            }
            guard let source = variable["valueFrom"] else { continue }
            if let path = source["fieldRef"]?["fieldPath"]?.stringValue {
                environment[name] = fieldValue(path, pod: pod)
            } else if let reference = source["secretKeyRef"] ?? source["configMapKeyRef"], let object = reference["name"]?.stringValue,
                      let key = reference["key"]?.stringValue {
                let isSecret = source["secretKeyRef"] != nil
                do {
                    let found = try await client.get(isSecret ? .secrets : .configMaps, name: object, namespace: options.namespace)
                    guard let raw = found.value["data"]?[key]?.stringValue else {
                        throw BridgeFailure(description: "key \(key) is missing")
                    }
                    if isSecret {
                        guard let data = Data(base64Encoded: raw) else { throw BridgeFailure(description: "key \(key) is not base64") }
                        environment[name] = String(decoding: data, as: UTF8.self)
                    } else {
                        environment[name] = raw
                    }
                } catch {
                    if reference["optional"]?.boolValue == true { continue }
                    throw BridgeFailure(description: "\(pod.name): env \(name) from \(isSecret ? "Secret" : "ConfigMap") \(object): \(error)")
                }
            }
        }
        return environment
    }

    func fieldValue(_ path: String, pod: PodView) -> String? {
        switch path {
        case "metadata.name": return pod.name
        case "metadata.namespace": return options.namespace
        case "metadata.uid": return pod.uid
        case "status.podIP", "status.hostIP": return address(ordinal: pod.ordinal)
        default:
            for (prefix, map) in [("metadata.labels['", pod.labels), ("metadata.annotations['", pod.annotations)] where path.hasPrefix(prefix) && path.hasSuffix("']") {
                return map[String(path.dropFirst(prefix.count).dropLast(2))]
            }
            return nil
        }
    }

    /// One run of the readiness probe's command; true when it exits 0.
    func runReadinessProbe(_ pod: PodView) async -> Bool {
        guard let probe = pod.readiness, !probe.command.isEmpty, let container = PodView.memberContainer(pod.spec) else { return false }
        let volumes = Dictionary(uniqueKeysWithValues: (pod.spec["volumes"]?.arrayValue ?? []).compactMap { volume -> (String, String)? in
            volume["name"]?.stringValue.map { ($0, "\(podDirectory(pod))/volumes/\($0)") }
        })
        let mounts = Mounts(container: container, volumes: volumes)
        guard let binary = mounts.host(probe.command[0]) else { return false }
        do {
            let result = try await runProcessInBackground(binary, Array(probe.command.dropFirst()) + ["--host", address(ordinal: pod.ordinal)],
                                                          timeout: Double(probe.timeout) + 1)
            return result.status == 0
        } catch {
            return false
        }
    }
}
