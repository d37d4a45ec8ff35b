/// One ZooKeeper server as the rest of the ensemble sees it.
///
/// The generator does not care where addresses come from: in Kubernetes they are the stable
/// DNS names of the StatefulSet's pods, in local mode loopback addresses 127.0.0.N.
public struct ZooKeeperMember: Sendable, Equatable {
    public enum Role: String, Sendable { case participant, observer }

    /// The server id (`myid`), 1-based: the StatefulSet ordinal + 1.
    public var id: Int
    /// Address the other members use for the quorum and election ports.
    public var host: String
    public var quorumPort: Int
    public var electionPort: Int
    public var clientPort: Int
    /// Address the client port binds to; nil binds every interface.
    public var clientAddress: String?
    public var role: Role

    public init(
        id: Int, host: String, quorumPort: Int = 2888, electionPort: Int = 3888,
        clientPort: Int = 2181, clientAddress: String? = nil, role: Role = .participant
    ) {
        self.id = id
        self.host = host
        self.quorumPort = quorumPort
        self.electionPort = electionPort
        self.clientPort = clientPort
        self.clientAddress = clientAddress
        self.role = role
    }

    /// `server.N` value: `host:quorum:election:role;[clientAddress:]clientPort`.
    public var serverValue: String {
        let client = clientAddress.map { "\($0):\(clientPort)" } ?? String(clientPort)
        return "\(host):\(quorumPort):\(electionPort):\(role.rawValue);\(client)"
    }
}

/// Everything in `zoo.cfg` that is not the member list.
public struct ZooKeeperSettings: Sendable, Equatable {
    public var tickTime = 2000
    public var initLimit = 10
    public var syncLimit = 5
    public var maxClientCnxns = 60
    public var minSessionTimeout = 4000
    public var maxSessionTimeout = 40000
    public var snapRetainCount = 3
    /// Hours between purges of old snapshots and logs; 0 disables purging.
    public var purgeInterval = 12
    public var dataDir = "/data"
    public var dataLogDir = "/datalog"
    public var clientPort = 2181
    /// Four-letter words the server answers. Always contains `ZooCfg.requiredFourLetterWords`.
    public var fourLetterWords = ZooCfg.requiredFourLetterWords
    /// In Kubernetes a pod's own DNS name may not resolve yet when it binds; listening on all
    /// interfaces avoids the classic UnknownHostException at start-up. Local mode turns it off
    /// because several members share one machine and bind their own 127.0.0.N.
    public var quorumListenOnAllIPs = true
    /// The embedded Jetty admin server (port 8080): off, we use four-letter words.
    public var adminServerEnabled = false
    /// A metrics provider (`metricsProvider.*`); nil leaves ZooKeeper's default (no HTTP
    /// endpoint). The Prometheus provider ships with the binary release, not with Debian's
    /// package.
    public var metricsProvider: MetricsProvider?
    /// User keys applied last, so they really override what came before. Keys the operator
    /// must own are rejected earlier by `ZooCfg.operatorOwnedKeyReason`.
    public var overrides: [(key: String, value: String)] = []

    public init() {}

    public static func == (a: ZooKeeperSettings, b: ZooKeeperSettings) -> Bool {
        a.tickTime == b.tickTime && a.initLimit == b.initLimit && a.syncLimit == b.syncLimit
            && a.maxClientCnxns == b.maxClientCnxns && a.minSessionTimeout == b.minSessionTimeout
            && a.maxSessionTimeout == b.maxSessionTimeout && a.snapRetainCount == b.snapRetainCount
            && a.purgeInterval == b.purgeInterval && a.dataDir == b.dataDir && a.dataLogDir == b.dataLogDir
            && a.clientPort == b.clientPort && a.fourLetterWords == b.fourLetterWords
            && a.quorumListenOnAllIPs == b.quorumListenOnAllIPs && a.adminServerEnabled == b.adminServerEnabled
            && a.metricsProvider == b.metricsProvider
            && a.overrides.map(\.key) == b.overrides.map(\.key) && a.overrides.map(\.value) == b.overrides.map(\.value)
    }
}

/// `metricsProvider.className` and the HTTP port it serves /metrics on.
public struct MetricsProvider: Sendable, Equatable {
    public var className: String
    public var httpPort: Int
    public init(className: String, httpPort: Int) {
        self.className = className
        self.httpPort = httpPort
    }
}

public enum ZooCfgError: Error, Equatable, CustomStringConvertible {
    case malformedLine(number: Int, text: String)
    case duplicateKey(number: Int, key: String)

    public var description: String {
        switch self {
        case .malformedLine(let number, let text): return "line \(number): expected key=value, got '\(text)'"
        case .duplicateKey(let number, let key): return "line \(number): '\(key)' is set twice"
        }
    }
}

public enum ZooCfg {
    /// The words our probe and `zkctl health` use; a whitelist without them makes probes lie.
    public static let requiredFourLetterWords = ["ruok", "srvr", "mntr", "stat", "conf", "isro"]

    /// `myid` contents for a StatefulSet ordinal.
    public static func myid(ordinal: Int) -> String { "\(ordinal + 1)\n" }

    /// The `zoo.cfg` text. Keys appear in a fixed order so the output (and the hash that rolls
    /// members) only changes when a value does.
    public static func render(settings: ZooKeeperSettings, members: [ZooKeeperMember]) -> String {
        var entries = entries(settings: settings, members: members)
        var lines = ["# Generated by the Ensemble operator. Edit the Ensemble resource, not this file."]
        for (key, value) in settings.overrides {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                entries[index].value = value
            } else {
                entries.append((key, value))
            }
        }
        for (key, value) in entries { lines.append("\(key)=\(value)") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func entries(settings s: ZooKeeperSettings, members: [ZooKeeperMember]) -> [(key: String, value: String)] {
        var words = s.fourLetterWords
        for word in requiredFourLetterWords where !words.contains(word) { words.append(word) }
        var result: [(key: String, value: String)] = [
            ("tickTime", String(s.tickTime)),
            ("initLimit", String(s.initLimit)),
            ("syncLimit", String(s.syncLimit)),
            ("dataDir", s.dataDir),
            ("dataLogDir", s.dataLogDir),
            ("clientPort", String(s.clientPort)),
            ("maxClientCnxns", String(s.maxClientCnxns)),
            ("minSessionTimeout", String(s.minSessionTimeout)),
            ("maxSessionTimeout", String(s.maxSessionTimeout)),
            ("autopurge.snapRetainCount", String(s.snapRetainCount)),
            ("autopurge.purgeInterval", String(s.purgeInterval)),
            ("4lw.commands.whitelist", words.joined(separator: ",")),
            // 0 retries binding the election port forever: a pod's own DNS name may resolve
            // only after it starts (ZOOKEEPER-3320), so giving up would crash-loop the member.
            ("electionPortBindRetry", "0"),
            ("quorumListenOnAllIPs", s.quorumListenOnAllIPs ? "true" : "false"),
            // The operator changes membership one server at a time with reconfig; a single
            // member must still run in quorum mode so it can grow later.
            ("reconfigEnabled", "true"),
            ("standaloneEnabled", "false"),
            ("admin.enableServer", s.adminServerEnabled ? "true" : "false"),
        ]
        if let metrics = s.metricsProvider {
            result += [("metricsProvider.className", metrics.className), ("metricsProvider.httpPort", String(metrics.httpPort))]
        }
        for member in members.sorted(by: { $0.id < $1.id }) {
            result.append(("server.\(member.id)", member.serverValue))
        }
        return result
    }

    /// Why a user override of `key` is not allowed, or nil when it is.
    public static func operatorOwnedKeyReason(_ key: String) -> String? {
        if let field = typedFields[key] {
            return "'\(key)' is set through \(field), not through config overrides"
        }
        if fixedKeys.contains(key) {
            return "'\(key)' is managed by the operator"
        }
        for prefix in ["server.", "group.", "weight."] where key.hasPrefix(prefix) {
            return "'\(key)': the member list is managed by the operator"
        }
        return nil
    }

    /// Keys that have a typed field in the Ensemble spec (the field path to use instead).
    public static let typedFields: [String: String] = [
        "tickTime": "spec.zookeeper.tickTime",
        "initLimit": "spec.zookeeper.initLimit",
        "syncLimit": "spec.zookeeper.syncLimit",
        "maxClientCnxns": "spec.zookeeper.maxClientCnxns",
        "minSessionTimeout": "spec.zookeeper.minSessionTimeout",
        "maxSessionTimeout": "spec.zookeeper.maxSessionTimeout",
        "autopurge.snapRetainCount": "spec.zookeeper.autopurge.snapRetainCount",
        "autopurge.purgeInterval": "spec.zookeeper.autopurge.purgeInterval",
        "4lw.commands.whitelist": "spec.zookeeper.fourLetterWords",
        "metricsProvider.className": "spec.zookeeper.metrics.className",
        "metricsProvider.httpPort": "spec.zookeeper.metrics.port",
    ]

    /// Keys whose value the operator, the probe or the data layout depend on.
    public static let fixedKeys: Set<String> = [
        "dataDir", "dataLogDir", "clientPort", "clientPortAddress", "secureClientPort",
        "secureClientPortAddress", "myid", "dynamicConfigFile", "reconfigEnabled",
        "standaloneEnabled", "quorumListenOnAllIPs", "electionPortBindRetry",
        "admin.serverPort", "admin.serverAddress", "4lw.commands.enabled",
        // Would turn members into observers behind the operator's back.
        "peerType",
    ]

    /// Parses `key=value` lines (comments and blank lines skipped). Used to read configs back
    /// and in tests; ZooKeeper itself trims whitespace around keys and values the same way.
    public static func parse(_ text: String) throws(ZooCfgError) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        var seen = Set<String>()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw .malformedLine(number: index + 1, text: String(line))
            }
            let key = line[..<eq].trimmingWhitespace()
            let value = line[line.index(after: eq)...].trimmingWhitespace()
            if key.isEmpty { throw .malformedLine(number: index + 1, text: String(line)) }
            if !seen.insert(String(key)).inserted { throw .duplicateKey(number: index + 1, key: String(key)) }
            result.append((String(key), String(value)))
        }
        return result
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s.removeLast() }
        return s
    }
}

/// Logging configuration shipped next to `zoo.cfg`: everything to stdout, so `kubectl logs`
/// shows it and nothing fills the (read-only) image filesystem.
public enum ZooKeeperLogging {
    public static let levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]

    /// `logback.xml` for ZooKeeper 3.8 and later.
    public static func logback(level: String) -> String {
        """
        <configuration>
          <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">
            <encoder>
              <pattern>%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n</pattern>
            </encoder>
          </appender>
          <root level="\(level)">
            <appender-ref ref="CONSOLE" />
          </root>
        </configuration>

        """
    }

    /// `log4j.properties` for images still on ZooKeeper 3.4 to 3.7.
    public static func log4j(level: String) -> String {
        """
        zookeeper.root.logger=CONSOLE
        zookeeper.console.threshold=\(level)
        log4j.rootLogger=\(level), CONSOLE
        log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
        log4j.appender.CONSOLE.Threshold=\(level)
        log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
        log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n

        """
    }
}
