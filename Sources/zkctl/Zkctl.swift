import ArgumentParser

@main
struct Zkctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zkctl",
        abstract: "Render, validate, run and check ZooKeeper ensembles and Cassandra rings managed by the Ensemble operator.",
        discussion: """
            Without a cluster:
              zkctl render -f examples/zookeeper-3.yaml      manifests the operator would apply
              zkctl validate -f my-ensemble.yaml             every problem with its field path
              zkctl crd                                      the CustomResourceDefinition
              zkctl local up -f examples/zookeeper-3.yaml    a real ensemble on this machine
            Against running members (--members host:port,... or --local NAME):
              zkctl health | 4lw CMD | smoke | config | ls | get | create | set | delete
            """,
        subcommands: [Render.self, Validate.self, PrintCRD.self, Local.self,
                      Health.self, FourLetterWordCommand.self, Smoke.self, ShowConfig.self,
                      ListChildren.self, GetNode.self, CreateNode.self, SetNode.self, DeleteNode.self, Bench.self]
    )
}
