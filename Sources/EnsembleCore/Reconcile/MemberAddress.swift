import ZKConfig

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
        try checkPlaceholders(template, what: "member address template", known: Self.placeholders)
        guard let colon = template.lastIndex(of: ":"), !template[template.index(after: colon)...].isEmpty else {
            throw Invalid(description: "member address template '\(template)': must end in :PORT or :{port}")
        }
        self.template = template
    }

    /// The client port the operator talks to: ZooKeeper 2181, Cassandra's CQL 9042.
    public static func port(_ engine: Engine) -> Int { engine == .zooKeeper ? 2181 : 9042 }

    /// host and port of one member.
    public func address(of ensemble: Ensemble, ordinal: Int) -> (host: String, port: Int)? {
        let text = expandPlaceholders(template, memberValues(ensemble, ordinal: ordinal))
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}

/// The `server.N` value the operator gives a ZooKeeper member: in the membership members are
/// staged with (the ConfigMap) and in the reconfig that adds it. By default the member's
/// stable DNS name with the rendered ports, which is what members use to reach each other;
/// an operator whose members reach each other elsewhere (a test's loopback block) passes a
/// template. Placeholders as `MemberAddressTemplate`'s but {port}.
public struct MemberServerTemplate: Sendable, Equatable {
    public static let defaultTemplate = "{pod}.{service}.{namespace}.svc.{clusterDomain}:2888:3888:participant;2181"
    static let placeholders = MemberAddressTemplate.placeholders.subtracting(["port"])
    public static let standard = try! MemberServerTemplate()

    public let template: String

    public init(_ template: String = MemberServerTemplate.defaultTemplate) throws(MemberAddressTemplate.Invalid) {
        try checkPlaceholders(template, what: "member server template", known: Self.placeholders)
        let sample = expandPlaceholders(template, Dictionary(uniqueKeysWithValues: Self.placeholders.map { ($0, "x1") }))
        guard DynamicConfig.role(ofServerValue: sample) != nil else {
            throw MemberAddressTemplate.Invalid(description: "member server template '\(template)': not host:quorumPort:electionPort[:role][;[clientAddress:]clientPort]")
        }
        self.template = template
    }

    /// What follows `server.<ordinal + 1>=` for this member.
    public func value(of ensemble: Ensemble, ordinal: Int) -> String {
        expandPlaceholders(template, memberValues(ensemble, ordinal: ordinal))
    }

    /// The value with the member's ordinal (and id) left as `StagedMembership`'s placeholders:
    /// how a member that is not in the staged membership adds itself.
    public func joinTemplate(of ensemble: Ensemble) -> String {
        let names = EnsembleNames(ensemble)
        var values = memberValues(ensemble, ordinal: 0)
        values["pod"] = "\(names.statefulSet)-\(StagedMembership.ordinalPlaceholder)"
        values["ordinal"] = StagedMembership.ordinalPlaceholder
        values["id"] = StagedMembership.idPlaceholder
        return expandPlaceholders(template, values)
    }
}

/// The placeholder values of one member.
private func memberValues(_ ensemble: Ensemble, ordinal: Int) -> [String: String] {
    let names = EnsembleNames(ensemble)
    return [
        "pod": names.pod(ordinal), "service": names.headlessService, "namespace": names.namespace,
        "clusterDomain": names.clusterDomain, "port": String(MemberAddressTemplate.port(ensemble.spec.engine)),
        "ordinal": String(ordinal), "id": String(ordinal + 1), "name": names.name,
    ]
}

private func checkPlaceholders(_ template: String, what: String, known: Set<String>) throws(MemberAddressTemplate.Invalid) {
    var rest = Substring(template)
    while let open = rest.firstIndex(of: "{") {
        guard let close = rest[open...].firstIndex(of: "}") else {
            throw MemberAddressTemplate.Invalid(description: "\(what) '\(template)': '{' without '}'")
        }
        let name = String(rest[rest.index(after: open)..<close])
        if !known.contains(name) {
            throw MemberAddressTemplate.Invalid(description: "\(what) '\(template)': unknown placeholder {\(name)}; known: \(known.sorted().map { "{\($0)}" }.joined(separator: " "))")
        }
        rest = rest[rest.index(after: close)...]
    }
}

/// One pass over the template: a value that itself holds a placeholder is not expanded again.
private func expandPlaceholders(_ template: String, _ values: [String: String]) -> String {
    var result = ""
    var rest = Substring(template)
    while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
        result += rest[..<open]
        let name = String(rest[rest.index(after: open)..<close])
        result += values[name] ?? String(rest[open...close])
        rest = rest[rest.index(after: close)...]
    }
    return result + rest
}
