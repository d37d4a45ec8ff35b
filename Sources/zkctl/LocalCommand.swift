import ArgumentParser
import EnsembleCore
import Foundation
import LocalEnsemble
import NetCore
import ZKAdmin

/// `zkctl local`: a real ZooKeeper ensemble on this machine, from the same Ensemble resource.
struct Local: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a real ZooKeeper ensemble on this machine from an Ensemble resource.",
        discussion: """
            Members run as java processes on 127.0.0.1 ... 127.0.0.N (one loopback address each), \
            with their files under <state-dir>/<name>/member-<id>. Needs ZooKeeper: apt-get install \
            zookeeper, or ZOOKEEPER_HOME pointing at an unpacked release.
            """,
        subcommands: [Up.self, Status.self, Down.self])
}

struct StateDirectoryOption: ParsableArguments {
    @Option(help: ArgumentHelp("Where local ensembles keep their files.", valueName: "dir"))
    var stateDir: String = ".ensemble"
}

extension Local {
    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the members that are not running and wait for a healthy quorum.",
            discussion: """
                An ensemble that is already up is left as it is. Crashed members are restarted; running \
                ones are not touched. zoo.cfg settings that differ from the ones the ensemble was created \
                with are refused (ZooKeeper owns zoo.cfg after its first start): purge it to apply them. \
                heapSize and logLevel apply to members as they start. Prints each member's process and \
                the `zkctl health` table once the quorum is up. \
                Exit status: 0 quorum reached, 1 no quorum in time or bad input.
                """)

        @OptionGroup var input: ResourceInput
        @OptionGroup var state: StateDirectoryOption

        @Option(help: ArgumentHelp("Which Ensemble to start when the file holds several.", valueName: "name"))
        var name: String?

        @Option(help: ArgumentHelp("First three octets of the member addresses (members get .1 ... .N); default 127.0.0, or what the ensemble was first started with.", valueName: "a.b.c"))
        var baseAddress: String?

        @Option(help: ArgumentHelp("Client port of every member (default 2181).", valueName: "port"))
        var clientPort: Int?

        @Option(help: ArgumentHelp("Quorum port of every member (default 2888).", valueName: "port"))
        var quorumPort: Int?

        @Option(help: ArgumentHelp("Election port of every member (default 3888).", valueName: "port"))
        var electionPort: Int?

        @Option(help: ArgumentHelp("Seconds to wait for a healthy quorum.", valueName: "seconds"))
        var timeout: Double = 120

        func validate() throws {
            try validateDurationOption(timeout, "--timeout")
        }

        func run() throws {
            try exitOnReportedError { try up() }
        }

        private func up() throws {
            let ensembles = try input.loadValid()
            let resource = try select(ensembles)
            guard resource.spec.engine == .zooKeeper else {
                throw CLIError("'\(resource.metadata.name)' is a \(resource.spec.engine.rawValue) ensemble; local mode runs ZooKeeper only")
            }
            let layout = try makeLayout(resource)
            var ensemble = LocalEnsemble(layout: layout, installation: try ZooKeeperInstallation.locate())
            if let heap = Self.javaHeap(resource.spec.zookeeper.heapSize) {
                ensemble.jvmOptions = ["-Xms32m", "-Xmx\(heap)", "-XX:+UseSerialGC"]
            }
            ensemble.logLevel = resource.spec.zookeeper.logLevel

            let before = ensemble.status()
            if before.allSatisfy({ $0.process.isRunning }), case .healthy = LocalEnsemble.verdict(before) {
                say("'\(layout.name)' is already up; nothing changed.")
                printReport(ensemble)
                return
            }
            for status in before {
                if case .crashed = status.process { say("member \(status.member.id) \(status.process.description); restarting it") }
            }
            try layout.saveRecord()
            let started = try ensemble.startAll()
            if started.isEmpty {
                say("every member of '\(layout.name)' is running; waiting for a quorum")
            } else {
                say("started member\(started.count == 1 ? "" : "s") \(started.map(String.init).joined(separator: ", ")) of '\(layout.name)' (files in \(layout.ensembleDirectory))")
            }
            do {
                try ensemble.waitForQuorum(deadline: .after(seconds: timeout)) { line in say("  waiting: \(line)") }
            } catch {
                printError("zkctl: \(error)")
                printError("zkctl: the members are left running for inspection; `zkctl local down \(layout.name)` stops them")
                throw ExitCode(1)
            }
            printReport(ensemble)
        }

        private func select(_ ensembles: [Ensemble]) throws -> Ensemble {
            if let name {
                guard let match = ensembles.first(where: { $0.metadata.name == name }) else {
                    throw CLIError("\(input.sourceName) has no Ensemble named '\(name)' (it has \(ensembles.map(\.metadata.name).joined(separator: ", ")))")
                }
                return match
            }
            guard ensembles.count == 1 else {
                throw CLIError("\(input.sourceName) holds \(ensembles.count) Ensembles (\(ensembles.map(\.metadata.name).joined(separator: ", "))); pick one with --name")
            }
            return ensembles[0]
        }

        /// The layout from the resource and options; an ensemble started before keeps its
        /// addresses, ports and zoo.cfg settings, and asking for different ones is an error,
        /// not a silent move or a setting that never takes effect.
        private func makeLayout(_ resource: Ensemble) throws -> LocalEnsembleLayout {
            let name = resource.metadata.name
            let recorded = try LocalEnsembleLayout.loadRecord(name: name, stateDirectory: state.stateDir)
            let recordedBase = recorded.map { layout in
                layout.addresses[0].split(separator: ".").dropLast().joined(separator: ".")
            }
            let layout = try LocalEnsembleLayout(
                name: name, members: resource.spec.replicas, baseAddress: baseAddress ?? recordedBase ?? "127.0.0",
                clientPort: clientPort ?? recorded?.clientPort ?? 2181, quorumPort: quorumPort ?? recorded?.quorumPort ?? 2888,
                electionPort: electionPort ?? recorded?.electionPort ?? 3888, settings: resource.zooKeeperSettings(),
                stateDirectory: state.stateDir)
            if let recorded, recorded.addresses != layout.addresses || recorded.clientPort != layout.clientPort
                || recorded.quorumPort != layout.quorumPort || recorded.electionPort != layout.electionPort
            {
                throw CLIError(
                    "'\(name)' already exists in \(recorded.ensembleDirectory) with \(recorded.memberCount) member(s) on "
                        + "\(recorded.addresses.joined(separator: ", ")) (ports \(recorded.clientPort)/\(recorded.quorumPort)/\(recorded.electionPort)); "
                        + "local mode does not move or resize it: run `zkctl local down \(name) --purge` first")
            }
            let changes = try layout.settingChanges()
            if !changes.isEmpty {
                // ZooKeeper rewrites zoo.cfg on its first start and owns it from then on, so
                // local mode never edits it; a fresh start is the only way to apply a change.
                throw CLIError(
                    "'\(name)' in \(layout.ensembleDirectory) was created with other zoo.cfg settings than \(input.sourceName) asks for:\n"
                        + changes.map { "  \($0)" }.joined(separator: "\n")
                        + "\nlocal mode does not change the settings of an existing ensemble: run `zkctl local down \(name) --purge` "
                        + "(deletes its data) and `zkctl local up` again, or undo the change")
            }
            return layout
        }

        /// The spec's heap ("512m", "2g") as a -Xmx value; nil when it is not one.
        static func javaHeap(_ text: String) -> String? {
            guard let last = text.last, !text.isEmpty else { return nil }
            let digits = "kKmMgG".contains(last) ? text.dropLast() : Substring(text)
            guard !digits.isEmpty, digits.allSatisfy(\.isNumber) else { return nil }
            return text
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each member's process, then the health table and verdict of `zkctl health`.",
            discussion: "Exit status: 0 healthy with every member running; 1 at risk, lost, a member not running, or unknown.")

        @OptionGroup var recorded: RecordedEnsemble

        func run() throws {
            try exitOnReportedError {
                guard let ensemble = try recorded.load() else { throw CLIError(recorded.notFound) }
                let (health, allRunning) = printReport(ensemble)
                if health.verdict != .healthy || !allRunning { throw ExitCode(1) }
            }
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop every member (SIGTERM, then SIGKILL after 10 s).",
            discussion: "Exit status 0 also when the ensemble is already down or unknown.")

        @OptionGroup var recorded: RecordedEnsemble

        @Flag(help: "Also delete the ensemble's state directory (data, logs, configs).")
        var purge = false

        func run() throws {
            try exitOnReportedError {
                let name = recorded.name
                guard let ensemble = try recorded.load() else {
                    say("\(recorded.notFound); nothing to stop")
                    return
                }
                let stopped = try ensemble.stopAll()
                if stopped.isEmpty {
                    say("'\(name)' is already down")
                } else {
                    say("stopped member\(stopped.count == 1 ? "" : "s") \(stopped.map(String.init).joined(separator: ", ")) of '\(name)'")
                }
                if purge {
                    try ensemble.purge()
                    say("deleted \(ensemble.layout.ensembleDirectory)")
                }
            }
        }
    }
}

extension LocalEnsembleError: ReportedError {}

/// The name and state directory of an ensemble `zkctl local up` started: what status and
/// down need to find it again.
struct RecordedEnsemble: ParsableArguments {
    @Argument(help: "The Ensemble's metadata.name.")
    var name: String

    @OptionGroup var state: StateDirectoryOption

    /// The ensemble from its record; nil when there is none. Status and down only read pid
    /// files, signal and ask members; they never need java, so none is looked for.
    func load() throws(LocalEnsembleError) -> LocalEnsemble? {
        guard let layout = try LocalEnsembleLayout.loadRecord(name: name, stateDirectory: state.stateDir) else { return nil }
        return LocalEnsemble(layout: layout, installation: ZooKeeperInstallation(java: "", classpath: []))
    }

    var notFound: String {
        "no local ensemble '\(name)' in \(state.stateDir) (no \(LocalEnsembleLayout.recordPath(name: name, stateDirectory: state.stateDir)))"
    }
}

/// Unbuffered, so progress shows at once even when stdout is a pipe.
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Prints one process line per member (so a crashed or stopped member is named as such),
/// then `zkctl health`'s table and verdict line for the ensemble's members. Returns the
/// health and whether every member's process runs.
@discardableResult
private func printReport(_ ensemble: LocalEnsemble, timeout: Double = 5) -> (health: EnsembleHealth, allRunning: Bool) {
    let processes = ensemble.members.map { ensemble.processState($0) }
    for (member, process) in zip(ensemble.members, processes) {
        say("member \(member.id) (\(member.clientEndpoint)): \(process)")
    }
    let reports = queryMembers(ensemble.members.map { ($0.address, $0.clientPort) }, timeout: timeout) { host, port, deadline in
        Result { () throws(FourLetterWordError) in try MemberStatus.fetch(host: host, port: port, deadline: deadline) }
    }.map { MemberReport(member: $0.member, outcome: $0.result) }
    let health = EnsembleHealth.evaluate(reports, voters: ensemble.members.count)
    FileHandle.standardOutput.write(Data(HealthTable.render(reports, health: health).utf8))
    let notRunning = zip(ensemble.members, processes).filter { !$0.1.isRunning }
    if !notRunning.isEmpty {
        let names = notRunning.map { "member \($0.0.id) \($0.1 == .stopped ? "stopped" : "crashed")" }.joined(separator: ", ")
        say("not running: \(names); `zkctl local up -f FILE` starts \(notRunning.count == 1 ? "it" : "them")")
    }
    return (health, notRunning.isEmpty)
}
