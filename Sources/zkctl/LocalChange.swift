import EnsembleCore
import Foundation
import LocalEnsemble
import NetCore
import ZKConfig
import ZooKeeperOps

/// What one `zkctl local roll` or `scale` works towards.
struct ChangeRequest {
    /// "roll" or "scaling", for messages.
    var activity: String
    var desiredReplicas: Int
    /// The revision every member should run: a roll's new one, or the recorded one.
    var revision: String
    var settings: PlanSettings
    /// Order `ordinal` gates on readiness as the StatefulSet tutorials probe it: `ruok`, which
    /// a member answers as soon as its port is open, serving or not.
    var readyMeansAnswers: Bool { settings.order == .ordinal }
}

/// One step of a plan for a JSON report: one a run took (with when and how long), or one a
/// dry run shows (with the command that does it by hand).
struct StepRecord: Encodable {
    var action: String
    /// The ordinal the step is about.
    var member: Int?
    var summary: String
    var code: String
    var message: String
    /// Seconds since the run began, when the step began, and how long it took.
    var at: Double?
    var seconds: Double?
    /// What a reconfig came to.
    var outcome: String?
    /// A dry run's command.
    var command: String?

    init(_ decision: PlanDecision, at: Double? = nil, seconds: Double? = nil, outcome: String? = nil, command: String? = nil) {
        action = LocalChangeDriver.actionName(decision.action)
        member = decision.ordinal
        summary = decision.summary
        code = decision.reason.code
        message = decision.reason.message
        self.at = at
        self.seconds = seconds
        self.outcome = outcome
        self.command = command
    }
}

struct ChangeFailure: ReportedError {
    var description: String
}

/// Drives the membership and roll planners against a local ensemble until they are done or
/// blocked: observe (processes, `member.json`, srvr and mntr, `/zookeeper/config`), ask the
/// membership planner and, once membership has nothing to do, the roll planner, perform the
/// one action, again. Level-based like the planners: everything it needs is observed afresh
/// each round, so a run interrupted anywhere (Ctrl-C included) leaves a state the next run
/// continues from. It keeps only the step clock of a wait, and the ensemble's record up to
/// date with the members.
final class LocalChangeDriver {
    private var ensemble: LocalEnsemble
    private var record: LocalEnsembleRecord
    private let stateDirectory: String
    let request: ChangeRequest
    /// Progress lines (stdout, or stderr when the report is JSON).
    private let say: (String) -> Void
    private var session: ConfigSession?
    private var sessionMembers: [String] = []
    private(set) var steps: [StepRecord] = []
    let origin = monotonicNanoseconds()
    /// How often the ensemble is observed while waiting.
    static let pollInterval: UInt64 = 50_000_000

    init(ensemble: LocalEnsemble, record: LocalEnsembleRecord, stateDirectory: String, request: ChangeRequest, say: @escaping (String) -> Void) {
        self.ensemble = ensemble
        self.record = record
        self.stateDirectory = stateDirectory
        self.request = request
        self.say = say
    }

    var elapsed: Double { Double(monotonicNanoseconds() - origin) / 1e9 }

    static func name(_ ordinal: Int) -> String { "member \(ordinal + 1)" }

    /// "[ 12.3s] " before every progress line.
    func stamp(_ at: Double) -> String { "[" + String(format: "%6.1f", at) + "s] " }

    // MARK: Observing

    /// The layout covering every member that may be touched: the recorded ones, the desired
    /// ones, and any whose directory a scale-down left behind.
    private func workingLayout() throws -> LocalEnsembleLayout {
        let recorded = try record.layout(stateDirectory: stateDirectory)
        let count = max(record.addresses.count, request.desiredReplicas, try recorded.memberDirectoryIDs().max() ?? 0)
        return try recorded.resized(to: count)
    }

    /// What the planners read, and the live configuration (nil when it could not be read).
    private func observe() async throws -> (EnsembleObservation, DynamicConfig?) {
        ensemble.layout = try workingLayout()
        let members = ensemble.members
        let processes = ensemble.processStates(members)
        let running = zip(members, processes).filter { $0.1.isRunning }.map(\.0)
        let endpoints = running.map { MemberEndpoint(ordinal: $0.ordinal, name: Self.name($0.ordinal), host: $0.address, port: $0.clientPort) }
        async let fetched = EnsembleAnswers.fetch(endpoints, timeout: 1)
        let config = await readConfig(running: running)
        let answers = await fetched
        var observed: [MemberObservation] = []
        for (member, process) in zip(members, processes) {
            let hasVolume = FileManager.default.fileExists(atPath: member.dataDir)
            guard process.isRunning else {
                if hasVolume || member.ordinal < request.desiredReplicas {
                    observed.append(.missing(ordinal: member.ordinal, name: Self.name(member.ordinal), hasVolume: hasVolume))
                }
                continue
            }
            let start = try MemberStart.load(of: member)
            var observation = MemberObservation(
                ordinal: member.ordinal, name: Self.name(member.ordinal), answer: answers.members[member.ordinal] ?? .unreachable,
                revision: start?.revision, startedAt: start?.startedAt.map { .seconds($0) }, hasVolume: hasVolume)
            if request.readyMeansAnswers { observation.ready = observation.reachable }
            observed.append(observation)
        }
        let observation = EnsembleObservation(members: observed, config: config, syncedFollowers: answers.syncedFollowers,
                                              now: .seconds(Date().timeIntervalSince1970))
        return (observation, config)
    }

    /// Reads `/zookeeper/config` through the control session, (re)connecting it to the
    /// running members when they changed; members started with the super user first, since
    /// the member a session talks to is the one that checks its reconfigs' rights.
    private func readConfig(running: [LocalMember]) async -> DynamicConfig? {
        if running.isEmpty { return nil }
        // Checking who runs with the super user reads each member's process: only on (re)connect.
        if session == nil || Set(running.map(\.clientEndpoint)) != Set(sessionMembers) {
            await session?.close()
            session = nil
            let withSuperUser = running.map { ensemble.runsWithSuperUser($0) }
            let wanted = (zip(running, withSuperUser).filter { $0.1 } + zip(running, withSuperUser).filter { !$0.1 }).map(\.0.clientEndpoint)
            do {
                session = try await ConfigSession.connect(members: wanted, superUser: ensemble.superUser, requestTimeout: 2, connectTimeout: 2)
                sessionMembers = wanted
            } catch {
                return nil
            }
        }
        guard case .success(let config) = await session!.readConfig() else { return nil }
        return config
    }

    func close() async {
        await session?.close()
        session = nil
    }

    /// A roll starts only from an ensemble whose voters all run: a member a person stopped
    /// (or one that crashed) is not the roll's to start, and restarting another member
    /// beside it would leave the ensemble with less margin than the roll promises. Members an
    /// interrupted run of this roll stopped are its own, and are started again.
    func refuseWithStoppedMembers() async throws {
        let (observation, config) = try await observe()
        guard let config else {
            throw ChangeFailure(description: "the roll does not start: /zookeeper/config cannot be read, so the ensemble has no quorum; `zkctl local status \(ensemble.layout.name)` shows why, `zkctl local up -f FILE` starts members that are down")
        }
        let voters = config.participantOrdinals
        var down: [String] = []
        for o in voters where !(observation.members.first { $0.ordinal == o }?.exists ?? false) {
            guard let member = ensemble.layout.member(id: o + 1) else { continue }
            if try MemberStart.load(of: member)?.pendingRevision == request.revision { continue }
            let state = ensemble.processState(member)
            down.append("\(Self.name(o)) is \(state == .stopped ? "stopped" : "not running (\(state))")")
        }
        guard !down.isEmpty else { return }
        let serving = voters.filter { o in observation.members.first { $0.ordinal == o }?.servingRole ?? .notServing != .notServing }.count
        let quorum = voters.count / 2 + 1
        throw ChangeFailure(description: "the roll does not start: \(down.joined(separator: ", ")). A roll restarts one member at a time while every other voter serves; "
            + "now \(serving) of \(voters.count) voters serve, so restarting another would leave \(max(0, serving - 1)), and the quorum is \(quorum). "
            + "Start \(down.count == 1 ? "it" : "them") first (`zkctl local up -f FILE`), then roll")
    }

    // MARK: Running

    /// Runs until the planners say done or blocked; returns that last decision. Throws when
    /// an action fails (the message says which and why).
    func run() async throws -> PlanDecision {
        var clock: StepClock?
        var waiting: (decision: PlanDecision, since: Double, lastShown: Double)?
        var actions = 0
        // Each member needs a handful of actions; far more means the planners and the
        // ensemble disagree, and going on would not help.
        let actionLimit = 12 * (max(record.addresses.count, request.desiredReplicas) + 2)
        var refusals: (action: PlanAction, since: Double)?

        func endWait() {
            guard let w = waiting else { return }
            let seconds = elapsed - w.since
            steps.append(StepRecord(w.decision, at: w.since, seconds: seconds))
            say(stamp(w.since) + "waited \(String(format: "%.1f", seconds)) s (\(w.decision.summary)): \(w.decision.reason.message)")
            waiting = nil
        }

        while true {
            let (observation, config) = try await observe()
            let decision = ChangePlanner.next(desiredReplicas: request.desiredReplicas, desiredRevision: request.revision,
                                              observation: observation, settings: request.settings, clock: clock).decision
            clock = decision.clock
            switch decision.action {
            case .done, .blocked:
                endWait()
                try syncRecord(config: config)
                return decision
            case .wait:
                let now = elapsed
                if let w = waiting, w.decision.summary == decision.summary, w.decision.reason.code == decision.reason.code {
                    if now - w.lastShown >= 10 {
                        say(stamp(now) + "still waiting after \(Int(now - w.since)) s (\(decision.summary)): \(decision.reason.message)")
                        waiting?.lastShown = now
                    }
                } else {
                    endWait()
                    waiting = (decision, now, now)
                }
                try await Task.sleep(nanoseconds: Self.pollInterval)
            default:
                endWait()
                actions += 1
                if actions > actionLimit {
                    throw ChangeFailure(description: "\(request.activity) stopped after \(actionLimit) steps without finishing; the last was: \(decision.line)")
                }
                let started = elapsed
                let outcome = try await perform(decision, config: config)
                let seconds = elapsed - started
                steps.append(StepRecord(decision, at: started, seconds: seconds, outcome: outcome.map { "\($0)" }))
                say(stamp(started) + "\(decision.summary) (\(String(format: "%.2f", seconds)) s): \(decision.reason.message)")
                if let outcome {
                    say(String(repeating: " ", count: 10) + "reconfig \(outcome)")
                    switch outcome {
                    case .applied, .unknown:
                        refusals = nil
                    case .refused(let reason):
                        let hint = ensemble.members.contains(where: ensemble.runsWithSuperUser) ? ""
                            : "; no member runs with this ensemble's super user (they were started before zkctl kept one): "
                                + "`zkctl local roll \(ensemble.layout.name) --no-leader-hand-off` restarts them with it without a reconfig"
                        throw ChangeFailure(description: "\(decision.summary) was refused: \(reason)\(hint)")
                    case .notApplied, .superseded:
                        // Planned again from a fresh observation; a change ZooKeeper keeps
                        // refusing (NewConfigNoQuorum) stops once the step timeout has passed.
                        if let r = refusals, r.action == decision.action {
                            if elapsed - r.since > Double(request.settings.stepTimeout.components.seconds) {
                                throw ChangeFailure(description: "\(decision.summary) kept failing for \(request.settings.stepTimeout.components.seconds) s: \(outcome)")
                            }
                        } else {
                            refusals = (decision.action, elapsed)
                        }
                        try await Task.sleep(nanoseconds: 500_000_000)
                    }
                }
                try syncRecord(config: config)
            }
        }
    }

    static func actionName(_ action: PlanAction) -> String {
        switch action {
        case .restart: return "restart"
        case .start: return "start"
        case .stop: return "stop"
        case .addToConfig: return "addToConfig"
        case .removeFromConfig: return "removeFromConfig"
        case .decommission: return "decommission"
        case .deleteVolume: return "deleteVolume"
        case .wait: return "wait"
        case .done: return "done"
        case .blocked: return "blocked"
        }
    }

    /// Performs one action; a reconfig's outcome is returned, everything else throws when
    /// it fails.
    private func perform(_ decision: PlanDecision, config: DynamicConfig?) async throws -> ReconfigOutcome? {
        let layout = ensemble.layout
        func member(_ o: Int) throws -> LocalMember {
            guard let m = layout.member(id: o + 1) else { throw ChangeFailure(description: "no member \(o + 1) in \(layout.ensembleDirectory)") }
            return m
        }
        switch decision.action {
        case .restart(let o):
            let m = try member(o)
            if ensemble.processState(m).isRunning { try ensemble.markRestarting(m, revision: request.revision) }
            try ensemble.stop(m)
            try recordMember(o)
            try ensemble.start(m, revision: request.revision, servers: ensemble.startMembership(for: m, live: config))
        case .start(let o):
            let m = try member(o)
            // Recorded first, so `down` and `status` know it even if this run ends right after.
            try recordMember(o)
            try ensemble.start(m, revision: request.revision, servers: ensemble.startMembership(for: m, live: config))
        case .stop(let o):
            try ensemble.stop(try member(o))
        case .deleteVolume(let o):
            try ensemble.deleteFiles(of: try member(o))
        case .addToConfig, .removeFromConfig:
            guard let session else { return .notApplied(reason: "no session with the ensemble") }
            return await session.perform(decision.action, serverValue: { o in
                layout.member(id: o + 1).map { layout.serverValue(of: $0) } ?? ""
            })
        case .decommission:
            throw ChangeFailure(description: "\(decision.summary): local mode runs ZooKeeper only")
        case .wait, .done, .blocked:
            break
        }
        return nil
    }

    // MARK: The record

    /// Adds members up to `ordinal` to the record before one is started.
    private func recordMember(_ ordinal: Int) throws {
        guard ordinal >= record.addresses.count else { return }
        record.addresses = try ensemble.layout.resized(to: ordinal + 1).addresses
        try record.save(stateDirectory: stateDirectory)
    }

    /// Makes the recorded members follow the membership: the desired ones, and any above them
    /// that still runs or is in the configuration.
    private func syncRecord(config: DynamicConfig?) throws {
        let layout = try workingLayout()
        let members = layout.members
        let running = zip(members, ensemble.processStates(members)).filter { $0.1.isRunning }.map(\.0.ordinal)
        let configured = config?.servers.map(\.ordinal) ?? Array(0..<record.addresses.count)
        let count = max(request.desiredReplicas, (running + configured).map { $0 + 1 }.max() ?? 0)
        guard count != record.addresses.count else { return }
        record.addresses = try layout.resized(to: count).addresses
        try record.save(stateDirectory: stateDirectory)
    }
}
