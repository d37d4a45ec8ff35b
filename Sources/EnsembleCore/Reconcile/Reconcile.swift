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
    public var options: RenderOptions
    /// RFC 3339, for condition transitions.
    public var now: String

    public init(record: EnsembleRecord, children: [ObservedChild] = [], pods: [ObservedPod] = [], claims: [ObservedClaim] = [],
                members: [Int: MemberAnswer] = [:], options: RenderOptions = RenderOptions(), now: String) {
        self.record = record
        self.children = children
        self.pods = pods
        self.claims = claims
        self.members = members
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

    public var isEmpty: Bool { finalizer == .none && apply.isEmpty && delete.isEmpty && status == nil && events.isEmpty }
}

/// The reconcile decision, level-based on the Ensemble's key: it never learns why it runs.
/// Seam for the roll and scale planners: they take `MembershipGate`'s place and the member
/// pods to restart join the plan after `apply`.
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
        if let ensemble = record.ensemble, record.errors.isEmpty {
            hold = MembershipGate.hold(ensemble, statefulSet: statefulSet)
            let desired = DesiredChildren.render(MembershipGate.effective(ensemble, hold: hold), options: input.options)
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
        }
        let status = StatusComputation.compute(StatusInput(
            record: record, statefulSet: statefulSet,
            pods: input.pods.filter { $0.namespace == record.namespace && $0.instance == record.name },
            members: input.members, hold: hold, conflicts: conflicts, now: input.now))
        if status != record.status { plan.status = status }
        plan.events = TransitionEvents.between(record.status, status, changes: changes)
        return plan
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
