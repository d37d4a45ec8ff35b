import ArgumentParser
import Foundation
import NetCore
import ZooKeeperClient

/// How to reach the ensemble; shared by every data command.
struct MemberOptions: ParsableArguments {
    @OptionGroup var target: EnsembleTarget

    @Option(help: "Seconds allowed for connecting and for each call.")
    var timeout: Double = 10

    @Option(help: "Requested session timeout in seconds (the server clamps it).")
    var sessionTimeout: Double = 10

    /// Bad input is a usage error (exit 64) before any connection is tried.
    func validate() throws {
        try validateDurationOption(timeout, "--timeout")
        try validateDurationOption(sessionTimeout, "--session-timeout")
    }

    var clientOptions: ZooKeeperClient.Options {
        var options = ZooKeeperClient.Options()
        options.connectTimeout = timeout
        options.requestTimeout = timeout
        options.attemptTimeout = min(timeout, 3)
        options.sessionTimeout = sessionTimeout
        return options
    }

    /// A session with one of `members`.
    func connect(_ members: [String]) async throws -> ZooKeeperClient {
        try await ZooKeeperClient.connect(members: members, options: clientOptions)
    }
}

/// Prints "zkctl: <what>: <why>" and exits 1: the CLI's one format for failures.
func fail(_ what: String, _ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("zkctl: \(what): \(error)\n".utf8))
    return ExitCode.failure
}

/// Opens a session, runs `body`, and closes the session whatever happens.
func withClient<T>(_ options: MemberOptions, _ what: String, _ body: (ZooKeeperClient) async throws -> T) async throws -> T {
    let members = try options.target.memberStrings()
    let client: ZooKeeperClient
    do { client = try await options.connect(members) } catch { throw fail("connect to \(members.joined(separator: ","))", error) }
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw fail(what, error)
    }
}

/// A malformed znode path is a usage error (exit 64), found before connecting.
func validateNodePath(_ path: String, sequential: Bool = false) throws {
    do { try validatePath(path, sequential: sequential) } catch { throw ValidationError("\(error)") }
}

func readData(argument: String?, file: String?) throws -> [UInt8] {
    switch (argument, file) {
    case (let text?, nil): return Array(text.utf8)
    case (nil, let path?):
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read --data-file \(path)")
        }
        return [UInt8](data)
    case (nil, nil): return []
    case (_?, _?): throw ValidationError("give the data as an argument or with --data-file, not both")
    }
}

func hex64(_ value: Int64) -> String { "0x" + String(UInt64(bitPattern: value), radix: 16) }

struct CreateNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a znode.",
        discussion: "An --ephemeral node lives only as long as this command's session, so it is gone when zkctl exits.")

    @Argument(help: "Path of the new node.") var path: String
    @Argument(help: "Data (UTF-8); see also --data-file.") var data: String?
    @Option(help: "Read the data from this file (any bytes).") var dataFile: String?
    @Flag(help: "Ephemeral node.") var ephemeral = false
    @Flag(help: "Append a sequence number to the name.") var sequential = false
    @OptionGroup var connection: MemberOptions

    func validate() throws { try validateNodePath(path, sequential: sequential) }

    func run() async throws {
        let bytes = try readData(argument: data, file: dataFile)
        let created = try await withClient(connection, "create \(path)") {
            try await $0.create(path, data: bytes, mode: CreateMode(ephemeral: ephemeral, sequential: sequential))
        }
        print(created)
    }
}

struct GetNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a znode's data (raw bytes).",
        discussion: "On a terminal a newline follows data that does not end with one; piped or redirected, the bytes are exactly the node's.")

    @Argument(help: "Path of the node.") var path: String
    @Flag(help: "Also print the node's Stat after the data.") var stat = false
    @OptionGroup var connection: MemberOptions

    func validate() throws { try validateNodePath(path) }

    func run() async throws {
        let (data, nodeStat) = try await withClient(connection, "get \(path)") { try await $0.getData(path) }
        FileHandle.standardOutput.write(Data(data))
        // On a terminal, end the line so the prompt does not run on after the data; into a
        // pipe or file the bytes go exactly as stored.
        if isatty(STDOUT_FILENO) == 1, let last = data.last, last != UInt8(ascii: "\n") {
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
        if stat {
            let s = nodeStat
            print("""

                czxid = \(hex64(s.czxid))
                mzxid = \(hex64(s.mzxid))
                pzxid = \(hex64(s.pzxid))
                ctime = \(s.ctime)
                mtime = \(s.mtime)
                version = \(s.version)
                cversion = \(s.cversion)
                aversion = \(s.aversion)
                ephemeralOwner = \(hex64(s.ephemeralOwner))
                dataLength = \(s.dataLength)
                numChildren = \(s.numChildren)
                """)
        }
    }
}

struct SetNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Replace a znode's data; prints the new version.")

    @Argument(help: "Path of the node.") var path: String
    @Argument(help: "Data (UTF-8); see also --data-file.") var data: String?
    @Option(help: "Read the data from this file (any bytes).") var dataFile: String?
    @Option(help: "Only if the node's version is this (-1: any).") var version: Int32 = -1
    @OptionGroup var connection: MemberOptions

    func validate() throws { try validateNodePath(path) }

    func run() async throws {
        let bytes = try readData(argument: data, file: dataFile)
        let stat = try await withClient(connection, "set \(path)") { try await $0.setData(path, data: bytes, version: version) }
        print("version = \(stat.version)")
    }
}

struct DeleteNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a znode.")

    @Argument(help: "Path of the node.") var path: String
    @Option(help: "Only if the node's version is this (-1: any).") var version: Int32 = -1
    @OptionGroup var connection: MemberOptions

    func validate() throws { try validateNodePath(path) }

    func run() async throws {
        try await withClient(connection, "delete \(path)") { try await $0.delete(path, version: version) }
    }
}

struct ListChildren: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a znode's children, one per line.")

    @Argument(help: "Path of the node.") var path: String = "/"
    @OptionGroup var connection: MemberOptions

    func validate() throws { try validateNodePath(path) }

    func run() async throws {
        let children = try await withClient(connection, "ls \(path)") { try await $0.getChildren(path) }
        for child in children.sorted() { print(child) }
    }
}

struct ShowConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Print the dynamic membership (/zookeeper/config) and its version.")

    @OptionGroup var connection: MemberOptions

    func run() async throws {
        let config = try await withClient(connection, "config") { client in
            // A member may lag the leader; sync first so the version is the committed one.
            try await client.sync("/zookeeper/config")
            return try await client.getConfig().config
        }
        for server in config.servers { print(server.line) }
        print("version=\(String(UInt64(bitPattern: config.version), radix: 16))")
    }
}

/// The tutorial's sanity test, automated: write through one member, read through another.
struct Smoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smoke",
        abstract: "Create a znode through one member, read it through another after sync, delete it.",
        discussion: "Prints each step's latency. Exits 0 only if every step held.")

    @OptionGroup var connection: MemberOptions

    func validate() throws {
        if let members = connection.target.members, try parseMembers(members).count < 2 {
            throw ValidationError("smoke needs at least two --members")
        }
    }

    func run() async throws {
        let members = try connection.target.memberStrings()
        guard members.count >= 2 else {
            printError("zkctl: smoke needs an ensemble of at least two members; '\(connection.target.local ?? "")' has one")
            throw ExitCode(64)
        }
        var step = "connect (writer)"
        var writer: ZooKeeperClient?
        var reader: ZooKeeperClient?
        func timed<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
            step = name
            let start = monotonicNanoseconds()
            let result = try await body()
            let ms = Double(monotonicNanoseconds() - start) / 1e6
            print("\(name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(String(format: "%8.2f", ms)) ms")
            return result
        }
        do {
            let token = "smoke-\(UInt64.random(in: 0...UInt64.max))"
            let path = "/zkctl-\(token)"
            let payload = Array(token.utf8)
            let w = try await timed("connect (writer)") { try await connection.connect(members) }
            writer = w
            let writerMember = w.connectedMember ?? "?"
            // Ephemeral: if the smoke dies half-way, the node goes with its session.
            _ = try await timed("create via \(writerMember)") { try await w.create(path, data: payload, mode: .ephemeral) }
            let others = members.filter { !sameMember($0, writerMember) }
            let r = try await timed("connect (reader)") { try await connection.connect(others) }
            reader = r
            let readerMember = r.connectedMember ?? "?"
            guard !sameMember(readerMember, writerMember) else {
                throw SmokeFailure("reader landed on the writer's member \(writerMember)")
            }
            try await timed("sync via \(readerMember)") { try await r.sync(path) }
            let (data, _) = try await timed("get via \(readerMember)") { try await r.getData(path) }
            guard data == payload else { throw SmokeFailure("\(readerMember) returned different data for \(path)") }
            try await timed("delete via \(writerMember)") { try await w.delete(path, version: 0) }
            try await timed("sync via \(readerMember)") { try await r.sync(path) }
            let after = try await timed("exists via \(readerMember)") { try await r.exists(path) }
            guard after == nil else { throw SmokeFailure("\(path) still visible on \(readerMember) after delete") }
            await r.close()
            await w.close()
            print("smoke OK: wrote via \(writerMember), read via \(readerMember)")
        } catch {
            if let reader { await reader.close() }
            if let writer { await writer.close() }
            throw fail("smoke FAILED at step '\(step)'", error)
        }
    }

    private func sameMember(_ a: String, _ b: String) -> Bool {
        guard let x = try? parseHostPort(a, defaultPort: 2181), let y = try? parseHostPort(b, defaultPort: 2181) else { return a == b }
        return x.host == y.host && x.port == y.port
    }
}

struct SmokeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Sequential create+get round trips, for scripts/bench-client.sh.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Sequential create+get round trips per second.", shouldDisplay: false)

    @Option(help: "Number of create+get pairs.") var count = 2000
    @OptionGroup var connection: MemberOptions

    func run() async throws {
        try await withClient(connection, "bench") { client in
            let base = "/zkctl-bench-\(UInt64.random(in: 0...UInt64.max))"
            try await client.create(base)
            let payload = [UInt8](repeating: 0x61, count: 32)
            let start = monotonicNanoseconds()
            for i in 0..<count {
                let path = "\(base)/n\(i)"
                try await client.create(path, data: payload)
                let (data, _) = try await client.getData(path)
                guard data == payload else { throw SmokeFailure("read back different data at \(path)") }
            }
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            for i in 0..<count { try await client.delete("\(base)/n\(i)") }
            try await client.delete(base)
            print(String(format: "swift  %d create+get in %.3f s: %.0f create+get pairs/s", count, seconds, Double(count) / seconds))
        }
    }
}
