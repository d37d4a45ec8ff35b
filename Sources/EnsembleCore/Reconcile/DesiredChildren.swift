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
    public static func render(_ ensemble: Ensemble, options: RenderOptions, superUser: SuperUserReference? = nil) -> [DesiredChild] {
        Rendering.render(ensemble, options: options, superUser: superUser).compactMap { object in
            guard let kind = object["kind"]?.stringValue.flatMap(ChildKind.init(kind:)),
                  let name = object["metadata"]?["name"]?.stringValue else { return nil }
            let hash = fnv1a64(Emit.json(object, pretty: false))
            var body = object
            var annotations = body["metadata"]?["annotations"] ?? .object(Object())
            annotations[appliedHashAnnotation] = .string(hash)
            body["metadata"]?["annotations"] = annotations
            return DesiredChild(kind: kind, name: name, namespace: ensemble.metadata.namespace, body: body, hash: hash)
        }
    }
}

/// Holds the member count of a running ensemble while no planner may change it.
///
/// Changing `spec.replicas` of a running ZooKeeper ensemble rewrites every member's static
/// server list; members restarted with it would form a different ensemble than the ones still
/// running. That change belongs to the scaling planner; until it runs here, the operator keeps
/// rendering the running member count, applies every other change, and says why. Cassandra
/// grows by bootstrapping one node at a time (OrderedReady), but shrinking needs a
/// decommission first, so only growth passes.
public enum MembershipGate {
    public struct Hold: Equatable, Sendable {
        public var running: Int
        public var wanted: Int
    }

    public static func hold(_ ensemble: Ensemble, statefulSet: StatefulSetState?) -> Hold? {
        guard let running = statefulSet?.specReplicas, running > 0, running != ensemble.spec.replicas else { return nil }
        if ensemble.spec.engine == .cassandra && ensemble.spec.replicas > running { return nil }
        return Hold(running: running, wanted: ensemble.spec.replicas)
    }

    /// The Ensemble to render: the spec, with the running member count while a hold is on.
    public static func effective(_ ensemble: Ensemble, hold: Hold?) -> Ensemble {
        guard let hold else { return ensemble }
        var effective = ensemble
        effective.spec.replicas = hold.running
        return effective
    }
}
