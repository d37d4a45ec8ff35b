import Foundation
import Testing
@testable import ZKAdmin

/// Replies as ZooKeeper 3.8.0 (the Debian package used here) prints them, trimmed to the
/// lines that matter plus a few neighbours so unknown keys are exercised too.
enum Samples {
    static let mntrStandalone = """
        zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC
        zk_server_state\tstandalone
        zk_ephemerals_count\t0
        zk_num_alive_connections\t1
        zk_avg_latency\t0.0
        zk_outstanding_requests\t0
        zk_znode_count\t5
        zk_max_latency\t0
        zk_p999_write_commitproc_time_ms\t0

        """

    static let mntrLeader = """
        zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC
        zk_server_state\tleader
        zk_num_alive_connections\t7
        zk_avg_latency\t0.4286
        zk_outstanding_requests\t3
        zk_znode_count\t12
        zk_max_latency\t12
        zk_synced_followers\t2
        zk_synced_non_voting_followers\t1
        zk_synced_observers\t1
        zk_pending_syncs\t0

        """

    /// 3.4 pads with spaces in some builds and prints integer latencies.
    static let mntr34Follower = """
        zk_version  3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf, built on 03/06/2019 16:18 GMT
        zk_avg_latency  1
        zk_max_latency  1650
        zk_min_latency  0
        zk_num_alive_connections        10
        zk_outstanding_requests 0
        zk_server_state follower
        zk_znode_count  12792

        """

    static let srvrFollower = """
        Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC
        Latency min/avg/max: 0/0.5/3
        Received: 31
        Sent: 30
        Connections: 2
        Outstanding: 1
        Zxid: 0x100000004
        Mode: follower
        Node count: 6

        """
}

@Suite struct MonitorParserTests {
    @Test func standaloneReplyFromZooKeeper38() throws {
        let stats = try MonitorStats.parse(mntr: Samples.mntrStandalone)
        #expect(stats == MonitorStats(
            version: "3.8.0", mode: .standalone, latencyAvg: 0, latencyMax: 0,
            outstanding: 0, aliveConnections: 1, syncedFollowers: nil, syncedNonVotingFollowers: nil,
            pendingSyncs: nil, znodeCount: 5))
    }

    @Test func leaderReportsSyncFigures() throws {
        let stats = try MonitorStats.parse(mntr: Samples.mntrLeader)
        #expect(stats.mode == .leader)
        #expect(stats.latencyAvg == 0.4286)
        #expect(stats.latencyMax == 12)
        #expect(stats.outstanding == 3)
        #expect(stats.aliveConnections == 7)
        #expect(stats.syncedFollowers == 2)
        #expect(stats.syncedNonVotingFollowers == 1)
        #expect(stats.pendingSyncs == 0)
        #expect(stats.znodeCount == 12)
    }

    @Test func spacePaddedIntegerLatenciesOfZooKeeper34() throws {
        let stats = try MonitorStats.parse(mntr: Samples.mntr34Follower)
        #expect(stats.mode == .follower)
        #expect(stats.version == "3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf")
        #expect(stats.latencyAvg == 1)
        #expect(stats.latencyMax == 1650)
        #expect(stats.aliveConnections == 10)
        #expect(stats.syncedFollowers == nil)
    }

    @Test func carriageReturnLineEndings() throws {
        let stats = try MonitorStats.parse(mntr: "zk_server_state\tobserver\r\nzk_outstanding_requests\t4\r\n")
        #expect(stats.mode == .observer)
        #expect(stats.outstanding == 4)
    }

    @Test(arguments: [
        ("", "no zk_server_state line"),
        ("zk_version\t3.8.0\n", "no zk_server_state line"),
        ("imok", "no zk_server_state line"),
        ("zk_server_state\tlooking\n", "unknown zk_server_state 'looking'"),
        ("zk_server_state\tleader\nzk_avg_latency\tfast\n", "zk_avg_latency is not a number: 'fast'"),
        ("zk_server_state\tleader\nzk_synced_followers\ttwo\n", "zk_synced_followers is not an integer: 'two'"),
        ("zk_server_state\tleader\nzk_outstanding_requests\t1.5\n", "zk_outstanding_requests is not an integer: '1.5'"),
    ])
    func malformedReplies(text: String, reason: String) {
        #expect(throws: FourLetterWordError.malformed(word: "mntr", reason: reason)) {
            try MonitorStats.parse(mntr: text)
        }
    }

    @Test func everyModeSpellingParses() throws {
        for mode in ServerMode.allCases {
            #expect(try MonitorStats.parse(mntr: "zk_server_state\t\(mode.rawValue)\n").mode == mode)
        }
    }
}

@Suite struct ServerStatusParserTests {
    @Test func followerReply() throws {
        let status = try ServerStatus.parse(srvr: Samples.srvrFollower)
        #expect(status == ServerStatus(
            version: "3.8.0", mode: .follower, zxid: 0x1_0000_0004,
            latencyMin: 0, latencyAvg: 0.5, latencyMax: 3, received: 31, sent: 30, connections: 2,
            outstanding: 1, nodeCount: 6))
    }

    @Test(arguments: [
        ("Zxid: 0x0\n", "no Mode line"),
        ("Mode: leader\n", "no hexadecimal Zxid line"),
        ("Mode: leader\nZxid: 12\n", "no hexadecimal Zxid line"),
        ("Mode: leader\nZxid: 0xzz\n", "no hexadecimal Zxid line"),
        ("Mode: boss\nZxid: 0x1\n", "unknown mode 'boss'"),
    ])
    func malformedReplies(text: String, reason: String) {
        #expect(throws: FourLetterWordError.malformed(word: "srvr", reason: reason)) {
            try ServerStatus.parse(srvr: text)
        }
    }

    @Test func readOnlyMode() throws {
        #expect(try ServerStatus.parse(srvr: "Zxid: 0x5\nMode: read-only\n").mode == .readOnly)
    }
}

@Suite struct MemberStatusTests {
    @Test func combinesSrvrAndMntr() throws {
        let server = try ServerStatus.parse(srvr: Samples.srvrFollower.replacingFirst("follower", with: "leader"))
        let monitor = try MonitorStats.parse(mntr: Samples.mntrLeader)
        let status = MemberStatus(server: server, monitor: monitor)
        #expect(status == MemberStatus(
            mode: .leader, zxid: 0x1_0000_0004, latencyAvg: 0.4286, latencyMax: 12, outstanding: 3,
            connections: 7, syncedFollowers: 2, syncedNonVotingFollowers: 1, version: "3.8.0"))
    }

    @Test func srvrAloneWhenMntrIsNotWhitelisted() throws {
        let server = try ServerStatus.parse(srvr: Samples.srvrFollower)
        let status = MemberStatus(server: server, monitor: nil)
        #expect(status == MemberStatus(
            mode: .follower, zxid: 0x1_0000_0004, latencyAvg: 0.5, latencyMax: 3, outstanding: 1,
            connections: 2, syncedFollowers: nil, version: "3.8.0"))
    }

    @Test func syncedFollowersOnlyShownForTheLeader() throws {
        let server = try ServerStatus.parse(srvr: Samples.srvrFollower)
        let monitor = try MonitorStats.parse(mntr: Samples.mntrLeader)
        #expect(MemberStatus(server: server, monitor: monitor).syncedFollowers == nil)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
