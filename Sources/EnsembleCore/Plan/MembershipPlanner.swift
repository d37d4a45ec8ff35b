import ZKConfig

/// The membership (scaling) planner: given the desired replica count and what the ensemble
/// looks like now, the one next step. Pure and level-based like `RollPlanner`: every call
/// compares the live membership with the desired one, so a change a crash left half-done
/// (a member added but never started, a member removed but still running) is simply the next
/// step, and a reconfig planned from a config version that has since moved fails at
/// ZooKeeper and is planned again from the fresh observation.
///
/// The desired membership is ordinals `0..<desiredReplicas` as participants. A StatefulSet
/// runs ordinals `0..<replicas`, so members are started lowest ordinal first and stopped
/// highest first (`start` raises replicas to ordinal + 1, `stop` lowers them to the ordinal).
/// At creation the StatefulSet starts every member at once; this planner takes over from the
/// first configuration the ensemble reports.
///
/// ZooKeeper. Each call finds the first state that applies, top to bottom:
///
///     Invalid        duplicate ordinals, desiredReplicas < 1 ............... blocked
///     ConfigUnknown  /zookeeper/config unread: exactly 0..<desired exist ... done (nothing to
///                                                                             scale by count)
///                    otherwise ............................................ wait
///                                                         after stepTimeout: blocked
///     Stopping       a member above desiredReplicas is terminating ......... wait for it
///                                                         after memberTimeout: blocked
///     NotStarted     a member of the config below desiredReplicas has no
///                    pod or process (added but never started) .............. start it
///     Grow           the lowest ordinal below desiredReplicas that is not a
///                    participant (an observer is promoted the same way):
///                      runs an older revision than the roll's target ...... skipped: the roll
///                                                   restarts it and adds it back (leader hand-off)
///                      not running, the config's quorum not synced ....... wait
///                                                         after stepTimeout: blocked
///                      not running, its volume left from before ........... delete the volume
///                                                   (a reused ordinal never starts from stale data)
///                      not running ........................................ start it (it joins as a
///                                                                             non-voting follower)
///                      running, not yet serving and caught up ............. wait
///                                   after memberTimeout (from its start while it does not
///                                   serve, else from when it was seen lagging): blocked
///                      synced, the grown config would have a synced quorum  add it (conditional
///                                                                             on the config version)
///                      synced, it would not ............................... wait
///                                                         after stepTimeout: blocked
///     Shrink         the highest ordinal at or above desiredReplicas still
///                    present, one member at a time:
///                      in the config, the config without it keeps a synced
///                      quorum .............................................. remove it (conditional)
///                      in the config, it would not ........................ wait
///                                                         after stepTimeout: blocked
///                      outside the config, running ........................ stop it
///                      volume left, reclaim policy Delete ................. delete the volume
///     Done           the config lists exactly 0..<desired as participants and
///                    nothing above runs ................................... done
///
/// "Synced quorum" is ZooKeeper's own rule for a reconfig (else it fails with
/// NewConfigNoQuorum): a quorum of the new configuration serves and is in the leader's epoch
/// within maxZxidLag. Checking it before every step also makes each change wait for the
/// previous one to settle. A member always leaves the configuration before its pod goes away.
/// Scaling to 1 and back works because zoo.cfg sets standaloneEnabled=false; an even count is
/// allowed (the validator warns).
///
/// Cassandra:
///
///     RingUnknown    nodetool status unread: exactly 0..<desired exist .... done; otherwise wait
///     Stopping       a member above desiredReplicas is terminating ......... wait for it
///     Grow           the lowest ordinal below desiredReplicas that has not
///                    joined the ring (not running, not listed, UJ, or UL):
///                      leaving (a scale-down undone mid-way) ............... wait
///                                                  after streamingTimeout: blocked
///                      not running, another node is not UN and ready ..... wait
///                                                         after stepTimeout: blocked
///                      not running, its volume left from before ........... delete the volume
///                                                   (a decommissioned node never rejoins with it)
///                      not running ........................................ start it
///                      running, not listed yet or joining ................. wait
///                                                  after streamingTimeout (from its start): blocked
///     Shrink         the highest ordinal at or above desiredReplicas still present:
///                      UN, every other node in the ring UN and ready ...... decommission it
///                      UN, another node is not ............................ wait
///                      leaving (UL), joining or moving .................... wait
///                                                   after streamingTimeout: blocked
///                      down in the ring ................................... blocked (it cannot stream
///                                                          its data away; nodetool removenode is manual)
///                      out of the ring, running ........................... stop it
///                      volume left, reclaim policy Delete ................. delete the volume
///     Done           0..<desired have joined, nothing above is left ...... done (whatever their
///                                                          health: restarts are the roll's job)
///
/// One node joins or leaves at a time, and only while every other node is UN and ready.
/// (The planner cannot see keyspace replication factors: scaling below a keyspace's RF is the
/// user's call.)
public enum MembershipPlanner {
    /// - Parameter desiredRevision: the roll's target revision, when a roll may be under way:
    ///   a member outside the configuration that runs an older revision is then left to the
    ///   roll planner (it restarts it before adding it back). nil adds such members back as is.
    public static func next(
        desiredReplicas: Int, observation: EnsembleObservation, settings: PlanSettings,
        desiredRevision: String? = nil, clock: StepClock? = nil
    ) -> PlanDecision {
        let view = EnsembleView(observation, settings: settings)
        var problems: [String] = []
        if !view.duplicates.isEmpty {
            problems.append("ordinals observed twice: \(view.duplicates.map(String.init).joined(separator: ", "))")
        }
        if desiredReplicas < 1 { problems.append("desired replicas is \(desiredReplicas), not at least 1") }
        if !problems.isEmpty {
            return PlanDecision(.blocked, summary: "scaling blocked",
                                PlanReason("InvalidObservation", "nothing is changed: " + problems.joined(separator: "; ")))
        }
        let scale = Scale(view: view, desired: desiredReplicas, revision: desiredRevision, previous: clock)
        switch settings.engine {
        case .zooKeeper: return scale.zooKeeper()
        case .cassandra: return scale.cassandra()
        }
    }
}

private struct Scale: PlanEvaluation {
    let view: EnsembleView
    let desired: Int
    let revision: String?
    let previous: StepClock?
    var activity: String { "scaling" }

    func running(_ o: Int) -> Bool { member(o).exists }

    /// The members present beyond the desired count, highest first.
    func present(above: Set<Int>) -> [Int] {
        Set(view.existingOrdinals + view.observedOrdinals.filter { member($0).hasVolume } + Array(above))
            .filter { $0 >= desired }.sorted(by: >)
    }

    /// Nothing to plan from when the membership cannot be read, unless the members that exist
    /// are exactly the desired ones.
    func unknown(_ what: String, step: String) -> PlanDecision {
        if view.existingOrdinals == Array(0..<desired) {
            return decision(.done, "scaling done", "MembershipUnverified",
                            "exactly members 0 to \(desired - 1) exist, so nothing is scaled; \(what) could not be read to confirm the membership")
        }
        return wait(for: nil, step: step, timeout: settings.stepTimeout,
                    waiting: PlanReason("WaitingForMembership", "\(what) could not be read; scaling waits for it"),
                    timedOut: PlanReason("MembershipUnknown", "\(what) could not be read for \(seconds(settings.stepTimeout)); scaling to \(desired) members stops here"))
    }

    /// A member above the desired count that is stopping. (One below it that is stopping is
    /// being restarted by a roll: not a membership matter.)
    func stopping() -> PlanDecision? {
        guard let o = view.observedOrdinals.first(where: { $0 >= desired && member($0).exists && member($0).terminating })
        else { return nil }
        return wait(for: o, step: "stop \(o)", timeout: settings.memberTimeout,
                    waiting: PlanReason("WaitingForStop", "\(name(o)) is stopping"),
                    timedOut: PlanReason("MemberStuckStopping", "\(name(o)) has been stopping for more than \(seconds(settings.memberTimeout)); scaling stops here"))
    }

    /// The first step of removing an ordinal's leftovers once it is out of the membership.
    func removeLeftovers(_ o: Int) -> PlanDecision? {
        if running(o) {
            return decision(.stop(ordinal: o), "stop \(name(o))", "StoppingMember",
                            "\(name(o)) is above the desired \(desired) members and out of the membership; it is stopped")
        }
        if member(o).hasVolume && settings.deleteVolumesOnScaleDown {
            return decision(.deleteVolume(ordinal: o), "delete the volume of \(name(o))", "DeletingVolume",
                            "\(name(o)) left and stopped; its volume is deleted (storage.reclaimPolicy Delete)")
        }
        return nil
    }

    func staleVolume(_ o: Int, _ why: String) -> PlanDecision? {
        guard member(o).hasVolume && !running(o) else { return nil }
        return decision(.deleteVolume(ordinal: o), "delete the stale volume of \(name(o))", "DeletingStaleVolume",
                        "\(name(o)) is about to start, and its volume is left from before it \(why); it is deleted first so the member never starts from stale data")
    }

    // MARK: ZooKeeper

    func zooKeeper() -> PlanDecision {
        guard let config = view.config else { return unknown("/zookeeper/config", step: "config") }
        if let d = stopping() { return d }
        let participants = config.participantOrdinals
        let inConfig = Set(config.servers.map(\.ordinal))
        let leader = view.leader(voters: participants.count)
        let version = config.versionText
        /// Members of `set` that serve (as voters, or `joiner` as a learner) and have caught up.
        func synced(_ set: [Int], joiner: Int? = nil) -> [Int] {
            set.filter { ($0 == joiner ? view.serves($0) : view.servesAsVoter($0, voters: set.count)) && view.caughtUp($0, leader: leader) }
        }
        func quorumNote(_ set: [Int], _ s: [Int]) -> String {
            "\(s.count) of its \(set.count) members serve and are synced, it needs \(quorum(of: set.count))"
        }

        if let o = config.servers.map(\.ordinal).first(where: { $0 < desired && !running($0) }) {
            return decision(.start(ordinal: o), "start \(name(o))", "StartingConfiguredMember",
                            "\(name(o)) is in the configuration (version \(version)) but has no pod or process; it is started")
        }

        var deferred: [Int] = []
        for o in 0..<desired where config.server(ordinal: o)?.role != .participant {
            if let revision, running(o), member(o).revision != revision, !inConfig.contains(o) {
                deferred.append(o)
                continue
            }
            if !running(o) {
                let s = synced(participants)
                guard s.count >= quorum(of: participants.count) else {
                    return wait(for: o, step: "quorum to start \(o) @ \(version)", timeout: settings.stepTimeout,
                                waiting: PlanReason("WaitingForQuorum", "before \(name(o)) starts, the configuration (version \(version)) must have a synced quorum: \(quorumNote(participants, s))"),
                                timedOut: PlanReason("QuorumNotReady", "\(name(o)) was not started: for \(seconds(settings.stepTimeout)) \(quorumNote(participants, s)); scaling stops here"))
                }
                if let d = staleVolume(o, "left the configuration") { return d }
                return decision(.start(ordinal: o), "start \(name(o))", "StartingMember",
                                "scaling to \(desired) members: \(name(o)) starts and joins as a non-voting follower of configuration \(version)")
            }
            guard view.serves(o), view.caughtUp(o, leader: leader) else {
                return wait(for: o, step: "sync \(o)", timeout: settings.memberTimeout, startedAt: view.downSince(o),
                            waiting: PlanReason("WaitingForSync", "\(name(o)) runs; waiting until it serves and catches up before it is added: \(view.lag(o, leader: leader))"),
                            timedOut: PlanReason("MemberDidNotSync", "\(name(o)) did not catch up within \(seconds(settings.memberTimeout)): \(view.lag(o, leader: leader)); scaling stops here"))
            }
            let grown = participants + [o]
            let s = synced(grown, joiner: o)
            guard s.count >= quorum(of: grown.count) else {
                return wait(for: o, step: "quorum to add \(o) @ \(version)", timeout: settings.stepTimeout,
                            waiting: PlanReason("WaitingForQuorum", "before \(name(o)) is added, the new configuration needs a synced quorum: \(quorumNote(grown, s))"),
                            timedOut: PlanReason("QuorumNotReady", "\(name(o)) was not added: for \(seconds(settings.stepTimeout)) \(quorumNote(grown, s)); scaling stops here"))
            }
            let was = config.server(ordinal: o)?.role == .observer ? "an observer" : "a non-voting follower"
            return decision(.addToConfig(ordinal: o, fromVersion: config.version), "add \(name(o)) to the configuration", "AddingMember",
                            "\(name(o)) has synced as \(was); it is added as a participant (conditional on config version \(version)), making \(grown.count) voters")
        }

        for o in present(above: inConfig) {
            if inConfig.contains(o) {
                let rest = participants.filter { $0 != o }
                let s = synced(rest)
                guard !rest.isEmpty, s.count >= quorum(of: rest.count) else {
                    return wait(for: o, step: "quorum to remove \(o) @ \(version)", timeout: settings.stepTimeout,
                                waiting: PlanReason("WaitingForQuorum", "before \(name(o)) leaves, the configuration without it needs a synced quorum: \(quorumNote(rest, s))"),
                                timedOut: PlanReason("QuorumNotReady", "\(name(o)) was not removed: for \(seconds(settings.stepTimeout)) \(quorumNote(rest, s)); scaling stops here"))
                }
                let lead = o == leader ? " (it leads: the rest elect a new leader)" : ""
                return decision(.removeFromConfig(ordinal: o, fromVersion: config.version), "remove \(name(o)) from the configuration", "RemovingMember",
                                "scaling to \(desired) members: \(name(o)) leaves the configuration (conditional on version \(version))\(lead) before it stops")
            }
            if let d = removeLeftovers(o) { return d }
        }

        if let o = deferred.first {
            return decision(.done, "scaling done", "HandOffInProgress",
                            "\(name(o)) is outside the configuration at an older revision: the roll restarts it and then adds it back")
        }
        return decision(.done, "scaling done", "MembershipComplete",
                        "the configuration (version \(version)) lists exactly the \(desired) desired members as participants")
    }

    // MARK: Cassandra

    func cassandra() -> PlanDecision {
        guard view.observation.ringKnown else { return unknown("nodetool status", step: "ring") }
        if let d = stopping() { return d }
        func healthy(_ o: Int) -> Bool { running(o) && member(o).ready && member(o).ring == .upNormal }
        let inRing = Set(view.observedOrdinals.filter { member($0).ring != nil })

        for o in 0..<desired {
            if let ring = member(o).ring, ring.state == .leaving {
                // Scaled back up during its decommission, which cannot be undone: it leaves first.
                return wait(for: o, step: "leave \(o)", timeout: settings.streamingTimeout,
                            waiting: PlanReason("WaitingForDecommission", "\(name(o)) is \(ring) from an earlier scale-down; it has to leave the ring before it can join again"),
                            timedOut: PlanReason("DecommissionTimedOut", "\(name(o)) is still \(ring) after \(seconds(settings.streamingTimeout)); scaling stops here"))
            }
            if let ring = member(o).ring, running(o), ring.state != .joining { continue }
            if !running(o) {
                if let other = view.existingOrdinals.first(where: { $0 != o && !healthy($0) }) {
                    return ringWait(before: "\(name(o)) starts", other, step: "ring to start \(o)")
                }
                if let d = staleVolume(o, "was decommissioned") { return d }
                return decision(.start(ordinal: o), "start \(name(o))", "StartingMember",
                                "scaling to \(desired) nodes: \(name(o)) starts and joins the ring (one node at a time)")
            }
            let state = member(o).ring?.description ?? "not in the ring yet"
            return wait(for: o, step: "join \(o)", timeout: settings.streamingTimeout, startedAt: member(o).startedAt,
                        waiting: PlanReason("WaitingForJoin", "\(name(o)) is \(state); waiting until it has joined the ring"),
                        timedOut: PlanReason("NodeDidNotJoin", "\(name(o)) did not join the ring within \(seconds(settings.streamingTimeout)) of its start (now \(state)); scaling stops here"))
        }

        for o in present(above: inRing) {
            if let ring = member(o).ring {
                if !ring.up {
                    return decision(.blocked, "scaling blocked at \(name(o))", "NodeDown",
                                    "\(name(o)) is \(ring) in the ring: a down node cannot stream its data away; bring it back, or remove it with nodetool removenode from another node")
                }
                if ring.state != .normal {
                    return wait(for: o, step: "leave \(o)", timeout: settings.streamingTimeout,
                                waiting: PlanReason("WaitingForDecommission", "\(name(o)) is \(ring); waiting until it has left the ring"),
                                timedOut: PlanReason("DecommissionTimedOut", "\(name(o)) is still \(ring) after \(seconds(settings.streamingTimeout)); scaling stops here"))
                }
                // Every node that stays, and every other node still in the ring (they take
                // over its ranges), must be UN and ready.
                let others = Set(0..<desired).union(inRing).subtracting([o]).sorted()
                if let other = others.first(where: { !healthy($0) }) {
                    return ringWait(before: "\(name(o)) is decommissioned", other, step: "ring to decommission \(o)")
                }
                return decision(.decommission(ordinal: o), "decommission \(name(o))", "DecommissioningNode",
                                "scaling to \(desired) nodes: \(name(o)) is decommissioned (it streams its data to the others and leaves the ring) before it stops")
            }
            if let d = removeLeftovers(o) { return d }
        }
        return decision(.done, "scaling done", "MembershipComplete", "the ring has exactly the \(desired) desired nodes")
    }

    func ringWait(before what: String, _ other: Int, step: String) -> PlanDecision {
        let state = member(other).ring?.description ?? "not in the ring"
        let why = "\(name(other)) is \(state)\(member(other).ready ? "" : " and not ready")"
        return wait(for: other, step: step, timeout: settings.stepTimeout,
                    waiting: PlanReason("WaitingForRing", "before \(what), every node must be UN and ready: \(why)"),
                    timedOut: PlanReason("RingNotReady", "for \(seconds(settings.stepTimeout)) \(why), so nothing else changes; scaling stops here"))
    }
}

/// Any member change, one step at a time: the membership planner first (who belongs to the
/// ensemble, and repairs of a change left half-done), the roll planner once it is done. Local
/// mode and the operator both call this, so they take the same steps in the same order.
public enum ChangePlanner {
    /// Which planner decided.
    public enum Stage: Sendable, Equatable { case membership, roll }

    public static func next(desiredReplicas: Int, desiredRevision: String, observation: EnsembleObservation,
                            settings: PlanSettings, clock: StepClock?) -> (decision: PlanDecision, stage: Stage) {
        let decision = MembershipPlanner.next(desiredReplicas: desiredReplicas, observation: observation, settings: settings,
                                              desiredRevision: desiredRevision, clock: clock)
        guard decision.isDone else { return (decision, .membership) }
        return (RollPlanner.next(desiredRevision: desiredRevision, replicas: desiredReplicas, observation: observation,
                                 settings: settings, clock: clock), .roll)
    }
}
