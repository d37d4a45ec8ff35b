import ArgumentParser
import EnsembleCore
import Foundation

/// `zkctl plan`: what the operator's planners would do, without a cluster or an ensemble.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the operator would do to an Ensemble, step by step, without touching anything.",
        subcommands: [ScalePlan.self])
}

extension Plan {
    struct ScalePlan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scale",
            abstract: "The steps of scaling an Ensemble from --from members to --to (default: its spec.replicas), and the command each issues.",
            discussion: """
                A dry run of the membership planner against an ensemble in which every step succeeds at \
                once: ZooKeeper members start, sync and are added (reconfig conditional on the config \
                version, shown as <version>) or are removed before they stop; Cassandra nodes join one at \
                a time, and leave with nodetool decommission before the StatefulSet shrinks and, with \
                storage.reclaimPolicy Delete, their PVC goes. Each step shows the kubectl or zkCli.sh \
                command that does it by hand. Exit status: 0, 1 invalid resource, 64 usage.
                """)

        @OptionGroup var input: ResourceInput

        @Option(help: ArgumentHelp("Which Ensemble when the file holds several.", valueName: "name"))
        var name: String?

        @Option(help: ArgumentHelp("Members the ensemble has now.", valueName: "n"))
        var from: Int

        @Option(help: ArgumentHelp("Members to scale to (default: the resource's spec.replicas).", valueName: "n"))
        var to: Int?

        @Option(name: .shortAndLong, help: "Output: text (numbered steps) or json.")
        var output: ChangeOutput = .text

        func validate() throws {
            if from < 1 { throw ValidationError("--from must be at least 1, got \(from)") }
            if let to, to < 1 { throw ValidationError("--to must be at least 1, got \(to)") }
        }

        func run() throws {
            try exitOnReportedError {
                var ensemble = try input.select(try input.loadValid(), name: name)
                if let to {
                    ensemble.spec.replicas = to
                    let report = Validator.validate(ensemble)
                    for problem in report.problems where problem.path == "spec.replicas" {
                        printError("--to: \(problem.severity.rawValue): \(problem.message)")
                    }
                    if report.errors.contains(where: { $0.path == "spec.replicas" }) { throw ExitCode(1) }
                }
                let limit = ensemble.spec.engine == .zooKeeper ? EnsembleAPI.zooKeeperMaxReplicas : EnsembleAPI.cassandraMaxReplicas
                guard from <= limit else {
                    throw CLIError("--from \(from): a \(ensemble.spec.engine.rawValue) ensemble has at most \(limit) members")
                }
                let steps = ScalePreview.steps(for: ensemble, from: from)
                switch output {
                case .text:
                    print("\(ensemble.spec.engine.rawValue) ensemble '\(ensemble.metadata.name)': \(from) -> \(ensemble.spec.replicas) member\(ensemble.spec.replicas == 1 ? "" : "s"), \(steps.count) step\(steps.count == 1 ? "" : "s")")
                    print(ScalePreview.render(steps), terminator: "")
                case .json:
                    let document = PlanDocument(
                        ensemble: ensemble.metadata.name, engine: ensemble.spec.engine.rawValue, from: from, to: ensemble.spec.replicas,
                        steps: steps.map { StepRecord($0.decision, command: $0.command) })
                    print(try prettyJSON(document))
                }
            }
        }
    }
}

struct PlanDocument: Encodable {
    var ensemble: String
    var engine: String
    var from: Int
    var to: Int
    var steps: [StepRecord]
}
