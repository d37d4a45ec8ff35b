import EnsembleCore
import KubernetesClient
import NetCore

/// The fields of a coordination.k8s.io/v1 Lease that election reads and writes.
public struct LeaseRecord: Equatable, Sendable {
    public var holderIdentity: String
    public var leaseDurationSeconds: Int
    public var acquireTime: String
    public var renewTime: String
    public var leaseTransitions: Int
    public var resourceVersion: String

    public init(holderIdentity: String, leaseDurationSeconds: Int, acquireTime: String, renewTime: String, leaseTransitions: Int,
                resourceVersion: String = "") {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
        self.resourceVersion = resourceVersion
    }

    public init(_ value: Value) {
        let spec = value["spec"]
        self.init(holderIdentity: spec?["holderIdentity"]?.stringValue ?? "", leaseDurationSeconds: spec?["leaseDurationSeconds"]?.intValue ?? 0,
                  acquireTime: spec?["acquireTime"]?.stringValue ?? "", renewTime: spec?["renewTime"]?.stringValue ?? "",
                  leaseTransitions: spec?["leaseTransitions"]?.intValue ?? 0,
                  resourceVersion: value["metadata"]?["resourceVersion"]?.stringValue ?? "")
    }

    public func object(name: String, namespace: String) -> Value {
        var meta: Value = ["name": .string(name), "namespace": .string(namespace)]
        if !resourceVersion.isEmpty { meta["resourceVersion"] = .string(resourceVersion) }
        var spec: Value = ["holderIdentity": .string(holderIdentity), "leaseDurationSeconds": .int(leaseDurationSeconds),
                           "leaseTransitions": .int(leaseTransitions)]
        if !acquireTime.isEmpty { spec["acquireTime"] = .string(acquireTime) }
        if !renewTime.isEmpty { spec["renewTime"] = .string(renewTime) }
        return ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec]
    }
}

/// Lease-based leader election as a pure state machine. Expiry is judged on this process's
/// monotonic clock from when it last saw the lease change (as client-go does), never by
/// comparing another host's timestamps with ours.
public struct LeaderElector: Sendable {
    public enum Action: Equatable, Sendable {
        case create(LeaseRecord)
        /// Write with the record's resourceVersion: a 409 means someone else got there first.
        case update(LeaseRecord)
        /// Another holder's lease is live: look again after this long.
        case wait(seconds: Double)
    }

    public let identity: String
    public let leaseDuration: Double
    public let renewDeadline: Double
    public let retryPeriod: Double
    public private(set) var isLeader = false
    private var observed: LeaseRecord?
    private var observedAt: UInt64 = 0
    private var lastRenewal: UInt64 = 0

    public init(identity: String, leaseDuration: Double = 15, renewDeadline: Double = 10, retryPeriod: Double = 2) {
        self.identity = identity
        self.leaseDuration = leaseDuration
        self.renewDeadline = renewDeadline
        self.retryPeriod = retryPeriod
    }

    /// What to do given the lease as read now (nil: there is none). `now` is monotonic
    /// nanoseconds; `wallClock` the RFC 3339 time written into the record.
    public mutating func decide(lease: LeaseRecord?, now: UInt64, wallClock: String) -> Action {
        guard let lease else {
            return .create(LeaseRecord(holderIdentity: identity, leaseDurationSeconds: Int(leaseDuration.rounded(.up)),
                                       acquireTime: wallClock, renewTime: wallClock, leaseTransitions: 0))
        }
        if lease != observed {
            observed = lease
            observedAt = now
        }
        // Someone else holds it now (it expired on their clock, or it was taken by hand):
        // this process is no longer the leader, whatever it thought.
        if isLeader && lease.holderIdentity != identity { isLeader = false }
        var next = lease
        next.renewTime = wallClock
        next.leaseDurationSeconds = Int(leaseDuration.rounded(.up))
        if lease.holderIdentity == identity { return .update(next) }
        let duration = Double(lease.leaseDurationSeconds > 0 ? lease.leaseDurationSeconds : Int(leaseDuration))
        let expiresAt = observedAt &+ UInt64(duration * 1e9)
        if !lease.holderIdentity.isEmpty && now < expiresAt {
            return .wait(seconds: min(retryPeriod, Double(expiresAt - now) / 1e9 + 0.01))
        }
        next.holderIdentity = identity
        next.acquireTime = wallClock
        next.leaseTransitions = lease.leaseTransitions + 1
        return .update(next)
    }

    /// The create or update succeeded: this process holds the lease.
    public mutating func succeeded(_ written: LeaseRecord, now: UInt64) {
        isLeader = written.holderIdentity == identity
        observed = written
        observedAt = now
        if isLeader { lastRenewal = now }
    }

    /// A write failed (conflict or error). A leader that has not renewed within the renew
    /// deadline must stop acting as one; returns true when leadership is lost now.
    public mutating func failed(now: UInt64) -> Bool {
        guard isLeader else { return false }
        if now &- lastRenewal > UInt64(renewDeadline * 1e9) {
            isLeader = false
            return true
        }
        return false
    }

    /// The record that gives the lease up on shutdown: no holder, so a standby takes over
    /// at once instead of waiting for expiry.
    public func release(_ lease: LeaseRecord, wallClock: String) -> LeaseRecord? {
        guard lease.holderIdentity == identity else { return nil }
        var released = lease
        released.holderIdentity = ""
        released.leaseDurationSeconds = 1
        released.renewTime = wallClock
        return released
    }
}

/// Runs `LeaderElector` against the API server.
public struct LeaderElection: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case lost(String)
        public var description: String { if case .lost(let why) = self { return "leadership lost: \(why)" } else { return "" } }
    }

    public let client: KubernetesClient
    public let namespace: String
    public let name: String
    public let logger: Logger
    public let metrics: MetricsRegistry?
    let elector: LeaderElector

    public init(client: KubernetesClient, namespace: String, name: String, identity: String, leaseDuration: Double = 15,
                renewDeadline: Double = 10, retryPeriod: Double = 2, logger: Logger, metrics: MetricsRegistry? = nil) {
        self.client = client
        self.namespace = namespace
        self.name = name
        self.logger = logger
        self.metrics = metrics
        elector = LeaderElector(identity: identity, leaseDuration: leaseDuration, renewDeadline: renewDeadline, retryPeriod: retryPeriod)
    }

    /// Waits until this process holds the lease (or `stop` fires: then returns at once),
    /// then runs `body` while renewing it. When `body` returns (shutdown), the lease is
    /// released. Throws `Failure.lost` if renewals fail past the renew deadline; `body` is
    /// cancelled first.
    public func whileLeading(stop: ShutdownSignal, _ body: @escaping @Sendable () async throws -> Void) async throws {
        logger.info("waiting for the leader lease", ["lease": "\(namespace)/\(name)", "identity": elector.identity])
        let acquired: LeaderElector? = try await withThrowingTaskGroup(of: LeaderElector?.self) { group in
            group.addTask { [self] in
                var elector = self.elector
                while !elector.isLeader {
                    try Task.checkCancellation()
                    try await attempt(&elector)
                    if !elector.isLeader { try await Task.sleep(nanoseconds: UInt64(elector.retryPeriod * 1e9)) }
                }
                return elector
            }
            group.addTask { await stop.wait(); return nil }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let elector = acquired else {
            logger.info("stopped before becoming the leader")
            return
        }
        logger.info("became the leader", ["lease": "\(namespace)/\(name)", "identity": elector.identity])
        metrics?.set("ensemble_operator_leader", [:], 1)
        let startElector = elector
        let renewer: @Sendable () async throws -> Void = { [self] in
            var elector = startElector
            while true {
                try await Task.sleep(nanoseconds: UInt64(elector.retryPeriod * 1e9))
                try await attempt(&elector)
                if !elector.isLeader { throw Failure.lost("the lease is no longer ours (not renewed within \(elector.renewDeadline) s, or another holder took it)") }
            }
        }
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { try await body(); return true }
                group.addTask { try await renewer(); return false }
                // Whichever ends first (the body on shutdown, the renewer on loss) ends both.
                defer { group.cancelAll() }
                _ = try await group.next()
            }
        } catch {
            metrics?.set("ensemble_operator_leader", [:], 0)
            throw error
        }
        metrics?.set("ensemble_operator_leader", [:], 0)
        await release(elector)
    }

    func attempt(_ elector: inout LeaderElector) async throws {
        let lease: LeaseRecord?
        do {
            lease = LeaseRecord(try await client.get(.leases, name: name, namespace: namespace).value)
        } catch let error where error.isNotFound {
            lease = nil
        } catch {
            logger.warning("reading the lease failed", ["error": "\(error)"])
            _ = elector.failed(now: monotonicNanoseconds())
            return
        }
        let action = elector.decide(lease: lease, now: monotonicNanoseconds(), wallClock: rfc3339(millisecondPrecision: true))
        do {
            switch action {
            case .create(let record):
                let written = try await client.create(.leases, record.object(name: name, namespace: namespace), namespace: namespace)
                elector.succeeded(LeaseRecord(written.value), now: monotonicNanoseconds())
            case .update(let record):
                let written = try await client.replace(.leases, record.object(name: name, namespace: namespace), namespace: namespace)
                elector.succeeded(LeaseRecord(written.value), now: monotonicNanoseconds())
            case .wait:
                return
            }
        } catch {
            if !error.isConflictOrExists { logger.warning("writing the lease failed", ["error": "\(error)"]) }
            _ = elector.failed(now: monotonicNanoseconds())
        }
    }

    func release(_ elector: LeaderElector) async {
        do {
            let lease = LeaseRecord(try await client.get(.leases, name: name, namespace: namespace).value)
            guard let released = elector.release(lease, wallClock: rfc3339(millisecondPrecision: true)) else { return }
            _ = try await client.replace(.leases, released.object(name: name, namespace: namespace), namespace: namespace)
            logger.info("released the leader lease", ["lease": "\(namespace)/\(name)"])
        } catch {
            logger.warning("releasing the lease failed; a standby takes over when it expires", ["error": "\(error)"])
        }
    }
}

extension Error {
    public var isNotFound: Bool { (self as? KubernetesError)?.isNotFound ?? false }
    public var isConflict: Bool { (self as? KubernetesError)?.isConflict ?? false }
    /// 409 Conflict or AlreadyExists: someone else wrote first.
    public var isConflictOrExists: Bool { isConflict || ((self as? KubernetesError)?.isAlreadyExists ?? false) }
}
