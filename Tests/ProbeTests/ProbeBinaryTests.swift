import Foundation
import Testing
import ZooKeeperTestSupport

/// The built `ensemble-probe` as kubelet and the init container run it.
@Suite struct ProbeCommandLineTests {
    @Test(arguments: [
        ([], "missing command"),
        (["zk-alive"], "unknown command 'zk-alive'"),
        (["zk-live", "--port", "0"], "--port must be a number between 1 and 65535"),
        (["zk-live", "--port"], "--port needs a value"),
        (["zk-live", "--timeout", "-1"], "--timeout must be a number of seconds above 0"),
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

    /// Without --ordinal and POD_INDEX the host name decides; this machine's name is what it
    /// is, so the expectation is derived from it rather than assumed.
    @Test func ordinalFromHostName() throws {
        let scratch = try Scratch()
        let host = ProcessInfo.processInfo.hostName
        let result = try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--data-dir", scratch.sub("data")], environment: [:])
        if let dash = host.lastIndex(of: "-"), let ordinal = Int(host[host.index(after: dash)...]), ordinal >= 0 {
            #expect(result.status == 0)
            #expect(try scratch.read("data/myid") == "\(ordinal + 1)\n")
        } else {
            #expect(result.status == 1)
            #expect(result.stderr.contains("has no numeric '-N' suffix"), "\(result.stderr)")
        }
    }

    @Test func emptyConfigSourceIsAnError() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.sub("empty"), withIntermediateDirectories: true)
        let result = try runProcess(try builtProduct("ensemble-probe"), ["install", scratch.sub("bin"), "--config-source", scratch.sub("empty"), "--config-dir", scratch.sub("conf")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("holds no regular files"))
    }
}
