import EnsembleCore

/// A kind of Kubernetes object and where it is served: the "typed" part of the typed verbs.
public struct ResourceType: Hashable, Sendable, CustomStringConvertible {
    /// API group; "" for the core group (`/api/v1`).
    public var group: String
    public var version: String
    /// Lower-case plural used in URLs ("statefulsets").
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

    /// `apiVersion` as written in objects: "v1", "apps/v1".
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The collection path, e.g. `/apis/apps/v1/namespaces/ns/statefulsets`; nil namespace
    /// on a namespaced type means all namespaces.
    public func collectionPath(namespace: String?) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(percentEncodePathSegment(namespace))" }
        return path + "/" + plural
    }

    /// The object path, with an optional subresource ("status").
    public func objectPath(name: String, namespace: String?, subresource: String? = nil) -> String {
        var path = collectionPath(namespace: namespace) + "/" + percentEncodePathSegment(name)
        if let subresource { path += "/" + subresource }
        return path
    }

    public static let ensembles = ResourceType(group: EnsembleAPI.group, version: EnsembleAPI.version,
                                               plural: EnsembleAPI.plural, kind: EnsembleAPI.kind)
    public static let statefulSets = ResourceType(group: "apps", version: "v1", plural: "statefulsets", kind: "StatefulSet")
    public static let controllerRevisions = ResourceType(group: "apps", version: "v1", plural: "controllerrevisions", kind: "ControllerRevision")
    public static let services = ResourceType(group: "", version: "v1", plural: "services", kind: "Service")
    public static let podDisruptionBudgets = ResourceType(group: "policy", version: "v1", plural: "poddisruptionbudgets", kind: "PodDisruptionBudget")
    public static let configMaps = ResourceType(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap")
    public static let secrets = ResourceType(group: "", version: "v1", plural: "secrets", kind: "Secret")
    public static let pods = ResourceType(group: "", version: "v1", plural: "pods", kind: "Pod")
    public static let persistentVolumeClaims = ResourceType(group: "", version: "v1", plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim")
    public static let events = ResourceType(group: "events.k8s.io", version: "v1", plural: "events", kind: "Event")
    public static let leases = ResourceType(group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease")
    public static let namespaces = ResourceType(group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)
}

/// Percent-encodes a path segment (names are DNS labels in practice; this keeps a stray '/'
/// or '?' from changing the URL).
func percentEncodePathSegment(_ text: String) -> String {
    percentEncode(text, keeping: "-._~:@!$&'()*+,;=")
}

/// Percent-encodes a query value (selectors contain '=', ',', '!' and spaces).
func percentEncodeQueryValue(_ text: String) -> String {
    percentEncode(text, keeping: "-._~")
}

private func percentEncode(_ text: String, keeping extra: String) -> String {
    var out = ""
    for byte in text.utf8 {
        let c = Character(Unicode.Scalar(byte))
        if byte < 0x80, c.isLetter || c.isNumber || extra.utf8.contains(byte) {
            out.append(c)
        } else {
            let hex = String(byte, radix: 16, uppercase: true)
            out += "%" + (hex.count == 1 ? "0" : "") + hex
        }
    }
    return out
}
