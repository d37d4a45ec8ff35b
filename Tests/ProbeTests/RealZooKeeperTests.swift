import Foundation
import NetCore
import Testing
import ZKAdmin
import ZKConfig
import ZooKeeperTestSupport

/// Real ZooKeeper (the installed 3.8 package) started from our generated zoo.cfg on a
/// private loopback block per test; the built `ensemble-probe` and `zkctl` binaries probe it
/// exactly as kubelet and an operator on call would.
@Suite(.serialized) struct RealZooKeeperTests {
    /// The probes' own bound in these tests; every probe must finish within it (+ slack for
    /// process start on a loaded machine).
    static let probeTimeout = 2.0

    struct Probe {
        let path: String
        func run(_ command: String, _ member: String) throws -> ProcessResult {
            let (host, port) = try parseHostPort(member, defaultPort: 2181)
            return try runProcess(path, [command, "--host", host, "--port", String(port), "--timeout", String(RealZooKeeperTests.probeTimeout)])
        }
    }

    /// Retries `check` until it is true or `seconds` pass; the pause between attempts is a
    /// polling interval, the deadline is what bounds the wait.
    static func eventually(within seconds: Double, _ check: () throws -> Bool) async throws -> Bool {
        let deadline = Deadline.after(seconds: seconds)
        while !deadline.hasPassed {
            if try check() { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try check()
    }

    /// "MODE LAG SYNCED" of each member row of a `zkctl health` table, sorted (a serving
    /// member's cells hold no spaces; LAG is the 4th and SYNCED the 8th of 9 columns).
    static func modeLagAndSynced(_ table: String, endpoints: [String]) -> [String] {
        table.split(separator: "\n").compactMap { line -> String? in
            let cells = line.split(separator: " ").map(String.init)
            return endpoints.contains(cells.first ?? "") && cells.count == 9 ? "\(cells[1]) \(cells[3]) \(cells[7])" : nil
        }.sorted()
    }

    @Test(.timeLimit(.minutes(5)))
    func probesAndHealthThroughFailoverAndQuorumLoss() async throws {
        let probe = Probe(path: try builtProduct("ensemble-probe"))
        let zkctl = try builtProduct("zkctl")
        try await withZooKeeperEnsemble(members: 3) { zk in
            let endpoints = zk.members.map(\.clientEndpoint)
            let all = zk.connectString

            for endpoint in endpoints {
                for command in ["zk-live", "zk-startup", "zk-ready"] {
                    let result = try probe.run(command, endpoint)
                    #expect(result.status == 0, "\(command) \(endpoint): \(result.stderr)")
                }
            }
            let healthy = try runProcess(zkctl, ["health", "--members", all])
            #expect(healthy.status == 0, "\(healthy.stdout)\(healthy.stderr)")
            #expect(healthy.stdout.contains("healthy: 3 of 3 voters serving, quorum is 2; leader "))
            let rows = healthy.stdout.split(separator: "\n").filter { line in endpoints.contains { line.hasPrefix($0 + " ") } }
            #expect(rows.filter { $0.contains(" leader ") }.count == 1, "\(healthy.stdout)")
            #expect(rows.filter { $0.contains(" follower ") }.count == 2, "\(healthy.stdout)")

            // SYNCED: the leader counts both followers once they have synced (the last may
            // lag the quorum by a moment); followers report no such figure. Nothing writes,
            // so once synced every member's zxid equals the leader's: LAG 0.
            var syncedTable = ""
            let bothSynced = try await Self.eventually(within: 30) {
                syncedTable = try runProcess(zkctl, ["health", "--members", all]).stdout
                return Self.modeLagAndSynced(syncedTable, endpoints: endpoints) == ["follower 0 -", "follower 0 -", "leader 0 2"]
            }
            #expect(bothSynced, "\(syncedTable)")
            let syncedJSON = try runProcess(zkctl, ["health", "--members", all, "-o", "json"])
            let syncedDocument = try JSONSerialization.jsonObject(with: Data(syncedJSON.stdout.utf8)) as? [String: Any]
            let jsonMembers = (syncedDocument?["members"] as? [[String: Any]]) ?? []
            #expect(jsonMembers.count == 3, "\(syncedJSON.stdout)")
            for member in jsonMembers {
                #expect(member["zxidLag"] as? Int == 0, "\(syncedJSON.stdout)")
                #expect(member["outstanding"] as? Int == 0, "\(syncedJSON.stdout)")
                #expect(member["latencyAvg"] is Double || member["latencyAvg"] is Int, "\(syncedJSON.stdout)")
                // The Debian build reports "3.8.0-${mvngit.commit.id}": shown without the placeholder.
                let version = member["version"] as? String ?? ""
                #expect(version.split(separator: ".").count == 3 && version.allSatisfy { $0.isNumber || $0 == "." }, "\(version)")
                switch member["mode"] as? String {
                case "leader": #expect(member["syncedFollowers"] as? Int == 2, "\(syncedJSON.stdout)")
                case "follower": #expect(member["syncedFollowers"] == nil, "\(syncedJSON.stdout)")
                default: Issue.record("unexpected member in \(syncedJSON.stdout)")
                }
            }

            // Stop the leader: its probes fail within their timeout.
            let oldLeader = try #require(zk.leaderID())
            let oldEndpoint = try zk.member(oldLeader).clientEndpoint
            try zk.stopMember(oldLeader)
            for command in ["zk-live", "zk-ready"] {
                let result = try probe.run(command, oldEndpoint)
                #expect(result.status == 1, "\(command) on stopped leader: \(result.stderr)")
                #expect(result.seconds < Self.probeTimeout + 1.5)
                #expect(result.stderr.split(separator: "\n").count == 1)
            }

            // The two others are ready again after re-election.
            let survivors = endpoints.filter { $0 != oldEndpoint }
            let reElected = try await Self.eventually(within: 60) {
                try survivors.allSatisfy { try probe.run("zk-ready", $0).status == 0 }
            }
            #expect(reElected, "survivors never became ready again")
            let newLeader = try await zk.waitForQuorum(timeout: 30)
            #expect(newLeader != oldLeader)
            let newEndpoint = try zk.member(newLeader).clientEndpoint

            let atRisk = try runProcess(zkctl, ["health", "--members", all])
            #expect(atRisk.status == 1, "\(atRisk.stdout)\(atRisk.stderr)")
            #expect(atRisk.stdout.contains("at risk: 2 of 3 voters serving, quorum is 2: losing one more voter loses quorum; leader \(newEndpoint)"),
                    "\(atRisk.stdout)")
            #expect(atRisk.stdout.contains("\(oldEndpoint): cannot connect"), "\(atRisk.stdout)")

            // Stop a second member: the last one leaves the quorum and is not ready.
            try zk.stopMember(newLeader)
            let last = try #require(survivors.first { $0 != newEndpoint })
            var lastStderr = ""
            let notReady = try await Self.eventually(within: 60) {
                let result = try probe.run("zk-ready", last)
                lastStderr = result.stderr
                return result.status == 1
            }
            #expect(notReady, "last member stayed ready: \(lastStderr)")
            #expect(lastStderr.contains("not currently serving requests"), "\(lastStderr)")
            // Liveness stays green: the process answers, restarting it would not help.
            let stillLive = try probe.run("zk-live", last)
            #expect(stillLive.status == 0, "\(stillLive.stderr)")

            let lost = try runProcess(zkctl, ["health", "--members", all])
            #expect(lost.status == 2, "\(lost.stdout)\(lost.stderr)")
            #expect(lost.stdout.contains("lost: 0 of 3 voters serving, quorum is 2"), "\(lost.stdout)")
            #expect(lost.stdout.contains("not serving"))

            let json = try runProcess(zkctl, ["health", "--members", all, "-o", "json"])
            #expect(json.status == 2)
            let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(document?["verdict"] as? String == "lost")
            #expect((document?["members"] as? [[String: Any]])?.count == 3)
        }
    }

    /// The whitelist is set through `overrides` because ZooCfg.render re-adds the words the
    /// probes need to `fourLetterWords`; here we want a member that really lacks `ruok`.
    @Test(.timeLimit(.minutes(3)))
    func whitelistWithoutRuokIsNamed() async throws {
        let probe = Probe(path: try builtProduct("ensemble-probe"))
        let zkctl = try builtProduct("zkctl")
        var settings = ZooKeeperSettings()
        settings.overrides = [("4lw.commands.whitelist", "srvr")]
        try await withZooKeeperEnsemble(members: 1, settings: settings) { zk in
            let endpoint = zk.members[0].clientEndpoint
            let live = try probe.run("zk-live", endpoint)
            #expect(live.status == 1)
            #expect(live.stderr == "ensemble-probe: ruok on \(endpoint): 'ruok' is not in the server's 4lw.commands.whitelist\n")

            // srvr is whitelisted: readiness works, and a one-member quorum-mode ensemble leads.
            let ready = try probe.run("zk-ready", endpoint)
            #expect(ready.status == 0, "\(ready.stderr)")
            #expect(ready.stderr.contains("ready: leader"))

            // health falls back to srvr alone when mntr is refused; one voter is never "healthy".
            let health = try runProcess(zkctl, ["health", "--members", endpoint])
            #expect(health.status == 1, "\(health.stdout)\(health.stderr)")
            #expect(health.stdout.contains("at risk: 1 of 1 voters serving, quorum is 1"), "\(health.stdout)")

            let raw = try runProcess(zkctl, ["4lw", "mntr", "--members", endpoint])
            #expect(raw.status == 1)
            #expect(raw.stderr.contains("'mntr' is not in the server's 4lw.commands.whitelist"), "\(raw.stderr)")
            let srvr = try runProcess(zkctl, ["4lw", "srvr", "--members", endpoint])
            #expect(srvr.status == 0)
            #expect(srvr.stdout.contains("Mode: leader"))
        }
    }
}
