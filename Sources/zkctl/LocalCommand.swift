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
                One zkctl at a time starts or stops an ensemble: another one waits (up to --timeout). \
                If a member cannot start, the members this command started are stopped again. Waiting \
                ends early, with each member's first log errors, when too few members are left \
                running to form a quorum. \
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

        @Option(help: ArgumentHelp("Seconds to wait for a healthy quorum (and, before that, for another zkctl working on the same ensemble).", valueName: "seconds"))
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
            // Bad options and a missing ZooKeeper fail here, before anything is created.
            let requested = try makeLayout(resource)
            let installation = try ZooKeeperInstallation.locate()
            // One zkctl at a time changes an ensemble; the wait for a quorum needs no lock.
            let starting = try requested.withExclusiveLock(timeout: timeout, waiting: { say($0) }) { () throws -> LocalEnsemble? in
                // Read the record again: another zkctl may have created or purged it meanwhile.
                var ensemble = LocalEnsemble(layout: try makeLayout(resource), installation: installation)
                ensemble.jvmOptions = Self.jvmOptions(heap: resource.spec.zookeeper.heapSize)
                ensemble.logLevel = resource.spec.zookeeper.logLevel
                return try start(ensemble)
            }
            guard let ensemble = starting else { return }
            do {
                try ensemble.waitForQuorum(deadline: .after(seconds: timeout)) { line in say("  waiting: \(line)") }
            } catch {
                printError("zkctl: \(error)")
                let running = zip(ensemble.members, ensemble.processStates(ensemble.members)).filter { $0.1.isRunning }.map(\.0.id)
                if running.isEmpty {
                    // membersExited has said so already.
                    if case LocalEnsembleError.membersExited = error {} else {
                        printError("zkctl: no member of '\(ensemble.layout.name)' is running")
                    }
                } else {
                    printError("zkctl: \(Self.members(running)) left running for inspection; `zkctl local down \(ensemble.layout.name)` stops \(running.count == 1 ? "it" : "them")")
                }
                throw ExitCode(1)
            }
            printReport(ensemble)
        }

        /// Under the lock: records members an interrupted zkctl left untracked, starts what
        /// is not running. Nil when the ensemble was already up (and reported).
        private func start(_ ensemble: LocalEnsemble) throws -> LocalEnsemble? {
            let name = ensemble.layout.name
            for (member, pid) in try ensemble.recordUntrackedMembers() {
                say("member \(member) runs as pid \(pid), which its pid file did not name (an earlier zkctl was interrupted); recorded it")
            }
            let before = ensemble.status()
            if before.allSatisfy({ $0.process.isRunning }), case .healthy = LocalEnsemble.verdict(before) {
                say("'\(name)' is already up; nothing changed.")
                printReport(ensemble)
                return nil
            }
            for status in before {
                if case .crashed = status.process { say("member \(status.member.id) \(status.process.description); restarting it") }
            }
            try ensemble.layout.saveRecord()
            let started: [Int]
            do {
                started = try ensemble.startMissing()
            } catch {
                printError("zkctl: \(error)")
                if !error.stopped.isEmpty {
                    printError("zkctl: stopped \(Self.members(error.stopped)) again, started by this command: without the others \(error.stopped.count == 1 ? "it" : "they") cannot form a quorum")
                }
                if error.running.isEmpty {
                    printError("zkctl: no member of '\(name)' is running")
                } else {
                    printError("zkctl: \(Self.members(error.running)) left running (\(error.running.count == 1 ? "it was" : "they were") running before); `zkctl local down \(name)` stops \(error.running.count == 1 ? "it" : "them")")
                }
                throw ExitCode(1)
            }
            if started.isEmpty {
                say("every member of '\(name)' is running; waiting for a quorum")
            } else {
                say("started \(Self.members(started)) of '\(name)' (files in \(ensemble.layout.ensembleDirectory))")
            }
            return ensemble
        }

        /// "member 2", "members 1, 3".
        static func members(_ ids: [Int]) -> String {
            "member\(ids.count == 1 ? "" : "s") \(ids.map(String.init).joined(separator: ", "))"
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

        /// JVM options for the spec's heap (validated: a JVM size of at least
        /// `EnsembleAPI.minimumHeap`). Members start at 32m and grow to the heap, so a dozen
        /// of them share a laptop; a heap below 32m is also the start, since the JVM refuses
        /// an initial heap above the maximum.
        static func jvmOptions(heap: String) -> [String] {
            let initial = (Quantity.jvmBytes(heap) ?? 0) < 32 * 1_048_576 ? heap : "32m"
            return ["-Xms\(initial)", "-Xmx\(heap)", "-XX:+UseSerialGC"]
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
            discussion: """
                Members are found by their pid files and by what they run (their own zoo.cfg), so \
                one that an interrupted zkctl never recorded is stopped too. Waits up to 120 s for \
                another zkctl working on the same ensemble. Exit status 0 also when the ensemble is \
                already down or unknown.
                """)

        @OptionGroup var recorded: RecordedEnsemble

        @Flag(help: "Also delete the ensemble's state directory (data, logs, configs).")
        var purge = false

        /// How long down waits for another zkctl working on the same ensemble.
        static let lockTimeout: Double = 120

        func run() throws {
            try exitOnReportedError {
                let name = recorded.name
                let found = try LocalEnsembleLayout.withExclusiveLock(
                    name: name, stateDirectory: recorded.state.stateDir, createIfMissing: false, timeout: Self.lockTimeout,
                    waiting: { say($0) }
                ) { () throws -> Bool in
                    guard let ensemble = try recorded.load() else { return false }
                    // Members are found by their zoo.cfg too, so one an interrupted zkctl never
                    // recorded is stopped as well, before a purge deletes its files.
                    let stopped = try ensemble.stopAll()
                    if stopped.isEmpty {
                        say("'\(name)' is already down")
                    } else {
                        say("stopped \(Up.members(stopped)) of '\(name)'")
                    }
                    if purge {
                        try ensemble.purge()
                        say("deleted \(ensemble.layout.ensembleDirectory)")
                    }
                    return true
                }
                if found != true { say("\(recorded.notFound); nothing to stop") }
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
