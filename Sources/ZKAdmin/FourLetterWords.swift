import NetCore

/// A four-letter-word exchange failed, or its answer says the server cannot help.
public enum FourLetterWordError: Error, Equatable, Sendable, CustomStringConvertible {
    case network(NetError)
    /// The server refused the word because `4lw.commands.whitelist` lacks it.
    case notWhitelisted(String)
    /// "This ZooKeeper instance is not currently serving requests": up, but outside a quorum.
    case notServing
    case malformed(word: String, reason: String)

    public var description: String {
        switch self {
        case .network(let error): return error.description
        case .notWhitelisted(let word): return "'\(word)' is not in the server's 4lw.commands.whitelist"
        case .notServing: return "not currently serving requests (outside a quorum)"
        case .malformed(let word, let reason): return "malformed '\(word)' reply: \(reason)"
        }
    }
}

public enum FourLetterWord {
    /// Replies larger than this are never real 4lw answers (mntr is a few KiB).
    public static let replyLimit = 256 * 1024

    /// Sends `word`, reads the reply until the server closes. Refusals are typed errors.
    public static func send(_ word: String, host: String, port: Int, deadline: Deadline) throws(FourLetterWordError) -> String {
        let bytes: [UInt8]
        do {
            let connection = try TCPConnection.connect(host: host, port: port, deadline: deadline)
            defer { connection.close() }
            try connection.writeAll(Array(word.utf8), deadline: deadline)
            connection.shutdownWrite()
            bytes = try connection.readToEnd(limit: replyLimit, deadline: deadline)
        } catch {
            throw .network(error)
        }
        return try classify(word, bytes)
    }

    /// `ruok` answered `imok`? Returns as soon as the four bytes `imok` arrive instead of
    /// waiting for the server to close: that close costs a further wake-up of ZooKeeper's
    /// selector thread, a large share of a probe's run time. Any other reply is read to the
    /// end and classified like `send`, so refusals keep their typed errors.
    public static func areYouOK(host: String, port: Int, deadline: Deadline) throws(FourLetterWordError) -> String {
        let imok = Array("imok".utf8)
        var bytes: [UInt8] = []
        do throws(NetError) {
            let connection = try TCPConnection.connect(host: host, port: port, deadline: deadline)
            defer { connection.close() }
            try connection.writeAll(Array("ruok".utf8), deadline: deadline)
            connection.shutdownWrite()
            while bytes.count < imok.count {
                let chunk = try connection.readSome(max: imok.count - bytes.count, deadline: deadline)
                if chunk.isEmpty { break }
                bytes += chunk
            }
            if bytes == imok { return "imok" }
            if bytes.count == imok.count {
                do throws(NetError) {
                    bytes += try connection.readToEnd(limit: replyLimit - bytes.count, deadline: deadline)
                } catch {
                    // Report the cap of the whole reply, not of what was left of it.
                    if case .tooLarge = error { throw NetError.tooLarge(limit: replyLimit) }
                    throw error
                }
            }
        } catch {
            throw .network(error)
        }
        return try classify("ruok", bytes)
    }

    static func classify(_ word: String, _ bytes: [UInt8]) throws(FourLetterWordError) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("is not executed because it is not in the whitelist") { throw .notWhitelisted(word) }
        if text.contains("not currently serving requests") { throw .notServing }
        return text
    }
}

/// The server's role as `srvr` / `mntr` report it.
public enum ServerMode: String, Sendable, Equatable, CaseIterable {
    case leader, follower, observer, standalone, readOnly = "read-only"
}

/// The parts of a `srvr` reply that health checks use.
public struct ServerStatus: Sendable, Equatable {
    public var version: String
    public var mode: ServerMode
    public var zxid: UInt64
    public var latencyMin: Double
    public var latencyAvg: Double
    public var latencyMax: Double
    public var received: Int
    public var sent: Int
    public var connections: Int
    public var outstanding: Int
    public var nodeCount: Int

    /// Parses `srvr` output ("Key: value" lines). Unknown lines are ignored; missing
    /// mandatory ones (Mode, Zxid) make it malformed.
    public static func parse(srvr text: String) throws(FourLetterWordError) -> ServerStatus {
        var fields: [Substring: Substring] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            var value = line[line.index(after: colon)...]
            while value.first == " " { value.removeFirst() }
            fields[key] = value
        }
        guard let modeText = fields["Mode"] else { throw .malformed(word: "srvr", reason: "no Mode line") }
        guard let mode = ServerMode(rawValue: String(modeText)) else {
            throw .malformed(word: "srvr", reason: "unknown mode '\(modeText)'")
        }
        guard let zxidText = fields["Zxid"], zxidText.hasPrefix("0x"), let zxid = UInt64(zxidText.dropFirst(2), radix: 16) else {
            throw .malformed(word: "srvr", reason: "no hexadecimal Zxid line")
        }
        var latency: [Double] = [0, 0, 0]
        if let text = fields["Latency min/avg/max"] {
            let parts = text.split(separator: "/").compactMap { Double($0) }
            if parts.count == 3 { latency = parts }
        }
        func int(_ key: Substring) -> Int { fields[key].flatMap { Int($0) } ?? 0 }
        return ServerStatus(
            version: fields["Zookeeper version"].map(ServerStatus.version(fromReply:)) ?? "",
            mode: mode, zxid: zxid,
            latencyMin: latency[0], latencyAvg: latency[1], latencyMax: latency[2],
            received: int("Received"), sent: int("Sent"), connections: int("Connections"),
            outstanding: int("Outstanding"), nodeCount: int("Node count"))
    }

    /// The version from `srvr`'s or `mntr`'s version field: "3.9.4-<commit>, built on ..."
    /// without the build date, and without a `-${mvngit.commit.id}` suffix that builds from
    /// a source tarball (Debian's among them) leave unexpanded: that is no version.
    static func version(fromReply text: Substring) -> String {
        var version = text.split(separator: ",").first ?? text
        while version.last == " " { version.removeLast() }
        if let placeholder = version.firstRange(of: "-${"), version.hasSuffix("}") {
            version = version[..<placeholder.lowerBound]
        }
        return String(version)
    }

    /// Asks one member for its status with `srvr`.
    public static func fetch(host: String, port: Int, deadline: Deadline) throws(FourLetterWordError) -> ServerStatus {
        try parse(srvr: try FourLetterWord.send("srvr", host: host, port: port, deadline: deadline))
    }
}
