import ArgumentParser

@main
struct Zkctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zkctl",
        abstract: "Render, validate and check ZooKeeper ensembles and Cassandra rings managed by the Ensemble operator.",
        discussion: """
            Without a cluster:
              zkctl render -f examples/zookeeper-3.yaml      manifests the operator would apply
              zkctl validate -f my-ensemble.yaml             every problem with its field path
              zkctl crd                                      the CustomResourceDefinition
            """,
        subcommands: [Render.self, Validate.self, PrintCRD.self, Local.self,
                      CreateNode.self, GetNode.self, SetNode.self, DeleteNode.self, ListChildren.self,
                      ShowConfig.self, Smoke.self, Bench.self]
    )
}
