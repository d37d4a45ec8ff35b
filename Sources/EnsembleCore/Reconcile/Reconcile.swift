import ZKConfig

/// A child the plan creates or changes.
public struct ChildChange: Equatable, Sendable {
    public var kind: ChildKind
    public var name: String
    public var created: Bool
}

/// Everything a reconcile reads, from the caches: pure data.
public struct ReconcileInput: Sendable {
    public var record: EnsembleRecord
    public var children: [ObservedChild]
    public var pods: [ObservedPod]
    public var claims: [ObservedClaim]
    public var members: [Int: MemberAnswer]
    /// The operator's super-user Secrets (`SuperUserSecret`) in the Ensemble's namespace.
    public var secrets: [ObservedSecret]
    /// What else the members say: the live configuration, reconfigs in flight, freshness.
    public var live: LiveMembers
    public var options: RenderOptions
    /// RFC 3339, for condition transitions and the planners' clock.
    public var now: String

    public init(record: EnsembleRecord, children: [ObservedChild] = [], pods: [ObservedPod] = [], claims: [ObservedClaim] = [],
                members: [Int: MemberAnswer] = [:], secrets: [ObservedSecret] = [], live: LiveMembers = LiveMembers(),
                options: RenderOptions = RenderOptions(), now: String) {
        self.record = record
        self.children = children
        self.pods = pods
        self.claims = claims
        self.members = members
        self.secrets = secrets
        self.live = live
        self.options = options
        self.now = now
    }
}

/// What one reconcile does, in order: the finalizer step, children to apply, children to
/// delete, the status to write, events. Empty when nothing changed: zero writes.
public struct ReconcilePlan: Equatable, Sendable {
    public var finalizer: ClaimFinalizer.Step = .none
    public var apply: [DesiredChild] = []
    /// Children of ours that the spec no longer renders (a disabled PodDisruptionBudget).
    public var delete: [ObservedChild] = []
    /// nil: the stored status is already right.
    public var status: EnsembleStatus?
    public var events: [EnsembleEvent] = []
    /// A roll or scale under way: its step (nil when none is pending).
    public var memberChange: MemberChangeStep?
    /// What to do to the members now, after the children are applied: one action at most.
    public var memberAction: MemberAction? { memberChange?.action }
    /// ZooKeeper: keep `/zookeeper/config` read (a member change may be under way).
    public var wantsLiveConfig = false

    /// Seconds until this Ensemble is looked at again; nil: when something changes.
    public var requeueAfter: Double? { memberChange?.requeueAfter }

    public var isEmpty: Bool {
        finalizer == .none && apply.isEmpty && delete.isEmpty && status == nil && events.isEmpty && memberAction == nil
    }
}

/// The reconcile decision, level-based on the Ensemble's key: it never learns why it runs.
/// After the children, the member-change step (`MemberChange`): the membership planner, then
/// the roll planner, one action per reconcile.
public enum Reconciler {
    public static func plan(_ input: ReconcileInput) -> ReconcilePlan {
        var plan = ReconcilePlan()
        let record = input.record
        let wantsFinalizer = record.ensemble?.spec.storage.reclaimPolicy == "Delete"
        let claims = ClaimFinalizer.claims(of: record.name, in: input.claims)
        plan.finalizer = ClaimFinalizer.step(hasFinalizer: record.finalizers.contains(ClaimFinalizer.name), deleting: record.deleting,
                                             wanted: wantsFinalizer, claims: claims)
        // Being deleted: only the finalizer's work; the garbage collector removes the children.
        if record.deleting { return plan }
        // An invalid spec never removes a finalizer it cannot judge.
        if record.ensemble == nil || !record.errors.isEmpty, plan.finalizer == .remove { plan.finalizer = .none }

        let ours = input.children.filter { $0.namespace == record.namespace && $0.instance == record.name }
        let statefulSet = ours.first { $0.kind == .statefulSet && $0.controllerUID == record.uid }?.statefulSet
        var hold: MembershipGate.Hold?
        var conflicts: [String] = []
        var changes: [ChildChange] = []
        let ownPods = input.pods.filter { $0.namespace == record.namespace && $0.instance == record.name }
        var change: MemberChangeStep?
        var membership: DynamicConfig?
        if let ensemble = record.ensemble, record.errors.isEmpty {
            hold = MembershipGate.hold(ensemble, statefulSet: statefulSet)
            let superUser = SuperUserSecret.reference(SuperUserSecret.owned(by: record, in: input.secrets))
            let zooKeeper = ensemble.spec.engine == .zooKeeper
            // The ConfigMap stages what was last read; while nothing can be read, what it holds.
            let staged = zooKeeper ? stagedMembership(ours.first { $0.kind == .configMap && $0.controllerUID == record.uid }) : nil
            membership = zooKeeper ? input.live.config ?? staged.flatMap { $0.config.version > 0 ? $0.config : nil } : nil
            let left = staged.map { departures($0, live: input.live.config, desired: ensemble.spec.replicas) } ?? [:]
            let desired = DesiredChildren.render(MembershipGate.effective(ensemble, statefulSet: statefulSet), options: input.options,
                                                 superUser: superUser, membership: zooKeeper ? input.live.config ?? staged?.config : nil, left: left)
            for child in desired {
                let existing = input.children.first { $0.kind == child.kind && $0.namespace == child.namespace && $0.name == child.name }
                if let existing, existing.controllerUID != record.uid {
                    conflicts.append("\(child.kind.rawValue) \(child.name)")
                    continue
                }
                if needsApply(child, existing) {
                    plan.apply.append(child)
                    changes.append(ChildChange(kind: child.kind, name: child.name, created: existing == nil))
                }
            }
            plan.delete = ours.filter { child in
                child.controllerUID == record.uid && !child.deleting && !desired.contains { $0.kind == child.kind && $0.name == child.name }
            }
            // Members change only once the StatefulSet is as rendered (its update revision is
            // then the one to roll to). The membership planner takes the member count to
            // spec.replicas one member at a time; a held Cassandra shrink keeps the running count.
            if let statefulSet, !plan.apply.contains(where: { $0.kind == .statefulSet }) {
                let changeInput = MemberChangeInput(
                    record: record, ensemble: ensemble, statefulSet: statefulSet, desiredReplicas: hold?.running ?? ensemble.spec.replicas,
                    pods: ownPods, claims: claims, answers: input.members,
                    live: input.live, superUser: superUser, now: input.now, options: input.options)
                change = MemberChange.step(changeInput)
                // Read while a change may be under way, and once the members serve until the
                // membership is known (the status shows it, the ConfigMap stages it).
                let serving = input.members.values.contains { if case .zooKeeper(let role, _) = $0.answer { role == "leader" || role == "follower" } else { false } }
                plan.wantsLiveConfig = zooKeeper && ((change.map { !$0.decision.isDone } ?? false) || (membership == nil && serving))
            }
        }
        plan.memberChange = change
        let status = StatusComputation.compute(StatusInput(
            record: record, statefulSet: statefulSet, pods: ownPods,
            members: input.members, hold: hold, conflicts: conflicts, memberChange: change, membership: membership, now: input.now))
        if status != record.status { plan.status = status }
        plan.events = TransitionEvents.between(record.status, status, changes: changes) + memberChangeEvents(record.status, change)
        return plan
    }

    /// Every action is an Event (its reason the planner's: RestartingFollower, HandingOverLeadership,
    /// AddingToConfig, ...), and so are the start and the end of a roll or scale. Waits are
    /// not; a block is, through the Degraded condition.
    static func memberChangeEvents(_ previous: EnsembleStatus?, _ change: MemberChangeStep?) -> [EnsembleEvent] {
        guard let change else { return [] }
        var events: [EnsembleEvent] = []
        let decision = change.decision
        if previous?.memberChange == nil && !decision.isDone {
            let goal = change.activity == "Scaling" ? "scaling to \(change.desiredReplicas) members" : "roll to revision \(change.targetRevision)"
            events.append(EnsembleEvent(.normal, "\(change.activity)Started", "\(goal): \(decision.line)"))
        }
        if change.action != nil && !change.held {
            events.append(EnsembleEvent(.normal, decision.reason.code, decision.line))
        }
        if previous?.memberChange != nil, decision.isDone {
            events.append(EnsembleEvent(.normal, "\(change.activity)Complete", decision.reason.message))
        }
        return events
    }

    /// The membership a ZooKeeper ConfigMap of ours stages. One edited by hand into something
    /// unreadable counts as staging none: the apply that follows restores it.
    static func stagedMembership(_ configMap: ObservedChild?) -> StagedMembership? {
        guard let text = configMap?.membership else { return nil }
        do { return try StagedMembership.parse(text) } catch { return nil }
    }

    /// Servers a scale-down took out (`StagedMembership.left`): those the staged membership
    /// listed, at or above the desired count, that the live configuration no longer lists
    /// (from its version on). A server a leader hand-off takes out stays below the desired
    /// count and is not one. An entry goes once its server is a participant again: its volume
    /// is then the one it runs with (a fresh one, or the one it never stopped using).
    static func departures(_ staged: StagedMembership, live: DynamicConfig?, desired: Int) -> [Int: Int64] {
        var left = staged.left
        guard let live else { return left }
        for server in staged.config.servers where server.ordinal >= desired && live.server(ordinal: server.ordinal) == nil {
            left[server.id] = live.version
        }
        for id in left.keys where live.server(ordinal: id - 1)?.role == .participant { left[id] = nil }
        return left
    }

    /// Missing, rendered differently since the last apply, or scaled by someone else
    /// (`kubectl scale` leaves the hash annotation alone).
    static func needsApply(_ child: DesiredChild, _ existing: ObservedChild?) -> Bool {
        guard let existing else { return true }
        if existing.appliedHash != child.hash { return true }
        if let statefulSet = existing.statefulSet, statefulSet.specReplicas != child.body["spec"]?["replicas"]?.intValue { return true }
        return false
    }
}
