import ControllerRuntime
import Dispatch
import EnsembleCore
import NetCore
import Synchronization
import ZKAdmin

/// Asks members what they are (`srvr`/`mntr` for ZooKeeper, a CQL OPTIONS handshake for
/// Cassandra), off the reconcile path: its own loop, blocking sockets on threads of their
/// own, at most `concurrency` members at once, each bounded by `timeout` (name resolution
/// included). A member that never answers costs its own probe's timeout and nothing else:
/// reconciles read the last answers from here and never wait for a member.
///
/// When what a member says changes (role, answering or not; not the zxid, which moves with
/// every write), the Ensemble is queued for a reconcile, which writes the status.
final class MemberProber: Sendable {
    struct Detail: Sendable, Equatable {
        var observation: MemberAnswer
        var pod: String
        /// ZooKeeper figures for /metrics.
        var status: MemberStatus?
    }

    let caches: Caches
    let template: MemberAddressTemplate
    let interval: Double
    let timeout: Double
    let metrics: MetricsRegistry
    /// The last answers per Ensemble: only what the reconciler reads (the figures for /metrics
    /// are published as a round ends and not kept).
    private let results = Mutex<[ObjectKey: [Int: MemberAnswer]]>([:])
    /// When the last round that asked an Ensemble's members started and finished (monotonic
    /// nanoseconds): a member change acts only on answers gathered after its last action.
    private let rounds = Mutex<[ObjectKey: (started: UInt64, finished: UInt64)]>([:])
    private let requested = Mutex<Set<ObjectKey>>([])
    private let wake = WakeSignal()
    /// Blocking checks run on serial queues of their own, one per concurrent check: a serial
    /// queue gets a thread of its own when its work blocks. Concurrent queues (global or not)
    /// stop at one thread per core on Linux, and Swift's tasks run there too: hung checks on
    /// them would starve every reconcile.
    private let lanes: [DispatchQueue]

    init(caches: Caches, template: MemberAddressTemplate, interval: Double, timeout: Double, concurrency: Int = 32,
         metrics: MetricsRegistry) {
        self.caches = caches
        self.template = template
        self.interval = interval
        self.timeout = timeout
        lanes = (0..<concurrency).map { DispatchQueue(label: "member-check-\($0)") }
        self.metrics = metrics
        metrics.register("ensemble_member_probe_rounds_total", .counter, help: "Rounds of member checks completed.")
        for (name, help) in Self.memberMetrics { metrics.register(name, .gauge, help: help) }
    }

    /// The last answers of one Ensemble's members.
    func observations(_ key: ObjectKey) -> [Int: MemberAnswer] {
        results.withLock { $0[key] ?? [:] }
    }

    /// Asks for this Ensemble's members to be checked now rather than at the next round.
    func request(_ key: ObjectKey) {
        requested.withLock { _ = $0.insert(key) }
        wake.fire()
    }

    /// The last completed round for this Ensemble, if any.
    func lastRound(_ key: ObjectKey) -> (started: UInt64, finished: UInt64)? {
        rounds.withLock { $0[key] }
    }

    func forget(_ key: ObjectKey) {
        results.withLock { _ = $0.removeValue(forKey: key) }
        rounds.withLock { _ = $0.removeValue(forKey: key) }
        for (name, _) in Self.memberMetrics { metrics.replace(name, group: Self.prefix(key), []) }
    }

    /// The per-member gauges, with their help.
    static let memberMetrics = [
        ("ensemble_member_up", "1 when the member answered the operator's check (srvr or CQL OPTIONS), else 0."),
        ("ensemble_member_role", "1 for the ZooKeeper member's current mode (label role)."),
        ("ensemble_member_zxid_lag", "Transactions the ZooKeeper member is behind the leader's zxid."),
        ("ensemble_member_outstanding_requests", "Requests queued on the ZooKeeper member (mntr zk_outstanding_requests)."),
        ("ensemble_member_latency_avg_milliseconds", "Average request latency the ZooKeeper member reports."),
        ("ensemble_member_latency_max_milliseconds", "Maximum request latency the ZooKeeper member reports."),
    ]

    static func prefix(_ key: ObjectKey) -> [(String, String)] { [("namespace", key.namespace), ("ensemble", key.name)] }

    /// Rounds until cancelled: every `interval`, or sooner for requested Ensembles.
    func run(onChange: @escaping @Sendable (ObjectKey) async -> Void) async {
        var lastFull = UInt64(0)
        while !Task.isCancelled {
            let now = monotonicNanoseconds()
            let full = now &- lastFull >= UInt64(interval * 1e9) || lastFull == 0
            let keys: [ObjectKey]
            if full {
                lastFull = now
                requested.withLock { $0.removeAll() }
                keys = caches.ensembles.keys
            } else {
                keys = requested.withLock { set in defer { set.removeAll() }; return Array(set) }
            }
            if !keys.isEmpty { await probe(keys, onChange: onChange) }
            if full { metrics.increment("ensemble_member_probe_rounds_total") }
            let remaining = Double(UInt64(interval * 1e9) &- min(UInt64(interval * 1e9), monotonicNanoseconds() &- lastFull)) / 1e9
            await wake.wait(timeout: max(0.05, remaining))
        }
    }

    /// One member to ask, with only what its check needs: a round holds one per member, and
    /// a copy of its Ensemble in each (kilobytes apiece) made a 1000-Ensemble round's list
    /// the largest allocation of the process.
    private struct Job: Sendable {
        var key: ObjectKey
        var ordinal: Int
        var pod: String
        var podUID: String
        var engine: Engine
        var host: String
        var port: Int
    }

    private func probe(_ keys: [ObjectKey], onChange: @escaping @Sendable (ObjectKey) async -> Void) async {
        let started = monotonicNanoseconds()
        var jobs: [Job] = []
        var fresh: [ObjectKey: [Int: Detail]] = [:]
        for key in keys {
            guard let record = caches.ensembles.get(key), let ensemble = record.ensemble, !record.deleting else { continue }
            for pod in caches.pods.owned(by: key) where !pod.deleting {
                guard let ordinal = pod.ordinal else { continue }
                guard let (host, port) = template.address(of: ensemble, ordinal: ordinal) else {
                    fresh[key, default: [:]][ordinal] = Detail(
                        observation: MemberAnswer(ordinal: ordinal, answer: .failed("member address template gives no host:port"), podUID: pod.uid), pod: pod.name)
                    continue
                }
                jobs.append(Job(key: key, ordinal: ordinal, pod: pod.name, podUID: pod.uid, engine: ensemble.spec.engine, host: host, port: port))
            }
        }
        await withTaskGroup(of: (ObjectKey, Int, Detail, Int).self) { group in
            var next = 0
            func launch(lane: Int) {
                let job = jobs[next]
                next += 1
                let queue = lanes[lane]
                group.addTask { [self] in (job.key, job.ordinal, await check(job, on: queue), lane) }
            }
            for lane in 0..<min(jobs.count, lanes.count) { launch(lane: lane) }
            // A finished check frees its lane for the next one.
            for await (key, ordinal, detail, lane) in group {
                fresh[key, default: [:]][ordinal] = detail
                if next < jobs.count { launch(lane: lane) }
            }
        }
        let finished = monotonicNanoseconds()
        rounds.withLock { rounds in for key in keys { rounds[key] = (started, finished) } }
        for key in keys {
            let details = fresh.removeValue(forKey: key) ?? [:]
            let answers = details.mapValues(\.observation)
            let previous = results.withLock { r -> [Int: MemberAnswer]? in
                let old = r[key]
                if caches.ensembles.get(key) == nil { r[key] = nil } else { r[key] = answers }
                return old
            }
            publish(key, details)
            if Self.significant(previous ?? [:]) != Self.significant(answers) { await onChange(key) }
        }
    }

    /// What a status shows, without the zxid (it moves with every write), and what the
    /// planners act on: which pod answered, and non-voting followers (a member outside the
    /// configuration).
    static func significant(_ answers: [Int: MemberAnswer]) -> [Int: String] {
        answers.mapValues { answer in
            let pod = "\(answer.podUID ?? ""):nv\(answer.syncedNonVotingFollowers ?? 0)"
            switch answer.answer {
            case .zooKeeper(let role, _): return "zk:\(role):\(pod)"
            case .cassandra(let version): return "cql:\(version):\(pod)"
            case .failed(let reason): return "failed:\(answer.answered):\(reason):\(pod)"
            }
        }
    }

    private func check(_ job: Job, on lane: DispatchQueue) async -> Detail {
        let (host, port, ordinal, engine, pod) = (job.host, job.port, job.ordinal, job.engine, job.pod)
        let timeout = self.timeout
        // Sockets here block (bounded by the deadline): run them on a thread of their own. On
        // shutdown nobody waits for them: the first of cancellation and the answer resumes.
        let once = Mutex<CheckedContinuation<Detail, Never>?>(nil)
        let cancelled = Detail(observation: MemberAnswer(ordinal: ordinal, answer: .failed("check cancelled"), podUID: job.podUID), pod: pod)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Detail, Never>) in
                once.withLock { $0 = continuation }
                if Task.isCancelled { once.withLock { $0.take() }?.resume(returning: cancelled) }
                lane.async {
                    let deadline = Deadline.after(seconds: timeout)
                    let detail: Detail
                    switch engine {
                    case .zooKeeper:
                        do {
                            let status = try MemberStatus.fetch(host: host, port: port, deadline: deadline)
                            detail = Detail(observation: MemberAnswer(ordinal: ordinal, answer: .zooKeeper(role: status.mode.rawValue, zxid: status.zxid),
                                                                      podUID: job.podUID, syncedFollowers: status.syncedFollowers,
                                                                      syncedNonVotingFollowers: status.syncedNonVotingFollowers),
                                            pod: pod, status: status)
                        } catch {
                            detail = Detail(observation: MemberAnswer(ordinal: ordinal, answer: .failed("\(host):\(port): \(error)"), podUID: job.podUID,
                                                                      answered: (error as? FourLetterWordError) == .notServing),
                                            pod: pod)
                        }
                    case .cassandra:
                        do {
                            let supported = try CQLHandshake.options(host: host, port: port, deadline: deadline)
                            let versions = (supported["CQL_VERSION"] ?? []).joined(separator: ",")
                            detail = Detail(observation: MemberAnswer(ordinal: ordinal, answer: .cassandra(cqlVersion: versions), podUID: job.podUID), pod: pod)
                        } catch {
                            detail = Detail(observation: MemberAnswer(ordinal: ordinal, answer: .failed("\(host):\(port): \(error)"), podUID: job.podUID),
                                            pod: pod)
                        }
                    }
                    once.withLock { $0.take() }?.resume(returning: detail)
                }
            }
        } onCancel: {
            once.withLock { $0.take() }?.resume(returning: cancelled)
        }
    }

    /// Per-member figures from the replies already read: no extra requests for /metrics.
    private func publish(_ key: ObjectKey, _ details: [Int: Detail]) {
        let prefix = Self.prefix(key)
        let leaderZxid = details.values.compactMap { $0.status?.mode == .leader ? $0.status?.zxid : nil }.first
        var up: [([(String, String)], Double)] = []
        var role: [([(String, String)], Double)] = []
        var lag: [([(String, String)], Double)] = []
        var outstanding: [([(String, String)], Double)] = []
        var latencyAvg: [([(String, String)], Double)] = []
        var latencyMax: [([(String, String)], Double)] = []
        for ordinal in details.keys.sorted() {
            let detail = details[ordinal]!
            let labels = prefix + [("pod", detail.pod)]
            if case .failed = detail.observation.answer { up.append((labels, 0)) } else { up.append((labels, 1)) }
            guard let status = detail.status else { continue }
            role.append((labels + [("role", status.mode.rawValue)], 1))
            if let leaderZxid { lag.append((labels, Double(Zxid(status.zxid).transactionsBehind(Zxid(leaderZxid))))) }
            outstanding.append((labels, Double(status.outstanding)))
            latencyAvg.append((labels, status.latencyAvg))
            latencyMax.append((labels, status.latencyMax))
        }
        metrics.replace("ensemble_member_up", group: prefix, up)
        metrics.replace("ensemble_member_role", group: prefix, role)
        metrics.replace("ensemble_member_zxid_lag", group: prefix, lag)
        metrics.replace("ensemble_member_outstanding_requests", group: prefix, outstanding)
        metrics.replace("ensemble_member_latency_avg_milliseconds", group: prefix, latencyAvg)
        metrics.replace("ensemble_member_latency_max_milliseconds", group: prefix, latencyMax)
    }
}

