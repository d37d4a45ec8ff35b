import ArgumentParser
import EnsembleCore

/// The controller binary. This release renders and validates (see zkctl); the reconcile loop
/// (watch, server-side apply, quorum-safe rolls) comes with the controller work, so running
/// it today explains that instead of pretending to manage anything.
struct EnsembleOperatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensemble-operator",
        abstract: "Kubernetes operator for ZooKeeper ensembles and Cassandra rings (ensemble.dev/v1alpha1 Ensemble).",
        discussion: """
            Turns each Ensemble into a StatefulSet, headless and client Services, a
            PodDisruptionBudget and generated configuration, and rolls members quorum-safely.

            The controller loop is not in this build yet. Until it is, render what it would
            apply with `zkctl render -f FILE` and install the CRD from
            charts/ensemble-operator/crds/.
            """)

    @Option(help: "Path to a kubeconfig; in-cluster service-account credentials are used when absent.")
    var kubeconfig: String?

    @Option(help: "Namespace to watch; all namespaces when absent.")
    var namespace: String?

    @Option(help: "Image that carries the ensemble-probe binary, used in member pods' init containers.")
    var probeImage: String = Defaults.probeImage

    func run() throws {
        print(Self.helpMessage())
        throw ExitCode(2)
    }
}

EnsembleOperatorCommand.main()
