/// Hand-rolled argv parsing: ArgumentParser would pull Foundation into a binary that must
/// stay small and start fast inside every member pod.
struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

enum Command: String, CaseIterable {
    case zkLive = "zk-live"
    case zkReady = "zk-ready"
    case zkStartup = "zk-startup"
    case cqlReady = "cql-ready"
    case cqlLive = "cql-live"
    case tcpLive = "tcp-live"
    case install
    case hooks

    var defaultPort: Int {
        switch self {
        case .zkLive, .zkReady, .zkStartup, .install, .hooks: return 2181
        case .cqlReady, .cqlLive: return 9042
        // Cassandra's storage (gossip) port: open from early start-up through bootstrap.
        case .tcpLive: return 7000
        }
    }
}

struct ProbeOptions: Equatable {
    var host = "127.0.0.1"
    /// Read the host from this environment variable when the probe runs: exec probes get
    /// no $(VAR) expansion, and a server bound to the pod's IP is not on 127.0.0.1.
    var hostEnvironment: String?
    var port: Int
    /// Seconds for the whole invocation; below the rendered `timeoutSeconds` (5) so the probe
    /// reports its own reason before kubelet gives up on it.
    var timeout = 4.0
    var allowStandalone = false
}

struct InstallOptions: Equatable {
    var directory: String
    var dataDir: String?
    var configSource: String?
    var configDir: String?
    var ordinal: Int?
}

enum Invocation: Equatable {
    case help(Command?)
    case probe(Command, ProbeOptions)
    case install(InstallOptions)
    case hooks(HookPlan)
}

/// Splits `--name=value` and `--name value`. Names outside `valued` and `switches` are
/// unknown; positional arguments come back with an empty name.
private struct OptionScanner {
    var rest: ArraySlice<String>
    var command: Command

    mutating func next(valued: Set<String>, switches: Set<String> = []) throws(UsageError) -> (name: String, value: String?)? {
        guard let arg = rest.popFirst() else { return nil }
        if arg == "-h" || arg == "--help" { return (arg, nil) }
        guard arg.hasPrefix("-"), arg != "-" else { return ("", arg) }
        var name = arg
        var value: String?
        if let eq = arg.firstIndex(of: "=") {
            name = String(arg[..<eq])
            value = String(arg[arg.index(after: eq)...])
        }
        if switches.contains(name) {
            if value != nil { throw UsageError("\(name) takes no value") }
            return (name, nil)
        }
        guard valued.contains(name) else { throw UsageError("unknown option \(name) for \(command.rawValue)") }
        if value == nil {
            guard let next = rest.popFirst() else { throw UsageError("\(name) needs a value") }
            value = next
        }
        return (name, value)
    }
}

func parseArguments(_ argv: [String]) throws(UsageError) -> Invocation {
    var args = argv.dropFirst()
    guard let first = args.popFirst() else { throw UsageError("missing command") }
    if first == "-h" || first == "--help" || first == "help" {
        if let topic = args.first, let command = Command(rawValue: topic) { return .help(command) }
        return .help(nil)
    }
    guard let command = Command(rawValue: first) else {
        throw UsageError("unknown command '\(first)'")
    }
    var scanner = OptionScanner(rest: args, command: command)
    if command == .install { return try parseInstall(&scanner) }
    if command == .hooks { return try parseHooks(Array(args)) }

    var options = ProbeOptions(port: command.defaultPort)
    var hostGiven = false
    let switches: Set<String> = command == .zkReady ? ["--allow-standalone"] : []
    while let (name, value) = try scanner.next(valued: ["--host", "--host-env", "--port", "--timeout"], switches: switches) {
        switch name {
        case "-h", "--help": return .help(command)
        case "--host":
            guard let value, !value.isEmpty else { throw UsageError("--host needs a value") }
            options.host = value
            hostGiven = true
        case "--host-env":
            guard let value, !value.isEmpty else { throw UsageError("--host-env needs a variable name") }
            options.hostEnvironment = value
        case "--port":
            guard let value, let port = Int(value), (1...65535).contains(port) else {
                throw UsageError("--port must be a number between 1 and 65535")
            }
            options.port = port
        case "--timeout":
            guard let value, let seconds = Double(value), seconds > 0, seconds <= 3600 else {
                throw UsageError("--timeout must be a number of seconds above 0 and at most 3600")
            }
            options.timeout = seconds
        case "--allow-standalone":
            options.allowStandalone = true
        case "":
            throw UsageError("unexpected argument '\(value ?? "")'")
        default:
            throw UsageError("unknown option \(name) for \(command.rawValue)")
        }
    }
    if options.hostEnvironment != nil && hostGiven {
        throw UsageError("--host and --host-env exclude each other")
    }
    return .probe(command, options)
}

private func parseInstall(_ scanner: inout OptionScanner) throws(UsageError) -> Invocation {
    var directory: String?
    var options = InstallOptions(directory: "")
    while let (name, value) = try scanner.next(valued: ["--data-dir", "--config-source", "--config-dir", "--ordinal"]) {
        switch name {
        case "-h", "--help": return .help(.install)
        case "":
            guard directory == nil else { throw UsageError("install takes one directory, got a second: '\(value ?? "")'") }
            directory = value
        case "--data-dir": options.dataDir = try nonEmpty(name, value)
        case "--config-source": options.configSource = try nonEmpty(name, value)
        case "--config-dir": options.configDir = try nonEmpty(name, value)
        case "--ordinal":
            guard let value, let ordinal = Int(value), ordinal >= 0 else {
                throw UsageError("--ordinal must be a non-negative integer")
            }
            options.ordinal = ordinal
        default:
            throw UsageError("unknown option \(name) for install")
        }
    }
    guard let directory, !directory.isEmpty else { throw UsageError("install needs the target directory") }
    options.directory = directory
    if (options.configSource == nil) != (options.configDir == nil) {
        throw UsageError("--config-source and --config-dir go together")
    }
    if options.ordinal != nil && options.dataDir == nil && options.configSource == nil {
        throw UsageError("--ordinal only matters with --data-dir or --config-source (it decides myid and the member's own server line)")
    }
    return .install(options)
}

private func nonEmpty(_ name: String, _ value: String?) throws(UsageError) -> String {
    guard let value, !value.isEmpty else { throw UsageError("\(name) needs a value") }
    return value
}

let generalHelp = """
    ensemble-probe: health probes and pod set-up for Ensemble members (no shell, no nc).

    Usage: ensemble-probe <command> [options]

    Probes (exit 0 = pass, 1 = fail, 2 = usage error; one line on stderr says why):
      zk-live      `ruok` answered `imok`: the ZooKeeper process answers (liveness).
      zk-ready     `srvr` reports leader, follower or observer: serving inside a quorum
                   (readiness). "Not currently serving requests" and standalone are not ready.
      zk-startup   The client port answers `ruok` with `imok` (startup probe, for slow starts).
      cql-ready    CQL v4 OPTIONS answered with SUPPORTED (readiness).
      cql-live     The CQL port accepts a TCP connection.
      tcp-live     A port (default 7000, Cassandra's storage port) accepts a TCP connection:
                   liveness and startup for Cassandra, whose CQL port opens only after
                   bootstrap and closes on `nodetool disablebinary`.

    Pod set-up (init container):
      install DIR  Copy this binary into DIR, write myid, stage the configuration.

    Container hooks (postStart, preStop):
      hooks        Run several commands in order, the operator's last whatever the others do.

    Run `ensemble-probe <command> --help` for a command's options.
    """

func help(for command: Command?) -> String {
    guard let command else { return generalHelp }
    let common = """
        Options:
          --host HOST      Address to probe (default 127.0.0.1).
          --host-env VAR   Probe the address in environment variable VAR instead (e.g.
                           POD_IP, for a server that listens on the pod's IP only).
          --port PORT      Port to probe (default \(command.defaultPort)).
          --timeout SECS   Hard bound on the whole invocation, fractions allowed (default 4,
                           below the rendered timeoutSeconds of 5). Replies are size-capped.
          -h, --help       Show this help.
        """
    switch command {
    case .zkLive:
        return """
            Usage: ensemble-probe zk-live [--host HOST] [--port PORT] [--timeout SECS]

            Sends the four-letter word `ruok`; passes on `imok`. Proves only that the
            process answers, not that it is in a quorum: use it for liveness, so a member
            waiting for its peers is not restarted. Needs `ruok` in 4lw.commands.whitelist.

            \(common)
            """
    case .zkReady:
        return """
            Usage: ensemble-probe zk-ready [--host HOST] [--port PORT] [--timeout SECS] [--allow-standalone]

            Sends `srvr`; passes when Mode is leader, follower or observer, i.e. the member
            serves clients inside a quorum. "Not currently serving requests", read-only and
            standalone fail. Needs `srvr` in 4lw.commands.whitelist.

            \(common)
              --allow-standalone  Standalone mode passes too. Pass it only when the ensemble
                                  has one member (a lone standalone member of a bigger
                                  ensemble serves a private copy of the data).
            """
    case .zkStartup:
        return """
            Usage: ensemble-probe zk-startup [--host HOST] [--port PORT] [--timeout SECS]

            Sends `ruok`; passes on `imok`. ZooKeeper opens its client port only after it has
            loaded its snapshot and transaction log, so the first `imok` marks the end of a
            slow start. Quorum is deliberately not required: a member that cannot reach its
            peers yet has still started, and restarting it would not help. Use it as the
            startup probe with a generous failureThreshold so zk-live can stay strict.

            \(common)
            """
    case .cqlReady:
        return """
            Usage: ensemble-probe cql-ready [--host HOST] [--port PORT] [--timeout SECS]

            Sends a CQL native protocol v4 OPTIONS frame; passes when the server answers
            SUPPORTED. Cassandra opens the native transport only after bootstrap and closes
            it on drain, so this is a per-node readiness signal without a JVM (no nodetool).
            An ERROR reply is reported with its code and message.

            \(common)
            """
    case .cqlLive:
        return """
            Usage: ensemble-probe cql-live [--host HOST] [--port PORT] [--timeout SECS]

            Passes when the CQL port accepts a TCP connection (nothing is sent).

            \(common)
            """
    case .tcpLive:
        return """
            Usage: ensemble-probe tcp-live [--host HOST | --host-env VAR] [--port PORT] [--timeout SECS]

            Passes when the port (default 7000) accepts a TCP connection (nothing is sent).
            Cassandra opens its storage port early in start-up and keeps it open through
            bootstrap streaming and maintenance (disablebinary), so this tells whether the
            process is alive without failing a node that is still joining.

            \(common)
            """
    case .install:
        return """
            Usage: ensemble-probe install DIR [--data-dir DIR] [--ordinal N]
                                              [--config-source DIR --config-dir DIR]

            Run from an init container (the operator image) to prepare a member pod:
              1. Copies this binary to DIR/ensemble-probe (temporary file, then rename;
                 mode 0755), so probes in the engine's container need no shell or nc.
              2. With --data-dir: writes myid = ordinal + 1 into it. The ordinal comes from
                 --ordinal, else the POD_INDEX environment variable (downward API of the
                 label apps.kubernetes.io/pod-index), else the numeric suffix after the
                 last '-' of the host name's first label. Ordinals are 0 to 254 (server ids
                 1 to 255). If the data directory already holds a different myid, nothing
                 is changed and install fails: that data belongs to another member, and
                 two members with one id break the ensemble.
              3. With --config-source/--config-dir: copies the files of the (read-only)
                 ConfigMap mount into the writable config directory, each atomically
                 (ZooKeeper rewrites zoo.cfg). When the ConfigMap has zoo.cfg.dynamic (the
                 membership the operator last read, with its version), the member starts
                 with that membership, plus itself as a participant when it is not listed
                 (it joins as a non-voting follower until a reconfig adds it): zoo.cfg
                 names a dynamic file zoo.cfg.dynamic.<version> (version 0 when the member
                 added itself). A fresh data directory records that version in
                 config-epoch; a member a scale-down took out (left.N in zoo.cfg.dynamic)
                 whose data began before it left is refused: a removed member's old data
                 must not rejoin. Without zoo.cfg.dynamic, zoo.cfg must list this member's id.

            Options:
              --data-dir DIR       ZooKeeper dataDir, where myid lives.
              --ordinal N          StatefulSet ordinal (overrides POD_INDEX and host name).
              --config-source DIR  ConfigMap mount to copy from (files may be symlinks).
              --config-dir DIR     Writable directory ZooKeeper reads its config from.
              -h, --help           Show this help.

            Exit status: 0 done, 1 refused or failed (one line on stderr says why), 2 usage.
            """
    case .hooks:
        return hooksHelp
    }
}
