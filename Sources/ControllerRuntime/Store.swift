import Synchronization

/// namespace/name.
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String { "\(namespace)/\(name)" }
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
}

/// A cache of one resource's trimmed objects: one writer (its watcher), many readers.
/// Objects are indexed by the Ensemble they belong to, so a reconcile reads its children
/// without scanning every object.
public final class Store<Object: Sendable>: Sendable {
    /// One cached object, boxed: a dictionary keeps its values inline in every bucket, empty
    /// ones too, and an Ensemble's typed spec and status are a few hundred bytes inline.
    /// It also holds the resourceVersion the object was cached at, when it is a number (the
    /// API server's are): a write's response never replaces what a later watch event brought.
    private final class Entry: Sendable {
        let object: Object
        let version: UInt64?
        init(_ object: Object, version: UInt64?) {
            self.object = object
            self.version = version
        }
    }

    private struct State {
        var objects: [ObjectKey: Entry] = [:]
        /// The last resourceVersion of objects removed since the last list, so a write's late
        /// reply cannot bring one back. (Kept apart from the entries: a second dictionary
        /// keyed by every object cost more than the versions themselves.)
        var tombstones: [ObjectKey: UInt64] = [:]
        /// An Ensemble's objects: a handful each, so a small array (a set costs its hash table).
        var byOwner: [ObjectKey: [ObjectKey]] = [:]
        var synced = false

        mutating func index(_ key: ObjectKey, under owner: ObjectKey) {
            if byOwner[owner]?.contains(key) != true { byOwner[owner, default: []].append(key) }
        }

        mutating func unindex(_ key: ObjectKey, from owner: ObjectKey) {
            byOwner[owner]?.removeAll { $0 == key }
            if byOwner[owner]?.isEmpty == true { byOwner[owner] = nil }
        }
    }

    private let state = Mutex(State())
    private let owner: @Sendable (ObjectKey, Object) -> ObjectKey?

    /// - Parameter owner: the Ensemble an object belongs to (its own key for Ensembles).
    public init(owner: @escaping @Sendable (ObjectKey, Object) -> ObjectKey?) {
        self.owner = owner
    }

    public func get(_ key: ObjectKey) -> Object? { state.withLock { $0.objects[key]?.object } }
    public var count: Int { state.withLock { $0.objects.count } }
    public var keys: [ObjectKey] { state.withLock { Array($0.objects.keys) } }
    public var isSynced: Bool { state.withLock { $0.synced } }
    /// Counts objects by a key, without copying them out (a thousand Ensembles' records are
    /// over a megabyte).
    public func count<Key: Hashable>(by key: (Object) -> Key) -> [Key: Int] {
        state.withLock { s in
            var counts: [Key: Int] = [:]
            for entry in s.objects.values { counts[key(entry.object), default: 0] += 1 }
            return counts
        }
    }

    /// Objects that belong to one Ensemble.
    public func owned(by ensemble: ObjectKey) -> [Object] {
        state.withLock { s in (s.byOwner[ensemble] ?? []).sorted().compactMap { s.objects[$0]?.object } }
    }

    /// Inserts or replaces one object; returns the owners touched (old and new). An object
    /// older than the cached one (by resourceVersion) is ignored: the reply to a write can
    /// arrive after the watch event of a later change.
    @discardableResult
    public func upsert(_ key: ObjectKey, _ object: Object, resourceVersion: String? = nil) -> Set<ObjectKey> {
        let newOwner = owner(key, object)
        let version = resourceVersion.flatMap { UInt64($0) }
        return state.withLock { s in
            if let version, let cached = s.objects[key]?.version ?? s.tombstones[key], version < cached { return [] }
            s.tombstones[key] = nil
            var touched = Set<ObjectKey>()
            if let old = s.objects[key]?.object, let oldOwner = owner(key, old) {
                s.unindex(key, from: oldOwner)
                touched.insert(oldOwner)
            }
            s.objects[key] = Entry(object, version: version)
            if let newOwner {
                s.index(key, under: newOwner)
                touched.insert(newOwner)
            }
            return touched
        }
    }

    /// Removes an object. Its last version is kept (a tombstone), so a write's late reply
    /// cannot bring it back.
    @discardableResult
    public func remove(_ key: ObjectKey, resourceVersion: String? = nil) -> Set<ObjectKey> {
        let version = resourceVersion.flatMap { UInt64($0) }
        return state.withLock { s in
            let entry = s.objects.removeValue(forKey: key)
            if let last = [version, entry?.version, s.tombstones[key]].compactMap({ $0 }).max() { s.tombstones[key] = last }
            guard let old = entry?.object else { return [] }
            guard let oldOwner = owner(key, old) else { return [] }
            s.unindex(key, from: oldOwner)
            return [oldOwner]
        }
    }

    /// Swaps in a whole list at once (after a list or relist) and marks the store synced;
    /// returns the owners of every object that appeared, changed or went away.
    @discardableResult
    public func replaceAll(_ objects: [ObjectKey: Object], versions: [ObjectKey: String] = [:], changed: (Object, Object) -> Bool) -> Set<ObjectKey> {
        var index: [ObjectKey: [ObjectKey]] = [:]
        var owners: [ObjectKey: ObjectKey] = [:]
        for (key, object) in objects {
            if let o = owner(key, object) {
                index[o, default: []].append(key)
                owners[key] = o
            }
        }
        return state.withLock { s in
            var touched = Set<ObjectKey>()
            for (key, entry) in s.objects {
                let old = entry.object
                guard let new = objects[key] else {
                    if let o = owner(key, old) { touched.insert(o) }
                    continue
                }
                if changed(old, new) {
                    if let o = owner(key, old) { touched.insert(o) }
                    if let o = owners[key] { touched.insert(o) }
                }
            }
            for key in objects.keys where s.objects[key] == nil {
                if let o = owners[key] { touched.insert(o) }
            }
            s.objects = Dictionary(uniqueKeysWithValues: objects.map { key, object in
                (key, Entry(object, version: versions[key].flatMap { UInt64($0) }))
            })
            s.tombstones = versions.filter { objects[$0.key] == nil }.compactMapValues { UInt64($0) }
            s.byOwner = index
            s.synced = true
            return touched
        }
    }
}
