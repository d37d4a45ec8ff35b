/// The rolling-update planner: given the desired revision and what the members look like now,
/// the one next thing to do. Pure (no I/O, no clock), and level-based: it keeps no state of
/// its own, so after an operator restart it resumes from observations alone and never
/// restarts a member that already runs the desired revision. The only thing a caller keeps is
/// the `StepClock` of a wait (for timeouts); losing it only makes a timeout fire later.
///
/// Run it when the membership planner has nothing to do (`MembershipPlanner.next` is done):
/// it rolls the members `0..<replicas` of the live configuration.
///
/// ZooKeeper, order quorum-safe. Each call finds the first state that applies, top to bottom:
///
///     Invalid       duplicate ordinals, no desired revision .............. blocked
///     Membership    members or voters beyond `replicas` (a scale is
///                   under way) .......................................... wait (membership first)
///     Stopping      a member is terminating .............................. wait for it
///                                                      after memberTimeout: blocked
///     OutsideConfig a member that belongs in /zookeeper/config is not in
///                   it (a leader hand-off, or one left half-done):
///                   at an old revision ................................... restart it at once (it holds
///                                    no vote; a removed leader commits nothing, so its clients
///                                    wait until it goes, and waiting for the election first
///                                    would only make them wait longer)
///                   at the new revision, not yet synced ................. wait for it
///                                                      after memberTimeout: blocked
///                   at the new revision, synced as a non-voter,
///                   and the grown config keeps a synced quorum .......... add it back (conditional
///                                                                          on the config version)
///     Rejoin        a member at the new revision does not serve, is not
///                   ready (its readiness probe: clients reach it only then)
///                   or has not caught up (same epoch as the leader, zxid
///                   within maxZxidLag); with no leader at all, does not
///                   answer .............................................. wait for it
///                                    after memberTimeout: blocked (counted from its restart
///                                    while it does not serve, so a member down since before
///                                    the roll blocks at once; a member that serves but lags
///                                    gets the whole timeout from when that was first seen)
///     Done          every member runs the new revision, a leader serves . done
///                   ... and no leader serves ............................ wait
///                                                      after stepTimeout: blocked
///     Manual        updateStrategy Manual ............................... wait, never restart
///     Restart       the next victim, in this order: missing members, members
///                   that do not answer, members answering without serving,
///                   observers (none of them holds a
///                   vote, so no gate), then followers from the highest
///                   ordinal down, the leader last. Gate before a voter:
///                   a leader; every other voter serves and has caught up;
///                   the leader reports them synced (zk_synced_followers);
///                   the voters left still make a quorum.
///                   gate not met ........................................ wait
///                                                      after stepTimeout: blocked
///                   the leader, hand-off on ............................. remove it from the config
///                                                                          -> OutsideConfig
///                   a voter of two (its restart would cost the quorum),
///                   hand-off on ......................................... remove it -> OutsideConfig
///                   a voter of two, hand-off off ........................ blocked
///                   the only voter ...................................... restart (no quorum to keep)
///                   otherwise ........................................... restart -> Stopping, Rejoin
///
/// A full roll therefore changes the leader exactly once: at the hand-off (the others elect
/// while the old leader still serves) or, with hand-off off, when the leader restarts last.
///
/// Cassandra: one member at a time; missing and unready members first, then from the highest
/// ordinal down; before restarting a ready member every other member is ready (CQL answers)
/// and, when `nodetool status` was read, Up/Normal; after it, wait until it is ready again.
///
/// Order `ordinal` reproduces the StatefulSet RollingUpdate for comparison: from the highest
/// ordinal down, restart the first member at an old revision; stop at the first member that
/// is not ready. No quorum gate, no leader awareness, no catch-up check.
public enum RollPlanner {
    public static func next(
        desiredRevision: String, replicas: Int, observation: EnsembleObservation,
        settings: PlanSettings, clock: StepClock? = nil
    ) -> PlanDecision {
        let view = EnsembleView(observation, settings: settings)
        if let invalid = validate(view, desiredRevision: desiredRevision, replicas: replicas) { return invalid }
        let roll = Roll(view: view, revision: desiredRevision, replicas: replicas, previous: clock)
        if settings.order == .ordinal { return roll.ordinalOrder() }
        switch settings.engine {
        case .zooKeeper: return roll.zooKeeper()
        case .cassandra: return roll.cassandra()
        }
    }

    static func validate(_ view: EnsembleView, desiredRevision: String, replicas: Int) -> PlanDecision? {
        var problems: [String] = []
        if !view.duplicates.isEmpty {
            problems.append("ordinals observed twice: \(view.duplicates.map(String.init).joined(separator: ", "))")
        }
        if desiredRevision.isEmpty { problems.append("the desired revision is empty") }
        if replicas < 1 { problems.append("replicas is \(replicas), not at least 1") }
        guard !problems.isEmpty else { return nil }
        return PlanDecision(.blocked, summary: "roll blocked",
                            PlanReason("InvalidObservation", "nothing is restarted: " + problems.joined(separator: "; ")))
    }
}

/// One evaluation of the roll; every property is derived from the observation.
private struct Roll: PlanEvaluation {
    let view: EnsembleView
    let revision: String
    let replicas: Int
    let previous: StepClock?
    var activity: String { "roll" }

    var ordinals: Range<Int> { 0..<replicas }
    func updated(_ o: Int) -> Bool { member(o).exists && member(o).revision == revision }
    var outdated: [Int] { ordinals.filter { !updated($0) } }
    var short: String { String(revision.prefix(12)) }
    func revisionText(_ o: Int) -> String { member(o).revision.map { "revision \($0.prefix(12))" } ?? "an unknown revision" }

    /// Voters: the participants of the live configuration, or every member when it is unknown
    /// (then nothing may be outside it).
    var voters: [Int] { view.config?.participantOrdinals ?? Array(ordinals) }
    var leader: Int? { view.leader(voters: voters.count) }

    func restart(_ o: Int, _ code: String, _ message: String) -> PlanDecision {
        decision(.restart(ordinal: o), "restart \(name(o))", code, message)
    }

    // MARK: ZooKeeper

    func zooKeeper() -> PlanDecision {
        if let d = membershipPending() { return d }
        if let d = stopping() { return d }
        if let d = outsideConfig() { return d }
        // Without a leader nobody can rejoin: a restarted member that answers has done its
        // part, and restarting the next member that does not serve may restore the quorum.
        let leader = self.leader
        if leader == nil {
            if let d = rejoin(serves: { member($0).reachable && !member($0).terminating }, catchUp: false) { return d }
        } else if let d = rejoin(serves: { (view.servesAsVoter($0, voters: voters.count) || (!voters.contains($0) && view.serves($0))) && member($0).ready },
                                 catchUp: true) { return d }
        let outdated = self.outdated
        if outdated.isEmpty {
            guard let leader else {
                return wait(for: nil, step: "quorum @ \(short)", timeout: settings.stepTimeout,
                            waiting: PlanReason("WaitingForQuorum", "all \(replicas) members run revision \(short), but no leader serves yet"),
                            timedOut: PlanReason("QuorumNotReady", "all \(replicas) members run revision \(short), but no leader was elected within \(seconds(settings.stepTimeout))"))
            }
            return decision(.done, "roll done", "RollComplete",
                            "all \(replicas) members run revision \(short) and serve, leader \(name(leader))")
        }
        if settings.manual { return manualWait(outdated) }
        return restartNext(outdated)
    }

    func membershipPending() -> PlanDecision? {
        let extra = Set(view.existingOrdinals.filter { $0 >= replicas } + voters.filter { $0 >= replicas }).sorted()
        guard let first = extra.first else { return nil }
        return decision(.wait(ordinal: first), "wait for scaling", "WaitingForMembership",
                        "\(name(first)) is beyond the desired \(replicas) members; the roll waits until scaling has removed it")
    }

    func stopping() -> PlanDecision? {
        guard let o = ordinals.first(where: { member($0).exists && member($0).terminating }) else { return nil }
        return wait(for: o, step: "stop \(o) @ \(short)", timeout: settings.memberTimeout,
                    waiting: PlanReason("WaitingForRestart", "\(name(o)) is stopping; it comes back at revision \(short)"),
                    timedOut: PlanReason("MemberStuckStopping", "\(name(o)) has been stopping for more than \(seconds(settings.memberTimeout)); the roll stops here"))
    }

    /// Members that belong in the configuration but are not in it: the middle of a leader
    /// hand-off, or one a crash left half-done. Handled before anything else is restarted.
    func outsideConfig() -> PlanDecision? {
        guard let config = view.config else { return nil }
        guard let o = ordinals.first(where: { config.server(ordinal: $0)?.role != .participant }) else { return nil }
        let version = config.versionText
        let newLeader = leader.flatMap { voters.contains($0) && $0 != o ? $0 : nil }
        if !updated(o) && !settings.manual {
            let rest = newLeader.map { "and \(name($0)) leads the rest" } ?? "while the rest elect a new leader"
            return restart(o, "RestartingOutsideConfig",
                           "\(name(o)) is outside the configuration (version \(version)) at \(revisionText(o)) \(rest); it is restarted at revision \(short) at once: it holds no vote, and its clients wait until it goes")
        }
        let what = updated(o) ? "runs revision \(short)" : "runs \(revisionText(o)) (updateStrategy Manual: not restarted)"
        guard view.serves(o), view.caughtUp(o, leader: newLeader) else {
            return wait(for: o, step: "sync \(o) outside @ \(short)", timeout: settings.memberTimeout,
                        startedAt: member(o).exists && updated(o) ? view.downSince(o) : nil,
                        waiting: PlanReason("WaitingForSync", "\(name(o)) \(what) outside the configuration; waiting until it serves and catches up before it is added back: \(view.lag(o, leader: newLeader))"),
                        timedOut: PlanReason("MemberDidNotSync", "\(name(o)) \(what) outside the configuration and did not catch up within \(seconds(settings.memberTimeout)): \(view.lag(o, leader: newLeader)); it is added back once it does"))
        }
        let grown = voters + [o]
        let synced = grown.filter { view.servesAsVoter($0, voters: grown.count) || $0 == o }.filter { view.caughtUp($0, leader: newLeader) }
        guard synced.count >= quorum(of: grown.count) else {
            return wait(for: o, step: "quorum to add \(o) @ \(version)", timeout: settings.stepTimeout,
                        waiting: PlanReason("WaitingForQuorum", "adding \(name(o)) back needs \(quorum(of: grown.count)) of \(grown.count) members synced; \(synced.count) are"),
                        timedOut: PlanReason("QuorumNotReady", "\(name(o)) was not added back: only \(synced.count) of \(grown.count) members were synced for \(seconds(settings.stepTimeout)), the new configuration needs \(quorum(of: grown.count))"))
        }
        return decision(.addToConfig(ordinal: o, fromVersion: config.version), "add \(name(o)) to the configuration", "AddingToConfig",
                        "\(name(o)) \(what) and has synced as a non-voting follower; it is added back as a participant (conditional on config version \(version))")
    }

    /// The gate after a restart: members at the new revision must serve and have caught up.
    func rejoin(serves: (Int) -> Bool, catchUp: Bool) -> PlanDecision? {
        let leader = catchUp ? self.leader : nil
        guard let o = ordinals.first(where: { updated($0) && !(serves($0) && (!catchUp || view.caughtUp($0, leader: leader))) })
        else { return nil }
        let why = catchUp ? view.lag(o, leader: leader) : view.settings.engine == .zooKeeper ? view.lag(o, leader: nil) : "\(name(o)) is not ready"
        let target = catchUp ? "serves and catches up with the leader" : view.settings.engine == .zooKeeper ? "answers (no leader serves, so it cannot rejoin yet)" : "is ready"
        return wait(for: o, step: "rejoin \(o) @ \(short)", timeout: settings.memberTimeout, startedAt: view.downSince(o),
                    waiting: PlanReason("WaitingForRejoin", "\(name(o)) runs revision \(short); waiting until it \(target): \(why)"),
                    timedOut: PlanReason("MemberDidNotRejoin", "\(name(o)) runs revision \(short) but did not rejoin within \(seconds(settings.memberTimeout)): \(why); the roll stops here"))
    }

    func manualWait(_ outdated: [Int]) -> PlanDecision {
        decision(.wait(ordinal: nil), "roll paused", "ManualUpdate",
                 "\(outdated.count) of \(replicas) members run an older revision (\(outdated.map(name).joined(separator: ", "))); updateStrategy is Manual: delete their pods to update them")
    }

    func restartNext(_ outdated: [Int]) -> PlanDecision {
        let voterCount = voters.count
        // No vote: missing, then not serving, then observers; highest ordinal first in each.
        let missing = outdated.filter { !member($0).exists }.sorted(by: >)
        if let o = missing.first {
            return restart(o, "RestartingMissingMember",
                           "\(name(o)) is missing; it is created at revision \(short) first, since it holds no vote")
        }
        // Those that do not answer before those that answer without serving: the latter may
        // only be waiting for a quorum the former would restore.
        let down = outdated.filter { !view.serves($0) }.sorted { (member($0).reachable ? 0 : 1, $0) > (member($1).reachable ? 0 : 1, $1) }
        if let o = down.first {
            return restart(o, "RestartingUnreadyMember",
                           "\(name(o)) runs \(revisionText(o)) and is not serving; it is restarted at revision \(short) first, since it holds no vote")
        }
        let nonVoters = outdated.filter { !voters.contains($0) || !view.servesAsVoter($0, voters: voterCount) }.sorted(by: >)
        if let o = nonVoters.first {
            return restart(o, "RestartingNonVoter",
                           "\(name(o)) serves as \(member(o).servingRole.rawValue) at \(revisionText(o)), without a vote; it is restarted at revision \(short)")
        }
        let leader = self.leader
        let followers = outdated.filter { $0 != leader }.sorted(by: >)
        let victim = followers.first ?? leader ?? outdated.max()!
        if let notMet = gate(before: victim, leader: leader) {
            return wait(for: victim, step: "gate \(victim) @ \(short)", timeout: settings.stepTimeout,
                        waiting: PlanReason("WaitingForQuorum", "before \(name(victim)) restarts: \(notMet)"),
                        timedOut: PlanReason("QuorumNotReady", "\(name(victim)) was not restarted: \(notMet), for more than \(seconds(settings.stepTimeout)); the roll stops here"))
        }
        let others = voterCount - 1
        let handOffPossible = settings.leaderHandOff && view.config != nil && voterCount >= 2
        if victim == leader && handOffPossible {
            let version = view.config!.versionText
            return decision(.removeFromConfig(ordinal: victim, fromVersion: view.config!.version),
                            "remove \(name(victim)) from the configuration", "HandingOverLeadership",
                            "\(name(victim)) leads and is the last member at \(revisionText(victim)); it leaves the configuration (conditional on version \(version)) so the other \(others) voters elect a new leader while it still serves")
        }
        if others < quorum(of: voterCount) {
            if voterCount == 1 {
                return restart(victim, "RestartingOnlyMember",
                               "\(name(victim)) is the only voter and runs \(revisionText(victim)); it is restarted at revision \(short), and the ensemble serves again once it is back")
            }
            if handOffPossible {
                let version = view.config!.versionText
                return decision(.removeFromConfig(ordinal: victim, fromVersion: view.config!.version),
                                "remove \(name(victim)) from the configuration", "RemovingBeforeRestart",
                                "restarting \(name(victim)) in place would leave \(others) of \(voterCount) voters, below the quorum of \(quorum(of: voterCount)); it leaves the configuration first (conditional on version \(version)) and is added back after its restart")
            }
            return decision(.blocked, "roll blocked at \(name(victim))", "QuorumTooSmall",
                            "restarting \(name(victim)) would leave \(others) of \(voterCount) voters, below the quorum of \(quorum(of: voterCount)), and leader hand-off is off; turn on updateStrategy.leaderHandOff or scale to 3 members")
        }
        if victim == leader {
            return restart(victim, "RestartingLeader",
                           "\(name(victim)) leads and is the last member at \(revisionText(victim)); the other \(others) voters serve and are synced, so it is restarted and they elect a new leader (leader hand-off is off)")
        }
        return restart(victim, "RestartingFollower",
                       "\(name(victim)) is a follower at \(revisionText(victim)); the other \(others) voters serve and are synced (quorum \(quorum(of: voterCount)) of \(voterCount)), so it is restarted at revision \(short)")
    }

    /// Why `victim` may not restart yet, or nil when the ensemble keeps a synced quorum without it.
    func gate(before victim: Int, leader: Int?) -> String? {
        let voterCount = voters.count
        if voterCount == 1 && voters == [victim] { return nil }
        guard let leader else { return "no member answers as the leader" }
        if settings.leaderHandOff && leader == victim && view.config == nil {
            return "/zookeeper/config could not be read, so leadership cannot be handed over"
        }
        for o in voters where o != victim {
            if !view.servesAsVoter(o, voters: voterCount) || !view.caughtUp(o, leader: leader) {
                return view.lag(o, leader: leader)
            }
        }
        let followers = voters.filter { $0 != leader && view.servesAsVoter($0, voters: voterCount) }.count
        guard let synced = view.observation.syncedFollowers else {
            return "the leader \(name(leader)) does not report its synced followers (mntr)"
        }
        if synced < followers {
            return "the leader \(name(leader)) reports \(synced) synced followers of \(followers) serving"
        }
        return nil
    }

    // MARK: Cassandra

    func cassandra() -> PlanDecision {
        if let d = membershipPending() { return d }
        if let d = stopping() { return d }
        if let d = rejoin(serves: { member($0).ready && member($0).exists }, catchUp: false) { return d }
        let outdated = self.outdated
        if outdated.isEmpty {
            return decision(.done, "roll done", "RollComplete", "all \(replicas) members run revision \(short) and are ready")
        }
        if settings.manual { return manualWait(outdated) }
        if let o = outdated.filter({ !member($0).exists }).max() {
            return restart(o, "RestartingMissingMember", "\(name(o)) is missing; it is created at revision \(short) first")
        }
        if let o = outdated.filter({ !member($0).ready }).max() {
            return restart(o, "RestartingUnreadyMember",
                           "\(name(o)) runs \(revisionText(o)) and is not ready; it is restarted at revision \(short) first, since it serves nothing")
        }
        let victim = outdated.max()!
        let notReady = ordinals.filter { $0 != victim && !member($0).ready }
        let notNormal = view.observation.ringKnown
            ? ordinals.filter { $0 != victim && member($0).ring != .upNormal } : []
        if let o = notReady.first ?? notNormal.first {
            let why = notReady.first != nil ? "\(name(o)) is not ready" : "\(name(o)) is \(member(o).ring?.description ?? "not in the ring"), not UN"
            return wait(for: victim, step: "gate \(victim) @ \(short)", timeout: settings.stepTimeout,
                        waiting: PlanReason("WaitingForRing", "before \(name(victim)) restarts: \(why)"),
                        timedOut: PlanReason("RingNotReady", "\(name(victim)) was not restarted: \(why), for more than \(seconds(settings.stepTimeout)); the roll stops here"))
        }
        return restart(victim, "RestartingMember",
                       "\(name(victim)) runs \(revisionText(victim)); every other member is ready, so it is restarted at revision \(short)")
    }

    // MARK: StatefulSet order (baseline)

    func ordinalOrder() -> PlanDecision {
        for o in ordinals.reversed() {
            let m = member(o)
            if !updated(o) && !m.terminating {
                return restart(o, "RestartingByOrdinal",
                               "\(name(o)) has the highest ordinal still at \(revisionText(o)); it is restarted at revision \(short) (StatefulSet order)")
            }
            if !m.ready || m.terminating {
                // A terminating pod's start time is the old pod's: the step clock counts instead.
                return wait(for: o, step: "rejoin \(o) @ \(short)", timeout: settings.memberTimeout, startedAt: m.terminating ? nil : m.startedAt,
                            waiting: PlanReason("WaitingForReady", "\(name(o)) runs revision \(short); waiting until it is ready"),
                            timedOut: PlanReason("MemberDidNotRejoin", "\(name(o)) did not become ready within \(seconds(settings.memberTimeout)); the roll stops here"))
            }
        }
        return decision(.done, "roll done", "RollComplete", "all \(replicas) members run revision \(short) and are ready")
    }
}
