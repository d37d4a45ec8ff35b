import ArgumentParser

// Minimal root for branch wt/probe; the lead merges the subcommands into the real root.
struct Zkctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zkctl", subcommands: [Health.self, FourLetterWordCommand.self])
}

Zkctl.main()
