import ControllerRuntime
import EnsembleCore
import KubernetesClient

/// The operator's caches: one store per watched resource, each holding trimmed objects
/// indexed by the Ensemble they belong to.
struct Caches: Sendable {
    let ensembles = Store<EnsembleRecord> { key, _ in key }
    let statefulSets = Store<ObservedChild>(owner: Caches.byInstance)
    let services = Store<ObservedChild>(owner: Caches.byInstance)
    let configMaps = Store<ObservedChild>(owner: Caches.byInstance)
    let disruptionBudgets = Store<ObservedChild>(owner: Caches.byInstance)
    let pods = Store<ObservedPod> { key, pod in pod.instance.map { ObjectKey(namespace: key.namespace, name: $0) } }
    let claims = Store<ObservedClaim> { key, claim in claim.instance.map { ObjectKey(namespace: key.namespace, name: $0) } }
    /// The super-user Secrets the operator made (managed-by label): never another Secret.
    let secrets = Store<ObservedSecret> { key, secret in secret.instance.map { ObjectKey(namespace: key.namespace, name: $0) } }

    @Sendable static func byInstance(_ key: ObjectKey, _ child: ObservedChild) -> ObjectKey? {
        child.instance.map { ObjectKey(namespace: key.namespace, name: $0) }
    }

    var childStores: [(ChildKind, Store<ObservedChild>)] {
        [(.configMap, configMaps), (.service, services), (.podDisruptionBudget, disruptionBudgets), (.statefulSet, statefulSets)]
    }

    var isSynced: Bool {
        ensembles.isSynced && pods.isSynced && claims.isSynced && secrets.isSynced && childStores.allSatisfy { $0.1.isSynced }
    }

    func children(of key: ObjectKey) -> [ObservedChild] { childStores.flatMap { $0.1.owned(by: key) } }

    static func resource(_ kind: ChildKind) -> ResourceType {
        switch kind {
        case .configMap: return .configMaps
        case .service: return .services
        case .podDisruptionBudget: return .podDisruptionBudgets
        case .statefulSet: return .statefulSets
        }
    }

    /// The informers that fill the stores. Children, pods and the super-user Secrets carry the
    /// operator's managed-by label; volume claims carry only the StatefulSet's selector labels.
    func informers(namespace: String) -> [@Sendable (KubernetesClient, Logger, @escaping @Sendable (Set<ObjectKey>) async -> Void) async -> Void] {
        let managed = LabelSelector([.equals("app.kubernetes.io/managed-by", "ensemble-operator")])
        let members = LabelSelector([.in("app.kubernetes.io/name", ["zookeeper", "cassandra"]), .exists(instanceLabel)])
        var runs: [@Sendable (KubernetesClient, Logger, @escaping @Sendable (Set<ObjectKey>) async -> Void) async -> Void] = []
        let ensembles = self.ensembles
        runs.append { client, logger, onChange in
            await Informer(type: .ensembles, namespace: namespace, trim: { EnsembleRecord($0) }, changed: { $0 != $1 })
                .run(client: client, store: ensembles, logger: logger, onChange: onChange)
        }
        for (kind, store) in childStores {
            runs.append { client, logger, onChange in
                await Informer(type: Caches.resource(kind), namespace: namespace, labelSelector: managed,
                               trim: { ObservedChild($0) }, changed: { $0 != $1 })
                    .run(client: client, store: store, logger: logger, onChange: onChange)
            }
        }
        let pods = self.pods
        runs.append { client, logger, onChange in
            await Informer(type: .pods, namespace: namespace, labelSelector: managed, trim: { ObservedPod($0) }, changed: { $0 != $1 })
                .run(client: client, store: pods, logger: logger, onChange: onChange)
        }
        let secrets = self.secrets
        runs.append { client, logger, onChange in
            await Informer(type: .secrets, namespace: namespace, labelSelector: managed, trim: { ObservedSecret($0) }, changed: { $0 != $1 })
                .run(client: client, store: secrets, logger: logger, onChange: onChange)
        }
        let claims = self.claims
        runs.append { client, logger, onChange in
            await Informer(type: .persistentVolumeClaims, namespace: namespace, labelSelector: members,
                           trim: { ObservedClaim($0) }, changed: { $0 != $1 })
                .run(client: client, store: claims, logger: logger, onChange: onChange)
        }
        return runs
    }
}
