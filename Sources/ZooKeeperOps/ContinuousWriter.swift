import Foundation
import NetCore
import Synchronization
import ZooKeeperClient

/// One write of the continuous writer and how it ended. Times are seconds since the
/// measurement began, on the monotonic clock.
public struct WriteRecord: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case acknowledged
        /// The error said whether the write may still have happened (`mayHaveBeenApplied`).
        case failed(maybeApplied: Bool)
    }

    public var sequence: Int
    public var issuedAt: Double
    public var completedAt: Double
    public var outcome: Outcome

    public init(sequence: Int, issuedAt: Double, completedAt: Double, outcome: Outcome) {
        self.sequence = sequence
        self.issuedAt = issuedAt
        self.completedAt = completedAt
        self.outcome = outcome
    }
}

/// What the writer saw, and what was there when it was read back.
public struct WriterReport: Sendable, Equatable, Codable {
    public var attempted: Int
    public var acknowledged: Int
    /// Writes that failed, and of those how many may still have been applied.
    public var failed: Int
    public var failedOutcomeUnknown: Int
    /// The longest time without an acknowledged write: between two consecutive
    /// acknowledgements, or from the first write to the first acknowledgement.
    public var longestGap: Double
    /// When that gap ended (seconds since the measurement began).
    public var longestGapEndedAt: Double
    /// Acknowledged sequence numbers that were missing when read back: lost writes.
    public var lost: [Int]
    /// Failed writes (outcome unknown) that turned out to have been applied.
    public var appliedUnacknowledged: Int

    /// `present`: the sequence numbers read back. `end`: when the writer stopped.
    public static func evaluate(_ records: [WriteRecord], present: Set<Int>, end: Double) -> WriterReport {
        let acknowledged = records.filter { $0.outcome == .acknowledged }
        let failed = records.filter { $0.outcome != .acknowledged }
        var gap = 0.0, gapEnd = 0.0
        var previous = records.first?.issuedAt ?? 0
        for record in acknowledged.sorted(by: { $0.completedAt < $1.completedAt }) {
            if record.completedAt - previous > gap { (gap, gapEnd) = (record.completedAt - previous, record.completedAt) }
            previous = record.completedAt
        }
        // Nothing acknowledged at the end, or at all: the gap runs until the writer stopped.
        if end - previous > gap, !records.isEmpty { (gap, gapEnd) = (end - previous, end) }
        return WriterReport(
            attempted: records.count, acknowledged: acknowledged.count, failed: failed.count,
            failedOutcomeUnknown: failed.filter { $0.outcome == .failed(maybeApplied: true) }.count,
            longestGap: gap, longestGapEndedAt: gapEnd,
            lost: acknowledged.map(\.sequence).filter { !present.contains($0) }.sorted(),
            appliedUnacknowledged: failed.filter { present.contains($0.sequence) }.count)
    }
}

/// A flag one task sets and another polls.
public final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    public init() {}
    public func set() { value.store(true, ordering: .releasing) }
    public var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Writes unique sequence numbers at a steady rate through one session, one write at a time
/// (a write waits for the previous one, as an application would): each is a znode
/// `<base>/w<sequence>`, created, so reading `<base>`'s children back tells exactly which
/// acknowledged writes survived.
public enum ContinuousWriter {
    /// Node name of a sequence number, zero-padded so names sort like numbers.
    public static func nodeName(_ sequence: Int) -> String {
        let digits = String(sequence)
        return "w" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    public static func sequence(ofNode name: String) -> Int? {
        guard name.hasPrefix("w") else { return nil }
        return Int(name.dropFirst())
    }

    /// Writes until `stop` is set; returns every write's record. `origin`: the measurement's
    /// start on the monotonic clock (nanoseconds).
    public static func run(client: ZooKeeperClient, base: String, rate: Double, origin: UInt64, stop: StopFlag) async -> [WriteRecord] {
        var records: [WriteRecord] = []
        let interval = 1 / rate
        let first = seconds(since: origin)
        var sequence = 0
        while !stop.isSet {
            sequence += 1
            // A fixed schedule: after a write that took long, the writes it held up follow at
            // once, one after another, until the schedule is caught up.
            let due = first + Double(sequence - 1) * interval
            let now = seconds(since: origin)
            if due > now {
                do { try await Task.sleep(nanoseconds: UInt64((due - now) * 1e9)) } catch { break }
                if stop.isSet { break }
            }
            let issued = seconds(since: origin)
            let outcome: WriteRecord.Outcome
            do {
                try await client.create("\(base)/\(nodeName(sequence))", data: Array(String(sequence).utf8))
                outcome = .acknowledged
            } catch let error as ZooKeeperError {
                outcome = .failed(maybeApplied: error.mayHaveBeenApplied)
            } catch {
                outcome = .failed(maybeApplied: true)
            }
            records.append(WriteRecord(sequence: sequence, issuedAt: issued, completedAt: seconds(since: origin), outcome: outcome))
        }
        return records
    }

    static func seconds(since origin: UInt64) -> Double { Double(monotonicNanoseconds() &- origin) / 1e9 }
}
