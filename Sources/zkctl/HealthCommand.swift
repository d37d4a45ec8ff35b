import ArgumentParser
import Foundation
import LocalEnsemble
import NetCore
import ZKAdmin
import ZooKeeperOps

/// `zkctl health`: every member's view side by side, then one quorum verdict.
struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each member's mode, zxid and load, then whether the quorum is healthy, at risk or lost.",
        discussion: """
            Asks every member with the four-letter words srvr (mode, zxid and its lag behind the \
            leader in transactions) and mntr (latency, outstanding requests, connections, synced \
            followers), all members at once, each within --timeout.
            Exit status: 0 healthy, 1 at risk (losing one more voter loses quorum), 2 lost, \
            64 usage error.
            """)

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    @OptionGroup var target: EnsembleTarget

    @Option(name: .shortAndLong, help: "Output format: table or json.")
    var output: OutputFormat = .table

    @Option(help: "Seconds to wait for each member.")
    var timeout: Double = 5

    @Option(help: "Voting members in the ensemble's configuration (default: members asked, minus those answering as observers).")
    var voters: Int?

    func validate() throws {
        try validateDurationOption(timeout, "--timeout", maximum: 600)
        if let voters, voters < 1 { throw ValidationError("--voters must be at least 1") }
    }

    func run() throws {
        let targets = try target.endpoints()
        let reports = queryMembers(targets, timeout: timeout) { host, port, deadline in
            Result { () throws(FourLetterWordError) in try MemberStatus.fetch(host: host, port: port, deadline: deadline) }
        }.map { MemberReport(member: $0.member, outcome: $0.result) }
        let health = EnsembleHealth.evaluate(reports, voters: voters)
        switch output {
        case .table: print(HealthTable.render(reports, health: health), terminator: "")
        case .json: print(try HealthJSON.render(reports, health: health))
        }
        switch health.verdict {
        case .healthy: return
        case .atRisk: throw ExitCode(1)
        case .lost: throw ExitCode(2)
        }
    }
}

/// Splits the --members list; every entry must be a valid host:port.
func parseMembers(_ text: String) throws -> [(host: String, port: Int)] {
    let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !entries.isEmpty else { throw ValidationError("--members needs at least one host:port") }
    var result: [(host: String, port: Int)] = []
    for entry in entries {
        do {
            result.append(try parseHostPort(entry, defaultPort: 2181))
        } catch {
            throw ValidationError("--members: \(error)")
        }
    }
    return result
}

enum HealthTable {
    static func render(_ reports: [MemberReport], health: EnsembleHealth) -> String {
        var rows = [["MEMBER", "MODE", "ZXID", "LAG", "LATENCY AVG/MAX", "OUTSTANDING", "CONNECTIONS", "SYNCED", "VERSION"]]
        var problems: [String] = []
        for report in reports {
            switch report.outcome {
            case .success(let s):
                rows.append([
                    report.member, s.mode.rawValue, "0x" + String(s.zxid, radix: 16), health.lag(of: s).map(String.init) ?? "-",
                    "\(number(s.latencyAvg))/\(number(s.latencyMax))", String(s.outstanding), String(s.connections),
                    s.syncedFollowers.map(String.init) ?? "-", shortVersion(s.version),
                ])
            case .failure(let error):
                let mode = error == .notServing ? "not serving" : "unreachable"
                rows.append([report.member, mode, "-", "-", "-", "-", "-", "-", "-"])
                if error != .notServing { problems.append("\(report.member): \(error)") }
            }
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var text = ""
        for row in rows {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            text += cells.joined(separator: "  ") + "\n"
        }
        for problem in problems { text += problem + "\n" }
        text += health.summary + "\n"
        return text
    }

    /// `3.9.4-<commit>` -> `3.9.4`: the commit only widens the table (JSON keeps it).
    static func shortVersion(_ version: String) -> String {
        guard !version.isEmpty else { return "-" }
        return String(version.split(separator: "-").first ?? Substring(version))
    }

    /// Milliseconds as ZooKeeper reports them, at most one decimal ("4.3", not "4.3333").
    static func number(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        if tenths == (tenths / 10).rounded() * 10, abs(value) < 1e15 { return String(Int(tenths / 10)) }
        return String(format: "%.1f", value)
    }
}

enum HealthJSON {
    struct Member: Encodable {
        var member: String
        var mode: String?
        var zxid: String?
        /// Transactions behind the leader; absent without a single leader.
        var zxidLag: UInt64?
        var latencyAvg: Double?
        var latencyMax: Double?
        var outstanding: Int?
        var connections: Int?
        var syncedFollowers: Int?
        var version: String?
        var error: String?
    }

    struct Document: Encodable {
        var members: [Member]
        var verdict: String
        var leader: String?
        var voters: Int
        var quorum: Int
        var servingVoters: [String]
        var summary: String
    }

    static func render(_ reports: [MemberReport], health: EnsembleHealth) throws -> String {
        let members = reports.map { report -> Member in
            switch report.outcome {
            case .success(let s):
                return Member(
                    member: report.member, mode: s.mode.rawValue, zxid: "0x" + String(s.zxid, radix: 16),
                    zxidLag: health.lag(of: s),
                    latencyAvg: s.latencyAvg, latencyMax: s.latencyMax, outstanding: s.outstanding,
                    connections: s.connections, syncedFollowers: s.syncedFollowers, version: s.version)
            case .failure(let error):
                return Member(member: report.member, mode: error == .notServing ? "not serving" : nil, error: error.description)
            }
        }
        let document = Document(
            members: members, verdict: health.verdict.rawValue, leader: health.leader, voters: health.voters,
            quorum: health.quorum, servingVoters: health.servingVoters, summary: health.summary)
        return try prettyJSON(document)
    }
}

/// The JSON every `-o json` prints: indented, keys sorted, slashes as they are.
func prettyJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
