import ControllerRuntime
import EnsembleCore
import NetCore
import Synchronization
import ZKConfig
import ZooKeeperOps

/// ZooKeeper sessions with the members of Ensembles under a member change, off the reconcile
/// path: each reads `/zookeeper/config` (on request, and every `interval` while wanted) and
/// performs the reconfigs the reconciler submits, as the operator's super user, version-
/// conditional, an unknown outcome settled by reading the configuration back (`ConfigSession`).
/// A reconfig may take the whole settling time (30 s): no reconcile ever waits for one; the
/// next reconcile sees it in flight, and the one after it the outcome.
///
/// Sessions exist only while wanted (a roll or scale may be under way); an Ensemble at rest
/// costs nothing here. The super user's password never leaves the session's authentication.
final class ConfigSessions: Sendable {
    /// Whom a session talks to: the member checking a reconfig's rights is the one the session
    /// is connected to, so members running with the super user come first (or alone).
    struct Target: Sendable, Equatable {
        var members: [String]
        var superUser: SuperUser?
    }

    /// What the reconciler reads.
    struct Snapshot: Sendable {
        var config: DynamicConfig?
        /// The last read (successful or not) started and finished, monotonic nanoseconds; 0: none yet.
        var readStarted: UInt64 = 0
        var readFinished: UInt64 = 0
        var readError: String?
        var inFlight: PlanAction?
        /// Set when the members refused a reconfig for good; cleared when the target changes.
        var refused: String?
    }

    private struct Entry {
        var target: Target
        var session: ConfigSession?
        var sessionTarget: Target?
        var snapshot = Snapshot()
        var busy = false
        var readRequested = true
        var nextRead: UInt64 = 0
        var job: (action: PlanAction, serverValue: String)?
        var outcomes: [(PlanAction, ReconfigOutcome)] = []
    }

    let interval: Double
    let requestTimeout: Double
    let logger: Logger
    private let entries = Mutex<[ObjectKey: Entry]>([:])
    /// Sessions of Ensembles no longer wanted, to close in the loop.
    private let retired = Mutex<[ConfigSession]>([])
    private let wake = WakeSignal()

    init(interval: Double, requestTimeout: Double, logger: Logger) {
        self.interval = interval
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// Keep reading this Ensemble's configuration through `target`.
    func want(_ key: ObjectKey, target: Target) {
        let fire = entries.withLock { entries -> Bool in
            guard var entry = entries[key] else {
                entries[key] = Entry(target: target)
                return true
            }
            if entry.target != target {
                entry.target = target
                entry.snapshot.refused = nil
                entries[key] = entry
            }
            return false
        }
        if fire { wake.fire() }
    }

    /// No member change is pending: the session goes.
    func release(_ key: ObjectKey) {
        let session = entries.withLock { entries -> ConfigSession? in
            guard let entry = entries.removeValue(forKey: key) else { return nil }
            return entry.session
        }
        if let session {
            retired.withLock { $0.append(session) }
            wake.fire()
        }
    }

    func requestRead(_ key: ObjectKey) {
        let known = entries.withLock { entries -> Bool in
            guard entries[key] != nil else { return false }
            entries[key]!.readRequested = true
            return true
        }
        if known { wake.fire() }
    }

    /// Queues a reconfig; false when one is already in flight (or the Ensemble is not wanted).
    func submit(_ key: ObjectKey, action: PlanAction, serverValue: String) -> Bool {
        let queued = entries.withLock { entries -> Bool in
            guard var entry = entries[key], entry.snapshot.inFlight == nil else { return false }
            entry.job = (action, serverValue)
            entry.snapshot.inFlight = action
            entries[key] = entry
            return true
        }
        if queued { wake.fire() }
        return queued
    }

    func snapshot(_ key: ObjectKey) -> Snapshot? { entries.withLock { $0[key]?.snapshot } }

    /// Outcomes of finished reconfigs, each returned once.
    func takeOutcomes(_ key: ObjectKey) -> [(PlanAction, ReconfigOutcome)] {
        entries.withLock { entries in
            guard let outcomes = entries[key]?.outcomes, !outcomes.isEmpty else { return [] }
            entries[key]!.outcomes = []
            return outcomes
        }
    }

    /// Until cancelled: reads and reconfigs as they fall due, each Ensemble's one at a time.
    func run(onChange: @escaping @Sendable (ObjectKey) async -> Void) async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                for session in retired.withLock({ list in defer { list.removeAll() }; return list }) {
                    group.addTask { await session.close() }
                }
                let now = monotonicNanoseconds()
                let due = entries.withLock { entries -> [(ObjectKey, Entry)] in
                    var due: [(ObjectKey, Entry)] = []
                    for (key, entry) in entries where !entry.busy && (entry.job != nil || entry.readRequested || now >= entry.nextRead) {
                        due.append((key, entry))
                        entries[key]!.busy = true
                        entries[key]!.readRequested = false
                        entries[key]!.job = nil
                    }
                    return due
                }
                for (key, entry) in due {
                    group.addTask { [self] in await work(key, entry, onChange: onChange) }
                }
                await wake.wait(timeout: min(interval, 0.5))
            }
            let open = entries.withLock { entries in
                defer { entries.removeAll() }
                return entries.values.compactMap(\.session)
            } + retired.withLock { list in defer { list.removeAll() }; return list }
            for session in open { await session.close() }
        }
    }

    /// One turn for one Ensemble: (re)connect when the target changed, the queued reconfig if
    /// any, then a read.
    private func work(_ key: ObjectKey, _ entry: Entry, onChange: @Sendable (ObjectKey) async -> Void) async {
        let started = monotonicNanoseconds()
        var session = entry.session
        var connectError: String?
        if session == nil || entry.sessionTarget != entry.target {
            await session?.close()
            session = nil
            if !entry.target.members.isEmpty {
                do {
                    session = try await ConfigSession.connect(members: entry.target.members, superUser: entry.target.superUser,
                                                              requestTimeout: requestTimeout, connectTimeout: requestTimeout * 2)
                } catch {
                    connectError = "cannot connect to \(entry.target.members.joined(separator: ",")): \(error)"
                }
            } else {
                connectError = "no member to connect to"
            }
        }
        var outcome: ReconfigOutcome?
        if let job = entry.job {
            if let session {
                outcome = await session.perform(job.action, serverValue: { _ in job.serverValue })
            } else {
                outcome = .notApplied(reason: "no session with the members: \(connectError ?? "not connected")")
            }
        }
        var config: DynamicConfig?
        var readError = connectError
        if let session {
            switch await session.readConfig() {
            case .success(let read): config = read
            case .failure(let error): readError = "\(error)"
            }
        }
        let finished = monotonicNanoseconds()
        let changed = entries.withLock { entries -> Bool? in
            guard var current = entries[key] else { return nil }
            let before = current.snapshot.config
            current.session = session
            current.sessionTarget = entry.target
            current.snapshot.config = config
            current.snapshot.readStarted = started
            current.snapshot.readFinished = finished
            current.snapshot.readError = readError
            if let outcome, let job = entry.job {
                current.snapshot.inFlight = nil
                current.outcomes.append((job.action, outcome))
                if case .refused(let reason) = outcome { current.snapshot.refused = reason }
            }
            current.busy = false
            current.nextRead = finished &+ UInt64(interval * 1e9)
            entries[key] = current
            return before != config || outcome != nil
        }
        wake.fire()
        guard let changed else {
            // Released meanwhile: nobody will use this session again.
            await session?.close()
            return
        }
        if let outcome, let job = entry.job {
            logger.info("reconfig", ["ensemble": key.description, "action": "\(job.action)", "outcome": outcome.description])
        }
        if changed { await onChange(key) }
    }
}
