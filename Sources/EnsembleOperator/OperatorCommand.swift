import ArgumentParser
import ControllerRuntime
import EnsembleCore
import KubernetesClient
#if canImport(Glibc)
import Glibc
#endif

/// The controller binary.
@main
struct EnsembleOperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensemble-operator",
        abstract: "Kubernetes operator for ZooKeeper ensembles and Cassandra rings (ensemble.dev/v1alpha1 Ensemble).",
        discussion: [
            "Watches Ensembles and what it creates for them (StatefulSets, Services, PodDisruptionBudgets, ConfigMaps, member pods, volume claims) and keeps each Ensemble's children equal to its rendered form (server-side apply, only when they differ), its status current (phase, members' roles, conditions) and its events written on transitions. An invalid spec is reported (Degraded, InvalidSpec) and touches nothing that runs. Members are asked for their role off the reconcile path, each check bounded by --member-probe-timeout.",
            "A new pod template (or rendered configuration) rolls the members one at a time, quorum-safe: one step per reconcile (delete one pod, or one version-conditional reconfig through a ZooKeeper session kept off the reconcile path), followers first and the leader last, each only while the others keep a synced quorum; the ZooKeeper leader hands leadership over first (it leaves the configuration, restarts, and is added back) as the super user kept in the Secret <name>-super-user, which the operator creates once per Ensemble. Progress is in status.memberChange and the Progressing/Degraded conditions, and every step is an Event.",
            "Credentials: --kubeconfig (or $KUBECONFIG, ~/.kube/config), or the pod's service account when run in a cluster. Logs are JSON lines on stderr. SIGTERM finishes the reconcile in flight, releases the leader lease and exits 0.",
        ].joined(separator: "\n\n"))

    @Option(help: "Path to a kubeconfig; in a pod without it, the service account is used.")
    var kubeconfig: String?

    @Option(help: "Context of the kubeconfig to use; its current context when absent.")
    var context: String?

    @Option(help: "Namespace whose Ensembles to manage; all namespaces when absent.")
    var namespace: String?

    @Option(help: "Address of /metrics (Prometheus text format), HOST:PORT or :PORT; 0 disables it.")
    var metricsBindAddress: String = ":8080"

    @Option(help: "Address of /healthz and /readyz, HOST:PORT or :PORT; 0 disables it.")
    var healthProbeBindAddress: String = ":8081"

    @Flag(help: "Elect a leader through a coordination.k8s.io Lease: only the leader reconciles.")
    var leaderElect = false

    @Option(help: "Namespace of the leader Lease; the service account's namespace (or the kubeconfig's) when absent.")
    var leaderElectionNamespace: String?

    @Option(help: "Name of the leader Lease.")
    var leaderElectionID: String = "ensemble-operator"

    @Option(help: "Seconds a leader's lease lasts without renewal before a standby takes over.")
    var leaseDuration: Double = 15

    @Option(help: "Seconds a leader keeps trying to renew before it gives up leading.")
    var renewDeadline: Double = 10

    @Option(help: "Seconds between lease renewals and acquisition attempts.")
    var retryPeriod: Double = 2

    @Option(help: ArgumentHelp("How the operator reaches members for srvr and the CQL check.",
                               discussion: "Placeholders {pod} {service} {namespace} {clusterDomain} {port} {ordinal} {id} {name}."))
    var memberAddressTemplate: String = MemberAddressTemplate.defaultTemplate

    @Option(help: ArgumentHelp("The server.N value ZooKeeper members are given for each other: in the membership they start with and in the reconfig that adds one.",
                               discussion: "The default is the member's stable DNS name through the headless Service. Placeholders {pod} {service} {namespace} {clusterDomain} {ordinal} {id} {name}."))
    var memberServerTemplate: String = MemberServerTemplate.defaultTemplate

    @Option(help: "Image that carries the ensemble-probe binary, used in member pods' init containers.")
    var probeImage: String = Defaults.probeImage

    @Option(help: "Concurrent reconciles.")
    var workers: Int = 4

    @Option(help: "Seconds between checks of every member's role.")
    var memberProbeInterval: Double = 10

    @Option(help: "Seconds one member check may take (name resolution, connect, reply).")
    var memberProbeTimeout: Double = 2

    @Option(help: "Log format: json (one object per line) or text.")
    var logFormat: String = "json"

    @Option(help: "Log level: debug, info, warning or error.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be json or text, got '\(logFormat)'") }
        guard Logger.Level(name: logLevel) != nil else { throw ValidationError("--log-level must be debug, info, warning or error, got '\(logLevel)'") }
        do { _ = try MemberAddressTemplate(memberAddressTemplate) } catch { throw ValidationError("--member-address-template: \(error.description)") }
        do { _ = try MemberServerTemplate(memberServerTemplate) } catch { throw ValidationError("--member-server-template: \(error.description)") }
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be between 1 and 256, got \(workers)") }
        guard memberProbeInterval > 0, memberProbeTimeout > 0 else { throw ValidationError("--member-probe-interval and --member-probe-timeout must be positive") }
        guard leaseDuration > renewDeadline, renewDeadline > retryPeriod, retryPeriod > 0 else {
            throw ValidationError("leader election needs --lease-duration > --renew-deadline > --retry-period > 0")
        }
        if let namespace, namespace.isEmpty { throw ValidationError("--namespace must not be empty; leave it out for all namespaces") }
    }

    func run() async throws {
        let logger = Logger(level: Logger.Level(name: logLevel)!, format: Logger.Format(rawValue: logFormat)!)
        let settings = OperatorSettings(
            namespace: namespace, metricsBindAddress: metricsBindAddress, healthBindAddress: healthProbeBindAddress,
            leaderElect: leaderElect, leaderElectionNamespace: leaderElectionNamespace, leaderElectionID: leaderElectionID,
            leaseDuration: leaseDuration, renewDeadline: renewDeadline, retryPeriod: retryPeriod,
            memberAddressTemplate: try MemberAddressTemplate(memberAddressTemplate), memberServerTemplate: try MemberServerTemplate(memberServerTemplate),
            probeImage: probeImage, workers: workers,
            memberProbeInterval: memberProbeInterval, memberProbeTimeout: memberProbeTimeout)
        let configuration: ClientConfiguration
        do {
            configuration = try ClientConfiguration.load(kubeconfig: kubeconfig, context: context)
        } catch {
            logger.error("cannot load Kubernetes credentials", ["error": "\(error)"])
            throw ExitCode(1)
        }
        do {
            try await OperatorRuntime(settings: settings, configuration: configuration, logger: logger).run()
        } catch let error as OperatorRuntime.Failure {
            logger.error(error.description)
            throw ExitCode(1)
        }
    }
}

