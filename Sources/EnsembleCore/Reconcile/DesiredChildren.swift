import ZKConfig

/// One rendered child, ready to apply, with the hash that says whether it needs applying.
public struct DesiredChild: Equatable, Sendable {
    public var kind: ChildKind
    public var name: String
    public var namespace: String
    /// The body sent with server-side apply; its metadata carries `appliedHashAnnotation`.
    public var body: Value
    public var hash: String
}

public enum DesiredChildren {
    /// The rendered children in apply order, each stamped with the hash of its own content.
    public static func render(_ ensemble: Ensemble, options: RenderOptions, superUser: SuperUserReference? = nil,
                              membership: DynamicConfig? = nil, left: [Int: Int64] = [:]) -> [DesiredChild] {
        Rendering.render(ensemble, options: options, superUser: superUser, membership: membership, left: left).compactMap { object in
            guard let kind = object["kind"]?.stringValue.flatMap(ChildKind.init(kind:)),
                  let name = object["metadata"]?["name"]?.stringValue else { return nil }
            // A StatefulSet's member count is compared on its own (`Reconciler.needsApply`): the
            // membership planner changes it with a patch, which must not look like a new body.
            var hashed = object
            if kind == .statefulSet { hashed["spec"]?["replicas"] = .null }
            let hash = fnv1a64(Emit.json(hashed, pretty: false))
            var body = object
            var annotations = body["metadata"]?["annotations"] ?? .object(Object())
            annotations[appliedHashAnnotation] = .string(hash)
            body["metadata"]?["annotations"] = annotations
            return DesiredChild(kind: kind, name: name, namespace: ensemble.metadata.namespace, body: body, hash: hash)
        }
    }
}

/// The member count of a running ensemble belongs to the membership planner (see
/// `effective`); this holds what it cannot do safely. A Cassandra node leaves only after
/// `nodetool decommission` has streamed its data away, which needs a command run inside its
/// pod (pods/exec, a streaming protocol the operator does not speak): a shrink is held, with
/// the commands that do it by hand. (ZooKeeper shrinks by reconfig; Cassandra grows one node
/// at a time through the planner.)
public enum MembershipGate {
    public struct Hold: Equatable, Sendable {
        public var running: Int
        public var wanted: Int
        /// Why, and what a person can do about it.
        public var message: String
    }

    public static func hold(_ ensemble: Ensemble, statefulSet: StatefulSetState?) -> Hold? {
        guard let running = statefulSet?.specReplicas, running > 0, running != ensemble.spec.replicas else { return nil }
        let wanted = ensemble.spec.replicas
        guard ensemble.spec.engine == .cassandra, wanted < running else { return nil }
        return Hold(running: running, wanted: wanted, message: decommissionByHand(ensemble, running: running))
    }

    /// The Ensemble to render: the spec, with the StatefulSet's own member count once it
    /// exists. Only the membership planner changes that count, one member at a time (it starts
    /// a member by raising it, stops one by lowering it); a count someone else set is its
    /// starting point too (members above the spec are taken out and stopped, missing ones
    /// started).
    public static func effective(_ ensemble: Ensemble, statefulSet: StatefulSetState?) -> Ensemble {
        guard let running = statefulSet?.specReplicas, running > 0 else { return ensemble }
        var effective = ensemble
        effective.spec.replicas = running
        return effective
    }

    /// What shrinking a ring takes, with the commands for its first node (`ScalePreview`'s).
    static func decommissionByHand(_ ensemble: Ensemble, running: Int) -> String {
        let names = EnsembleNames(ensemble)
        let wanted = ensemble.spec.replicas
        let first = running - 1
        let commands = ScalePreview.steps(for: ensemble, from: running).filter { $0.decision.ordinal == first }.compactMap(\.command)
        let steps = commands.map { "`\($0)`" }.joined(separator: ", once nodetool status no longer lists it ")
        let rest = (wanted..<first).reversed().map(names.pod)
        let then = rest.isEmpty ? "" : "; then the same for \(rest.joined(separator: ", "))"
        return "spec.replicas is \(wanted) but \(running) nodes run: a Cassandra node leaves only after nodetool decommission has streamed "
            + "its data to the others, and the operator runs no commands inside pods, so the ring is not shrunk. By hand, one node at a "
            + "time from the highest ordinal, each while every other node is UN: \(steps)\(then) (`zkctl plan scale -f FILE --from \(running)` "
            + "prints every step). The StatefulSet may then be lowered; its volume claims follow storage.reclaimPolicy. Every other change was applied"
    }
}
