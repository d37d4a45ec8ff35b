/// Names, labels and addresses of everything rendered for one Ensemble.
public struct EnsembleNames: Sendable {
    public let name: String
    public let namespace: String
    public let clusterDomain: String
    public let engine: Engine

    public init(_ ensemble: Ensemble) {
        name = ensemble.metadata.name
        namespace = ensemble.metadata.namespace
        clusterDomain = ensemble.spec.clusterDomain
        engine = ensemble.spec.engine
    }

    public var statefulSet: String { name }
    public var headlessService: String { "\(name)-hs" }
    public var clientService: String { "\(name)-client" }
    public var podDisruptionBudget: String { "\(name)-pdb" }
    public var configMap: String { "\(name)-config" }
    public var serviceMonitor: String { "\(name)-metrics" }
    /// ZooKeeper: the Secret holding the super user that may reconfigure the members.
    public var superUserSecret: String { "\(name)-super-user" }
    public func pod(_ ordinal: Int) -> String { "\(name)-\(ordinal)" }
    /// The PVC the StatefulSet's `data` volumeClaimTemplate gives a member.
    public func volumeClaim(_ ordinal: Int) -> String { "data-\(pod(ordinal))" }

    /// The stable DNS name of a member through the headless Service.
    public func memberHost(_ ordinal: Int) -> String {
        "\(pod(ordinal)).\(headlessService).\(namespace).svc.\(clusterDomain)"
    }

    public var engineLabel: String { engine == .zooKeeper ? "zookeeper" : "cassandra" }

    /// Labels that select the members. They never change over the Ensemble's life
    /// (a StatefulSet's selector is immutable), so nothing user-editable goes in here.
    public var selectorLabels: [String: String] {
        ["app.kubernetes.io/name": engineLabel, "app.kubernetes.io/instance": name]
    }

    /// The recommended labels on every object.
    public var labels: [String: String] {
        selectorLabels.merging([
            "app.kubernetes.io/component": engine == .zooKeeper ? "ensemble" : "ring",
            "app.kubernetes.io/managed-by": "ensemble-operator",
        ]) { a, _ in a }
    }
}

/// Kubernetes name and label syntax.
enum Syntax {
    static func isDNSLabel(_ s: String, maxLength: Int = 63) -> Bool {
        guard !s.isEmpty, s.count <= maxLength else { return false }
        let chars = Array(s.utf8)
        func ok(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45 }
        return chars.allSatisfy(ok) && chars.first != 45 && chars.last != 45
    }

    /// DNS-1035: a DNS label that starts with a letter (Service names).
    static func isDNS1035Label(_ s: String, maxLength: Int = 63) -> Bool {
        guard let first = s.utf8.first, first >= 97, first <= 122 else { return false }
        return isDNSLabel(s, maxLength: maxLength)
    }

    static func isDNSSubdomain(_ s: String) -> Bool {
        guard !s.isEmpty, s.count <= 253 else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    /// A label value: empty, or up to 63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
    static func isLabelValue(_ s: String) -> Bool {
        if s.isEmpty { return true }
        guard s.count <= 63 else { return false }
        let chars = Array(s.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) }
        return chars.allSatisfy { alnum($0) || $0 == 45 || $0 == 95 || $0 == 46 } && alnum(chars.first!) && alnum(chars.last!)
    }

    /// A qualified name (label/annotation key): optional DNS subdomain prefix and "/", then a
    /// name of up to 63 characters.
    static func isQualifiedName(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return false }
        if parts.count == 2 && !isDNSSubdomain(String(parts[0])) { return false }
        let name = String(parts.last!)
        return !name.isEmpty && isLabelValue(name)
    }

    /// A ConfigMap or Secret key: letters, digits, '-', '_', '.'.
    static func isConfigKey(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 253 && s != "." && s != ".."
            && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0)) }
    }

    /// "/a/b": absolute, no empty, "." or ".." parts, no trailing "/" (but "/" itself).
    static func isCleanAbsolutePath(_ s: String) -> Bool {
        guard s.hasPrefix("/") else { return false }
        if s == "/" { return true }
        return s.dropFirst().split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// An environment variable name as the API server accepts it.
    static func isEnvName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0)) }
    }
}
