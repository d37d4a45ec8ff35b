import NetCore

/// The parts of a `mntr` reply that health checks use.
///
/// `mntr` has no zxid (ZooKeeper 3.4 to 3.9 print none), so a full member picture needs
/// `srvr` too: see `MemberStatus`.
public struct MonitorStats: Sendable, Equatable {
    public var version: String
    public var mode: ServerMode
    public var latencyAvg: Double
    public var latencyMax: Double
    public var outstanding: Int
    public var aliveConnections: Int
    /// Voting followers in sync with this server; only a leader reports it.
    public var syncedFollowers: Int?
    /// Observers and other non-voting learners in sync; only a leader (3.5+) reports it.
    public var syncedNonVotingFollowers: Int?
    /// Learners still syncing; only a leader reports it.
    public var pendingSyncs: Int?
    public var znodeCount: Int?

    public init(
        version: String, mode: ServerMode, latencyAvg: Double = 0, latencyMax: Double = 0,
        outstanding: Int = 0, aliveConnections: Int = 0, syncedFollowers: Int? = nil,
        syncedNonVotingFollowers: Int? = nil, pendingSyncs: Int? = nil, znodeCount: Int? = nil
    ) {
        self.version = version
        self.mode = mode
        self.latencyAvg = latencyAvg
        self.latencyMax = latencyMax
        self.outstanding = outstanding
        self.aliveConnections = aliveConnections
        self.syncedFollowers = syncedFollowers
        self.syncedNonVotingFollowers = syncedNonVotingFollowers
        self.pendingSyncs = pendingSyncs
        self.znodeCount = znodeCount
    }

    /// Parses `mntr` output: one `key<TAB>value` per line (some versions pad with spaces).
    /// Unknown keys are ignored, so newer servers with more metrics still parse; a missing
    /// `zk_server_state` or a non-numeric value for a key we use is malformed.
    public static func parse(mntr text: String) throws(FourLetterWordError) -> MonitorStats {
        var fields: [Substring: Substring] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let separator = line.firstIndex(where: { $0 == "\t" || $0 == " " }) else { continue }
            let key = line[..<separator]
            var value = line[separator...]
            while let c = value.first, c == "\t" || c == " " { value.removeFirst() }
            while let c = value.last, c == "\t" || c == " " { value.removeLast() }
            fields[key] = value
        }
        guard let stateText = fields["zk_server_state"] else {
            throw .malformed(word: "mntr", reason: "no zk_server_state line")
        }
        guard let mode = ServerMode(rawValue: String(stateText)) else {
            throw .malformed(word: "mntr", reason: "unknown zk_server_state '\(stateText)'")
        }
        func number(_ key: Substring) throws(FourLetterWordError) -> Double? {
            guard let text = fields[key] else { return nil }
            guard let value = Double(text) else {
                throw .malformed(word: "mntr", reason: "\(key) is not a number: '\(text)'")
            }
            return value
        }
        func integer(_ key: Substring) throws(FourLetterWordError) -> Int? {
            guard let text = fields[key] else { return nil }
            guard let value = Int(text) else {
                throw .malformed(word: "mntr", reason: "\(key) is not an integer: '\(text)'")
            }
            return value
        }
        return MonitorStats(
            version: fields["zk_version"].map(ServerStatus.version(fromReply:)) ?? "",
            mode: mode,
            latencyAvg: try number("zk_avg_latency") ?? 0,
            latencyMax: try number("zk_max_latency") ?? 0,
            outstanding: try integer("zk_outstanding_requests") ?? 0,
            aliveConnections: try integer("zk_num_alive_connections") ?? 0,
            syncedFollowers: try integer("zk_synced_followers"),
            syncedNonVotingFollowers: try integer("zk_synced_non_voting_followers"),
            pendingSyncs: try integer("zk_pending_syncs"),
            znodeCount: try integer("zk_znode_count"))
    }

    /// Asks one member for its metrics with `mntr`.
    public static func fetch(host: String, port: Int, deadline: Deadline) throws(FourLetterWordError) -> MonitorStats {
        try parse(mntr: try FourLetterWord.send("mntr", host: host, port: port, deadline: deadline))
    }
}
