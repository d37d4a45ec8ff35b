import ZKConfig

/// Everything status is computed from: the cached objects, the members' last answers and the
/// time to stamp transitions with. No I/O, no clock.
public struct StatusInput: Sendable {
    public var record: EnsembleRecord
    public var statefulSet: StatefulSetState?
    public var pods: [ObservedPod]
    public var members: [Int: MemberAnswer]
    /// A membership change held back by `MembershipGate`.
    public var hold: MembershipGate.Hold?
    /// Children that exist under our names but belong to someone else.
    public var conflicts: [String]
    /// A roll or scale under way (`MemberChange`).
    public var memberChange: MemberChangeStep?
    /// ZooKeeper: the membership as last read; nil before it ever was.
    public var membership: DynamicConfig?
    /// RFC 3339 time for new transitions.
    public var now: String

    public init(record: EnsembleRecord, statefulSet: StatefulSetState?, pods: [ObservedPod], members: [Int: MemberAnswer] = [:],
                hold: MembershipGate.Hold? = nil, conflicts: [String] = [], memberChange: MemberChangeStep? = nil,
                membership: DynamicConfig? = nil, now: String) {
        self.record = record
        self.statefulSet = statefulSet
        self.pods = pods
        self.members = members
        self.hold = hold
        self.conflicts = conflicts
        self.memberChange = memberChange
        self.membership = membership
        self.now = now
    }
}

public enum StatusComputation {
    public static let reasonInvalidSpec = "InvalidSpec"

    /// Members that must serve for the ensemble to be available: a majority.
    public static func quorum(_ replicas: Int) -> Int { replicas / 2 + 1 }

    public static func compute(_ input: StatusInput) -> EnsembleStatus {
        let record = input.record
        let previous = record.status
        let generation = record.generation
        func condition(_ kind: Condition.Kind, _ state: Condition.State, _ reason: String, _ message: String) -> Condition {
            Condition.carryingTransition(
                Condition(type: kind, status: state, reason: reason, message: message, observedGeneration: generation,
                          lastTransitionTime: input.now),
                from: previous?.conditions ?? [])
        }

        guard let ensemble = record.ensemble, record.errors.isEmpty else {
            // Keep the figures last seen: an invalid spec touches nothing that runs.
            var status = previous ?? EnsembleStatus(observedGeneration: generation, phase: .invalid)
            let problems = record.errors.map(\.description).joined(separator: "; ")
            status.observedGeneration = generation
            status.phase = .invalid
            status.conditions = [
                condition(.available, previous?.condition(.available)?.status ?? .unknown,
                          previous?.condition(.available)?.reason ?? reasonInvalidSpec,
                          previous?.condition(.available)?.message ?? "the spec is invalid; nothing was created"),
                condition(.progressing, .isFalse, reasonInvalidSpec, "changes are not applied until the spec is fixed"),
                condition(.degraded, .isTrue, reasonInvalidSpec, problems),
            ]
            return status
        }

        let names = EnsembleNames(ensemble)
        // The members that should run now: the StatefulSet's count once it exists (the
        // membership planner moves it one member at a time towards spec.replicas).
        let wanted = input.statefulSet.map(\.specReplicas) ?? ensemble.spec.replicas
        let pods = input.pods.filter { $0.ordinal != nil }.sorted { $0.ordinal! < $1.ordinal! }
        let updateRevision = input.statefulSet?.updateRevision
        let isZooKeeper = ensemble.spec.engine == .zooKeeper

        var members: [EnsembleStatus.Member] = []
        for pod in pods {
            var member = EnsembleStatus.Member(name: pod.name, ordinal: pod.ordinal!, ready: pod.ready && !pod.deleting, revision: pod.revision)
            switch input.members[pod.ordinal!]?.answer {
            case .zooKeeper(let role, let zxid)?:
                member.role = role
                member.zxid = "0x" + String(zxid, radix: 16)
            case .cassandra(let version)?:
                member.cqlVersion = version
            case .failed(let reason)?:
                if isZooKeeper { member.role = "unknown" }
                member.message = reason
            case nil:
                break
            }
            members.append(member)
        }
        let ready = members.filter(\.ready).count
        let updated = updateRevision.map { revision in pods.filter { $0.revision == revision }.count } ?? 0
        let leaders = members.filter { $0.role == "leader" || (wanted == 1 && $0.role == "standalone") }
        let leader = leaders.count == 1 ? leaders[0].name : nil
        // ZooKeeper: a majority of the voters the live configuration has (a member being added
        // serves before it votes); without it, of the members that should run.
        let quorum = Self.quorum(isZooKeeper ? input.membership?.participantOrdinals.count ?? wanted : wanted)
        let everServed = [.running, .updating, .degraded].contains(previous?.phase) || previous?.condition(.available)?.status == .isTrue
        let stale = members.filter { updateRevision != nil && $0.revision != updateRevision }.map(\.name)

        // A roll or scale under way (done ones are over); a held step keeps what the status said.
        let change = input.memberChange.flatMap { $0.decision.isDone ? nil : $0 }
        let changeBlocked = change?.decision.isBlocked ?? false

        let phase: EnsembleStatus.Phase
        if input.statefulSet == nil {
            phase = .pending
        } else if let change {
            phase = change.decision.isBlocked || ready < quorum ? .degraded : .updating
        } else if ready < wanted {
            phase = everServed ? .degraded : .creating
        } else if input.hold != nil || !stale.isEmpty {
            phase = .updating
        } else {
            phase = .running
        }

        let leaderText = leader.map { "; leader \($0)" } ?? ""
        let counts = "\(ready) of \(wanted) members ready"
        let available = ready >= quorum
            ? condition(.available, .isTrue, "QuorumServing", "\(counts)\(leaderText)")
            : condition(.available, .isFalse, everServed ? "QuorumLost" : "MembersStarting", "\(counts), \(quorum) needed for a quorum")

        let progressing: Condition
        if let change, change.held, let kept = previous?.condition(.progressing) {
            progressing = kept
        } else if let change {
            let decision = change.decision
            var message = decision.line
            if change.activity == "Roll", case .off(let why)? = change.leaderHandOff, ensemble.spec.updateStrategy.leaderHandOff {
                message += " (leader hand-off unavailable: \(why); the leader restarts in place and the others elect once it is down)"
            }
            progressing = condition(.progressing, decision.isBlocked ? .isFalse : .isTrue, decision.reason.code, message)
        } else if let hold = input.hold {
            progressing = condition(.progressing, .isFalse, "ScalingHeld", hold.message)
        } else if input.statefulSet == nil {
            progressing = condition(.progressing, .isTrue, "Creating", "creating the \(ensemble.spec.engine.rawValue) children")
        } else if ready < wanted && !everServed {
            progressing = condition(.progressing, .isTrue, "MembersStarting", counts)
        } else if !stale.isEmpty {
            let manual = ensemble.spec.updateStrategy.type == "Manual"
            progressing = condition(.progressing, .isTrue, "RollPending",
                                    "\(stale.joined(separator: ", ")) run an older revision than \(updateRevision ?? "")" + (manual ? "; updateStrategy is Manual: delete those pods to update them" : ""))
        } else {
            progressing = condition(.progressing, .isFalse, "Stable", "every member runs the current revision")
        }

        let degraded: Condition
        if !input.conflicts.isEmpty {
            degraded = condition(.degraded, .isTrue, "ChildConflict",
                                 "\(input.conflicts.joined(separator: ", ")) exist but are not owned by this Ensemble; they were left alone")
        } else if let change, changeBlocked {
            degraded = condition(.degraded, .isTrue, change.decision.reason.code, change.decision.line)
        } else if change != nil && ready >= quorum {
            // One member at a time is down on purpose while it restarts.
            degraded = condition(.degraded, .isFalse, "AsExpected", "\(counts); \(change!.activity.lowercased()) under way")
        } else if everServed && ready < wanted {
            let missing = (0..<wanted).filter { ordinal in !members.contains { $0.ordinal == ordinal && $0.ready } }.map(names.pod)
            degraded = condition(.degraded, .isTrue, ready >= quorum ? "MembersNotReady" : "QuorumLost",
                                 "\(counts); not ready: \(missing.joined(separator: ", "))")
        } else {
            degraded = condition(.degraded, .isFalse, "AsExpected", counts)
        }

        return EnsembleStatus(
            observedGeneration: generation, phase: phase, replicas: pods.count, readyReplicas: ready, updatedReplicas: updated,
            leader: isZooKeeper ? leader : nil,
            selector: names.selectorLabels.keys.sorted().map { "\($0)=\(names.selectorLabels[$0]!)" }.joined(separator: ","),
            currentRevision: input.statefulSet?.currentRevision, updateRevision: updateRevision,
            members: members, memberChange: change.map { $0.held ? previous?.memberChange ?? $0.status(now: input.now) : $0.status(now: input.now) } ?? nil,
            membership: isZooKeeper ? input.membership.map { EnsembleStatus.Membership($0, names: names) } : nil,
            conditions: [available, progressing, degraded])
    }
}
