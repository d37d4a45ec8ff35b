/// The dynamic membership ZooKeeper keeps in `/zookeeper/config` (and in its
/// `zoo.cfg.dynamic.*` files): one `server.N=` line per member and the `version=` (a zxid, in
/// hexadecimal) of the reconfig that produced it.
///
/// It lives here, next to the `server.N` renderer (`ZooKeeperMember.serverValue`), because
/// the pure planners in EnsembleCore read it and EnsembleCore does not depend on the wire
/// client: the shell fetches the node's bytes with any client and parses them here.
public struct DynamicConfig: Sendable, Equatable {
    public struct Server: Sendable, Equatable {
        /// The server id (`myid`): the StatefulSet ordinal + 1.
        public var id: Int
        public var role: ZooKeeperMember.Role
        /// Everything after `server.N=`, as ZooKeeper printed it.
        public var value: String

        public init(id: Int, role: ZooKeeperMember.Role, value: String) {
            self.id = id
            self.role = role
            self.value = value
        }

        /// The StatefulSet ordinal of this server (ids are ordinal + 1).
        public var ordinal: Int { id - 1 }
    }

    /// Sorted by id.
    public var servers: [Server]
    /// The config version; a reconfig made conditional on it fails once anything changed.
    public var version: Int64

    public init(servers: [Server], version: Int64) {
        self.servers = servers.sorted { $0.id < $1.id }
        self.version = version
    }

    /// Ordinals of the voting members, ascending.
    public var participantOrdinals: [Int] { servers.filter { $0.role == .participant }.map(\.ordinal) }
    public var observerOrdinals: [Int] { servers.filter { $0.role == .observer }.map(\.ordinal) }

    public func server(ordinal: Int) -> Server? { servers.first { $0.ordinal == ordinal } }

    /// `0x` and the version in hexadecimal, as ZooKeeper prints it.
    public var versionText: String { "0x" + String(version, radix: 16) }

    /// Parses the node's text. Keys other than `server.N` and `version` are ignored (newer
    /// servers may add some); a malformed `server.N` or `version` line is an error that names
    /// the line, never a silently smaller membership.
    public static func parse(_ text: String) throws(DynamicConfigError) -> DynamicConfig {
        var servers: [Server] = []
        var version: Int64?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingWhitespace()
            let value = String(line[line.index(after: eq)...].trimmingWhitespace())
            if key == "version" {
                guard let v = Int64(value, radix: 16), v >= 0 else {
                    throw .malformed(line: index + 1, reason: "version '\(value)' is not hexadecimal")
                }
                version = v
            } else if key.hasPrefix("server.") {
                guard let id = Int(key.dropFirst("server.".count)), id > 0 else {
                    throw .malformed(line: index + 1, reason: "'\(key)' has no positive numeric server id")
                }
                if servers.contains(where: { $0.id == id }) {
                    throw .malformed(line: index + 1, reason: "server.\(id) is listed twice")
                }
                guard let role = role(ofServerValue: value) else {
                    throw .malformed(line: index + 1, reason: "server.\(id)='\(value)' is not host:quorumPort:electionPort[:role][;client]")
                }
                servers.append(Server(id: id, role: role, value: value))
            }
        }
        // A server started without any dynamic configuration has no version line yet.
        return DynamicConfig(servers: servers, version: version ?? 0)
    }

    /// The role field of `host:port:port[:role][;[clientAddress:]clientPort]`; nil when the
    /// value does not have that shape. IPv6 hosts are bracketed (`[::1]:2888:3888`).
    public static func role(ofServerValue value: String) -> ZooKeeperMember.Role? {
        let peer = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
        var rest = Substring(peer)
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            rest = rest[rest.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            rest = "host" + rest
        }
        let fields = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3 || fields.count == 4, !fields[0].isEmpty,
              Int(fields[1]) != nil, Int(fields[2]) != nil else { return nil }
        if fields.count == 3 { return .participant }
        return ZooKeeperMember.Role(rawValue: String(fields[3]))
    }
}

public enum DynamicConfigError: Error, Equatable, CustomStringConvertible {
    case malformed(line: Int, reason: String)

    public var description: String {
        switch self {
        case .malformed(let line, let reason): return "/zookeeper/config line \(line): \(reason)"
        }
    }
}
