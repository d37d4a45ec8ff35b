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

    /// Objects per list page. Each page is trimmed as it arrives, so a relist of thousands of
    /// pods never holds more than one page of full objects.
    public var pageSize = 100

    /// Runs until the task is cancelled. `onChange` gets the owners touched by each list or
    /// event; events that change nothing a reconcile reads touch nobody.
    ///
    /// The flow (list pages, watch from the list's version, 410 -> relist, backoff) is
    /// KubernetesClient's `WatcherStateMachine`; this loop does its I/O like `ResourceWatcher`
    /// does, except that it keeps trimmed objects of the pages listed so far instead of whole
    /// ones (the machine is given pages without items and only tracks tokens and versions).
    public func run(client: KubernetesClient, store: Store<Object>, logger: Logger,
                    onChange: @escaping @Sendable (Set<ObjectKey>) async -> Void) async {
        let resource = type.description
        var machine = WatcherStateMachine()
        var listed: [ObjectKey: Object] = [:]
        var versions: [ObjectKey: String] = [:]
        while !Task.isCancelled {
            switch machine.nextAction() {
            case .wait(let delay):
                do { try await Task.sleep(for: delay) } catch { return }
            case .list(let token):
                if token == nil {
                    listed.removeAll(keepingCapacity: true)
                    versions.removeAll(keepingCapacity: true)
                }
                do {
                    let page = try await client.list(type, namespace: namespace,
                                                     options: ListOptions(labelSelector: labelSelector, limit: pageSize, continueToken: token))
                    for object in page.items {
                        if let key = Self.key(object), let value = trim(object.value) {
                            listed[key] = value
                            versions[key] = object.resourceVersion
                        }
                    }
                    let done = machine.listed(ObjectList(items: [], resourceVersion: page.resourceVersion, continueToken: page.continueToken))
                    if done != nil {
                        let touched = store.replaceAll(listed, versions: versions, changed: changed)
                        logger.debug("listed", ["resource": resource, "objects": "\(listed.count)"])
                        listed.removeAll()
                        versions.removeAll()
                        await onChange(touched)
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("list failed; retrying", ["resource": resource, "error": "\(error)"])
                    machine.failed(error)
                }
            case .watch(let version):
                do {
                    let events = try await client.watch(type, namespace: namespace,
                                                        options: WatchOptions(labelSelector: labelSelector, resourceVersion: version))
                    for try await event in events {
                        guard let output = machine.received(event) else { continue }
                        await apply(output, store: store, onChange: onChange)
                    }
                    machine.watchEnded()
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("watch interrupted; resuming", ["resource": resource, "error": "\(error)"])
                    machine.failed(error)
                }
            }
        }
    }

    private func apply(_ event: WatcherEvent, store: Store<Object>, onChange: @Sendable (Set<ObjectKey>) async -> Void) async {
        switch event {
        case .listed:
            break
        case .applied(let object):
            guard let key = Self.key(object) else { return }
            if let value = trim(object.value) {
                if let old = store.get(key), !changed(old, value) {
                    // Same content, newer version: remember the version only.
                    store.upsert(key, value, resourceVersion: object.resourceVersion)
                    return
                }
                await onChange(store.upsert(key, value, resourceVersion: object.resourceVersion))
            } else {
                await onChange(store.remove(key, resourceVersion: object.resourceVersion))
            }
        case .deleted(let object):
            guard let key = Self.key(object) else { return }
            await onChange(store.remove(key, resourceVersion: object.resourceVersion))
        }
    }
}
