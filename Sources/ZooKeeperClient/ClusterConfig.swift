/// The dynamic membership held in /zookeeper/config: `server.N=...` lines and `version=<hex>`.
public struct ClusterConfig: Sendable, Equatable {
    public struct Server: Sendable, Equatable {
        public var id: Int
        /// Everything after `server.N=`, e.g. `127.0.0.1:2888:3888:participant;0.0.0.0:2181`.
        public var spec: String

        public init(id: Int, spec: String) { self.id = id; self.spec = spec }

        /// The line as `reconfig` takes it for a joining server.
        public var line: String { "server.\(id)=\(spec)" }
    }

    public var servers: [Server]
    /// The config version (a zxid); `reconfig(fromConfig:)` takes it to make a change conditional.
    public var version: Int64
    public var text: String

    public init(servers: [Server], version: Int64, text: String) {
        self.servers = servers; self.version = version; self.text = text
    }

    /// Parses the node's data. Unknown keys are kept in `text` but otherwise ignored.
    public static func parse(_ data: [UInt8]) throws(ZooKeeperError) -> ClusterConfig {
        guard let text = String(validating: data, as: UTF8.self) else {
            throw .protocolViolation("/zookeeper/config is not UTF-8")
        }
        var servers: [Server] = []
        var version: Int64?
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq]
            let value = String(line[line.index(after: eq)...])
            if key == "version" {
                guard let v = Int64(value, radix: 16) else {
                    throw .protocolViolation("config version '\(value)' is not hexadecimal")
                }
                version = v
            } else if key.hasPrefix("server.") {
                guard let id = Int(key.dropFirst("server.".count)) else {
                    throw .protocolViolation("config key '\(key)' has no numeric server id")
                }
                servers.append(Server(id: id, spec: value))
            }
        }
        // A server started without any dynamic config has no version line.
        return ClusterConfig(servers: servers.sorted { $0.id < $1.id }, version: version ?? 0, text: text)
    }
}
