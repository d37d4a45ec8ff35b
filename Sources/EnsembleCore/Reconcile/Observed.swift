import ZKConfig

/// What the operator's caches keep of each object: the few fields reconciling reads, never
/// the whole JSON tree (a thousand Ensembles' children must fit in a few MiB). Built from API
/// objects by the `init(_ value:)` initialisers, which are pure so tests feed them JSON.

/// The kinds of child objects the operator renders and owns.
public enum ChildKind: String, Sendable, CaseIterable, Comparable {
    case configMap = "ConfigMap", service = "Service", podDisruptionBudget = "PodDisruptionBudget", statefulSet = "StatefulSet"

    public init?(kind: String) { self.init(rawValue: kind) }

    public static func < (a: ChildKind, b: ChildKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Annotation on every child carrying the hash of the body the operator last applied: equal
/// hash, nothing to send. It is what makes a reconcile with nothing changed write nothing.
public let appliedHashAnnotation = "ensemble.dev/applied-hash"
/// The label that ties pods, volume claims and children to their Ensemble.
public let instanceLabel = "app.kubernetes.io/instance"

/// A child object as cached.
public struct ObservedChild: Equatable, Sendable {
    public var kind: ChildKind
    public var namespace: String
    public var name: String
    /// The Ensemble this child belongs to, by its instance label.
    public var instance: String?
    /// uid of the controlling owner (ownerReferences with controller: true).
    public var controllerUID: String?
    public var appliedHash: String?
    public var deleting: Bool
    /// StatefulSet only.
    public var statefulSet: StatefulSetState?
    /// ZooKeeper ConfigMap only: the staged membership (`Rendering.membershipKey`), kept
    /// while the live configuration cannot be read; without its comment lines, which are half
    /// of it and never read back.
    public var membership: String?

    public init(kind: ChildKind, namespace: String, name: String, instance: String? = nil, controllerUID: String? = nil,
                appliedHash: String? = nil, deleting: Bool = false, statefulSet: StatefulSetState? = nil, membership: String? = nil) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.instance = instance
        self.controllerUID = controllerUID
        self.appliedHash = appliedHash
        self.deleting = deleting
        self.statefulSet = statefulSet
        self.membership = membership
    }

    public init?(_ value: Value) {
        guard let kind = value["kind"]?.stringValue.flatMap(ChildKind.init(kind:)),
              let meta = value["metadata"], let name = meta["name"]?.stringValue else { return nil }
        self.init(kind: kind, namespace: meta["namespace"]?.stringValue ?? "", name: name,
                  instance: meta["labels"]?[instanceLabel]?.stringValue, controllerUID: controllingOwnerUID(meta),
                  appliedHash: meta["annotations"]?[appliedHashAnnotation]?.stringValue,
                  deleting: deletionRequested(meta),
                  statefulSet: kind == .statefulSet ? StatefulSetState(value) : nil,
                  membership: kind == .configMap ? value["data"]?[Rendering.membershipKey]?.stringValue.map(Self.withoutComments) : nil)
    }

    static func withoutComments(_ text: String) -> String {
        guard text.hasPrefix("#") || text.contains("\n#") else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
    }
}

/// The fields of a StatefulSet that status and change detection read.
public struct StatefulSetState: Equatable, Sendable {
    public var generation: Int
    public var observedGeneration: Int
    public var specReplicas: Int
    public var replicas: Int
    public var readyReplicas: Int
    public var updatedReplicas: Int
    public var currentRevision: String?
    public var updateRevision: String?

    public init(generation: Int = 1, observedGeneration: Int = 1, specReplicas: Int, replicas: Int = 0, readyReplicas: Int = 0,
                updatedReplicas: Int = 0, currentRevision: String? = nil, updateRevision: String? = nil) {
        self.generation = generation
        self.observedGeneration = observedGeneration
        self.specReplicas = specReplicas
        self.replicas = replicas
        self.readyReplicas = readyReplicas
        self.updatedReplicas = updatedReplicas
        self.currentRevision = currentRevision
        self.updateRevision = updateRevision
    }

    init(_ value: Value) {
        let status = value["status"]
        self.init(generation: value["metadata"]?["generation"]?.intValue ?? 0,
                  observedGeneration: status?["observedGeneration"]?.intValue ?? 0,
                  specReplicas: value["spec"]?["replicas"]?.intValue ?? 1, replicas: status?["replicas"]?.intValue ?? 0,
                  readyReplicas: status?["readyReplicas"]?.intValue ?? 0, updatedReplicas: status?["updatedReplicas"]?.intValue ?? 0,
                  currentRevision: status?["currentRevision"]?.stringValue, updateRevision: status?["updateRevision"]?.stringValue)
    }
}

/// A member pod as cached.
public struct ObservedPod: Equatable, Sendable {
    public var namespace: String
    public var name: String
    public var instance: String?
    public var ordinal: Int?
    public var ready: Bool
    /// The StatefulSet revision the pod was created from (controller-revision-hash label).
    public var revision: String
    public var deleting: Bool
    /// Tells this pod from an earlier one of the same name: a restart deletes exactly it.
    public var uid: String
    /// metadata.creationTimestamp (RFC 3339): when the member was last (re)started.
    public var created: String?
    /// The pod template's `Rendering.superUserAnnotation`: which super user its member accepts.
    public var superUser: String?

    public init(namespace: String, name: String, instance: String?, ordinal: Int?, ready: Bool, revision: String, deleting: Bool = false,
                uid: String = "", created: String? = nil, superUser: String? = nil) {
        self.namespace = namespace
        self.name = name
        self.instance = instance
        self.ordinal = ordinal
        self.ready = ready
        self.revision = revision
        self.deleting = deleting
        self.uid = uid
        self.created = created
        self.superUser = superUser
    }

    public init?(_ value: Value) {
        guard let meta = value["metadata"], let name = meta["name"]?.stringValue else { return nil }
        let labels = meta["labels"]
        // Kubernetes 1.28+ labels the ordinal; older clusters only have it in the name.
        let ordinal = labels?["apps.kubernetes.io/pod-index"]?.stringValue.flatMap { Int($0) }
            ?? name.split(separator: "-").last.flatMap { Int($0) }
        let ready = (value["status"]?["conditions"]?.arrayValue ?? []).contains {
            $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True"
        }
        self.init(namespace: meta["namespace"]?.stringValue ?? "", name: name, instance: labels?[instanceLabel]?.stringValue,
                  ordinal: ordinal, ready: ready, revision: labels?["controller-revision-hash"]?.stringValue ?? "",
                  deleting: deletionRequested(meta),
                  uid: meta["uid"]?.stringValue ?? "", created: meta["creationTimestamp"]?.stringValue,
                  superUser: meta["annotations"]?[Rendering.superUserAnnotation]?.stringValue)
    }
}

/// A member's volume claim as cached.
public struct ObservedClaim: Equatable, Sendable {
    public var namespace: String
    public var name: String
    public var instance: String?
    public var deleting: Bool

    public init(namespace: String, name: String, instance: String?, deleting: Bool = false) {
        self.namespace = namespace
        self.name = name
        self.instance = instance
        self.deleting = deleting
    }

    public init?(_ value: Value) {
        guard let meta = value["metadata"], let name = meta["name"]?.stringValue else { return nil }
        self.init(namespace: meta["namespace"]?.stringValue ?? "", name: name, instance: meta["labels"]?[instanceLabel]?.stringValue,
                  deleting: deletionRequested(meta))
    }
}

/// What one member answered when the operator asked it (srvr for ZooKeeper, a CQL OPTIONS
/// handshake for Cassandra), or why it did not. Gathered off the reconcile path.
public struct MemberAnswer: Equatable, Sendable {
    public enum Answer: Equatable, Sendable {
        case zooKeeper(role: String, zxid: UInt64)
        case cassandra(cqlVersion: String)
        case failed(String)
    }

    public var ordinal: Int
    public var answer: Answer
    /// The pod asked (its uid): an answer from before a pod was replaced says nothing about
    /// its successor.
    public var podUID: String?
    /// ZooKeeper: it answered `srvr` at all, also with "not currently serving requests" (a
    /// member that answers is up; one that does not may be gone).
    public var answered: Bool
    /// ZooKeeper, the leader only (`mntr`): voting followers in sync, and non-voting ones (a
    /// member outside the configuration: a hand-off or a scale left half-done).
    public var syncedFollowers: Int?
    public var syncedNonVotingFollowers: Int?

    public init(ordinal: Int, answer: Answer, podUID: String? = nil, answered: Bool? = nil,
                syncedFollowers: Int? = nil, syncedNonVotingFollowers: Int? = nil) {
        self.ordinal = ordinal
        self.answer = answer
        self.podUID = podUID
        if case .failed = answer { self.answered = answered ?? false } else { self.answered = answered ?? true }
        self.syncedFollowers = syncedFollowers
        self.syncedNonVotingFollowers = syncedNonVotingFollowers
    }
}

/// The operator's super-user Secret as cached (`SuperUserSecret`). Its password never leaves
/// `superUser`, whose descriptions withhold it.
public struct ObservedSecret: Equatable, Sendable {
    public var namespace: String
    public var name: String
    public var instance: String?
    public var controllerUID: String?
    /// nil when the Secret does not hold a usable password.
    public var superUser: SuperUser?

    public init(namespace: String, name: String, instance: String?, controllerUID: String?, superUser: SuperUser?) {
        self.namespace = namespace
        self.name = name
        self.instance = instance
        self.controllerUID = controllerUID
        self.superUser = superUser
    }

    public init?(_ value: Value) {
        guard let meta = value["metadata"], let name = meta["name"]?.stringValue else { return nil }
        let password = value["data"]?[SuperUserSecret.passwordKey]?.stringValue
            .flatMap(Base64.decode).map { String(decoding: $0, as: UTF8.self) }
        var superUser: SuperUser?
        if let password {
            // One the operator did not write (empty, or with a line break): as good as none.
            do { superUser = try SuperUser(password: password) } catch { superUser = nil }
        }
        self.init(namespace: meta["namespace"]?.stringValue ?? "", name: name, instance: meta["labels"]?[instanceLabel]?.stringValue,
                  controllerUID: controllingOwnerUID(meta), superUser: superUser)
    }
}

/// The object's deletion was requested (it stays while finalizers remain).
func deletionRequested(_ meta: Value) -> Bool {
    meta["deletionTimestamp"].map { $0 != .null } ?? false
}

func controllingOwnerUID(_ meta: Value) -> String? {
    (meta["ownerReferences"]?.arrayValue ?? []).first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
}
