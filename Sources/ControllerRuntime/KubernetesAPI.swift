import EnsembleCore

/// A resource the runtime lists, watches and writes.
public struct ResourceType: Sendable, Hashable, CustomStringConvertible {
    /// "" for the core group.
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool = true) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The REST path of a collection or, with a name, of one object.
    public func path(namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(namespace)" }
        path += "/\(plural)"
        if let name { path += "/\(name)" }
        if let subresource { path += "/\(subresource)" }
        return path
    }

    public static let ensembles = ResourceType(group: EnsembleAPI.group, version: EnsembleAPI.version, plural: EnsembleAPI.plural, kind: EnsembleAPI.kind)
    public static let statefulSets = ResourceType(group: "apps", version: "v1", plural: "statefulsets", kind: "StatefulSet")
    public static let services = ResourceType(group: "", version: "v1", plural: "services", kind: "Service")
    public static let configMaps = ResourceType(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap")
    public static let podDisruptionBudgets = ResourceType(group: "policy", version: "v1", plural: "poddisruptionbudgets", kind: "PodDisruptionBudget")
    public static let pods = ResourceType(group: "", version: "v1", plural: "pods", kind: "Pod")
    public static let persistentVolumeClaims = ResourceType(group: "", version: "v1", plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim")
    public static let events = ResourceType(group: "", version: "v1", plural: "events", kind: "Event")
    public static let leases = ResourceType(group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease")
}

/// One page of a list.
public struct ListPage: Sendable {
    public var items: [Value]
    public var resourceVersion: String
    /// The token for the next page; nil on the last.
    public var continueToken: String?

    public init(items: [Value], resourceVersion: String, continueToken: String?) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}

public enum WatchEvent: Sendable {
    case added(Value)
    case modified(Value)
    case deleted(Value)
    /// A progress marker (allowWatchBookmarks): no object changed, the version moved.
    case bookmark(resourceVersion: String)
    /// An ERROR event: a `Status` object (410 Gone when the version is too old).
    case error(code: Int, message: String)
}

/// What failed in a request to the API server.
public enum APIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server answered with an error status.
    case status(code: Int, reason: String, message: String)
    /// No answer: connection, TLS, timeout, or an unreadable reply.
    case transport(String)

    public var code: Int? { if case .status(let code, _, _) = self { return code } else { return nil } }
    public var isNotFound: Bool { code == 404 }
    public var isConflict: Bool { code == 409 }
    public var isGone: Bool { code == 410 }

    public var description: String {
        switch self {
        case .status(let code, let reason, let message): return "\(code) \(reason): \(message)"
        case .transport(let text): return text
        }
    }
}

public enum PatchType: String, Sendable {
    case merge = "application/merge-patch+json"
    case apply = "application/apply-patch+yaml"
}

/// The requests the controller runtime makes. `KubernetesClient` provides them over HTTPS;
/// the runtime never depends on how.
public protocol KubernetesAPI: Sendable {
    func list(_ type: ResourceType, namespace: String?, labelSelector: String?, limit: Int, continueToken: String?) async throws(APIError) -> ListPage
    /// Events from `resourceVersion` on until the server ends the watch (after about
    /// `timeoutSeconds`) or the stream fails.
    func watch(_ type: ResourceType, namespace: String?, labelSelector: String?, resourceVersion: String,
               timeoutSeconds: Int) async throws(APIError) -> AsyncThrowingStream<WatchEvent, any Error>
    func get(_ type: ResourceType, namespace: String?, name: String) async throws(APIError) -> Value
    func create(_ type: ResourceType, namespace: String?, body: Value) async throws(APIError) -> Value
    /// PUT: fails with 409 when `body`'s resourceVersion is not the stored one.
    func replace(_ type: ResourceType, namespace: String?, name: String, body: Value) async throws(APIError) -> Value
    /// PATCH with a merge patch, or a server-side apply (with `fieldManager` and force).
    func patch(_ type: ResourceType, namespace: String?, name: String, subresource: String?, patchType: PatchType,
               body: Value, fieldManager: String) async throws(APIError) -> Value
    func delete(_ type: ResourceType, namespace: String?, name: String) async throws(APIError)
}
