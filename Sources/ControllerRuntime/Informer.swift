import EnsembleCore
import KubernetesClient

/// Keeps a `Store` of one resource's trimmed objects up to date from a `ResourceWatcher`
/// (list, then watch; relist on 410 Gone; reconnect with backoff) and reports the Ensembles
/// whose objects changed. Objects are trimmed on arrival: the JSON tree is dropped at once.
public struct Informer<Object: Sendable>: Sendable {
    public var type: ResourceType
    /// A namespace, or `KubernetesClient.allNamespaces`.
    public var namespace: String
    public var labelSelector: LabelSelector?
    public var trim: @Sendable (Value) -> Object?
    /// Whether a new trimmed object differs from the cached one in anything reconciling reads.
    public var changed: @Sendable (Object, Object) -> Bool

    public init(type: ResourceType, namespace: String, labelSelector: LabelSelector? = nil,
                trim: @escaping @Sendable (Value) -> Object?, changed: @escaping @Sendable (Object, Object) -> Bool) {
        self.type = type
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.trim = trim
        self.changed = changed
    }

    static func key(_ object: KubeObject) -> ObjectKey? {
        guard let name = object.name else { return nil }
        return ObjectKey(namespace: object.namespace ?? "", name: name)
    }

    /// Runs until the task is cancelled. `onChange` gets the owners touched by each list or
    /// event; events that change nothing a reconcile reads touch nobody.
    public func run(client: KubernetesClient, store: Store<Object>, logger: Logger,
                    onChange: @escaping @Sendable (Set<ObjectKey>) async -> Void) async {
        let resource = type.description
        let options = WatcherOptions(labelSelector: labelSelector, onError: { error in
            logger.warning("watch interrupted; resuming", ["resource": resource, "error": "\(error)"])
        })
        for await event in client.watcher(type, namespace: namespace, options: options) {
            switch event {
            case .listed(let objects):
                var trimmed: [ObjectKey: Object] = [:]
                for object in objects {
                    if let key = Self.key(object), let value = trim(object.value) { trimmed[key] = value }
                }
                let touched = store.replaceAll(trimmed, changed: changed)
                logger.debug("listed", ["resource": resource, "objects": "\(trimmed.count)"])
                await onChange(touched)
            case .applied(let object):
                guard let key = Self.key(object) else { continue }
                if let value = trim(object.value) {
                    if let old = store.get(key), !changed(old, value) { continue }
                    await onChange(store.upsert(key, value))
                } else {
                    await onChange(store.remove(key))
                }
            case .deleted(let object):
                guard let key = Self.key(object) else { continue }
                await onChange(store.remove(key))
            }
        }
    }
}
