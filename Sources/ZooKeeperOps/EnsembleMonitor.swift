import Foundation
import NetCore
import ZKAdmin

/// Watches an ensemble from outside while something changes it: polls every member's `srvr`
/// at a fixed interval on a thread of its own, and counts
///
/// - leader elections: every new leadership starts a new epoch (the high half of the zxid the
///   leader reports), so elections = the last leader epoch seen minus the first. Epochs count
///   even an election that came and went between two polls.
/// - members down at once: a member that was serving and then refuses connections (its
///   process is gone) is down until it serves again (it restarts, then syncs). A member that
///   keeps listening is not down, whatever it answers: every member stops serving, and drops
///   its connections, at every election.
/// Its mutable state is guarded by `state`.
public final class EnsembleMonitor: @unchecked Sendable {
    public struct Report: Sendable, Equatable, Codable {
        public var elections: Int
        /// Leaders in the order they were seen: "member 2 (epoch 0x4)".
        public var leaders: [String]
        /// The most members down at one poll.
        public var maxMembersDown: Int
        public var polls: Int
    }

    private let endpoints: [MemberEndpoint]
    private let interval: Double
    private let state = ConditionLock()
    private var stopping = false
    private var finished = false
    private var tracker = Tracker()

    public init(endpoints: [MemberEndpoint], interval: Double = 0.1) {
        self.endpoints = endpoints
        self.interval = interval
    }

    /// Starts polling; `stop()` ends it. Returns false when no thread could be started.
    public func start() -> Bool {
        startDetachedThread { [self] in
            while !(state.withLock { stopping }) {
                let next = Deadline.after(seconds: interval)
                let replies = queryMembers(endpoints.map { ($0.host, $0.port) }, timeout: max(interval * 5, 1)) { host, port, deadline in
                    Result { () throws(FourLetterWordError) in try ServerStatus.fetch(host: host, port: port, deadline: deadline) }
                }
                let answers = Dictionary(uniqueKeysWithValues: zip(endpoints, replies).map { ($0.ordinal, SrvrAnswer($1.result)) })
                state.withLock {
                    tracker.record(answers, names: Dictionary(uniqueKeysWithValues: endpoints.map { ($0.ordinal, $0.name) }))
                    while !stopping && !next.hasPassed { state.wait(until: next) }
                }
            }
            state.withLock {
                finished = true
                state.signal()
            }
        }
    }

    /// Stops polling (after the poll under way) and reports.
    public func stop() -> Report {
        state.withLock {
            stopping = true
            state.signal()
            while !finished { state.wait() }
            return tracker.report
        }
    }

    /// What the polls add up to; pure, so its rules are tested without an ensemble.
    public struct Tracker: Sendable {
        enum Health { case absent, up, down }
        var health: [Int: Health] = [:]
        var firstEpoch: UInt32?
        var lastEpoch: UInt32?
        var leaders: [String] = []
        var lastLeader: (ordinal: Int, epoch: UInt32)?
        var maxDown = 0
        var polls = 0

        public init() {}

        public mutating func record(_ answers: [Int: SrvrAnswer], names: [Int: String]) {
            polls += 1
            for (ordinal, answer) in answers {
                let serving = answer.role != .notServing
                switch (health[ordinal] ?? .absent, answer.listening, serving) {
                case (.absent, _, true), (.down, _, true): health[ordinal] = .up
                case (.up, false, _): health[ordinal] = .down
                default: break
                }
            }
            maxDown = max(maxDown, health.values.filter { $0 == .down }.count)
            // The newest leadership among those answering as leader (an old leader that was
            // removed may still say so for a moment).
            let leading = answers.filter { $0.value.role == .leader || $0.value.role == .standalone }
                .compactMap { entry in entry.value.zxid.map { (ordinal: entry.key, epoch: $0.epoch) } }
            guard let newest = leading.max(by: { $0.epoch < $1.epoch }) else { return }
            if firstEpoch == nil { firstEpoch = newest.epoch }
            lastEpoch = max(lastEpoch ?? newest.epoch, newest.epoch)
            if lastLeader.map({ $0.ordinal != newest.ordinal || $0.epoch != newest.epoch }) ?? true, newest.epoch >= (lastLeader?.epoch ?? 0) {
                leaders.append("\(names[newest.ordinal] ?? "member \(newest.ordinal + 1)") (epoch 0x\(String(newest.epoch, radix: 16)))")
                lastLeader = newest
            }
        }

        public var report: Report {
            Report(elections: Int((lastEpoch ?? 0) - (firstEpoch ?? 0)), leaders: leaders, maxMembersDown: maxDown, polls: polls)
        }
    }
}
