import NetCore
import Testing
import ZKAdmin

/// The verdict is pure: every case is a list of member outcomes, no I/O.
@Suite struct HealthVerdictTests {
    static func up(_ name: String, _ mode: ServerMode) -> MemberReport {
        MemberReport(member: name, outcome: .success(MemberStatus(mode: mode, zxid: 1)))
    }

    static func down(_ name: String, _ error: FourLetterWordError? = nil) -> MemberReport {
        let refused = FourLetterWordError.network(.connect(host: name, port: 2181, reason: "Connection refused"))
        return MemberReport(member: name, outcome: .failure(error ?? refused))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var reports: [MemberReport]
        var voters: Int?
        var verdict: QuorumVerdict
        var leader: String?
        var quorum: Int
        var serving: Int
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "3 of 3", reports: [up("a", .follower), up("b", .leader), up("c", .follower)],
             verdict: .healthy, leader: "b", quorum: 2, serving: 3),
        Case(name: "leader down, re-elected", reports: [up("a", .leader), down("b"), up("c", .follower)],
             verdict: .atRisk, leader: "a", quorum: 2, serving: 2),
        Case(name: "2 of 3 down", reports: [down("a"), down("b"), up("c", .follower)],
             verdict: .lost, leader: nil, quorum: 2, serving: 1),
        Case(name: "last member not serving", reports: [down("a"), down("b"), down("c", .notServing)],
             verdict: .lost, leader: nil, quorum: 2, serving: 0),
        Case(name: "5 of 5", reports: [up("a", .leader)] + ["b", "c", "d", "e"].map { up($0, .follower) },
             verdict: .healthy, leader: "a", quorum: 3, serving: 5),
        Case(name: "4 of 5", reports: [up("a", .leader), down("b")] + ["c", "d", "e"].map { up($0, .follower) },
             verdict: .healthy, leader: "a", quorum: 3, serving: 4),
        Case(name: "3 of 5", reports: [up("a", .leader), down("b"), down("c"), up("d", .follower), up("e", .follower)],
             verdict: .atRisk, leader: "a", quorum: 3, serving: 3),
        Case(name: "2 of 5", reports: [up("a", .leader), down("b"), down("c"), down("d"), up("e", .follower)],
             verdict: .lost, leader: "a", quorum: 3, serving: 2),
        Case(name: "2 of 2 has no margin", reports: [up("a", .leader), up("b", .follower)],
             verdict: .atRisk, leader: "a", quorum: 2, serving: 2),
        Case(name: "1 voter in quorum mode", reports: [up("a", .leader)],
             verdict: .atRisk, leader: "a", quorum: 1, serving: 1),
        Case(name: "1 voter standalone", reports: [up("a", .standalone)],
             verdict: .atRisk, leader: "a", quorum: 1, serving: 1),
        Case(name: "standalone in a 3-voter ensemble serves nothing", reports: [up("a", .standalone), up("b", .follower), down("c")],
             verdict: .lost, leader: nil, quorum: 2, serving: 1),
        Case(name: "observers do not vote", reports: [up("a", .leader), up("b", .follower), up("c", .follower), up("o", .observer)],
             verdict: .healthy, leader: "a", quorum: 2, serving: 3),
        Case(name: "followers serving, leader not answering", reports: [down("a"), up("b", .follower), up("c", .follower)],
             verdict: .atRisk, leader: nil, quorum: 2, serving: 2),
        Case(name: "two members claim leadership", reports: [up("a", .leader), up("b", .leader), up("c", .follower)],
             verdict: .atRisk, leader: nil, quorum: 2, serving: 3),
        Case(name: "read-only members do not count", reports: [up("a", .readOnly), up("b", .readOnly), up("c", .follower)],
             verdict: .lost, leader: nil, quorum: 2, serving: 1),
        Case(name: "explicit voters: members missing from the list count as down",
             reports: [up("a", .leader), up("b", .follower), up("c", .follower)], voters: 5,
             verdict: .atRisk, leader: "a", quorum: 3, serving: 3),
        Case(name: "whitelist refusal is a failure", reports: [up("a", .leader), down("b", .notWhitelisted("srvr")), up("c", .follower)],
             verdict: .atRisk, leader: "a", quorum: 2, serving: 2),
        Case(name: "no members", reports: [], verdict: .lost, leader: nil, quorum: 1, serving: 0),
    ]

    @Test(arguments: cases)
    func verdict(_ c: Case) {
        let health = EnsembleHealth.evaluate(c.reports, voters: c.voters)
        #expect(health.verdict == c.verdict)
        #expect(health.leader == c.leader)
        #expect(health.quorum == c.quorum)
        #expect(health.servingVoters.count == c.serving)
        #expect(health.summary.hasPrefix(c.verdict.rawValue + ": "))
    }

    @Test func summaryNamesTheLeaderAndTheMargin() {
        let health = EnsembleHealth.evaluate([Self.up("zk-0", .follower), Self.down("zk-1"), Self.up("zk-2", .leader)])
        #expect(health.summary == "at risk: 2 of 3 voters serving, quorum is 2: losing one more voter loses quorum; leader zk-2")
        let lost = EnsembleHealth.evaluate([Self.down("zk-0"), Self.down("zk-1"), Self.up("zk-2", .follower)])
        #expect(lost.summary == "lost: 1 of 3 voters serving, quorum is 2")
        let healthy = EnsembleHealth.evaluate([Self.up("zk-0", .follower), Self.up("zk-1", .leader), Self.up("zk-2", .follower)])
        #expect(healthy.summary == "healthy: 3 of 3 voters serving, quorum is 2; leader zk-1")
    }

    /// Every combination of up/down for 1...5 voters: the verdict follows the quorum arithmetic.
    @Test func exhaustiveSmallEnsembles() {
        for size in 1...5 {
            for mask in 0..<(1 << size) {
                let reports = (0..<size).map { i -> MemberReport in
                    let name = "m\(i)"
                    guard mask & (1 << i) != 0 else { return Self.down(name) }
                    // The lowest serving member leads.
                    let isLeader = (0..<i).allSatisfy { mask & (1 << $0) == 0 }
                    return Self.up(name, isLeader ? .leader : .follower)
                }
                let serving = mask.nonzeroBitCount
                let quorum = size / 2 + 1
                let expected: QuorumVerdict = serving < quorum ? .lost : serving == quorum ? .atRisk : .healthy
                let health = EnsembleHealth.evaluate(reports)
                #expect(health.verdict == expected, "size \(size) mask \(mask)")
                #expect((health.leader != nil) == (serving > 0), "size \(size) mask \(mask)")
            }
        }
    }

    /// Lag behind the leader: zxids are epoch (upper 32 bits) and counter (lower 32).
    @Test func zxidLagIsCountedWithinTheLeadersEpoch() {
        func member(_ name: String, _ mode: ServerMode, _ zxid: UInt64) -> MemberReport {
            MemberReport(member: name, outcome: .success(MemberStatus(mode: mode, zxid: zxid)))
        }
        let reports = [member("a", .leader, 0x5_0000_0010), member("b", .follower, 0x5_0000_000c),
                       member("c", .follower, 0x4_0000_00ff), member("d", .follower, 0x5_0000_0011),
                       member("e", .follower, 0x6_0000_0001)]
        let health = EnsembleHealth.evaluate(reports)
        #expect(health.leaderZxid == 0x5_0000_0010)
        let lags = reports.map { health.lag(of: $0.status!) }
        // c synced epoch 4 and lacks the 16 transactions of epoch 5; d and e answered after
        // writes (or an election) the leader's earlier answer did not include: not behind.
        #expect(lags == [0, 4, 16, 0, 0])
        let leaderless = EnsembleHealth.evaluate([member("b", .follower, 1), member("c", .follower, 2)])
        #expect(leaderless.lag(of: reports[1].status!) == nil)
    }
}
