import ArgumentParser
import LocalEnsemble

/// Which ensemble a command talks to: members by address, or a local-mode ensemble by name.
/// Shared by health, 4lw, smoke and the data commands.
struct EnsembleTarget: ParsableArguments {
    @Option(help: "Comma-separated members as host:port (port defaults to 2181).")
    var members: String?

    @Option(help: ArgumentHelp("A local-mode ensemble (zkctl local up) to talk to instead of --members.", valueName: "name"))
    var local: String?

    @OptionGroup var state: StateDirectoryOption

    /// Bad input is a usage error (exit 64) before any connection is tried.
    func validate() throws {
        switch (members, local) {
        case (nil, nil): throw ValidationError("give --members host:port,... or --local NAME")
        case (.some, .some): throw ValidationError("--members and --local cannot be combined")
        case (.some(let members), nil): _ = try parseMembers(members)
        case (nil, .some): break
        }
    }

    /// The members to talk to: the list given, or the recorded layout of the local
    /// ensemble. An unknown local ensemble is a usage error (exit 64), said on stderr.
    func endpoints() throws -> [(host: String, port: Int)] {
        if let members { return try parseMembers(members) }
        let name = local!
        let layout: LocalEnsembleLayout?
        do {
            layout = try LocalEnsembleLayout.loadRecord(name: name, stateDirectory: state.stateDir)
        } catch {
            printError("zkctl: \(error)")
            throw ExitCode(64)
        }
        guard let layout else {
            printError("zkctl: no local ensemble '\(name)' in \(state.stateDir); start one with zkctl local up -f FILE")
            throw ExitCode(64)
        }
        return layout.members.map { ($0.address, $0.clientPort) }
    }

    /// `endpoints` as "host:port" strings, the form the ZooKeeper client takes.
    func memberStrings() throws -> [String] { try endpoints().map(displayName) }
}
