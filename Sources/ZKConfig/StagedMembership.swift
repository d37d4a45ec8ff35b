/// The membership a starting member is given, as the operator keeps it in the ConfigMap
/// (`zoo.cfg.dynamic`) and `ensemble-probe install` stages it.
///
/// Members take their membership from here rather than from a static `server.N` list in
/// zoo.cfg: the operator rewrites it after every reconfig (it is not part of the hash that
/// rolls members), so a member started at any time starts with the current membership. A
/// member that is not listed (one about to be added) adds itself from `joinTemplate`, as
/// ZooKeeper asks of a joining server: it then syncs as a non-voting follower, learns the
/// live configuration from the leader, and votes once a reconfig adds it.
///
/// What ZooKeeper (3.5 to 3.9) does with the staged file decides its shape:
/// - `dynamicConfigFile` names it, and the version of the configuration in it is read from
///   the file name's suffix (`zoo.cfg.dynamic.100000003` is version 0x100000003); a
///   `version=` line inside is refused ("dynamic file shouldn't have version inside").
/// - A server ignores any configuration whose version is not above its own
///   ("setQuorumVerifier called with known or old config"). So the live membership is staged
///   under its own version only when it is staged unchanged; a membership with the member
///   added is not the configuration of that version, and is staged as version 0, below every
///   configuration the ensemble has had: the member then takes the leader's.
/// - On every change the server writes `<zoo.cfg>.dynamic.<version>` next to zoo.cfg and
///   points zoo.cfg at it, so the configuration directory must be writable.
public struct StagedMembership: Sendable, Equatable {
    /// The membership as the operator last read it; version 0 before the ensemble first formed.
    public var config: DynamicConfig
    /// The `server.N` value of a member that is not listed, `{ordinal}` standing for its
    /// StatefulSet ordinal (the pod name's suffix) and `{id}` for its server id (ordinal + 1).
    public var joinTemplate: String
    /// Servers a scale-down took out, by id: the first configuration version seen without
    /// them. Data such a member wrote before it is a removed member's (`install` refuses it);
    /// an entry goes once the server is a participant again.
    public var left: [Int: Int64]

    /// Its file name, in the ConfigMap and where `ensemble-probe install` reads it.
    public static let fileName = "zoo.cfg.dynamic"
    public static let ordinalPlaceholder = "{ordinal}"
    public static let idPlaceholder = "{id}"
    /// The key of `joinTemplate` in the text.
    static let joinTemplateKey = "joinTemplate"

    public init(config: DynamicConfig, joinTemplate: String, left: [Int: Int64] = [:]) {
        self.config = config
        self.joinTemplate = joinTemplate
        self.left = left
    }

    static let leftPrefix = "left."

    /// The text kept in the ConfigMap: the `server.N` lines and `version=` as
    /// `/zookeeper/config` shows them, and the join template.
    public var text: String {
        var lines = [
            "# Written by the Ensemble operator: the membership it last read from /zookeeper/config (version 0: before the",
            "# ensemble first formed). ensemble-probe install stages it for a starting member, adding that member from",
            "# joinTemplate when it is not listed. left.N: the version from which server N, scaled away, is no longer",
            "# listed; data it wrote before is not started again. Members do not read this file directly.",
        ]
        lines += config.servers.map { "server.\($0.id)=\($0.value)" }
        lines.append("version=" + String(config.version, radix: 16))
        lines.append("\(Self.joinTemplateKey)=\(joinTemplate)")
        lines += left.keys.sorted().map { "\(Self.leftPrefix)\($0)=" + String(left[$0]!, radix: 16) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads `text`; a malformed server or version line, or a missing or malformed join
    /// template, is an error naming the line (1-based; 0 when the template is missing).
    public static func parse(_ text: String) throws(DynamicConfigError) -> StagedMembership {
        let config = try DynamicConfig.parse(text)
        var template: String?
        var left: [Int: Int64] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingWhitespace()
            let value = String(line[line.index(after: eq)...].trimmingWhitespace())
            if key.hasPrefix(leftPrefix) {
                guard let id = Int(key.dropFirst(leftPrefix.count)), id > 0, let version = Int64(value, radix: 16), version >= 0 else {
                    throw .malformed(line: index + 1, reason: "'\(key)=\(value)' is not left.<server id>=<hexadecimal version>")
                }
                left[id] = version
                continue
            }
            guard key == joinTemplateKey else { continue }
            guard value.contains(ordinalPlaceholder) || value.contains(idPlaceholder),
                  DynamicConfig.role(ofServerValue: value.replacingOrdinal(with: 0)) != nil else {
                throw .malformed(line: index + 1, reason: "\(joinTemplateKey) '\(value)' is not a server value with \(ordinalPlaceholder) or \(idPlaceholder)")
            }
            template = value
        }
        guard let template else { throw .malformed(line: 0, reason: "no \(joinTemplateKey)= line") }
        return StagedMembership(config: config, joinTemplate: template, left: left)
    }

    /// What a member starts with: the membership unchanged when it lists the member (under
    /// its own version), else the membership plus the member as a participant (version 0).
    public func start(ordinal: Int) -> (servers: [DynamicConfig.Server], version: Int64, listed: Bool) {
        if config.server(ordinal: ordinal) != nil { return (config.servers, config.version, true) }
        let own = DynamicConfig.Server(id: ordinal + 1, role: .participant, value: joinTemplate.replacingOrdinal(with: ordinal))
        return ((config.servers + [own]).sorted { $0.id < $1.id }, 0, false)
    }

    /// The name ZooKeeper reads the version from: `zoo.cfg.dynamic.<hexadecimal version>`.
    public static func dynamicFileName(version: Int64) -> String { fileName + "." + String(version, radix: 16) }

    /// A dynamic configuration file: the `server.N` lines only.
    public static func dynamicFileText(_ servers: [DynamicConfig.Server]) -> String {
        servers.sorted { $0.id < $1.id }.map { "server.\($0.id)=\($0.value)" }.joined(separator: "\n") + "\n"
    }
}

extension String {
    fileprivate func replacingOrdinal(with ordinal: Int) -> String {
        replacing(StagedMembership.ordinalPlaceholder, with: String(ordinal)).replacing(StagedMembership.idPlaceholder, with: String(ordinal + 1))
    }
}
