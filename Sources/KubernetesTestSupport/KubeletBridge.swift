import EnsembleCore
import Foundation
import KubernetesClient
import LocalEnsemble
import Synchronization
import ZooKeeperTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A stand-in kubelet for the fake API server: it backs the member pods of one ZooKeeper
/// Ensemble with real ZooKeeper servers on a private loopback block, so the operator's `srvr`
/// checks and reconfigs (through `--member-address-template`, see `memberAddressTemplate`)
/// reach real members, and what the operator does to pods happens to real processes.
///
///     try await withKubeletBridge(fake: fake, ensemble: "zk") { bridge in
///         let op = try await OperatorProcess.start(..., arguments: bridge.operatorMemberArguments)
///         ...
///         bridge.events            // what happened to which pod, in order
///         bridge.endpoints()       // host and client port of every member, for clients
///     }
///
/// `withKubeletBridge` switches the fake to graceful pod deletion (POST /fake/pods/graceful)
/// and stops every process it started when the body returns or throws; a test process that
/// crashes leaves its members to `TestAddressBlocks`' clean-up (everything lives under a
/// directory from `TestAddressBlocks.makeStateDirectory`).
///
/// What it does, as a kubelet on one node would, polling the pods of the Ensemble (label
/// `app.kubernetes.io/instance`) every `Options.pollInterval`:
/// - A new pod (a uid it has not run) starts once the process of the pod before it under the
///   same name has stopped. Volumes become directories: a claim's is kept across pods (and
///   emptied when the claim is replaced by a new one), an emptyDir's is new for every pod, a
///   ConfigMap's holds the ConfigMap's files with every zoo.cfg* translated to this machine
///   (`server.N` hosts become 127.X.Y.N with the client port bound there, `quorumListenOnAllIPs`
///   false since members share the machine, paths mapped through the container's mounts,
///   `metricsProvider.*` dropped: Debian's package lacks the provider).
/// - The init container runs first: its command, with the real `ensemble-probe` built next
///   to the tests for the operator image's binary and paths mapped through its mounts, with
///   its environment resolved (fieldRef labels, values). A failing init container keeps the
///   pod from starting; it is retried with kubelet's back-off.
/// - The member container must run `zkServer.sh start-foreground` (as rendered): it runs what
///   that script runs, `java ... -cp <ZOOCFGDIR>:<jars> $SERVER_JVMFLAGS $JVMFLAGS
///   QuorumPeerMain <ZOOCFGDIR>/zoo.cfg`, with the environment resolved (values with `$(VAR)`
///   expanded, secretKeyRef, configMapKeyRef, fieldRef), except that `-Xms`/`-Xmx` are replaced by `Options.heap`
///   (many members share a small machine). Its output goes to `<pod dir>/zookeeper.log`.
/// - Readiness: the readinessProbe's exec command, run as kubelet runs it (initialDelaySeconds,
///   periodSeconds, successThreshold, failureThreshold; the binary is the one the init container
///   installed), with `--host <member address>` added (a pod's 127.0.0.1 is the member's
///   address here); the pod's Ready condition is set through the fake when the verdict changes.
/// - A pod marked for deletion: SIGTERM, up to its deletionGracePeriodSeconds, then SIGKILL;
///   then the pod is deleted with gracePeriodSeconds 0 (the StatefulSet then recreates it).
/// - A process that exits by itself is started again after kubelet's back-off (10 s doubling
///   to 300 s; `Options.crashBackOff` sets the first step).
/// What it does not: sidecars, lifecycle hooks, liveness and startup probes, resources and
/// security contexts, images (every member runs the Debian package's ZooKeeper), Cassandra.
public final class KubeletBridge: Sendable {
    public struct Options: Sendable {
        public var namespace: String
        /// Seconds between two looks at the pods (and at the processes).
        public var pollInterval: Double
        /// The first crash-loop back-off step, in seconds (kubelet: 10).
        public var crashBackOff: Double
        /// Replaces the pod's -Xms/-Xmx.
        public var heap: [String]

        public init(namespace: String = "default", pollInterval: Double = 0.1, crashBackOff: Double = 10,
                    heap: [String] = ["-Xms32m", "-Xmx256m", "-XX:+UseSerialGC"]) {
            self.namespace = namespace
            self.pollInterval = pollInterval
            self.crashBackOff = crashBackOff
            self.heap = heap
        }
    }

    /// Something that happened to a pod, in the order it happened.
    public struct Event: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// Its member process started (`revision` is the pod's controller-revision-hash).
            case started
            /// Marked for deletion; its process is being stopped.
            case deleting
            /// Its process was stopped because the pod was deleted (SIGTERM; `killed` after the
            /// grace period).
            case stopped(killed: Bool)
            /// Its process exited on its own with this status.
            case exited(Int32)
            /// The init container or the start failed.
            case failed(String)
            case ready
            case unready
        }

        /// Seconds since the bridge started.
        public var at: Double
        public var pod: String
        public var ordinal: Int
        public var uid: String
        public var revision: String
        public var kind: Kind

        public var description: String {
            String(format: "%7.2fs ", at) + "\(pod) (\(revision.suffix(10)), uid \(uid.prefix(8))): \(kind)"
        }
    }

    public let fake: FakeAPIServer
    public let ensemble: String
    public let options: Options
    /// "127.X.Y": member with ordinal N listens on 127.X.Y.(N+1).
    public let block: String
    /// Everything the members keep: volumes, pod directories, logs.
    public let stateDirectory: String
    let client: KubernetesClient
    let installation: ZooKeeperInstallation
    let probeBinary: String
    let origin = Date()
    private let state = Mutex(BridgeState())

    /// The operator's `--member-address-template` for these members.
    public var memberAddressTemplate: String { "\(block).{id}:2181" }
    /// The operator's `--member-server-template` for these members: what it stages and adds
    /// with reconfigs must be what members here reach each other at (as `translate` makes
    /// the ConfigMap's `server.N` lines), not the cluster DNS names.
    public var memberServerTemplate: String { "\(block).{id}:2888:3888:participant;\(block).{id}:2181" }
    /// Both templates as the operator's arguments: an operator managing these members needs
    /// both (a member a hand-off took out restarts from the staged join template).
    public var operatorMemberArguments: [String] {
        ["--member-address-template", memberAddressTemplate, "--member-server-template", memberServerTemplate]
    }
    public func address(ordinal: Int) -> String { "\(block).\(ordinal + 1)" }

    /// What happened so far.
    public var events: [Event] { state.withLock { $0.events } }

    /// Host and client port of every member whose process runs now, by ordinal.
    public func endpoints() -> [(ordinal: Int, host: String, port: Int)] {
        state.withLock { state in state.slots.filter { $0.value.process != nil }.keys.sorted() }
            .map { (ordinal: $0, host: address(ordinal: $0), port: 2181) }
    }

    /// The revision each running member's pod was started at, by ordinal.
    public func runningRevisions() -> [Int: String] {
        state.withLock { state in state.slots.compactMapValues { $0.process != nil ? $0.pod?.revision : nil } }
    }

    init(fake: FakeAPIServer, ensemble: String, options: Options) throws {
        self.fake = fake
        self.ensemble = ensemble
        self.options = options
        block = TestAddressBlocks.next()
        stateDirectory = try TestAddressBlocks.makeStateDirectory()
        client = try fake.client(namespace: options.namespace)
        installation = try ZooKeeperInstallation.locate()
        probeBinary = try builtProduct("ensemble-probe")
    }

    /// Seconds since the bridge started: the clock of `events`.
    public var now: Double { Date().timeIntervalSince(origin) }

    func record(_ pod: PodView, _ kind: Event.Kind) {
        let event = Event(at: now, pod: pod.name, ordinal: pod.ordinal, uid: pod.uid, revision: pod.revision, kind: kind)
        state.withLock { $0.events.append(event) }
    }

    // MARK: The loop

    /// Looks at the pods until cancelled and acts on them; every start, stop and probe runs
    /// as a child task (its blocking work on a thread of its own) so one slow member never
    /// holds up another.
    func run() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                do {
                    let pods = try await client.list(.pods, namespace: options.namespace, options: ListOptions(
                        labelSelector: LabelSelector(matching: [instanceLabel: ensemble]))).items.compactMap(PodView.init)
                    for work in plan(pods) {
                        group.addTask { [self] in await perform(work) }
                    }
                } catch {
                    // The fake went away or hiccupped: look again at the next round.
                }
                do { try await Task.sleep(nanoseconds: UInt64(options.pollInterval * 1e9)) } catch { break }
            }
        }
    }

    enum Work: Sendable {
        case start(PodView, restart: Bool)
        case stop(PodView, finish: Bool)
        case finish(PodView)
        case probe(PodView)
        case report(PodView, ready: Bool)
    }

    /// What to do now, marking the slots busy with it.
    func plan(_ pods: [PodView]) -> [Work] {
        let now = self.now
        let backOff = options.crashBackOff
        return state.withLock { state -> [Work] in
            var work: [Work] = []
            let live = Set(pods.map(\.uid))
            // A process whose pod is gone altogether (deleted without grace): stop it.
            for (ordinal, slot) in state.slots where !slot.busy && slot.process != nil && !live.contains(slot.uid) {
                state.slots[ordinal]!.busy = true
                work.append(.stop(slot.pod!, finish: false))
            }
            for pod in pods {
                var slot = state.slots[pod.ordinal] ?? Slot()
                defer { state.slots[pod.ordinal] = slot }
                if slot.busy { continue }
                if pod.deleting {
                    if slot.uid == pod.uid && slot.process != nil {
                        slot.busy = true
                        work.append(.stop(pod, finish: true))
                    } else if !state.finished.contains(pod.uid) {
                        // Nothing runs for it (never started, or between two crash-loop starts).
                        state.finished.insert(pod.uid)
                        state.events.append(Event(at: now, pod: pod.name, ordinal: pod.ordinal, uid: pod.uid, revision: pod.revision, kind: .deleting))
                        work.append(.finish(pod))
                    }
                    continue
                }
                if slot.uid != pod.uid {
                    guard slot.process == nil else { continue }
                    slot = Slot()
                    slot.uid = pod.uid
                }
                slot.pod = pod
                if let process = slot.process {
                    if !process.isRunning {
                        // The container exited: kubelet starts it again after a back-off.
                        slot.process = nil
                        slot.crashes += 1
                        slot.retryAt = now + min(300, backOff * pow(2, Double(slot.crashes - 1)))
                        slot.probe = ProbeState()
                        state.events.append(Event(at: now, pod: pod.name, ordinal: pod.ordinal, uid: pod.uid, revision: pod.revision,
                                                  kind: .exited(process.status)))
                        if slot.reportedReady != false {
                            slot.reportedReady = false
                            work.append(.report(pod, ready: false))
                        }
                    } else if !slot.probe.running, let probe = pod.readiness,
                              now >= max(slot.processStartedAt + Double(probe.initialDelay), slot.probe.next) {
                        slot.probe.running = true
                        slot.probe.next = now + Double(probe.period)
                        work.append(.probe(pod))
                    }
                } else if now >= slot.retryAt {
                    slot.busy = true
                    work.append(.start(pod, restart: slot.started))
                }
            }
            return work
        }
    }

    func perform(_ work: Work) async {
        switch work {
        case .start(let pod, let restart):
            do {
                let process = try await launch(pod, restart: restart)
                let at = now
                state.withLock { state in
                    state.slots[pod.ordinal]?.process = process
                    state.slots[pod.ordinal]?.started = true
                    state.slots[pod.ordinal]?.processStartedAt = at
                    state.slots[pod.ordinal]?.busy = false
                }
                record(pod, .started)
            } catch {
                let at = now
                state.withLock { state in
                    guard var slot = state.slots[pod.ordinal] else { return }
                    slot.crashes += 1
                    slot.retryAt = at + min(300, options.crashBackOff * pow(2, Double(slot.crashes - 1)))
                    slot.busy = false
                    state.slots[pod.ordinal] = slot
                }
                record(pod, .failed("\(error)"))
            }
        case .stop(let pod, let finish):
            let process = state.withLock { $0.slots[pod.ordinal]?.process }
            if finish { record(pod, .deleting) }
            let killed = await onThread { process?.stop(grace: Double(pod.deletionGrace ?? pod.grace)) ?? false }
            state.withLock { state in
                state.slots[pod.ordinal]?.process = nil
                state.slots[pod.ordinal]?.busy = false
                state.slots[pod.ordinal]?.probe = ProbeState()
                state.slots[pod.ordinal]?.reportedReady = nil
                if finish { state.finished.insert(pod.uid) }
            }
            record(pod, .stopped(killed: killed))
            if finish { await self.finish(pod) }
        case .finish(let pod):
            await finish(pod)
        case .probe(let pod):
            let passed = await runReadinessProbe(pod)
            let report = state.withLock { state -> Bool? in
                guard var slot = state.slots[pod.ordinal], slot.uid == pod.uid else { return nil }
                defer { state.slots[pod.ordinal] = slot }
                slot.probe.running = false
                guard slot.process != nil, let probe = pod.readiness else { return nil }
                if passed {
                    slot.probe.successes += 1
                    slot.probe.failures = 0
                } else {
                    slot.probe.failures += 1
                    slot.probe.successes = 0
                }
                let verdict: Bool? = slot.probe.successes >= probe.successThreshold ? true
                    : (slot.probe.failures >= probe.failureThreshold || slot.reportedReady == nil) && !passed ? false : nil
                guard let verdict, verdict != slot.reportedReady else { return nil }
                slot.reportedReady = verdict
                return verdict
            }
            if let ready = report { await self.report(pod, ready: ready) }
        case .report(let pod, let ready):
            await report(pod, ready: ready)
        }
    }

    /// Best effort, like a kubelet's status update: a failed one is tried again at the next verdict.
    func report(_ pod: PodView, ready: Bool) async {
        do {
            try await fake.setPodReady(namespace: options.namespace, name: pod.name, ready: ready)
            record(pod, ready ? .ready : .unready)
        } catch {
            state.withLock { state in
                if state.slots[pod.ordinal]?.uid == pod.uid { state.slots[pod.ordinal]?.reportedReady = nil }
            }
        }
    }

    /// The kubelet's last word on a pod: gone (the StatefulSet then creates its successor).
    func finish(_ pod: PodView) async {
        do {
            _ = try await client.delete(.pods, name: pod.name, namespace: options.namespace,
                                        options: DeleteOptions(preconditionUID: pod.uid, gracePeriodSeconds: 0))
        } catch {
            // Already gone (404) or replaced (409): nothing left to finish.
        }
    }

    /// Stops every member process (SIGTERM, then SIGKILL after 10 s) and removes the state
    /// directory unless ZOOKEEPER_TEST_KEEP_STATE is set. Safe to call twice.
    public func stop() {
        let processes = state.withLock { state -> [MemberProcess] in
            defer { for key in state.slots.keys { state.slots[key]?.process = nil } }
            return state.slots.values.compactMap(\.process)
        }
        for process in processes { process.signal(SIGTERM) }
        for process in processes { _ = process.stop(grace: 10) }
        LocalEnsemble.killServers(under: stateDirectory)
        if ProcessInfo.processInfo.environment["ZOOKEEPER_TEST_KEEP_STATE"] == nil {
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
    }
}

/// Runs `body` with a bridge for the pods of Ensemble `ensemble`, then stops every member
/// process it started, also when `body` throws.
public func withKubeletBridge<T>(fake: FakeAPIServer, ensemble: String, options: KubeletBridge.Options = KubeletBridge.Options(),
                                 _ body: (KubeletBridge) async throws -> T) async throws -> T {
    try await fake.setGracefulPodDeletion(true)
    let bridge = try KubeletBridge(fake: fake, ensemble: ensemble, options: options)
    defer { bridge.stop() }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await bridge.run() }
        do {
            let result = try await body(bridge)
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}
