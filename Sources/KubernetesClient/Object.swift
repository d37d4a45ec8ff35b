import EnsembleCore

/// A Kubernetes object as the API server returned it: the JSON as a `Value`, with typed
/// accessors for the metadata every controller reads.
public struct KubeObject: Sendable, Equatable {
    public var value: Value

    public init(_ value: Value) { self.value = value }

    public var apiVersion: String? { value["apiVersion"]?.stringValue }
    public var kind: String? { value["kind"]?.stringValue }
    public var metadata: Value? { value["metadata"] }
    public var name: String? { metadata?["name"]?.stringValue }
    public var namespace: String? { metadata?["namespace"]?.stringValue }
    public var uid: String? { metadata?["uid"]?.stringValue }
    public var resourceVersion: String? { metadata?["resourceVersion"]?.stringValue }
    /// Bumped by the API server on every spec change (never on status or metadata changes).
    public var generation: Int? { metadata?["generation"]?.intValue }
    public var creationTimestamp: String? { metadata?["creationTimestamp"]?.stringValue }
    /// Set once deletion was requested; the object stays while finalizers remain.
    public var deletionTimestamp: String? { metadata?["deletionTimestamp"]?.stringValue }
    public var isBeingDeleted: Bool { deletionTimestamp != nil }
    public var labels: [String: String] { stringMap(metadata?["labels"]) }
    public var annotations: [String: String] { stringMap(metadata?["annotations"]) }
    public var finalizers: [String] { metadata?["finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var ownerReferences: [OwnerReference] {
        metadata?["ownerReferences"]?.arrayValue?.compactMap(OwnerReference.init) ?? []
    }
    public var spec: Value? { value["spec"] }
    public var status: Value? { value["status"] }

    /// "namespace/name" (or "name" for cluster-scoped objects): the key stores use.
    public var key: String {
        if let namespace, !namespace.isEmpty { return "\(namespace)/\(name ?? "")" }
        return name ?? ""
    }

    private func stringMap(_ value: Value?) -> [String: String] {
        var result: [String: String] = [:]
        for (key, item) in value?.objectValue ?? Object() { if let text = item.stringValue { result[key] = text } }
        return result
    }
}

/// `metadata.ownerReferences[]`: what garbage collection follows.
public struct OwnerReference: Sendable, Equatable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool
    public var blockOwnerDeletion: Bool

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool = true, blockOwnerDeletion: Bool = true) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }

    /// The controller reference to `owner` (which must have name and uid).
    public init?(controllerOf owner: KubeObject) {
        guard let apiVersion = owner.apiVersion, let kind = owner.kind, let name = owner.name, let uid = owner.uid else { return nil }
        self.init(apiVersion: apiVersion, kind: kind, name: name, uid: uid)
    }

    public init?(_ value: Value) {
        guard let apiVersion = value["apiVersion"]?.stringValue, let kind = value["kind"]?.stringValue,
              let name = value["name"]?.stringValue, let uid = value["uid"]?.stringValue else { return nil }
        self.init(apiVersion: apiVersion, kind: kind, name: name, uid: uid,
                  controller: value["controller"]?.boolValue ?? false,
                  blockOwnerDeletion: value["blockOwnerDeletion"]?.boolValue ?? false)
    }

    public var value: Value {
        ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": .string(name), "uid": .string(uid),
         "controller": .bool(controller), "blockOwnerDeletion": .bool(blockOwnerDeletion)]
    }
}

/// One page of a list.
public struct ObjectList: Sendable, Equatable {
    public var items: [KubeObject]
    /// The list's resourceVersion: watch from here to see every later change.
    public var resourceVersion: String
    /// Set when more pages follow: pass it as `ListOptions.continueToken`.
    public var continueToken: String?
    public var remainingItemCount: Int?

    public init(items: [KubeObject], resourceVersion: String, continueToken: String? = nil, remainingItemCount: Int? = nil) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
        self.remainingItemCount = remainingItemCount
    }
}
