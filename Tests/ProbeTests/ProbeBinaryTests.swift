import Foundation
import Testing
import ZKConfig
import ZooKeeperTestSupport

/// The built `ensemble-probe` as kubelet and the init container run it.
@Suite struct ProbeCommandLineTests {
    @Test(arguments: [
        ([], "missing command"),
        (["zk-alive"], "unknown command 'zk-alive'"),
        (["zk-live", "--port", "0"], "--port must be a number between 1 and 65535"),
        (["zk-live", "--port"], "--port needs a value"),
        (["zk-live", "--timeout", "-1"], "--timeout must be a number of seconds above 0"),
        (["zk-ready", "--timeout", "inf"], "--timeout must be a number of seconds above 0 and at most 3600"),
        (["zk-ready", "--timeout", "nan"], "--timeout must be a number of seconds above 0 and at most 3600"),
        (["cql-ready", "--timeout", "1e300"], "--timeout must be a number of seconds above 0 and at most 3600"),
        (["zk-live", "--allow-standalone"], "unknown option --allow-standalone for zk-live"),
        (["zk-ready", "--allow-standalone=yes"], "--allow-standalone takes no value"),
        (["zk-live", "extra"], "unexpected argument 'extra'"),
        (["install"], "install needs the target directory"),
        (["install", "/a", "/b"], "install takes one directory"),
        (["install", "/a", "--config-source", "/s"], "--config-source and --config-dir go together"),
        (["install", "/a", "--ordinal", "2"], "--ordinal only matters with --data-dir"),
        (["install", "/a", "--ordinal", "-1", "--data-dir", "/d"], "--ordinal must be a non-negative integer"),
        (["tcp-live", "--host", "h", "--host-env", "POD_IP"], "--host and --host-env exclude each other"),
        (["tcp-live", "--host-env="], "--host-env needs a variable name"),
        (["hooks"], "hooks needs at least one step"),
        (["hooks", "2", "echo"], "a step of 2 arguments has only 1"),
        (["hooks", "x", "echo"], "a step starts with its argument count (1 or more), got 'x'"),
        (["hooks", "--budget", "0", "1", "true"], "--budget must be a number of seconds above 0"),
        (["hooks", "--finally", "1", "true", "1", "true"], "--finally takes one step and comes last"),
    ])
    func usageErrorsExit2(_ arguments: [String], _ message: String) throws {
        let result = try runProcess(try builtProduct("ensemble-probe"), arguments)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("ensemble-probe: "))
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test(arguments: ["zk-live", "zk-ready", "zk-startup", "cql-ready", "cql-live", "tcp-live", "install", "hooks"])
    func helpPerCommand(_ command: String) throws {
        let result = try runProcess(try builtProduct("ensemble-probe"), [command, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("Usage: ensemble-probe \(command)"))
    }

    @Test func generalHelpListsEveryCommand() throws {
        let result = try runProcess(try builtProduct("ensemble-probe"), ["--help"])
        #expect(result.status == 0)
        for command in ["zk-live", "zk-ready", "zk-startup", "cql-ready", "cql-live", "tcp-live", "install DIR", "hooks"] {
            #expect(result.stdout.contains("  \(command) "), "\(command)")
        }
    }

    @Test func equalsSyntaxAndTimeoutFractions() throws {
        let peer = try TestPeer { connection in
            connection.read(4)
            connection.write(Array("imok".utf8))
        }
        defer { peer.stop() }
        let result = try runProcess(try builtProduct("ensemble-probe"), ["zk-live", "--host=127.0.0.1", "--port=\(peer.port)", "--timeout=0.8"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "ensemble-probe: imok from 127.0.0.1:\(peer.port)\n")
    }

    /// Fake ZooKeeper replies for the mode decisions of zk-ready.
    @Test(arguments: [
        ("leader", [String](), 0, "ready: leader, zxid 0x100000004"),
        ("follower", [], 0, "ready: follower"),
        ("observer", [], 0, "ready: observer"),
        ("standalone", [], 1, "runs standalone, outside any quorum"),
        ("standalone", ["--allow-standalone"], 0, "ready: standalone (one-member ensemble)"),
        ("read-only", [], 1, "is read-only"),
    ])
    func zkReadyModes(_ mode: String, _ extra: [String], _ status: Int32, _ message: String) throws {
        let peer = try TestPeer { connection in
            connection.read(4)
            connection.write(Array("Zookeeper version: 3.8.0\nZxid: 0x100000004\nMode: \(mode)\n".utf8))
        }
        defer { peer.stop() }
        let result = try runProcess(try builtProduct("ensemble-probe"), ["zk-ready", "--port", String(peer.port)] + extra)
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func notServingIsNotReady() throws {
        let peer = try TestPeer { connection in
            connection.read(4)
            connection.write(Array("This ZooKeeper instance is not currently serving requests\n".utf8))
        }
        defer { peer.stop() }
        let result = try runProcess(try builtProduct("ensemble-probe"), ["zk-ready", "--port", String(peer.port)])
        #expect(result.status == 1)
        #expect(result.stderr == "ensemble-probe: not ready: 127.0.0.1:\(peer.port) is not currently serving requests (no quorum)\n")
    }
}

/// `ensemble-probe install` in a scratch directory, with the ConfigMap's symlink layout.
@Suite struct ProbeInstallTests {
    final class Scratch {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("probe-install-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func sub(_ name: String) -> String { path + "/" + name }
        func read(_ name: String) throws -> String { try String(contentsOfFile: sub(name), encoding: .utf8) }
        func write(_ name: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: (sub(name) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: sub(name), atomically: false, encoding: .utf8)
        }

        /// What kubelet mounts for a ConfigMap: files are symlinks through `..data`.
        func configMap(_ files: [String: String]) throws -> String {
            let root = sub("configmap")
            try FileManager.default.createDirectory(atPath: root + "/..2025_01_01_00_00_00.1", withIntermediateDirectories: true)
            for (name, text) in files {
                try text.write(toFile: root + "/..2025_01_01_00_00_00.1/" + name, atomically: false, encoding: .utf8)
                try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: "..data/" + name)
            }
            try FileManager.default.createSymbolicLink(atPath: root + "/..data", withDestinationPath: "..2025_01_01_00_00_00.1")
            return root
        }
    }

    @Test func installsBinaryMyidAndConfig() throws {
        let scratch = try Scratch()
        let source = try scratch.configMap(["zoo.cfg": "tickTime=2000\n", "logback.xml": "<configuration/>\n"])
        let probe = try builtProduct("ensemble-probe")
        let result = try runProcess(probe, [
            "install", scratch.sub("bin"), "--data-dir", scratch.sub("data"),
            "--config-source", source, "--config-dir", scratch.sub("conf"), "--ordinal", "2",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(try scratch.read("data/myid") == "3\n")
        #expect(try scratch.read("conf/zoo.cfg") == "tickTime=2000\n")
        #expect(try scratch.read("conf/logback.xml") == "<configuration/>\n")
        let staged = try FileManager.default.contentsOfDirectory(atPath: scratch.sub("conf")).sorted()
        #expect(staged == ["logback.xml", "zoo.cfg"])  // no ..data, no leftovers of temp files
        // Staged config is a plain writable file, not a link into the read-only mount.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: scratch.sub("conf/zoo.cfg"))) == nil)

        let installed = scratch.sub("bin/ensemble-probe")
        let attributes = try FileManager.default.attributesOfItem(atPath: installed)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o755)
        #expect(FileManager.default.contentsEqual(atPath: installed, andPath: probe))
        // The copy works on its own.
        let help = try runProcess(installed, ["--help"])
        #expect(help.status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.sub("bin")) == ["ensemble-probe"])
    }

    @Test func sameMyidIsAcceptedAgain() throws {
        let scratch = try Scratch()
        try scratch.write("data/myid", "1\n")
        let result = try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--data-dir", scratch.sub("data"), "--ordinal", "0"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("myid 1 already in"))
    }

    @Test func differentMyidIsRefusedAndNothingChanges() throws {
        let scratch = try Scratch()
        try scratch.write("data/myid", "3\n")
        let source = try scratch.configMap(["zoo.cfg": "x=1\n"])
        let result = try runProcess(try builtProduct("ensemble-probe"), [
            "install", scratch.sub("bin"), "--data-dir", scratch.sub("data"), "--ordinal", "0",
            "--config-source", source, "--config-dir", scratch.sub("conf"),
        ])
        #expect(result.status == 1)
        #expect(result.stderr == "ensemble-probe: refusing to start: \(scratch.sub("data/myid")) holds id 3 but this pod is id 1 (ordinal 0); the data directory belongs to another member\n")
        #expect(try scratch.read("data/myid") == "3\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("conf")))
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("bin")))
    }

    @Test func garbageMyidIsRefused() throws {
        let scratch = try Scratch()
        try scratch.write("data/myid", "not-a-number\n")
        let result = try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--data-dir", scratch.sub("data"), "--ordinal", "0"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("holds 'not-a-number"), "\(result.stderr)")
        #expect(result.stderr.contains("this pod is id 1"))
    }

    @Test func ordinalFromPodIndexEnvironment() throws {
        let scratch = try Scratch()
        let result = try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--data-dir", scratch.sub("data")],
                             environment: ["POD_INDEX": "4"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try scratch.read("data/myid") == "5\n")
    }

    @Test func badPodIndexIsAnError() throws {
        let scratch = try Scratch()
        let result = try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--data-dir", scratch.sub("data")],
                             environment: ["POD_INDEX": "zk-1"])
        #expect(result.status == 1)
        #expect(result.stderr == "ensemble-probe: POD_INDEX is 'zk-1', not a non-negative integer\n")
    }

    @Test func emptyConfigSourceIsAnError() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.sub("empty"), withIntermediateDirectories: true)
        let result = try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--config-source", scratch.sub("empty"), "--config-dir", scratch.sub("conf")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("holds no regular files"))
    }
}

/// Ordinals install must refuse, and where it takes one from, through the built binary.
@Suite struct ProbeOrdinalTests {
    func install(_ scratch: ProbeInstallTests.Scratch, _ extra: [String] = [], environment: [String: String]) throws -> ProcessResult {
        try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--data-dir", scratch.sub("data")] + extra, environment: environment)
    }

    /// Int.max used to overflow (ordinal + 1) and crash the probe with SIGILL (exit 132);
    /// 300 used to write myid 301, an id ZooKeeper does not allow.
    @Test(arguments: [
        (["POD_INDEX": "9223372036854775807"], [String](), "POD_INDEX 9223372036854775807 is out of range"),
        (["POD_INDEX": "300"], [], "POD_INDEX 300 is out of range"),
        (["POD_INDEX": "255"], [], "POD_INDEX 255 is out of range"),
        ([:], ["--ordinal", "9223372036854775807"], "--ordinal 9223372036854775807 is out of range"),
        (["POD_INDEX": "99999999999999999999999"], [], "not a non-negative integer"),
    ])
    func outOfRangeOrdinalsAreRefusedInOneLine(_ environment: [String: String], _ extra: [String], _ message: String) throws {
        let scratch = try ProbeInstallTests.Scratch()
        let result = try install(scratch, extra, environment: environment)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.contains("ZooKeeper server ids") || message.contains("not a non-negative"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("data/myid")))
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("bin")))
    }

    @Test func theLargestOrdinalGivesId255() throws {
        let scratch = try ProbeInstallTests.Scratch()
        let result = try install(scratch, environment: ["POD_INDEX": "254"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try scratch.read("data/myid") == "255\n")
    }

    /// The id must be one of the servers the staged configuration lists; otherwise ZooKeeper
    /// would start and never join ("My id N not in the peer list").
    @Test func anIdTheConfigurationDoesNotListIsRefused() throws {
        let scratch = try ProbeInstallTests.Scratch()
        // zoo.cfg as the operator renders it, and a hand-written one with spaces around '='.
        let rendered = ZooCfg.render(settings: ZooKeeperSettings(), members: (1...3).map { ZooKeeperMember(id: $0, host: "zk-\($0 - 1).zk-hs") })
        let source = try scratch.configMap(["zoo.cfg": rendered, "zoo.cfg.dynamic.100000000": "server.3 = zk-2.zk-hs:2888:3888\n"])
        let config = ["--config-source", source, "--config-dir", scratch.sub("conf")]
        let refused = try install(scratch, config, environment: ["POD_INDEX": "3"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "ensemble-probe: refusing to start: this pod is id 4 (ordinal 3) but the configuration in \(source) lists servers 1, 2, 3\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("data/myid")))
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("conf")))

        let listed = try install(scratch, config, environment: ["POD_INDEX": "1"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(try scratch.read("data/myid") == "2\n")
    }

    /// Without --ordinal and POD_INDEX the host name decides; a fully qualified one counts by
    /// its first label. Each case runs in a UTS namespace of its own with that host name.
    @Test(arguments: [
        ("zk-3.zk-hs.default.svc.cluster.local", "4\n"),
        ("zk-0", "1\n"),
        ("my-zk-12.my-zk-hs", "13\n"),
        ("zk-300.zk-hs.default.svc.cluster.local", "host name 'zk-300.zk-hs.default.svc.cluster.local' (ordinal 300) is out of range"),
        ("zk.cluster-3", "host name 'zk.cluster-3' has no numeric '-N' suffix"),
    ])
    func ordinalFromTheHostName(_ host: String, _ expected: String) throws {
        let scratch = try ProbeInstallTests.Scratch()
        let probe = try builtProduct("ensemble-probe")
        let result = try runProcess("unshare", [
            "--uts", "--map-root-user", "sh", "-c", "hostname \"$0\" && exec \"$1\" install \"$2\" --data-dir \"$3\"",
            host, probe, scratch.sub("bin"), scratch.sub("data"),
        ], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        try #require(!result.stderr.contains("unshare:"), "this test needs user namespaces: \(result.stderr)")
        if expected.hasSuffix("\n") {
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try scratch.read("data/myid") == expected)
        } else {
            #expect(result.status == 1)
            #expect(result.stderr.contains(expected), "\(result.stderr)")
        }
    }
}

/// A stalled name service cannot hold the probe past --timeout, even when it inherits SIGALRM
/// blocked (a blocked mask survives exec) so the watchdog backstop cannot fire: NetCore's
/// resolver waits for getaddrinfo only until the deadline, and the probe says why.
/// scripts/stalled_dns.py runs the probe where DNS never answers (its own namespaces).
@Suite struct ProbeWatchdogTests {
    static let stalledDNS = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/stalled_dns.py").path

    @Test(arguments: [["--block", "SIGALRM"], []])
    func aStalledLookupEndsWithinTheTimeout(_ block: [String]) throws {
        let probe = try builtProduct("ensemble-probe")
        let result = try runProcess("python3", [Self.stalledDNS] + block + ["--", probe, "zk-ready", "--host", "member.zk-hs.invalid", "--timeout", "1"], timeout: 30)
        #expect(!result.stderr.contains("Traceback"), "stalled_dns.py failed: \(result.stderr)")
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("ensemble-probe: not ready: srvr on member.zk-hs.invalid:2181: cannot resolve member.zk-hs.invalid: "
            + "no answer from the name service before the deadline"), "\(result.stderr)")
        // Bound 1 s; generous margin for a loaded machine (the lookup alone would take 60 s).
        #expect(result.seconds < 10, "took \(result.seconds) s")
    }
}

/// `install` with the membership the operator keeps in the ConfigMap (`zoo.cfg.dynamic`):
/// what it stages, and the data directories it refuses.
@Suite struct ProbeMembershipInstallTests {
    static let template = "zk-{ordinal}.zk-hs.default.svc.cluster.local:2888:3888:participant;2181"

    static func membership(_ ids: [Int], version: Int64, left: [Int: Int64] = [:]) -> String {
        StagedMembership(config: DynamicConfig(servers: ids.map {
            .init(id: $0, role: .participant, value: "zk-\($0 - 1).zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181")
        }, version: version), joinTemplate: template, left: left).text
    }

    func install(_ scratch: ProbeInstallTests.Scratch, ordinal: Int, membership: String,
                 zooCfg: String = "tickTime=2000\ndataDir=/data\n") throws -> ProcessResult {
        let source = try scratch.configMap(["zoo.cfg": zooCfg, "zoo.cfg.dynamic": membership, "logback.xml": "<configuration/>\n"])
        return try runProcess(try builtProduct("ensemble-probe"), [
            "install", scratch.sub("bin"), "--data-dir", scratch.sub("data"),
            "--config-source", source, "--config-dir", scratch.sub("conf"), "--ordinal", String(ordinal),
        ])
    }

    /// A listed member starts with the membership as it is, under its own version (in the
    /// file name: ZooKeeper refuses a version line inside); a fresh data directory records it.
    @Test func aListedMemberGetsTheMembershipUnderItsVersion() throws {
        let scratch = try ProbeInstallTests.Scratch()
        let result = try install(scratch, ordinal: 1, membership: Self.membership([1, 2, 3], version: 0x3_0000_0002))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try scratch.read("conf/zoo.cfg") == "tickTime=2000\ndataDir=/data\ndynamicConfigFile=\(scratch.sub("conf/zoo.cfg.dynamic.300000002"))\n")
        #expect(try scratch.read("conf/zoo.cfg.dynamic.300000002") == """
            server.1=zk-0.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181
            server.2=zk-1.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181
            server.3=zk-2.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181

            """)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.sub("conf")).sorted()
            == ["logback.xml", "zoo.cfg", "zoo.cfg.dynamic.300000002"], "the ConfigMap's membership file itself is not staged")
        #expect(try scratch.read("data/myid") == "2\n")
        #expect(try scratch.read("data/config-epoch") == "0x300000002\n")
        #expect(result.stderr.contains("server 2 is in configuration 0x300000002"), "\(result.stderr)")
    }

    /// A member that is not listed adds itself from the template, and the result is staged
    /// as version 0: it is not the configuration of the live version, and ZooKeeper would
    /// ignore the leader's configuration of that version if it believed it had it.
    @Test func aJoiningMemberAddsItselfAtVersionZero() throws {
        let scratch = try ProbeInstallTests.Scratch()
        let result = try install(scratch, ordinal: 3, membership: Self.membership([1, 2, 3], version: 0x3_0000_0002))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try scratch.read("conf/zoo.cfg").hasSuffix("dynamicConfigFile=\(scratch.sub("conf/zoo.cfg.dynamic.0"))\n"))
        let dynamic = try scratch.read("conf/zoo.cfg.dynamic.0")
        #expect(dynamic.hasSuffix("server.3=zk-2.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\nserver.4=zk-3.zk-hs.default.svc.cluster.local:2888:3888:participant;2181\n"))
        #expect(!dynamic.contains("version"))
        #expect(try scratch.read("data/config-epoch") == "0x300000002\n")
    }

    /// The data of a member a scale-down took out (a volume left behind, now started for the
    /// reused ordinal) is refused in one line, and nothing is changed.
    @Test(arguments: [("0x100000000\n", "began at configuration 0x100000000"), (nil, "began before configuration epochs were recorded")])
    func aRemovedMembersDataIsRefused(epoch: String?, began: String) throws {
        let scratch = try ProbeInstallTests.Scratch()
        try scratch.write("data/myid", "4\n")
        if let epoch { try scratch.write("data/config-epoch", epoch) }
        let result = try install(scratch, ordinal: 3, membership: Self.membership([1, 2, 3], version: 0x3_0000_0005, left: [4: 0x3_0000_0002, 5: 0x3_0000_0003]))
        #expect(result.status == 1)
        #expect(result.stderr == "ensemble-probe: refusing to start: server 4 (ordinal 3) was scaled away at configuration 0x300000002 (\(scratch.sub("configmap/zoo.cfg.dynamic"))) and the data in \(scratch.sub("data")) \(began): a removed member's data must not rejoin; delete this member's volume (the operator does before it reuses an ordinal)\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("conf")))
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("bin")))
        #expect(try scratch.read("data/myid") == "4\n")
    }

    /// What is not refused: a volume made after the scale-down (a fresh one for the reused
    /// ordinal, whose first start was interrupted), a listed member with old data (ZooKeeper
    /// syncs it, whatever an old departure says), a member a leader hand-off took out (no
    /// departure: it rejoins with its own data), anything before the ensemble formed.
    @Test(arguments: [
        (3, "0x300000002\n", [1, 2, 3], Int64(0x3_0000_0002), [4: Int64(0x3_0000_0002)]),
        (1, "0x100000000\n", [1, 2, 3], Int64(0x3_0000_0002), [2: Int64(0x2_0000_0001)]),
        (1, nil, [1, 3, 4], Int64(0x3_0000_0002), [:]),
        (3, "0x0\n", [1, 2, 3], Int64(0), [:]),
    ] as [(Int, String?, [Int], Int64, [Int: Int64])])
    func dataThatMayStartIsAccepted(ordinal: Int, epoch: String?, ids: [Int], version: Int64, left: [Int: Int64]) throws {
        let scratch = try ProbeInstallTests.Scratch()
        try scratch.write("data/myid", "\(ordinal + 1)\n")
        if let epoch { try scratch.write("data/config-epoch", epoch) }
        let result = try install(scratch, ordinal: ordinal, membership: Self.membership(ids, version: version, left: left))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("myid \(ordinal + 1) already in"), "\(result.stderr)")
        // The epoch of existing data is never rewritten.
        #expect((try? scratch.read("data/config-epoch")) == epoch)
    }

    @Test(arguments: [
        ("server.1=zk-0:2888:3888;2181\nversion=xyz\njoinTemplate=zk-{ordinal}:2888:3888;2181\n", "zoo.cfg.dynamic:2: version 'xyz' is not hexadecimal"),
        ("server.1=zk-0:2888:3888;2181\nversion=1\n", "zoo.cfg.dynamic: no joinTemplate= line"),
        ("server.1=zk-0:2888:3888;2181\nversion=1\njoinTemplate=zk-3:2888:3888;2181\n", "zoo.cfg.dynamic:3: joinTemplate 'zk-3:2888:3888;2181' is not a server value with {ordinal} or {id}"),
        ("server.1=zk-0:2888:3888;2181\nversion=1\njoinTemplate=zk-{id}:2888:3888;2181\nleft.x=5\n", "zoo.cfg.dynamic:4: 'left.x=5' is not left.<server id>=<hexadecimal version>"),
    ])
    func aMalformedMembershipIsAnErrorNamingTheLine(text: String, error: String) throws {
        let scratch = try ProbeInstallTests.Scratch()
        let result = try install(scratch, ordinal: 0, membership: text)
        #expect(result.status == 1)
        #expect(result.stderr == "ensemble-probe: \(scratch.sub("configmap"))/\(error)\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("data/myid")))
    }

    @Test func aGarbageEpochIsRefused() throws {
        let scratch = try ProbeInstallTests.Scratch()
        try scratch.write("data/myid", "4\n")
        try scratch.write("data/config-epoch", "yesterday\n")
        let result = try install(scratch, ordinal: 3, membership: Self.membership([1, 2, 3], version: 5, left: [4: 4]))
        #expect(result.status == 1)
        #expect(result.stderr == "ensemble-probe: refusing to start: \(scratch.sub("data/config-epoch")) holds 'yesterday ', not a configuration version\n")
    }

    /// zoo.cfg may not list servers itself once the membership has a file of its own:
    /// ZooKeeper refuses the mix, and would do so only once the member starts.
    @Test func serversInZooCfgAreRefused() throws {
        let scratch = try ProbeInstallTests.Scratch()
        let result = try install(scratch, ordinal: 0, membership: Self.membership([1], version: 0), zooCfg: "tickTime=2000\nserver.1=zk-0:2888:3888\n")
        #expect(result.status == 1)
        #expect(result.stderr == "ensemble-probe: \(scratch.sub("configmap/zoo.cfg")):2: 'server.1' belongs in zoo.cfg.dynamic, not in zoo.cfg\n")
    }
}
