/// Where the operator reaches a member for `srvr` or the CQL handshake.
///
/// The default is the member's stable DNS name through the headless Service; an operator
/// running outside the cluster (or a test with members on 127.0.0.x) passes a template.
/// Placeholders: {pod} {service} {namespace} {clusterDomain} {port} {ordinal} {id} (= ordinal
/// + 1, ZooKeeper's myid) {name} (the Ensemble's name).
public struct MemberAddressTemplate: Sendable, Equatable {
    public static let defaultTemplate = "{pod}.{service}.{namespace}.svc.{clusterDomain}:{port}"
    static let placeholders: Set<String> = ["pod", "service", "namespace", "clusterDomain", "port", "ordinal", "id", "name"]

    public let template: String

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    public init(_ template: String = MemberAddressTemplate.defaultTemplate) throws(Invalid) {
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw Invalid(description: "member address template '\(template)': '{' without '}'")
            }
            let name = String(rest[rest.index(after: open)..<close])
            if !Self.placeholders.contains(name) {
                throw Invalid(description: "member address template '\(template)': unknown placeholder {\(name)}; known: \(Self.placeholders.sorted().map { "{\($0)}" }.joined(separator: " "))")
            }
            rest = rest[rest.index(after: close)...]
        }
        guard let colon = template.lastIndex(of: ":"), !template[template.index(after: colon)...].isEmpty else {
            throw Invalid(description: "member address template '\(template)': must end in :PORT or :{port}")
        }
        self.template = template
    }

    /// The client port the operator talks to: ZooKeeper 2181, Cassandra's CQL 9042.
    public static func port(_ engine: Engine) -> Int { engine == .zooKeeper ? 2181 : 9042 }

    /// host and port of one member.
    public func address(of ensemble: Ensemble, ordinal: Int) -> (host: String, port: Int)? {
        let names = EnsembleNames(ensemble)
        let values: [String: String] = [
            "pod": names.pod(ordinal), "service": names.headlessService, "namespace": names.namespace,
            "clusterDomain": names.clusterDomain, "port": String(Self.port(ensemble.spec.engine)),
            "ordinal": String(ordinal), "id": String(ordinal + 1), "name": names.name,
        ]
        var text = template
        for (key, value) in values { text = text.replacingAll("{\(key)}", with: value) }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
