import EnsembleCore
import Testing
import ZooKeeperOps

/// The arithmetic of the continuous writer's and the monitor's reports, without an ensemble.
@Suite struct MeasurementTests {
    static func ack(_ sequence: Int, _ at: Double) -> WriteRecord {
        WriteRecord(sequence: sequence, issuedAt: at - 0.005, completedAt: at, outcome: .acknowledged)
    }

    @Test func gapsFailuresAndLostWrites() {
        let records = [
            Self.ack(1, 0.02), Self.ack(2, 0.04),
            WriteRecord(sequence: 3, issuedAt: 0.06, completedAt: 0.5, outcome: .failed(maybeApplied: true)),
            WriteRecord(sequence: 4, issuedAt: 0.5, completedAt: 0.51, outcome: .failed(maybeApplied: false)),
            Self.ack(5, 0.75), Self.ack(6, 0.77),
        ]
        // 6 was acknowledged but is not there: lost. 3 failed with an unknown outcome and is
        // there: applied after all, not lost.
        let report = WriterReport.evaluate(records, present: [1, 2, 3, 5], end: 0.8)
        #expect(report.attempted == 6 && report.acknowledged == 4)
        #expect(report.failed == 2 && report.failedOutcomeUnknown == 1 && report.appliedUnacknowledged == 1)
        #expect(report.lost == [6])
        #expect(abs(report.longestGap - 0.71) < 1e-9 && report.longestGapEndedAt == 0.75)
    }

    @Test func gapRunsToTheEndWhenNothingMoreIsAcknowledged() {
        let report = WriterReport.evaluate([Self.ack(1, 0.1), WriteRecord(sequence: 2, issuedAt: 0.2, completedAt: 2, outcome: .failed(maybeApplied: true))],
                                           present: [1], end: 3)
        #expect(report.longestGap == 2.9 && report.longestGapEndedAt == 3)
        let none = WriterReport.evaluate([WriteRecord(sequence: 1, issuedAt: 0.5, completedAt: 1, outcome: .failed(maybeApplied: false))], present: [], end: 4)
        #expect(none.longestGap == 3.5 && none.acknowledged == 0 && none.lost.isEmpty)
    }

    @Test func writerNodeNamesSortAsNumbers() {
        #expect(ContinuousWriter.nodeName(42) == "w0000000042")
        #expect(ContinuousWriter.sequence(ofNode: "w0000000042") == 42)
        #expect(ContinuousWriter.sequence(ofNode: "other") == nil)
        #expect([7, 10, 100].map(ContinuousWriter.nodeName).sorted() == [7, 10, 100].map(ContinuousWriter.nodeName))
    }

    static func answer(_ role: MemberRole, epoch: UInt32 = 1) -> SrvrAnswer {
        SrvrAnswer(reachable: true, role: role, zxid: Zxid(epoch: epoch, counter: 5))
    }

    /// Elections count by epoch, also one that came and went between polls; a member is down
    /// from when it refuses connections until it serves again; one that only stops serving or
    /// drops a connection (an election) is not down.
    @Test func monitorCountsElectionsAndMembersDown() {
        var tracker = EnsembleMonitor.Tracker()
        let names = [0: "member 1", 1: "member 2", 2: "member 3"]
        let dropped = SrvrAnswer(reachable: false, role: .notServing, zxid: nil, listening: true)
        let syncing = SrvrAnswer(reachable: true, role: .notServing, zxid: nil)
        tracker.record([0: Self.answer(.leader, epoch: 3), 1: Self.answer(.follower), 2: Self.answer(.follower)], names: names)
        // Member 2 drops the connection, member 3 restarts: refused, then answering without
        // serving: down throughout.
        tracker.record([0: Self.answer(.leader, epoch: 3), 1: dropped, 2: .unreachable], names: names)
        tracker.record([0: Self.answer(.leader, epoch: 3), 1: syncing, 2: syncing], names: names)
        #expect(tracker.report.maxMembersDown == 1)
        tracker.record([0: Self.answer(.leader, epoch: 3), 1: .unreachable, 2: syncing], names: names)
        #expect(tracker.report.maxMembersDown == 2)
        // An election everybody takes part in: not down. The old leader still says so, the
        // newer epoch leads.
        tracker.record([0: Self.answer(.leader, epoch: 3), 1: Self.answer(.leader, epoch: 5), 2: Self.answer(.follower)], names: names)
        tracker.record([0: SrvrAnswer(reachable: true, role: .notServing, zxid: nil), 1: Self.answer(.leader, epoch: 5), 2: Self.answer(.follower)], names: names)
        let report = tracker.report
        #expect(report.elections == 2, "epoch 3 -> 5: an election between polls counts too")
        #expect(report.leaders == ["member 1 (epoch 0x3)", "member 2 (epoch 0x5)"])
        #expect(report.maxMembersDown == 2 && report.polls == 6)
    }
}
