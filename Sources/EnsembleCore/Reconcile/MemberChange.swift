import ZKConfig

/// What the members say beyond the cached objects, gathered off the apply path (the member
/// prober's answers travel in `ReconcileInput.members`; this is the rest).
public struct LiveMembers: Equatable, Sendable {
    /// `/zookeeper/config` as last read; nil when unread or unreadable (no quorum).
    public var config: DynamicConfig?
    /// A reconfig the operator sent has not finished (its outcome may still be settling).
    public var reconfigInFlight: Bool
    /// Why the members refused the operator's last reconfig for good (not authorized,
    /// reconfig disabled); nil when they did not.
    public var reconfigRefused: String?
    /// The answers and the configuration were gathered after the operator's last action and
    /// recently enough to act on. Decisions are made either way; actions wait for this.
    public var fresh: Bool

    public init(config: DynamicConfig? = nil, reconfigInFlight: Bool = false, reconfigRefused: String? = nil, fresh: Bool = false) {
        self.config = config
        self.reconfigInFlight = reconfigInFlight
        self.reconfigRefused = reconfigRefused
        self.fresh = fresh
    }
}

/// One thing the shell does to the members: at most one per reconcile.
public enum MemberAction: Equatable, Sendable {
    /// Delete exactly this pod (its uid as precondition): the StatefulSet recreates it at the
    /// update revision (OnDelete).
    case deletePod(name: String, uid: String)
    /// A version-conditional reconfig (`addToConfig`/`removeFromConfig`); `serverValue` is
    /// what follows `server.N=` for a member being added.
    case reconfig(PlanAction, serverValue: String)
    /// Set the StatefulSet's replicas.
    case scaleStatefulSet(replicas: Int)
    /// Delete a member's volume claim.
    case deleteClaim(name: String)
}

/// Whether the leader hands leadership over before it restarts.
public enum LeaderHandOff: Equatable, Sendable {
    case on
    /// Off, and why: the leader restarts in place and the others elect once it is down.
    case off(String)

    public var isOn: Bool { self == .on }
    public var text: String {
        switch self {
        case .on: return "on"
        case .off(let why): return "off: \(why)"
        }
    }
}

/// Everything the member-change step reads: pure data.
public struct MemberChangeInput: Sendable {
    public var record: EnsembleRecord
    public var ensemble: Ensemble
    public var statefulSet: StatefulSetState
    /// The member count to reach: spec.replicas (the running count while a Cassandra shrink
    /// is held, `MembershipGate`).
    public var desiredReplicas: Int
    public var pods: [ObservedPod]
    public var claims: [ObservedClaim]
    public var answers: [Int: MemberAnswer]
    public var live: LiveMembers
    public var superUser: SuperUserReference?
    /// Now, RFC 3339.
    public var now: String
    /// How members name each other (`server.N` values for a member being added).
    public var options: RenderOptions

    public init(record: EnsembleRecord, ensemble: Ensemble, statefulSet: StatefulSetState, desiredReplicas: Int, pods: [ObservedPod],
                claims: [ObservedClaim], answers: [Int: MemberAnswer], live: LiveMembers, superUser: SuperUserReference?, now: String,
                options: RenderOptions = RenderOptions()) {
        self.record = record
        self.ensemble = ensemble
        self.statefulSet = statefulSet
        self.desiredReplicas = desiredReplicas
        self.pods = pods
        self.claims = claims
        self.answers = answers
        self.live = live
        self.superUser = superUser
        self.now = now
        self.options = options
    }
}

/// The member-change step of one reconcile.
public struct MemberChangeStep: Equatable, Sendable {
    public var decision: PlanDecision
    /// "Scaling" (the member count changes) or "Roll".
    public var activity: String
    public var targetRevision: String
    /// What to do now; nil while waiting, done or blocked, or held.
    public var action: MemberAction?
    /// The decision calls for an action, but the observations are not fresh enough to act on
    /// (or a reconfig is still in flight): nothing is done, the status keeps the last step.
    public var held: Bool
    public var leaderHandOff: LeaderHandOff?
    /// Seconds until the next look; nil once done. The prober and watches wake it sooner.
    public var requeueAfter: Double?
    /// `server.N=...` lines of members taken out of the configuration, to add back as they were.
    public var leftConfiguration: [String] = []
    /// The member count the change works towards.
    public var desiredReplicas = 0

    /// The status entry for this step; nil once the change is done.
    public func status(now: String) -> EnsembleStatus.MemberChange? {
        guard !decision.isDone else { return nil }
        return EnsembleStatus.MemberChange(
            activity: activity, step: decision.summary, targetRevision: targetRevision, leaderHandOff: leaderHandOff?.text,
            waitingFor: decision.clock?.step, waitingSince: decision.clock.map { Timestamp.text(seconds: $0.since.components.seconds) },
            leftConfiguration: leftConfiguration)
    }
}

/// The member-change step: the membership planner first (it owns who belongs to the
/// ensemble), the roll planner only once it is done (see both planners' opening comments),
/// one action per reconcile, and a requeue while waiting. Pure: the shell gathers the
/// observations off the apply path and performs the action.
public enum MemberChange {
    /// Seconds between looks while a planner waits, and after a block (both also wake on
    /// any change the watches or the prober see).
    public static let waitInterval = 1.0
    public static let blockedInterval = 10.0
    /// While an action waits for fresh observations.
    public static let heldInterval = 0.25

    /// Whether a member change may be under way, so the planners run and the live
    /// configuration is kept read: members at another revision than the StatefulSet's update
    /// revision, a member stopping, a change the status says is unfinished, a member the
    /// leader syncs without a vote (outside the configuration), or a member count to reach.
    public static func pending(_ input: MemberChangeInput) -> Bool {
        guard let revision = input.statefulSet.updateRevision else { return false }
        if input.record.status?.memberChange != nil { return true }
        if input.desiredReplicas != input.statefulSet.specReplicas { return true }
        for pod in input.pods where pod.ordinal != nil {
            if pod.deleting || pod.revision != revision { return true }
        }
        if input.answers.values.contains(where: { ($0.syncedNonVotingFollowers ?? 0) > 0 }) { return true }
        if let config = input.live.config, config.participantOrdinals != Array(0..<input.desiredReplicas) { return true }
        // A removed member's volume that storage.reclaimPolicy Delete says goes.
        if input.ensemble.spec.storage.reclaimPolicy == "Delete" {
            if input.claims.contains(where: {
                !$0.deleting && (ClaimFinalizer.ordinal(ofClaim: $0.name, statefulSet: input.record.name) ?? -1) >= input.desiredReplicas
            }) {
                return true
            }
        }
        return false
    }

    /// The StatefulSet controller has seen the current template: its update revision is the
    /// one members roll to. Until then nothing is decided.
    public static func settled(_ statefulSet: StatefulSetState) -> Bool {
        statefulSet.updateRevision != nil && statefulSet.observedGeneration >= statefulSet.generation
    }

    public static func step(_ input: MemberChangeInput) -> MemberChangeStep? {
        guard settled(input.statefulSet), let revision = input.statefulSet.updateRevision, pending(input) else { return nil }
        let spec = input.ensemble.spec
        let handOff = spec.engine == .zooKeeper ? leaderHandOff(input) : nil
        var settings = PlanSettings(spec: spec)
        settings.leaderHandOff = handOff?.isOn ?? false
        let observation = observe(input)
        let clock = stepClock(input.record.status?.memberChange)
        let (decision, stage) = ChangePlanner.next(desiredReplicas: input.desiredReplicas, desiredRevision: revision, observation: observation,
                                                   settings: settings, clock: clock)
        // Lines of members taken out earlier (from the status, so an operator restart keeps
        // them), kept until the change is over: a read from a member that has not seen the
        // removal yet must not lose one, and a line kept too long only re-adds its member as
        // it was.
        let left = (input.record.status?.memberChange?.leftConfiguration ?? []).filter { serverOrdinal($0) != nil }
        // Scaling: what the membership planner decides (the member count, or a membership a
        // crash left half-changed), but for adding back a member a hand-off took out, which
        // belongs to the roll like everything the roll planner decides.
        let handedOff = decision.ordinal.map { o in left.contains { serverOrdinal($0) == o } } ?? false
        let activity = stage == .membership && !handedOff ? "Scaling" : "Roll"
        var step = MemberChangeStep(decision: decision, activity: activity, targetRevision: revision, action: nil, held: false,
                                    leaderHandOff: handOff, requeueAfter: nil, leftConfiguration: left, desiredReplicas: input.desiredReplicas)
        switch decision.action {
        case .done:
            return step
        case .wait:
            step.requeueAfter = waitInterval
            return step
        case .blocked:
            step.requeueAfter = blockedInterval
            return step
        default:
            break
        }
        if case .addToConfig = decision.action, let refused = input.live.reconfigRefused {
            step.decision = PlanDecision(.blocked, summary: "\(activity.lowercased()) blocked: \(decision.summary)",
                                         PlanReason("ReconfigRefused", "\(decision.summary) is needed, but the members refused the operator's reconfig: \(refused)"),
                                         clock: decision.clock)
            step.requeueAfter = blockedInterval
            return step
        }
        let action = self.action(for: decision.action, input, left: left)
        guard let action else {
            // Nothing for the shell to do (the StatefulSet recreates a missing pod itself):
            // look again shortly.
            step.requeueAfter = waitInterval
            return step
        }
        if !input.live.fresh || input.live.reconfigInFlight {
            step.held = true
            step.requeueAfter = heldInterval
            return step
        }
        step.action = action
        step.requeueAfter = waitInterval
        if case .removeFromConfig(let o, _) = decision.action, let server = input.live.config?.server(ordinal: o) {
            step.leftConfiguration = left.filter { serverOrdinal($0) != o } + ["server.\(server.id)=\(server.value)"]
        }
        return step
    }

    /// The ordinal of a `server.N=...` line.
    static func serverOrdinal(_ line: String) -> Int? {
        guard line.hasPrefix("server."), let equals = line.firstIndex(of: "="),
              let id = Int(line[line.index(line.startIndex, offsetBy: 7)..<equals]) else { return nil }
        return id - 1
    }

    /// The shell's action for a planner's, nil when there is nothing to do.
    static func action(for action: PlanAction, _ input: MemberChangeInput, left: [String] = []) -> MemberAction? {
        let names = EnsembleNames(input.ensemble)
        let pods = input.pods
        switch action {
        case .restart(let o):
            // A missing pod is recreated by the StatefulSet, already at the update revision.
            guard let pod = pods.first(where: { $0.ordinal == o && !$0.deleting }) else { return nil }
            return .deletePod(name: pod.name, uid: pod.uid)
        case .addToConfig(let o, _):
            // A member taken out is added back as it was; any other as rendered in zoo.cfg.
            if let line = left.first(where: { serverOrdinal($0) == o }), let equals = line.firstIndex(of: "=") {
                return .reconfig(action, serverValue: String(line[line.index(after: equals)...]))
            }
            return .reconfig(action, serverValue: Rendering.serverValue(input.ensemble, ordinal: o, options: input.options))
        case .removeFromConfig:
            return .reconfig(action, serverValue: "")
        case .start(let o):
            return input.statefulSet.specReplicas < o + 1 ? .scaleStatefulSet(replicas: o + 1) : nil
        case .stop(let o):
            return input.statefulSet.specReplicas > o ? .scaleStatefulSet(replicas: o) : nil
        case .deleteVolume(let o):
            let claim = names.volumeClaim(o)
            return input.claims.contains { $0.name == claim && !$0.deleting } ? .deleteClaim(name: claim) : nil
        case .decommission, .wait, .done, .blocked:
            return nil
        }
    }

    /// Hand-off needs the operator's super user on the members it reconfigures through: on
    /// when the spec asks for it and a serving member's pod was started with the current one.
    static func leaderHandOff(_ input: MemberChangeInput) -> LeaderHandOff {
        guard input.ensemble.spec.updateStrategy.leaderHandOff else { return .off("spec.updateStrategy.leaderHandOff is false") }
        guard let superUser = input.superUser else {
            return .off("the operator's super-user Secret does not exist yet, so no reconfig is possible")
        }
        if let refused = input.live.reconfigRefused { return .off("the members refused the operator's reconfig: \(refused)") }
        let ready = input.pods.filter { $0.ready && !$0.deleting && $0.superUser == superUser.digestHash }
        guard !ready.isEmpty else {
            return .off("no serving member runs with the operator's super user yet (members get it when they restart at this revision)")
        }
        return .on
    }

    static func stepClock(_ change: EnsembleStatus.MemberChange?) -> StepClock? {
        guard let step = change?.waitingFor, let since = change?.waitingSince.flatMap(Timestamp.seconds) else { return nil }
        return StepClock(step: step, since: .seconds(since))
    }

    /// The planners' view: every ordinal with a pod or a claim, and every desired one.
    public static func observe(_ input: MemberChangeInput) -> EnsembleObservation {
        let names = EnsembleNames(input.ensemble)
        var ordinals = Set(0..<input.desiredReplicas)
        var podByOrdinal: [Int: ObservedPod] = [:]
        for pod in input.pods {
            guard let o = pod.ordinal else { continue }
            ordinals.insert(o)
            // Of two pods claiming one ordinal (never in a StatefulSet), the live one counts.
            if podByOrdinal[o] == nil || podByOrdinal[o]!.deleting { podByOrdinal[o] = pod }
        }
        // A claim being deleted still counts: a member started before it is gone would get it
        // (with its old data) or none; the step that deleted it waits until it is gone.
        var claimed: Set<Int> = []
        for claim in input.claims {
            if let o = ClaimFinalizer.ordinal(ofClaim: claim.name, statefulSet: names.statefulSet) {
                claimed.insert(o)
                ordinals.insert(o)
            }
        }
        let zooKeeper = input.ensemble.spec.engine == .zooKeeper
        var members: [MemberObservation] = []
        var syncedFollowers: Int?
        for o in ordinals.sorted() {
            guard let pod = podByOrdinal[o] else {
                if o < input.statefulSet.specReplicas {
                    // Between a pod's deletion and its successor's creation: the StatefulSet
                    // recreates it at once. Stopping, not missing: a missing member below the
                    // desired count would be started afresh (its volume taken for a stale one).
                    members.append(MemberObservation(ordinal: o, name: names.pod(o), exists: true, terminating: true, revision: nil,
                                                     ready: false, reachable: false, hasVolume: claimed.contains(o)))
                } else {
                    members.append(.missing(ordinal: o, name: names.pod(o), hasVolume: claimed.contains(o)))
                }
                continue
            }
            let answer = input.answers[o].flatMap { $0.podUID == nil || $0.podUID == pod.uid ? $0 : nil }
            var role = MemberRole.notServing
            var zxid: Zxid?
            var reachable = false
            switch answer?.answer {
            case .zooKeeper(let mode, let z)?:
                role = MemberRole(mode: mode)
                zxid = Zxid(z)
                reachable = true
            case .cassandra?:
                reachable = true
            case .failed?:
                reachable = answer?.answered ?? false
            case nil:
                break
            }
            if role == .leader, let synced = answer?.syncedFollowers { syncedFollowers = synced }
            let started = pod.created.flatMap(Timestamp.seconds).map { Duration.seconds($0) }
            members.append(MemberObservation(
                ordinal: o, name: pod.name, exists: true, terminating: pod.deleting, revision: pod.revision,
                ready: pod.ready && !pod.deleting, reachable: reachable, role: zooKeeper ? role : .notServing, zxid: zxid,
                startedAt: started, hasVolume: claimed.contains(o)))
        }
        if !zooKeeper {
            // nodetool status cannot be read (it needs a command run in a pod): a node whose CQL
            // port answers (ready) counts as Up/Normal, since native transport opens only after
            // bootstrap and closes on drain; one that does not, as not (yet) in the ring.
            for index in members.indices { members[index].ring = members[index].ready ? .upNormal : nil }
        }
        return EnsembleObservation(members: members, config: zooKeeper ? input.live.config : nil, syncedFollowers: syncedFollowers,
                                   ringKnown: !zooKeeper, now: .seconds(Timestamp.seconds(input.now) ?? 0), namePrefix: "\(names.statefulSet)-")
    }
}

extension MemberRole {
    /// From `srvr`'s mode ("leader", "follower", "observer", "standalone", "read-only").
    public init(mode: String) {
        switch mode {
        case "leader": self = .leader
        case "follower": self = .follower
        case "observer": self = .observer
        case "standalone": self = .standalone
        default: self = .notServing
        }
    }
}
