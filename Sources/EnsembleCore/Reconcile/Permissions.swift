/// Every API permission the operator's requests need, and no more: the Helm chart's RBAC
/// must equal this (ChartTests checks), and the operator makes no other kind of request.
public enum OperatorPermissions {
    public struct Rule: Equatable, Sendable, Hashable {
        public var apiGroup: String
        public var resource: String
        public var verbs: Set<String>

        public init(_ apiGroup: String, _ resource: String, _ verbs: Set<String>) {
            self.apiGroup = apiGroup
            self.resource = resource
            self.verbs = verbs
        }
    }

    /// For the watched namespace(s). Server-side apply of an object that does not exist yet
    /// needs create as well as patch.
    public static let rules: [Rule] = [
        // Watch; the finalizer is added and removed with a merge patch.
        Rule("ensemble.dev", "ensembles", ["list", "watch", "patch"]),
        Rule("ensemble.dev", "ensembles/status", ["patch"]),
        Rule("apps", "statefulsets", ["list", "watch", "create", "patch"]),
        Rule("", "services", ["list", "watch", "create", "patch"]),
        Rule("", "configmaps", ["list", "watch", "create", "patch"]),
        // Deleted when spec.podDisruptionBudget.enabled turns false.
        Rule("policy", "poddisruptionbudgets", ["list", "watch", "create", "patch", "delete"]),
        // Deleted one at a time by a roll (OnDelete StatefulSets).
        Rule("", "pods", ["list", "watch", "delete"]),
        // The super-user Secret of each ZooKeeper Ensemble: created once, never changed.
        Rule("", "secrets", ["list", "watch", "create"]),
        // Deleted by the finalizer when spec.storage.reclaimPolicy is Delete.
        Rule("", "persistentvolumeclaims", ["list", "watch", "delete"]),
        Rule("events.k8s.io", "events", ["create"]),
    ]

    /// In the operator's own namespace, with leader election.
    public static let leaderElection: [Rule] = [Rule("coordination.k8s.io", "leases", ["get", "create", "update"])]
}
