import ControllerRuntime
import EnsembleCore
import KubernetesClient
import NetCore
import Synchronization
import ZKConfig
import ZooKeeperOps

/// The I/O shell of one reconcile: reads the caches and what the members said (prober,
/// `/zookeeper/config` sessions), asks `Reconciler.plan` (pure) what to do, and does exactly
/// that: the finalizer, children, at most one member action (a pod deletion or a reconfig,
/// handed to the sessions so no reconcile waits for one), the status, events. A plan with
/// nothing in it makes no request at all.
struct EnsembleReconciler: Sendable {
    let client: KubernetesClient
    let caches: Caches
    let prober: MemberProber
    let sessions: ConfigSessions
    let queue: WorkQueue<ObjectKey>
    let renderOptions: RenderOptions
    let identity: String
    let logger: Logger
    /// Seconds answers and the configuration may be old and still be acted on.
    let freshness: Double
    let memory = MemberChangeMemory()
    /// Failed clean-ups after which the finalizer goes anyway, so a broken clean-up can never
    /// hold the Ensemble (or its namespace) from being deleted.
    let cleanupAttempts = 5
    /// Seconds between looks while the caches have not all had their first list.
    static let unsyncedRetry = 0.1

    func reconcile(_ key: ObjectKey) async throws -> Action {
        guard let record = caches.ensembles.get(key) else {
            prober.forget(key)
            sessions.release(key)
            memory.forget(key)
            return .awaitChange
        }
        // Until every cache has its first list, a missing StatefulSet, Secret or pod may only be
        // unlisted: acting on that would recreate or rescale what exists (a restarted operator
        // applied a scaling ensemble's StatefulSet at spec.replicas before its cache had it).
        guard memory.synced(caches.isSynced) else { return .requeue(after: Self.unsyncedRetry) }
        let log = logger.with("ensemble", key.description)
        try await ensureSuperUserSecret(record, key: key, log: log)
        let pods = caches.pods.owned(by: key)
        let members = prober.observations(key)
        let input = ReconcileInput(
            record: record, children: caches.children(of: key), pods: pods,
            claims: caches.claims.owned(by: key), members: members, secrets: caches.secrets.owned(by: key),
            live: live(key, record, pods: pods, members: members), options: renderOptions, now: rfc3339())
        let plan = Reconciler.plan(input)
        // Said at once: a reconcile that fails later must not lose them.
        for outcome in sessions.takeOutcomes(key) { await event(record, Self.outcomeEvent(outcome)) }
        if logger.level <= .debug {
            logger.debug("reconcile", ["ensemble": key.description, "deleting": String(record.deleting), "finalizer": "\(plan.finalizer)",
                                       "apply": String(plan.apply.count), "status": String(plan.status != nil), "events": String(plan.events.count),
                                       "memberChange": plan.memberChange.map { "\($0.decision.line)\($0.held ? " (held)" : "")" } ?? "none"])
        }
        if plan.isEmpty {
            afterReconcile(key, record, input, plan)
            return Self.action(plan)
        }

        switch plan.finalizer {
        case .none:
            break
        case .add:
            try await setFinalizers(record, record.finalizers + [ClaimFinalizer.name])
            log.info("added the volume-claim finalizer (storage.reclaimPolicy Delete)")
        case .remove:
            try await setFinalizers(record, record.finalizers.filter { $0 != ClaimFinalizer.name })
            log.info("removed the volume-claim finalizer (storage.reclaimPolicy Retain)")
        case .cleanUp(let claims):
            var failures: [String] = []
            for claim in claims {
                do {
                    _ = try await client.delete(.persistentVolumeClaims, name: claim, namespace: key.namespace)
                    log.info("deleted volume claim", ["claim": claim])
                } catch where error.isNotFound {
                    continue
                } catch {
                    failures.append("\(claim): \(error)")
                }
            }
            if !failures.isEmpty {
                let attempts = await queue.failureCount(key) + 1
                guard attempts >= cleanupAttempts else {
                    throw CleanupError(text: failures.joined(separator: "; "))
                }
                // Give up rather than block: the claims stay, and say so.
                log.error("volume claims not deleted; removing the finalizer anyway", ["failures": failures.joined(separator: "; ")])
                await event(record, EnsembleEvent(.warning, "VolumeClaimsLeft", "could not delete \(failures.joined(separator: "; ")); delete them by hand"))
            }
            try await setFinalizers(record, record.finalizers.filter { $0 != ClaimFinalizer.name })
        }
        if record.deleting {
            sessions.release(key)
            return .awaitChange
        }

        for child in plan.apply {
            let applied = try await client.apply(Caches.resource(child.kind), child.body, namespace: child.namespace,
                                                 options: ApplyOptions(force: true))
            // Write-through: a reconcile that runs before the watch event sees what was written.
            if let observed = ObservedChild(applied.value), let store = caches.childStores.first(where: { $0.0 == child.kind })?.1 {
                store.upsert(ObjectKey(namespace: child.namespace, name: child.name), observed, resourceVersion: applied.resourceVersion)
            }
            log.info("applied", ["kind": child.kind.rawValue, "name": child.name])
        }
        for child in plan.delete {
            do {
                _ = try await client.delete(Caches.resource(child.kind), name: child.name, namespace: child.namespace)
                log.info("deleted", ["kind": child.kind.rawValue, "name": child.name])
            } catch where error.isNotFound {}
        }
        // After applying, the status describes the children as written (a new Ensemble goes
        // straight to Creating instead of writing Pending first), and the member change sees
        // the StatefulSet as written.
        var final = plan
        var events = plan.events
        if !plan.apply.isEmpty {
            var refreshed = input
            refreshed.children = caches.children(of: key)
            final = Reconciler.plan(refreshed)
            events = plan.events.filter { $0.reason == "Created" || $0.reason == "Updated" } + final.events
        }
        if let action = final.memberAction, let step = final.memberChange {
            let performed = try await perform(action, step: step, record: record, key: key, log: log)
            if !performed { events.removeAll { $0.reason == step.decision.reason.code } }
        }
        if let status = final.status {
            let written: KubeObject
            do {
                written = try await client.patchStatus(.ensembles, name: key.name, namespace: key.namespace,
                                                       patch: ["status": Value.mergePatch(from: record.status?.value, to: status.value)])
            } catch where error.isNotFound {
                return .awaitChange  // deleted meanwhile: its watch event ends this key
            }
            if let fresh = EnsembleRecord(written.value) { caches.ensembles.upsert(key, fresh, resourceVersion: written.resourceVersion) }
            if record.status?.phase != status.phase {
                log.info("phase", ["from": record.status?.phase.rawValue ?? "none", "to": status.phase.rawValue,
                                   "observedGeneration": String(status.observedGeneration)])
            }
        }
        for item in events { await event(record, item) }
        afterReconcile(key, record, input, final)
        return Self.action(final)
    }

    static func action(_ plan: ReconcilePlan) -> Action {
        plan.requeueAfter.map { .requeue(after: $0) } ?? .awaitChange
    }

    // MARK: Member changes

    /// The live side of the input. Fresh: answers from a prober round, and (ZooKeeper) a read
    /// of the configuration, both begun after this Ensemble's last member action (or after
    /// the caches were first synced) and finished within `freshness` seconds, with an answer
    /// (or a failure) for every pod there is.
    func live(_ key: ObjectKey, _ record: EnsembleRecord, pods: [ObservedPod], members: [Int: MemberAnswer]) -> LiveMembers {
        let snapshot = sessions.snapshot(key)
        let since = memory.lastAction(key)
        let now = monotonicNanoseconds()
        let maxAge = UInt64(freshness * 1e9)
        let asked = Set(members.values.compactMap(\.podUID))
        let answersFresh = (prober.lastRound(key).map { $0.started > since && now &- $0.finished <= maxAge } ?? false)
            && pods.allSatisfy { $0.deleting || asked.contains($0.uid) }
        let configFresh = record.ensemble?.spec.engine != .zooKeeper
            || (snapshot.map { $0.readStarted > since && now &- $0.readFinished <= maxAge } ?? false)
        return LiveMembers(config: snapshot?.config, reconfigInFlight: snapshot?.inFlight != nil,
                           reconfigRefused: snapshot?.refused, fresh: answersFresh && configFresh)
    }

    /// Keeps what a member change reads current: the configuration session while one may be
    /// under way, and member answers asked for at every look (a wait notices a member
    /// rejoining at once).
    private func afterReconcile(_ key: ObjectKey, _ record: EnsembleRecord, _ input: ReconcileInput, _ plan: ReconcilePlan) {
        if plan.wantsLiveConfig, let ensemble = record.ensemble {
            sessions.want(key, target: sessionTarget(ensemble, record: record, pods: input.pods, secrets: input.secrets))
        } else {
            sessions.release(key)
        }
        if let step = plan.memberChange, !step.decision.isDone {
            prober.request(key)
            if !input.live.fresh { sessions.requestRead(key) }
            return
        }
        requestProbeIfNeeded(key, input)
    }

    /// Ready members running with the operator's super user (a reconfig's rights are checked
    /// by the member the session talks to), else every ready member, else every member.
    func sessionTarget(_ ensemble: Ensemble, record: EnsembleRecord, pods: [ObservedPod], secrets: [ObservedSecret]) -> ConfigSessions.Target {
        let secret = SuperUserSecret.owned(by: record, in: secrets)
        let reference = SuperUserSecret.reference(secret)
        let live = pods.filter { !$0.deleting && $0.ordinal != nil }.sorted { $0.ordinal! < $1.ordinal! }
        let ready = live.filter(\.ready)
        let withSuperUser = ready.filter { reference != nil && $0.superUser == reference!.digestHash }
        let chosen = !withSuperUser.isEmpty ? withSuperUser : !ready.isEmpty ? ready : live
        let members = chosen.compactMap { prober.template.address(of: ensemble, ordinal: $0.ordinal!) }.map { displayName($0) }
        return ConfigSessions.Target(members: members, superUser: secret?.superUser)
    }

    /// Does one member action; false when there was nothing left to do (the pod was already
    /// gone or replaced, a reconfig already in flight).
    private func perform(_ action: MemberAction, step: MemberChangeStep, record: EnsembleRecord, key: ObjectKey, log: Logger) async throws -> Bool {
        let (summary, reason) = (step.decision.summary, step.decision.reason.code)
        switch action {
        case .deletePod(let name, let uid):
            do {
                _ = try await client.delete(.pods, name: name, namespace: key.namespace, options: DeleteOptions(preconditionUID: uid))
            } catch where error.isNotFound || error.isConflict {
                return false
            }
            log.info("deleted member pod", ["step": summary, "reason": reason, "pod": name])
        case .reconfig(let reconfig, let serverValue):
            guard sessions.submit(key, action: reconfig, serverValue: serverValue) else { return false }
            log.info("reconfig submitted", ["step": summary, "reason": reason])
        case .scaleStatefulSet(let replicas):
            _ = try await client.patch(.statefulSets, name: record.name, namespace: key.namespace, patch: ["spec": ["replicas": .int(replicas)]])
            log.info("scaled the StatefulSet", ["step": summary, "reason": reason, "replicas": String(replicas)])
        case .deleteClaim(let name):
            do {
                _ = try await client.delete(.persistentVolumeClaims, name: name, namespace: key.namespace)
            } catch where error.isNotFound {
                return false
            }
            log.info("deleted volume claim", ["step": summary, "reason": reason, "claim": name])
        }
        memory.acted(key)
        prober.request(key)
        sessions.requestRead(key)
        return true
    }

    static func outcomeEvent(_ outcome: (PlanAction, ReconfigOutcome)) -> EnsembleEvent {
        let (action, result) = outcome
        let what: String
        switch action {
        case .addToConfig(let o, let version): what = "adding server.\(o + 1) (conditional on version 0x\(String(version, radix: 16)))"
        case .removeFromConfig(let o, let version): what = "removing server.\(o + 1) (conditional on version 0x\(String(version, radix: 16)))"
        default: what = "\(action)"
        }
        switch result {
        case .applied: return EnsembleEvent(.normal, "ReconfigApplied", "\(what): \(result)")
        case .notApplied, .superseded: return EnsembleEvent(.normal, "ReconfigNotApplied", "\(what): \(result); planned again from what the members say now")
        case .refused: return EnsembleEvent(.warning, "ReconfigRefused", "\(what): \(result)")
        case .unknown: return EnsembleEvent(.warning, "ReconfigOutcomeUnknown", "\(what): \(result)")
        }
    }

    /// Creates the super-user Secret of a ZooKeeper Ensemble that has none: once, with a random
    /// password; never logged. A Secret of that name the operator does not own is left alone
    /// (an Event says so) and tried again a minute later.
    private func ensureSuperUserSecret(_ record: EnsembleRecord, key: ObjectKey, log: Logger) async throws {
        guard SuperUserSecret.needed(record, secrets: caches.secrets.owned(by: key)), let ensemble = record.ensemble,
              memory.mayCreateSecret(key) else { return }
        let body = SuperUserSecret.render(ensemble, superUser: SuperUser.generate())
        let name = EnsembleNames(ensemble).superUserSecret
        do {
            let created = try await client.create(.secrets, body, namespace: key.namespace)
            if let observed = ObservedSecret(created.value) {
                caches.secrets.upsert(ObjectKey(namespace: key.namespace, name: observed.name), observed, resourceVersion: created.resourceVersion)
            }
            log.info("created the super-user Secret", ["secret": name])
        } catch where (error as? KubernetesError)?.isAlreadyExists == true {
            // Ours would be in the cache (it carries the managed-by label): this one is not.
            if memory.secretConflict(key) {
                await event(record, EnsembleEvent(.warning, "SuperUserSecretConflict",
                                                  "Secret \(name) exists but was not made by the operator for this Ensemble; it is left alone, and leader hand-off stays off until it is removed"))
            }
        }
    }

    /// Fails with 409 rather than clobber: the patch carries the resourceVersion it read.
    private func setFinalizers(_ record: EnsembleRecord, _ finalizers: [String]) async throws {
        let patch: Value = ["metadata": ["resourceVersion": .string(record.resourceVersion), "finalizers": .array(finalizers.map(Value.string))]]
        let written = try await client.patch(.ensembles, name: record.name, namespace: record.namespace, patch: patch)
        if let fresh = EnsembleRecord(written.value) {
            caches.ensembles.upsert(ObjectKey(namespace: record.namespace, name: record.name), fresh, resourceVersion: written.resourceVersion)
        }
    }

    /// Events are best effort: a failed event never fails the reconcile (and is not retried).
    private func event(_ record: EnsembleRecord, _ item: EnsembleEvent) async {
        let regarding = KubeObject([
            "apiVersion": .string(EnsembleAPI.apiVersion), "kind": .string(EnsembleAPI.kind),
            "metadata": ["name": .string(record.name), "namespace": .string(record.namespace), "uid": .string(record.uid)],
        ])
        do {
            try await client.recordEvent(EventRecord(regarding: regarding, type: item.type == .warning ? .warning : .normal, reason: item.reason,
                                                     action: "Reconcile", note: item.message, reportingInstance: identity))
        } catch {
            logger.warning("recording an event failed", ["ensemble": "\(record.namespace)/\(record.name)", "reason": item.reason, "error": "\(error)"])
        }
    }

    /// Members that exist but have not been asked yet are asked now, not at the next round.
    private func requestProbeIfNeeded(_ key: ObjectKey, _ input: ReconcileInput) {
        let asked = Set(input.members.keys)
        if input.pods.contains(where: { pod in pod.ordinal.map { !asked.contains($0) } ?? false }) { prober.request(key) }
    }
}

struct CleanupError: Error, CustomStringConvertible {
    var text: String
    var description: String { "deleting volume claims failed: \(text)" }
}

/// What the reconciler remembers of member changes between reconciles. Losing it (a restart)
/// is safe: the next action then waits for observations made after this process's caches
/// were synced.
final class MemberChangeMemory: Sendable {
    private struct State {
        var lastAction: [ObjectKey: UInt64] = [:]
        var secretRefused: [ObjectKey: UInt64] = [:]
        /// When the caches were first seen synced: observations before then may have missed pods.
        var syncedAt: UInt64?
    }

    private let state = Mutex(State())

    /// Records the first time the caches are synced; returns whether they are.
    func synced(_ isSynced: Bool) -> Bool {
        guard isSynced else { return state.withLock { $0.syncedAt != nil } }
        state.withLock { state in if state.syncedAt == nil { state.syncedAt = monotonicNanoseconds() } }
        return true
    }

    /// The last member action on this Ensemble, or when the caches were synced: what acting
    /// needs observations newer than.
    func lastAction(_ key: ObjectKey) -> UInt64 {
        state.withLock { state in max(state.lastAction[key] ?? 0, state.syncedAt ?? .max) }
    }
    func acted(_ key: ObjectKey) { state.withLock { $0.lastAction[key] = monotonicNanoseconds() } }

    /// False for a minute after a Secret of the name turned out to be someone else's.
    func mayCreateSecret(_ key: ObjectKey) -> Bool {
        state.withLock { state in state.secretRefused[key].map { monotonicNanoseconds() &- $0 > 60_000_000_000 } ?? true }
    }

    /// Remembers a foreign Secret; true the first time (for the Event).
    func secretConflict(_ key: ObjectKey) -> Bool {
        state.withLock { state in
            defer { state.secretRefused[key] = monotonicNanoseconds() }
            return state.secretRefused[key] == nil
        }
    }

    func forget(_ key: ObjectKey) {
        state.withLock { state in
            state.lastAction[key] = nil
            state.secretRefused[key] = nil
        }
    }
}
