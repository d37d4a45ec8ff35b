import ArgumentParser
import EnsembleCore
import Foundation
import LocalEnsemble
import ZKConfig
import ZooKeeperOps

/// Options `roll` and `scale` share: how the planners are set, and what is reported.
struct ChangeOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Hand leadership over before the leader restarts: remove it from the configuration (a reconfig conditional on its version), restart it, add it back. Default: the resource's updateStrategy.leaderHandOff (on)."))
    var leaderHandOff: Bool?

    @Option(help: ArgumentHelp("Seconds a restarted or started member may take to serve and catch up before the run stops. Default: the resource's updateStrategy.memberTimeoutSeconds (600).", valueName: "seconds"))
    var memberTimeout: Int?

    @Option(help: ArgumentHelp("Seconds any other wait may take (the others syncing, an election, a new configuration's quorum). Default: the resource's updateStrategy.stepTimeoutSeconds (300).", valueName: "seconds"))
    var stepTimeout: Int?

    @Flag(help: "Run a continuous writer and a monitor meanwhile, and report leader elections, failed writes, the longest write gap, the time taken and acknowledged writes missing afterwards (read back through a new session after a sync, then deleted; an interrupted run leaves its /zkctl-measure-* node behind).")
    var measure = false

    @Option(help: ArgumentHelp("Writes per second of the --measure writer.", valueName: "n"))
    var rate: Double = 50

    @Option(name: .shortAndLong, help: "Output: text, or json (one document on stdout at the end; progress goes to stderr).")
    var output: ChangeOutput = .text

    @Option(help: ArgumentHelp("Seconds to wait for another zkctl working on the same ensemble.", valueName: "seconds"))
    var lockTimeout: Double = 120

    func validate() throws {
        for (value, name) in [(memberTimeout, "--member-timeout"), (stepTimeout, "--step-timeout")] {
            if let value, !(1...86400).contains(value) { throw ValidationError("\(name) must be between 1 and 86400 seconds, got \(value)") }
        }
        guard rate.isFinite, rate > 0, rate <= 1000 else { throw ValidationError("--rate must be more than 0 and at most 1000 writes per second, got \(rate)") }
        try validateDurationOption(lockTimeout, "--lock-timeout")
    }

    /// The planners' settings: the recorded resource's, with these options over them.
    func settings(_ record: LocalEnsembleRecord, order: PlanSettings.Order) -> PlanSettings {
        let defaults = PlanSettings(engine: .zooKeeper)
        return PlanSettings(
            engine: .zooKeeper, order: order, leaderHandOff: leaderHandOff ?? record.leaderHandOff ?? defaults.leaderHandOff,
            memberTimeout: memberTimeout.map { .seconds($0) } ?? record.memberTimeoutSeconds.map { .seconds($0) } ?? defaults.memberTimeout,
            stepTimeout: stepTimeout.map { .seconds($0) } ?? record.stepTimeoutSeconds.map { .seconds($0) } ?? defaults.stepTimeout,
            deleteVolumesOnScaleDown: record.deleteVolumesOnScaleDown ?? defaults.deleteVolumesOnScaleDown)
    }

    /// Progress lines: stdout, or stderr while stdout carries the JSON report.
    var progress: (String) -> Void {
        output == .json ? { printError($0) } : { say($0) }
    }
}

enum ChangeOutput: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

extension PlanSettings.Order: ExpressibleByArgument {}

/// A new roll revision: 12 hexadecimal digits, like the start of a configuration hash.
func newRevision() -> String {
    (0..<12).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined()
}

/// The JSON document of a roll or a scale.
struct ChangeReport: Encodable {
    var ensemble: String
    var command: String
    var order: String
    var leaderHandOff: Bool
    var replicas: Int
    var revision: String
    /// "done", "blocked" or "failed".
    var result: String
    var code: String?
    var message: String
    var seconds: Double
    var steps: [StepRecord]
    var measurement: MeasurementReport?
}

extension Local {
    struct Roll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restart every member of a local ensemble, one at a time, keeping a quorum.",
            discussion: """
                Members are restarted through the same planner the operator uses (quorum-safe order): \
                members that do not serve first, then followers from the highest id down, the leader last; \
                before each restart every other voter serves and is synced, after it the member must serve \
                and catch up with the leader's zxid. With leader hand-off (the default) the leader first \
                leaves the configuration (a reconfig conditional on its version, as the ensemble's super \
                user), the others elect a new leader while it still serves, and it is restarted and added \
                back: one leader election per roll. --order ordinal restarts from the highest id down, \
                gated only on the restarted member answering (the `ruok` readiness of the StatefulSet \
                tutorials): the baseline to compare with.
                A roll that was interrupted (Ctrl-C, a timeout) is resumed by the next `roll`: members \
                already restarted are not restarted again, a leader left outside the configuration is \
                restarted and added back. A member that is stopped or crashed (and was not stopped by an \
                interrupted roll) makes the roll refuse to start: `zkctl local up -f FILE` starts it. \
                Prints one line per step (what, how long, why). \
                Exit status: 0 done, 1 refused, blocked or failed (the reason is printed), 64 usage.
                """)

        @OptionGroup var recorded: RecordedEnsemble

        @Option(help: ArgumentHelp("quorum-safe (the operator's) or ordinal (the StatefulSet RollingUpdate order, to compare with).", valueName: "order"))
        var order: PlanSettings.Order = .quorumSafe

        @OptionGroup var options: ChangeOptions

        func run() async throws {
            try await exitOnReportedError {
                try await runChange(recorded: recorded, options: options, command: "roll") { record, ensemble in
                    let replicas = record.replicas ?? record.addresses.count
                    let layout = try ensemble.layout.resized(to: max(replicas, ensemble.layout.memberCount))
                    let unfinished = try record.revision.flatMap { revision -> String? in
                        let behind = try layout.members.prefix(replicas).filter { try MemberStart.load(of: $0)?.revision != revision }
                        return behind.isEmpty ? nil : revision
                    }
                    let revision: String
                    if let unfinished {
                        revision = unfinished
                        options.progress("resuming the roll to revision \(revision) that an earlier run left unfinished; members already at it are not restarted again")
                    } else {
                        revision = newRevision()
                        record.revision = revision
                        try record.save(stateDirectory: recorded.state.stateDir)
                    }
                    return ChangeRequest(activity: "roll", desiredReplicas: replicas, revision: revision,
                                         settings: options.settings(record, order: order))
                }
            }
        }
    }

    struct Scale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change how many members a local ensemble has, one member at a time.",
            discussion: """
                Through the same planner the operator uses: one change at a time, each reconfig \
                conditional on the configuration version it was planned from (as the ensemble's super \
                user), and a synced quorum of the new configuration before the next step. A new member \
                starts with the live membership plus itself, syncs as a non-voting follower and is then \
                added; a member leaves the configuration before it is stopped. A removed member's files \
                are deleted before its id is used again, so it never rejoins with stale data (at once \
                with storage.reclaimPolicy Delete). An even count is allowed, with the validator's \
                warning; scaling to 1 and back works. A scale that was interrupted is completed by the \
                next run (a member added but never started, one removed but still running). \
                `zkctl plan scale` shows the steps without an ensemble. \
                Exit status: 0 done, 1 blocked or failed (the reason is printed), 64 usage.
                """)

        @OptionGroup var recorded: RecordedEnsemble

        @Option(help: ArgumentHelp("The member count to reach.", valueName: "n"))
        var replicas: Int

        @OptionGroup var options: ChangeOptions

        func validate() throws {
            let problems = try replicaProblems(replicas, name: recorded.name)
            if let error = problems.first(where: { $0.severity == .error }) { throw ValidationError("--replicas: \(error.message)") }
        }

        func run() async throws {
            for warning in try replicaProblems(replicas, name: recorded.name) where warning.severity == .warning {
                printError("zkctl: warning: --replicas: \(warning.message)")
            }
            try await exitOnReportedError {
                try await runChange(recorded: recorded, options: options, command: "scale") { record, _ in
                    record.replicas = replicas
                    let revision = record.revision ?? newRevision()
                    record.revision = revision
                    try record.save(stateDirectory: recorded.state.stateDir)
                    return ChangeRequest(activity: "scaling", desiredReplicas: replicas, revision: revision,
                                         settings: options.settings(record, order: .quorumSafe))
                }
            }
        }
    }
}

/// What the validator says about an ensemble of `count` members: the same rule (and words)
/// as `spec.replicas` in a resource.
func replicaProblems(_ count: Int, name: String) throws -> [Problem] {
    let yaml = "apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: \(name)\nspec:\n  engine: ZooKeeper\n  replicas: \(count)\n"
    let documents = try ManifestLoader.loadDocuments(yaml: yaml, source: "--replicas")
    return documents.flatMap { Validator.validate(document: $0).problems }.filter { $0.path == "spec.replicas" }
}

/// The part of `roll` and `scale` after their own set-up: under the ensemble's lock, load the
/// record, let `prepare` say what to work towards (it may update the record), drive the
/// planners (with the writer and monitor when measuring), report.
func runChange(
    recorded: RecordedEnsemble, options: ChangeOptions, command: String,
    prepare: (inout LocalEnsembleRecord, LocalEnsemble) throws -> ChangeRequest
) async throws {
    let state = recorded.state.stateDir
    guard let found = try LocalEnsembleRecord.load(name: recorded.name, stateDirectory: state) else { throw CLIError(recorded.notFound) }
    let installation = try ZooKeeperInstallation.locate()
    let progress = options.progress
    try await found.layout(stateDirectory: state).withExclusiveLock(timeout: options.lockTimeout, waiting: progress) {
        // Read again under the lock: another zkctl may have changed or purged it meanwhile.
        guard var record = try LocalEnsembleRecord.load(name: recorded.name, stateDirectory: state) else { throw CLIError(recorded.notFound) }
        var ensemble = LocalEnsemble(layout: try record.layout(stateDirectory: state), installation: installation)
        if let jvmOptions = record.jvmOptions { ensemble.jvmOptions = jvmOptions }
        ensemble.logLevel = record.logLevel ?? ensemble.logLevel
        ensemble.superUser = try ensemble.layout.ensureSuperUser()
        let request = try prepare(&record, ensemble)
        let settings = request.settings
        // The StatefulSet order knows no leader, so no hand-off either.
        let handOff = settings.order == .quorumSafe && settings.leaderHandOff
        let how = settings.order == .quorumSafe ? "quorum-safe order, leader hand-off \(handOff ? "on" : "off")" : "ordinal order, ready = answers ruok"
        progress("\(command) '\(recorded.name)': \(request.desiredReplicas) member\(request.desiredReplicas == 1 ? "" : "s") at revision \(request.revision), \(how)")
        let driver = LocalChangeDriver(ensemble: ensemble, record: record, stateDirectory: state, request: request, say: progress)
        if command == "roll" { try await driver.refuseWithStoppedMembers() }

        let result: Result<PlanDecision, any Error>
        var measurement: MeasurementReport?
        if options.measure {
            let layout = try ensemble.layout.resized(to: max(request.desiredReplicas, ensemble.layout.memberCount))
            let endpoints = layout.members.map {
                MemberEndpoint(ordinal: $0.ordinal, name: LocalChangeDriver.name($0.ordinal), host: $0.address, port: $0.clientPort)
            }
            // The writer talks to the members that are there from start to end.
            let stable = layout.members.prefix(min(request.desiredReplicas, ensemble.layout.memberCount)).map(\.clientEndpoint)
            let (outcome, report) = try await Measurement.run(members: stable, endpoints: endpoints, rate: options.rate) { try await driver.run() }
            result = outcome
            measurement = report
        } else {
            do { result = .success(try await driver.run()) } catch { result = .failure(error) }
        }
        await driver.close()
        let seconds = driver.elapsed

        var report = ChangeReport(
            ensemble: recorded.name, command: command, order: settings.order.rawValue, leaderHandOff: handOff,
            replicas: request.desiredReplicas, revision: request.revision, result: "failed", message: "", seconds: seconds,
            steps: driver.steps, measurement: measurement)
        switch result {
        case .success(let decision):
            report.result = decision.isDone ? "done" : "blocked"
            report.code = decision.reason.code
            report.message = decision.reason.message
        case .failure(let error):
            report.message = "\(error)"
        }
        if options.output == .json {
            print(try prettyJSON(report))
        }
        let verb = request.activity
        switch result {
        case .success(let decision) where decision.isDone:
            progress("\(verb) done in \(String(format: "%.1f", seconds)) s: \(decision.reason.message)")
        case .success(let decision):
            progress("\(verb) blocked after \(String(format: "%.1f", seconds)) s: \(decision.line)")
        case .failure(let error):
            progress("\(verb) failed after \(String(format: "%.1f", seconds)) s: \(error)")
        }
        if let measurement { progress(measurementText(measurement, verb: verb)) }
        if options.output == .text, case .success(let decision) = result, decision.isDone,
           let final = try LocalEnsembleLayout.loadRecord(name: recorded.name, stateDirectory: state) {
            printReport(LocalEnsemble(layout: final, installation: installation))
        }
        guard case .success(let decision) = result, decision.isDone else { throw ExitCode(1) }
    }
}

/// The --measure figures, one per line. Members down at once only means something for a
/// roll: scaling down stops members on purpose.
func measurementText(_ m: MeasurementReport, verb: String) -> String {
    let w = m.writes
    let lost = m.readBackError.map { "unknown: the writes could not be read back (\($0))" }
        ?? "\(w.lost.count) of \(w.acknowledged) acknowledged" + (w.lost.isEmpty ? "" : " (sequence numbers \(w.lost.prefix(20).map(String.init).joined(separator: ", ")))")
    var rows: [(String, String)] = [
        ("leader elections", "\(m.elections)" + (m.leaders.isEmpty ? "" : " (leaders seen: \(m.leaders.joined(separator: " -> ")))")),
        ("writes", "\(w.attempted) attempted, \(w.acknowledged) acknowledged, \(w.failed) failed (\(w.failedOutcomeUnknown) of unknown outcome, \(w.appliedUnacknowledged) of those applied)"),
        ("longest write gap", String(format: "%.2f s (ended %.1f s in)", w.longestGap, w.longestGapEndedAt)),
        ("lost writes", lost),
    ]
    if verb == "roll" { rows.append(("members down at once", "\(m.maxMembersDown)")) }
    rows.append(("\(verb) time", String(format: "%.1f s", m.seconds)))
    return "measured (writer at \(Int(m.writeRate)) writes/s, srvr of every member every 0.1 s):\n"
        + rows.map { "  " + $0.0.padding(toLength: 22, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
}
