import Foundation
import NetCore
import ZooKeeperClient

/// What happened to an ensemble's clients while something changed it: the continuous
/// writer's figures and the monitor's.
public struct MeasurementReport: Sendable, Equatable, Codable {
    public var seconds: Double
    public var writeRate: Double
    public var writes: WriterReport
    /// nil when the writes could not be read back (then nothing is known about lost writes).
    public var readBackError: String?
    public var elections: Int
    public var leaders: [String]
    public var maxMembersDown: Int
}

public struct MeasurementError: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `body` with a continuous writer and a monitor on the ensemble, then reads the writes
/// back through a fresh session (after a sync) and reports. `members` are "host:port" for the
/// writer's session; `endpoints` are polled by the monitor. The writer's znodes live under a
/// node of their own, deleted afterwards.
public enum Measurement {
    public static func run<T: Sendable>(
        members: [String], endpoints: [MemberEndpoint], rate: Double = 50,
        _ body: () async throws -> T
    ) async throws -> (result: Result<T, any Error>, report: MeasurementReport) {
        guard rate > 0, rate <= 1000 else { throw MeasurementError(description: "write rate \(rate) must be in (0, 1000] writes/s") }
        let client = try await ZooKeeperClient.connect(members: members, options: writerOptions())
        let base = "/zkctl-measure-\(UInt64.random(in: 0...UInt64.max))"
        do {
            try await client.create(base)
        } catch {
            await client.close()
            throw MeasurementError(description: "the writer cannot create \(base): \(error)")
        }
        let monitor = EnsembleMonitor(endpoints: endpoints)
        guard monitor.start() else {
            await client.close()
            throw MeasurementError(description: "cannot start the monitor's thread")
        }
        let origin = monotonicNanoseconds()
        let stop = StopFlag()
        async let writes = ContinuousWriter.run(client: client, base: base, rate: rate, origin: origin, stop: stop)
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        stop.set()
        let records = await writes
        let end = Double(monotonicNanoseconds() - origin) / 1e9
        let observed = monitor.stop()
        await client.close()

        var present: Set<Int> = []
        var readBackError: String?
        do {
            present = try await readBackAndDelete(members: members, base: base)
        } catch {
            readBackError = "\(error)"
        }
        let report = MeasurementReport(
            seconds: end, writeRate: rate, writes: WriterReport.evaluate(records, present: present, end: end),
            readBackError: readBackError, elections: observed.elections, leaders: observed.leaders,
            maxMembersDown: observed.maxMembersDown)
        return (result, report)
    }

    static func writerOptions() -> ZooKeeperClient.Options {
        var options = ZooKeeperClient.Options()
        // A write waits this long at most; a session that survives several elections.
        options.requestTimeout = 5
        options.connectTimeout = 15
        options.attemptTimeout = 2
        options.sessionTimeout = 30
        return options
    }

    /// The sequence numbers under `base`, read through a new session after a sync (so the
    /// member asked has every committed write); then the nodes are deleted.
    static func readBackAndDelete(members: [String], base: String) async throws -> Set<Int> {
        let client = try await ZooKeeperClient.connect(members: members, options: writerOptions())
        do {
            try await client.sync(base)
            let children = try await client.getChildren(base)
            let present = Set(children.compactMap(ContinuousWriter.sequence(ofNode:)))
            // Many deletes in flight at once: the session pipelines them.
            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = children.makeIterator()
                func add() -> Bool {
                    guard let child = next.next() else { return false }
                    group.addTask { try await client.delete("\(base)/\(child)") }
                    return true
                }
                for _ in 0..<64 where !add() { break }
                while try await group.next() != nil { _ = add() }
            }
            try await client.delete(base)
            await client.close()
            return present
        } catch {
            await client.close()
            throw error
        }
    }
}
