import EnsembleCore
import Foundation
import LocalEnsemble
import NetCore
import Testing
import ZKConfig
import ZooKeeperTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Every rendered example's pod, run the way kubelet runs it: each pod in a network namespace
/// of its own (a pod is one), its processes under the pod's user and group, the init
/// container's command and every probe's argv taken from the rendered StatefulSet with the
/// container's environment, against servers bound the way the official images bind them.
///
/// What the official images do that the rendering relies on (docker-library/cassandra,
/// 31z4/zookeeper-docker 3.9.4), checked against the rendered pods where a manifest can show it:
/// - zookeeper: user and group `zookeeper`, uid = gid = 1000; `zkServer.sh` on PATH (the
///   release's bin directory); zkEnv.sh reads zoo.cfg and logback.xml from `$ZOOCFGDIR` and
///   logs under `$ZOO_LOG_DIR`; the binary release ships `lib/zookeeper-prometheus-metrics-*.jar`.
///   Its entrypoint writes zoo.cfg when missing and `myid` = `$ZOO_MY_ID` or 1 when missing,
///   so the rendered container replaces the entrypoint (command `zkServer.sh start-foreground`)
///   and the init container writes myid and stages zoo.cfg. The server binds its client port
///   on 0.0.0.0 (no clientPortAddress) and, with quorumListenOnAllIPs, its peer ports too.
/// - cassandra: user and group `cassandra`, uid = gid = 999; its entrypoint (kept: the
///   container sets no command) rewrites /etc/cassandra/cassandra.yaml in place through a
///   temporary file in /tmp (so the root filesystem stays writable and /tmp is mounted), sets
///   listen_address and broadcast_address to the first non-loopback address of the pod and
///   rpc_address to 0.0.0.0, and takes seeds, cluster name, snitch, tokens, DC and rack from
///   the CASSANDRA_* variables; `nodetool` is on PATH (for preStop); data lives in /var/lib/cassandra.
///
/// What cannot run here, and what stands in: the images themselves (no registry): ZooKeeper is
/// Debian's 3.8 package started with the rendered zoo.cfg and JVMFLAGS (its zkEnv.sh ignores
/// ZOOCFGDIR, so java is started directly), with three substitutions: the server list (pods'
/// DNS names) becomes three members on 127.0.0.1-3 (the pod under test first, its peers on
/// other ports), paths of the pod's mounts become the test's directories, and the metrics
/// provider lines go (Debian lacks the jar). Cassandra is scripts/cassandra_double.py, its
/// storage port on 127.0.0.2 standing in for the pod IP and CQL on 0.0.0.0. The pod's mounts
/// are directories of the test (emptyDirs 0777, the data volume group-owned by fsGroup).
@Suite(.serialized, .timeLimit(.minutes(5))) struct RenderedPodTests {
    static let podIP = "127.0.0.2"

    @Test func zooKeeperPodsPassEveryRenderedProbe() async throws {
        try requireRoot()
        let installation = try ZooKeeperInstallation.locate()
        let pod = try PodSandbox(name: "zk")
        defer { pod.tearDown() }
        let zk3 = try Self.ensembles("zookeeper-3.yaml")[0]
        let everyField = try Self.ensembles("every-field.yaml")[0]

        // The official images' user, and the ports the rendered probes use.
        for ensemble in [zk3, everyField] {
            let spec = try Self.podSpec(ensemble)
            #expect(spec.at("securityContext.runAsUser") == .int(ensemble.spec.securityContext.runAsUser ?? 1000))
            #expect(spec.at("containers[0].command") == ["zkServer.sh", "start-foreground"], "replaces the entrypoint that writes myid 1")
        }
        #expect(try Self.podSpec(zk3).at("securityContext.runAsUser") == 1000)

        let peers = try pod.startPeers(installation: installation)
        defer { peers.forEach { $0.stop() } }

        var member: BackgroundProcess? = nil
        defer { member?.stop() }
        for (round, ensemble) in [zk3, everyField].enumerated() {
            member?.stop()
            member = try pod.startMember(ensemble, installation: installation, fresh: round == 0)
            let container = try #require(try Self.podSpec(ensemble).at("containers[0]"))
            let readiness = try #require(Self.strings(container.at("readinessProbe.exec.command")))
            let ready = try await eventually(within: 90) { try pod.runProbe(readiness, container: container, ensemble: ensemble).status == 0 }
            #expect(ready, "\(ensemble.metadata.name): readiness never passed; member log:\n\(member?.logTail() ?? "")")
            // Every probe of every ZooKeeper example that shares this configuration.
            let sameConfig = round == 0 ? try Self.ensembles("zookeeper-3.yaml") + Self.ensembles("zookeeper-5.yaml") : [everyField]
            for example in sameConfig {
                let exampleContainer = try #require(try Self.podSpec(example).at("containers[0]"))
                for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                    let argv = try #require(Self.strings(exampleContainer.at("\(probe).exec.command")))
                    let result = try pod.runProbe(argv, container: exampleContainer, ensemble: example)
                    #expect(result.status == 0, "\(example.metadata.name) \(probe) \(argv): \(result.stderr)")
                }
            }
        }
    }

    @Test func cassandraPodsPassEveryRenderedProbeOnThePodsAddress() throws {
        try requireRoot()
        let pod = try PodSandbox(name: "cas")
        defer { pod.tearDown() }
        let double = try pod.netns.start(["python3", repoRoot.appendingPathComponent("scripts/cassandra_double.py").path,
                                          "--storage", "\(Self.podIP):7000", "--cql", "0.0.0.0:9042"], log: pod.root.appendingPathComponent("double.log"))
        defer { double.stop() }
        try #require(try double.waitForOutput("ready", within: 20), "the Cassandra double did not start: \(double.logTail())")

        let rings = try Self.ensembles("cassandra-3.yaml") + [Self.ensembles("every-field.yaml")[1]]
        for ensemble in rings {
            let spec = try Self.podSpec(ensemble)
            #expect(spec.at("securityContext.runAsUser") == 999, "the image's cassandra user")
            #expect(spec.at("containers[0].command") == nil, "the image's entrypoint must run: it writes cassandra.yaml")
            #expect(spec.at("containers[0].securityContext.readOnlyRootFilesystem") == false, "the entrypoint edits /etc/cassandra")
            #expect(spec.at("containers[0].volumeMounts")?.arrayValue?.contains { $0["mountPath"] == "/tmp" } == true, "its sed-in-place uses mktemp")
            try pod.runInstall(ensemble)
            let container = try #require(spec.at("containers[0]"))
            for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                let argv = try #require(Self.strings(container.at("\(probe).exec.command")))
                let result = try pod.runProbe(argv, container: container, ensemble: ensemble)
                #expect(result.status == 0, "\(ensemble.metadata.name) \(probe) \(argv): \(result.stderr)")
            }
            // The storage port is not on 127.0.0.1: a probe there (what was rendered before
            // --host-env) fails, so the check above is not vacuous.
            let loopback = try pod.runProbe(["/probe/ensemble-probe", "tcp-live", "--port", "7000", "--timeout", "2"], container: container, ensemble: ensemble)
            #expect(loopback.status == 1, "\(loopback.stderr)")
        }

        // preStop: the user's commands first, nodetool drain after them even when they fail.
        var withHook = rings[0]
        withHook.spec.pod.preStop = [["sh", "-c", "echo user >> \(pod.root.path)/prestop.log; exit 3"]]
        let container = try #require(try Self.podSpec(withHook).at("containers[0]"))
        let preStop = try #require(Self.strings(container.at("lifecycle.preStop.exec.command")))
        let bin = pod.root.appendingPathComponent("image-bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let nodetool = bin.appendingPathComponent("nodetool")
        try "#!/bin/sh\necho \"nodetool $*\" >> \(pod.root.path)/prestop.log\n".write(to: nodetool, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: nodetool.path)
        try pod.makeWritable(pod.root.path)
        let hook = try pod.runProbe(preStop, container: container, ensemble: withHook, extraPath: bin.path)
        #expect(hook.status == 0, "\(hook.stderr)")
        #expect(try String(contentsOf: pod.root.appendingPathComponent("prestop.log"), encoding: .utf8) == "user\nnodetool drain\n")
    }

    // MARK: Helpers

    static func strings(_ value: Value?) -> [String]? {
        value?.arrayValue?.compactMap { $0.stringValue }
    }

    static func ensembles(_ file: String) throws -> [Ensemble] {
        try ManifestLoader.loadEnsembles(yaml: String(contentsOf: repoRoot.appendingPathComponent("examples/\(file)"), encoding: .utf8), source: file)
    }

    static func statefulSet(_ ensemble: Ensemble) throws -> Value {
        try #require(Rendering.render(ensemble).first { $0["kind"] == "StatefulSet" })
    }

    static func podSpec(_ ensemble: Ensemble) throws -> Value {
        try #require(try statefulSet(ensemble).lookup("spec.template.spec"))
    }

    func requireRoot() throws {
        try #require(getuid() == 0, "needs root for network namespaces (ip netns) and the pod's user (setpriv); CI runs as root")
    }

    func eventually(within seconds: Double, _ check: () throws -> Bool) async throws -> Bool {
        let deadline = Deadline.after(seconds: seconds)
        while !deadline.hasPassed {
            if try check() { return true }
            try await Task.sleep(for: .milliseconds(500))  // polling interval; the deadline bounds the wait
        }
        return try check()
    }
}

/// A pod's network namespace and volumes, owned by one test.
final class PodSandbox {
    let netns: NetworkNamespace
    let root: URL
    private var ensembleVolumes: [String: URL] = [:]

    init(name: String) throws {
        root = try temporaryDirectory("pod-\(name)")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.path)
        netns = try NetworkNamespace(prefix: name)
    }

    func tearDown() {
        netns.delete()
        try? FileManager.default.removeItem(at: root)
    }

    /// The test's directory for a pod volume: emptyDirs world-writable as kubelet makes them,
    /// the data volume owned by the pod's fsGroup, ConfigMaps holding the rendered files.
    func volume(_ name: String, ensemble: Ensemble) throws -> URL {
        let dir = root.appendingPathComponent("volume-\(name)")
        if !FileManager.default.fileExists(atPath: dir.path) {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let spec = try RenderedPodTests.podSpec(ensemble)
            if name == "data" {
                let group = spec.at("securityContext.fsGroup")?.intValue ?? 0
                guard chown(dir.path, 0, gid_t(group)) == 0 else { throw POSIXError(.EPERM) }
                try FileManager.default.setAttributes([.posixPermissions: 0o2775], ofItemAtPath: dir.path)
            } else {
                try makeWritable(dir.path)
            }
        }
        return dir
    }

    func makeWritable(_ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: path)
    }

    /// Writes the rendered ConfigMap's files where kubelet would project them.
    func projectConfigMap(_ ensemble: Ensemble) throws {
        guard let configMap = Rendering.render(ensemble).first(where: { $0["kind"] == "ConfigMap" }) else { return }
        let dir = try volume("config-source", ensemble: ensemble)
        for (file, content) in configMap["data"]?.objectValue ?? Object() {
            try (content.stringValue ?? "").write(to: dir.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
    }

    /// A container path as seen from outside the pod: under the mount with the longest
    /// matching mountPath, else unchanged.
    func outside(_ path: String, mounts: [Value], ensemble: Ensemble) throws -> String {
        var best: (mountPath: String, directory: String)?
        for mount in mounts {
            guard let mountPath = mount["mountPath"]?.stringValue, let name = mount["name"]?.stringValue,
                  path == mountPath || path.hasPrefix(mountPath + "/"), mountPath.count > (best?.mountPath.count ?? -1) else { continue }
            var directory = try volume(name, ensemble: ensemble).path
            if let sub = mount["subPath"]?.stringValue { directory += "/" + sub }
            best = (mountPath, directory)
        }
        guard let best else { return path }
        return best.directory + path.dropFirst(best.mountPath.count)
    }

    /// An argument with its container paths mapped: "/x" and "-Dkey=/x".
    func mapArgument(_ argument: String, mounts: [Value], ensemble: Ensemble) throws -> String {
        if argument.hasPrefix("/") { return try outside(argument, mounts: mounts, ensemble: ensemble) }
        if argument.hasPrefix("-D"), let eq = argument.firstIndex(of: "="), argument[argument.index(after: eq)...].hasPrefix("/") {
            return String(argument[...eq]) + (try outside(String(argument[argument.index(after: eq)...]), mounts: mounts, ensemble: ensemble))
        }
        return argument
    }

    /// The container's environment as kubelet fills it in for ordinal 0.
    func environment(_ container: Value, extraPath: String? = nil) -> [String: String] {
        var env = ["PATH": (extraPath.map { $0 + ":" } ?? "") + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        for variable in container["env"]?.arrayValue ?? [] {
            guard let name = variable["name"]?.stringValue else { continue }
            if let value = variable["value"]?.stringValue {
                env[name] = value
            } else if let field = variable.lookup("valueFrom.fieldRef.fieldPath")?.stringValue {
                env[name] = field == "status.podIP" ? RenderedPodTests.podIP : field.contains("pod-index") ? "0" : "unknown-field"
            } else {
                env[name] = "value-from-a-secret-or-configmap"
            }
        }
        return env
    }

    func user(_ ensemble: Ensemble) throws -> (uid: Int, gid: Int, fsGroup: Int) {
        let spec = try RenderedPodTests.podSpec(ensemble)
        return (spec.at("securityContext.runAsUser")?.intValue ?? 0, spec.at("securityContext.runAsGroup")?.intValue ?? 0,
                spec.at("securityContext.fsGroup")?.intValue ?? 0)
    }

    /// The init container, as rendered: the probe binary comes from the operator image.
    func runInstall(_ ensemble: Ensemble) throws {
        try projectConfigMap(ensemble)
        let install = try #require(try RenderedPodTests.podSpec(ensemble).at("initContainers[0]"))
        let mounts = install["volumeMounts"]?.arrayValue ?? []
        var argv = try (install["command"]?.arrayValue ?? []).compactMap(\.stringValue).map { try mapArgument($0, mounts: mounts, ensemble: ensemble) }
        #expect(argv.first == ProbeInstall.sourceBinary)
        argv[0] = try builtProduct("ensemble-probe")
        let result = try netns.run(argv, as: try user(ensemble), environment: environment(install))
        try #require(result.status == 0, "install: \(result.stderr)")
    }

    /// A probe or hook argv of the member container, exactly as rendered but for mount paths.
    func runProbe(_ argv: [String], container: Value, ensemble: Ensemble, extraPath: String? = nil) throws -> ProcessResult {
        let mounts = container["volumeMounts"]?.arrayValue ?? []
        let mapped = try argv.map { try mapArgument($0, mounts: mounts, ensemble: ensemble) }
        return try netns.run(mapped, as: try user(ensemble), environment: environment(container, extraPath: extraPath))
    }

    /// The server list of the test ensemble: the pod under test on 127.0.0.1 with the
    /// rendered ports (client port on every address), its peers on other ports and addresses.
    static let members = [
        ZooKeeperMember(id: 1, host: "127.0.0.1"),
        ZooKeeperMember(id: 2, host: "127.0.0.2", quorumPort: 2889, electionPort: 3889, clientPort: 2182, clientAddress: "127.0.0.2"),
        ZooKeeperMember(id: 3, host: "127.0.0.3", quorumPort: 2890, electionPort: 3890, clientPort: 2183, clientAddress: "127.0.0.3"),
    ]

    func startPeers(installation: ZooKeeperInstallation) throws -> [BackgroundProcess] {
        try Self.members.dropFirst().map { member in
            let dir = root.appendingPathComponent("peer-\(member.id)")
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
            var settings = ZooKeeperSettings()
            settings.dataDir = dir.appendingPathComponent("data").path
            settings.dataLogDir = dir.appendingPathComponent("data").path
            settings.clientPort = member.clientPort
            settings.quorumListenOnAllIPs = false
            try ZooCfg.render(settings: settings, members: Self.members).write(to: dir.appendingPathComponent("zoo.cfg"), atomically: true, encoding: .utf8)
            try ZooCfg.myid(ordinal: member.id - 1).write(to: dir.appendingPathComponent("data/myid"), atomically: true, encoding: .utf8)
            return try netns.start([installation.java, "-Xmx128m", "-Dzookeeper.log.dir=\(dir.path)"] + installation.jvmOptions
                                   + ["-cp", installation.classpath.joined(separator: ":"), ZooKeeperInstallation.mainClass, dir.appendingPathComponent("zoo.cfg").path],
                                   log: dir.appendingPathComponent("out.log"))
        }
    }

    /// The member container: init container first, then java with the staged zoo.cfg (server
    /// list, mount paths and the metrics provider substituted, see the suite's comment) and
    /// the container's JVMFLAGS, as the pod's user.
    func startMember(_ ensemble: Ensemble, installation: ZooKeeperInstallation, fresh: Bool) throws -> BackgroundProcess {
        try runInstall(ensemble)
        let spec = try RenderedPodTests.podSpec(ensemble)
        let container = try #require(spec.at("containers[0]"))
        let mounts = container["volumeMounts"]?.arrayValue ?? []
        let env = environment(container)
        let confDir = try outside(try #require(env["ZOOCFGDIR"]), mounts: mounts, ensemble: ensemble)
        let staged = try String(contentsOfFile: confDir + "/zoo.cfg", encoding: .utf8)
        let myid = try String(contentsOfFile: try outside(ZooKeeperLayout.dataDir + "/myid", mounts: mounts, ensemble: ensemble), encoding: .utf8)
        #expect(myid == "1\n", "install writes myid = ordinal + 1")
        var lines: [String] = []
        var dynamicFile: String?
        for line in staged.split(separator: "\n").map(String.init) {
            if line.hasPrefix("server.") || line.hasPrefix("metricsProvider.") { continue }
            if line.hasPrefix("dataDir=") || line.hasPrefix("dataLogDir=") || line.hasPrefix("dynamicConfigFile=") {
                let (key, value) = (line.prefix { $0 != "=" }, line.drop { $0 != "=" }.dropFirst())
                // install ran with the mount paths mapped, so it named the dynamic file by its outside path.
                let path = key == "dynamicConfigFile" ? String(value) : try outside(String(value), mounts: mounts, ensemble: ensemble)
                if key == "dynamicConfigFile" { dynamicFile = path }
                lines.append("\(key)=\(path)")
                continue
            }
            lines.append(line)
        }
        #expect(staged.contains("clientPort=2181") && !staged.contains("clientPortAddress"), "the client port listens on every address")
        // The membership install staged (the rendered one: this pod and its peers by their DNS
        // names, version 0 before the ensemble formed), with the test's addresses put in.
        let dynamic = try #require(dynamicFile, "install names the staged membership in zoo.cfg")
        #expect(dynamic.hasSuffix("/zoo.cfg.dynamic.0"))
        let stagedServers = try DynamicConfig.parse(String(contentsOfFile: dynamic, encoding: .utf8))
        #expect(stagedServers.servers.map(\.id) == Array(1...ensemble.spec.replicas))
        #expect(stagedServers.server(ordinal: 0)?.value.hasPrefix("\(ensemble.metadata.name)-0.\(ensemble.metadata.name)-hs.") == true)
        try StagedMembership.dynamicFileText(Self.members.map { .init(id: $0.id, role: .participant, value: $0.serverValue) })
            .write(toFile: dynamic, atomically: true, encoding: .utf8)
        let config = confDir + "/zoo.cfg"
        try (lines.joined(separator: "\n") + "\n").write(toFile: config, atomically: true, encoding: .utf8)
        let jvmFlags = try (env["JVMFLAGS"] ?? "").split(separator: " ").map { try mapArgument(String($0), mounts: mounts, ensemble: ensemble) }
        return try netns.start([installation.java] + jvmFlags + installation.jvmOptions
                               + ["-cp", installation.classpath.joined(separator: ":"), ZooKeeperInstallation.mainClass, config],
                               as: try user(ensemble), environment: env, log: root.appendingPathComponent("member-\(ensemble.metadata.name).log"))
    }
}

/// A network namespace of the test's own, with only its loopback up: servers may bind
/// 0.0.0.0:2181 or 127.0.0.2:7000 without meeting other tests' servers.
final class NetworkNamespace {
    let name: String

    init(prefix: String) throws {
        Self.removeStale()
        name = "enstest-\(getpid())-\(prefix)"
        _ = try runProcess(Self.ip, ["netns", "delete", name])
        let added = try runProcess(Self.ip, ["netns", "add", name])
        try #require(added.status == 0, "ip netns add: \(added.stderr)")
        let up = try runProcess(Self.ip, ["-n", name, "link", "set", "lo", "up"])
        try #require(up.status == 0, "ip link set lo up: \(up.stderr)")
    }

    static var ip: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip" }

    /// Namespaces left by test processes that died.
    static func removeStale() {
        guard let list = try? runProcess(ip, ["netns", "list"]) else { return }
        for line in list.stdout.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard parts.count >= 3, parts[0] == "enstest", let pid = pid_t(parts[1]), kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? runProcess(ip, ["netns", "delete", name])
        }
    }

    func delete() {
        _ = try? runProcess(Self.ip, ["netns", "delete", name])
    }

    func command(_ argv: [String], as user: (uid: Int, gid: Int, fsGroup: Int)?) -> [String] {
        var result = ["netns", "exec", name]
        if let user {
            result += ["/usr/bin/setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--groups=\(user.fsGroup)", "--"]
        }
        return result + argv
    }

    func run(_ argv: [String], as user: (uid: Int, gid: Int, fsGroup: Int)? = nil, environment: [String: String]) throws -> ProcessResult {
        try runProcess(Self.ip, command(argv, as: user), environment: environment, timeout: 60)
    }

    func start(_ argv: [String], as user: (uid: Int, gid: Int, fsGroup: Int)? = nil, environment: [String: String]? = nil, log: URL) throws -> BackgroundProcess {
        try BackgroundProcess(Self.ip, command(argv, as: user), environment: environment, log: log)
    }
}

/// A server for the length of a test; `stop()` ends it (SIGTERM, then SIGKILL).
final class BackgroundProcess {
    let process = Process()
    let log: URL

    init(_ executable: String, _ arguments: [String], environment: [String: String]?, log: URL) throws {
        self.log = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Deadline.after(seconds: 10)
        while process.isRunning && !deadline.hasPassed { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func logTail() -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n").suffix(30).joined(separator: "\n")
    }

    func waitForOutput(_ marker: String, within seconds: Double) throws -> Bool {
        let deadline = Deadline.after(seconds: seconds)
        while !deadline.hasPassed {
            if try String(contentsOf: log, encoding: .utf8).contains(marker) { return true }
            if !process.isRunning { return false }
            usleep(50_000)  // polling interval; the deadline bounds the wait
        }
        return false
    }
}
