import ControllerRuntime
import EnsembleCore
import KubernetesClient
import NetCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct OperatorSettings: Sendable {
    var namespace: String?
    var metricsBindAddress: String
    var healthBindAddress: String
    var leaderElect: Bool
    var leaderElectionNamespace: String?
    var leaderElectionID: String
    var leaseDuration: Double
    var renewDeadline: Double
    var retryPeriod: Double
    var memberAddressTemplate: MemberAddressTemplate
    var memberServerTemplate: MemberServerTemplate
    var probeImage: String
    var workers: Int
    var memberProbeInterval: Double
    var memberProbeTimeout: Double
}

/// Counts every API request for /metrics, by verb and response code.
struct RequestMetrics: RequestObserver {
    let metrics: MetricsRegistry

    func requestFinished(verb: String, resource: String, code: Int?, seconds: Double) {
        metrics.increment("ensemble_operator_api_requests_total", ["verb": verb, "code": code.map(String.init) ?? "error"])
        metrics.observe("ensemble_operator_api_request_duration_seconds", ["verb": verb], seconds)
    }
}

/// Wires the pieces: caches fed by informers, the work queue and its workers, the member
/// prober, the health/metrics servers, leader election and shutdown.
struct OperatorRuntime: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let settings: OperatorSettings
    let client: KubernetesClient
    let logger: Logger
    let metrics = MetricsRegistry()
    let caches = Caches()
    let identity: String
    let leaseNamespace: String

    init(settings: OperatorSettings, configuration: ClientConfiguration, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        metrics.register("ensemble_operator_api_requests_total", .counter, help: "Kubernetes API requests by verb and response code.")
        metrics.register("ensemble_operator_api_request_duration_seconds", .histogram, help: "Kubernetes API request latency.",
                         buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
        metrics.register("ensemble_operator_ensembles", .gauge, help: "Ensembles by status phase (Unknown: no status yet).")
        metrics.register("ensemble_operator_leader", .gauge, help: "1 while this process holds the leader lease (or runs without election).")
        client = try KubernetesClient(configuration, observer: RequestMetrics(metrics: metrics))
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let hostname = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        identity = getenv("POD_NAME").map { String(cString: $0) } ?? "\(hostname)-\(getpid())"
        leaseNamespace = settings.leaderElectionNamespace ?? configuration.namespace
    }

    func run() async throws {
        let shutdown = ShutdownSignal()
        let queue = WorkQueue<ObjectKey>(onDepthChange: { [metrics] depth in
            metrics.set("ensemble_operator_workqueue_depth", ["controller": "ensemble"], Double(depth))
        })
        let prober = MemberProber(caches: caches, template: settings.memberAddressTemplate, interval: settings.memberProbeInterval,
                                  timeout: settings.memberProbeTimeout, metrics: metrics)
        let sessions = ConfigSessions(interval: settings.memberProbeInterval, requestTimeout: max(3, settings.memberProbeTimeout), logger: logger)
        let reconciler = EnsembleReconciler(client: client, caches: caches, prober: prober, sessions: sessions, queue: queue,
                                            renderOptions: RenderOptions(probeImage: settings.probeImage, memberServer: settings.memberServerTemplate), identity: identity, logger: logger,
                                            freshness: settings.memberProbeTimeout + 2)
        let controller = Controller(name: "ensemble", queue: queue, workers: settings.workers, logger: logger, metrics: metrics) { key in
            try await reconciler.reconcile(key)
        }
        let leading = LeadingState()
        let servers = try startServers(leading: leading)
        logger.info("starting", ["identity": identity, "namespace": settings.namespace ?? "(all)", "leaderElect": String(settings.leaderElect),
                                 "workers": String(settings.workers), "memberAddressTemplate": settings.memberAddressTemplate.template])

        let reconcileLoop: @Sendable () async throws -> Void = { [self] in
            leading.set(true)
            metrics.set("ensemble_operator_leader", [:], 1)
            await runControllers(controller: controller, queue: queue, prober: prober, sessions: sessions, shutdown: shutdown)
            leading.set(false)
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for server in servers { group.addTask { await server.run() } }
                group.addTask { [self] in
                    defer { shutdown.trigger() }
                    if settings.leaderElect {
                        let election = LeaderElection(client: client, namespace: leaseNamespace, name: settings.leaderElectionID, identity: identity,
                                                      leaseDuration: settings.leaseDuration, renewDeadline: settings.renewDeadline,
                                                      retryPeriod: settings.retryPeriod, logger: logger, metrics: metrics)
                        try await election.whileLeading(stop: shutdown, reconcileLoop)
                    } else {
                        try await reconcileLoop()
                    }
                }
                // The servers never end on their own: the first child to finish is the main one.
                try await group.next()
                group.cancelAll()
            }
        } catch let error as LeaderElection.Failure {
            throw Failure(description: error.description)
        }
        logger.info("stopped")
    }

    /// Runs until shutdown: informers and the prober in the background, the workers in front.
    /// On shutdown the queue stops handing out keys, the reconciles in flight finish, then the
    /// background is cancelled.
    func runControllers(controller: Controller, queue: WorkQueue<ObjectKey>, prober: MemberProber, sessions: ConfigSessions,
                        shutdown: ShutdownSignal) async {
        let namespace = settings.namespace ?? KubernetesClient.allNamespaces
        let enqueue: @Sendable (Set<ObjectKey>) async -> Void = { keys in for key in keys { await queue.add(key) } }
        await withTaskGroup(of: Void.self) { background in
            for (index, informer) in caches.informers(namespace: namespace).enumerated() {
                background.addTask { [client, logger] in
                    await informer(client, logger, enqueue)
                    logger.debug("informer stopped", ["index": String(index)])
                }
            }
            background.addTask { [logger] in
                await prober.run { key in await queue.add(key) }
                logger.debug("member prober stopped")
            }
            background.addTask { [logger] in
                await sessions.run { key in await queue.add(key) }
                logger.debug("configuration sessions stopped")
            }
            await withTaskGroup(of: Void.self) { front in
                front.addTask { await controller.run() }
                front.addTask {
                    await shutdown.wait()
                    logger.info("shutting down: finishing reconciles in flight")
                    await queue.shutDown()
                }
                await front.waitForAll()
            }
            logger.debug("workers stopped; stopping informers and the member prober")
            background.cancelAll()
        }
    }

    /// Binds the health and metrics endpoints now, so a taken port fails at start-up.
    func startServers(leading: LeadingState) throws -> [HealthServer] {
        let caches = self.caches
        let metrics = self.metrics
        let leaderElect = settings.leaderElect
        let ready: @Sendable () -> (Bool, String) = {
            if leading.get() { return caches.isSynced ? (true, "ok: caches synced") : (false, "caches not synced yet") }
            return leaderElect ? (true, "ok: standby, waiting for the leader lease") : (false, "starting")
        }
        let render: @Sendable () -> String = {
            var phases: [String: Int] = Dictionary(uniqueKeysWithValues: EnsembleStatus.Phase.allCases.map { ($0.rawValue, 0) })
            for (phase, count) in caches.ensembles.count(by: { $0.status?.phase.rawValue ?? "Unknown" }) { phases[phase, default: 0] += count }
            metrics.replace("ensemble_operator_ensembles", phases.map { ([("phase", $0.key)], Double($0.value)) })
            return metrics.render()
        }
        var servers: [HealthServer] = []
        let handler = HealthServer.standardHandler(ready: ready, metrics: render)
        let addresses = [settings.healthBindAddress, settings.metricsBindAddress].filter { $0 != "0" }
        for address in Set(addresses).sorted() {
            do {
                servers.append(try HealthServer(bindAddress: address, handler: handler))
            } catch {
                throw Failure(description: "cannot serve on \(address): \(error)")
            }
        }
        for server in servers { logger.info("serving /healthz /readyz /metrics", ["address": "\(server.listener.host):\(server.listener.port)"]) }
        return servers
    }
}

final class LeadingState: Sendable {
    private let value = Atomic<Bool>(false)
    func set(_ leading: Bool) { value.store(leading, ordering: .relaxed) }
    func get() -> Bool { value.load(ordering: .relaxed) }
}
