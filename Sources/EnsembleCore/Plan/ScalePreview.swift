import ZKConfig

/// A dry run of scaling: the steps `MembershipPlanner` takes to go from `current` members to
/// the spec's replicas, and the command each would issue, if every step succeeded at once.
/// Nothing is contacted: the planner is driven by an idealised ensemble that does what each
/// action asks (a started member joins, a decommissioned node leaves the ring).
///
/// For Cassandra, where a real ring cannot be exercised here, this is how the planner's
/// commands are shown: `nodetool decommission` in the member, then the StatefulSet scaled
/// down, then the PVC by the reclaim policy; scaling up one node at a time.
public enum ScalePreview {
    public struct Step: Equatable, Sendable {
        /// Config versions cannot be known ahead: messages show `<version>`, actions carry 0.
        public var decision: PlanDecision
        /// What the operator issues for it (kubectl or zkCli syntax); nil for waits and the end.
        public var command: String?
    }

    public static func steps(for ensemble: Ensemble, from current: Int) -> [Step] {
        var model = IdealEnsemble(ensemble: ensemble, members: current)
        let settings = PlanSettings(spec: ensemble.spec)
        var steps: [Step] = []
        // Each member needs at most a handful of steps; the bound only guards against a loop.
        for _ in 0..<(8 * (max(current, ensemble.spec.replicas) + 2)) {
            let decision = MembershipPlanner.next(desiredReplicas: ensemble.spec.replicas, observation: model.observation,
                                                  settings: settings)
            switch decision.action {
            case .done, .blocked:
                steps.append(Step(decision: model.withoutVersions(decision), command: nil))
                return steps
            case .wait:
                steps.append(Step(decision: decision, command: nil))
                model.settle()
            default:
                steps.append(Step(decision: decision, command: model.command(for: decision.action)))
                model.apply(decision.action)
            }
            steps[steps.count - 1].decision = model.withoutVersions(steps[steps.count - 1].decision)
        }
        return steps
    }

    /// Numbered lines: what happens, then the command indented below it.
    public static func render(_ steps: [Step]) -> String {
        var lines: [String] = []
        for (index, step) in steps.enumerated() {
            lines.append("\(index + 1). \(step.decision.line)")
            if let command = step.command { lines.append("     $ \(command)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// An ensemble in which every action succeeds and every pending change completes on `settle`.
private struct IdealEnsemble {
    let ensemble: Ensemble
    let engine: Engine
    let names: EnsembleNames
    var members: [Int: MemberObservation] = [:]
    var participants: [Int]
    var leader = 0
    /// The live version is unknown ahead of time: the model's own versions are shown as
    /// `<version>` (see `withoutVersions`), and counted up from here.
    static let firstVersion: Int64 = 0x7e57_0000_0000
    var version = IdealEnsemble.firstVersion
    var zxid = Zxid(epoch: 1, counter: 100)
    /// Started members that have not joined yet, and Cassandra nodes still leaving the ring.
    var joining: Set<Int> = []
    var leaving: Set<Int> = []

    init(ensemble: Ensemble, members count: Int) {
        self.ensemble = ensemble
        engine = ensemble.spec.engine
        names = EnsembleNames(ensemble)
        participants = Array(0..<count)
        for o in 0..<count { members[o] = joined(o) }
    }

    func joined(_ o: Int) -> MemberObservation {
        let zooKeeper = engine == .zooKeeper
        return MemberObservation(ordinal: o, name: names.pod(o), ready: true, reachable: zooKeeper,
                                 role: zooKeeper ? (o == leader ? .leader : .follower) : .notServing,
                                 zxid: zooKeeper ? zxid : nil, hasVolume: true, ring: zooKeeper ? nil : .upNormal)
    }

    var observation: EnsembleObservation {
        let config = engine == .zooKeeper
            ? DynamicConfig(servers: participants.map { .init(id: $0 + 1, role: .participant, value: serverValue($0)) }, version: version)
            : nil
        return EnsembleObservation(members: Array(members.values), config: config, syncedFollowers: participants.count - 1,
                                   ringKnown: engine == .cassandra, now: .zero, namePrefix: "\(names.statefulSet)-")
    }

    /// The decision with the model's config versions replaced by `<version>`, like the commands.
    func withoutVersions(_ decision: PlanDecision) -> PlanDecision {
        var d = decision
        for v in IdealEnsemble.firstVersion...version {
            let text = "0x" + String(v, radix: 16)
            d.reason.message = d.reason.message.replacing(text, with: "<version>")
            d.summary = d.summary.replacing(text, with: "<version>")
        }
        switch d.action {
        case .addToConfig(let o, _): d.action = .addToConfig(ordinal: o, fromVersion: 0)
        case .removeFromConfig(let o, _): d.action = .removeFromConfig(ordinal: o, fromVersion: 0)
        default: break
        }
        return d
    }

    func serverValue(_ o: Int) -> String { Rendering.serverValue(ensemble, ordinal: o) }

    mutating func apply(_ action: PlanAction) {
        switch action {
        case .start(let o):
            members[o] = MemberObservation(ordinal: o, name: names.pod(o), ready: false, reachable: true, hasVolume: true)
            joining.insert(o)
        case .stop(let o):
            members[o] = .missing(ordinal: o, name: names.pod(o), hasVolume: members[o]?.hasVolume ?? false)
        case .deleteVolume(let o):
            members[o]?.hasVolume = false
        case .decommission(let o):
            members[o]?.ring = RingStatus(up: true, state: .leaving)
            leaving.insert(o)
        case .addToConfig(let o, _):
            participants = (participants + [o]).sorted()
            version += 1
        case .removeFromConfig(let o, _):
            participants.removeAll { $0 == o }
            version += 1
            if o == leader, let next = participants.first {
                leader = next
                zxid = Zxid(epoch: zxid.epoch + 1, counter: 0)
                for p in members.keys where members[p]?.exists == true { members[p] = joined(p) }
            }
        case .restart, .wait, .done, .blocked:
            break
        }
    }

    /// Completes what is pending: started members join, leaving nodes are gone.
    mutating func settle() {
        for o in joining { members[o] = joined(o) }
        for o in leaving {
            members[o]?.ring = nil
            members[o]?.ready = false
        }
        joining = []
        leaving = []
    }

    func command(for action: PlanAction) -> String? {
        let ns = "-n \(names.namespace)"
        switch action {
        case .start(let o): return "kubectl \(ns) scale statefulset \(names.statefulSet) --replicas=\(o + 1)"
        case .stop(let o): return "kubectl \(ns) scale statefulset \(names.statefulSet) --replicas=\(o)"
        case .deleteVolume(let o): return "kubectl \(ns) delete pvc \(names.volumeClaim(o))"
        case .decommission(let o): return "kubectl \(ns) exec \(names.pod(o)) -c cassandra -- nodetool decommission"
        case .addToConfig(let o, _):
            // Quoted: the ';' before the client port would end the command in a shell.
            return "zkCli.sh -server \(names.clientService):2181 reconfig -v <version> -add 'server.\(o + 1)=\(serverValue(o))'"
        case .removeFromConfig(let o, _):
            return "zkCli.sh -server \(names.clientService):2181 reconfig -v <version> -remove \(o + 1)"
        case .restart(let o): return "kubectl \(ns) delete pod \(names.pod(o))"
        case .wait, .done, .blocked: return nil
        }
    }
}
