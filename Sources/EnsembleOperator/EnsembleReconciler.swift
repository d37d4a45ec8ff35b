import ControllerRuntime
import EnsembleCore
import KubernetesClient

/// The I/O shell of one reconcile: reads the caches, asks `Reconciler.plan` (pure) what to
/// do, and does exactly that. A plan with nothing in it makes no request at all.
struct EnsembleReconciler: Sendable {
    let client: KubernetesClient
    let caches: Caches
    let prober: MemberProber
    let queue: WorkQueue<ObjectKey>
    let renderOptions: RenderOptions
    let identity: String
    let logger: Logger
    /// Failed clean-ups after which the finalizer goes anyway, so a broken clean-up can never
    /// hold the Ensemble (or its namespace) from being deleted.
    let cleanupAttempts = 5

    func reconcile(_ key: ObjectKey) async throws -> Action {
        guard let record = caches.ensembles.get(key) else {
            prober.forget(key)
            return .awaitChange
        }
        let input = ReconcileInput(
            record: record, children: caches.children(of: key), pods: caches.pods.owned(by: key),
            claims: caches.claims.owned(by: key), members: prober.observations(key), options: renderOptions, now: rfc3339())
        let plan = Reconciler.plan(input)
        if logger.level <= .debug {
            logger.debug("reconcile", ["ensemble": key.description, "deleting": String(record.deleting), "finalizer": "\(plan.finalizer)",
                                       "apply": String(plan.apply.count), "status": String(plan.status != nil), "events": String(plan.events.count)])
        }
        if plan.isEmpty {
            requestProbeIfNeeded(key, input)
            return .awaitChange
        }
        let log = logger.with("ensemble", key.description)

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
        if record.deleting { return .awaitChange }

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
        // straight to Creating instead of writing Pending first).
        var status = plan.status
        var events = plan.events
        if !plan.apply.isEmpty {
            var refreshed = input
            refreshed.children = caches.children(of: key)
            let after = Reconciler.plan(refreshed)
            status = after.status
            events = plan.events.filter { $0.reason == "Created" || $0.reason == "Updated" } + after.events
        }
        if let status {
            let written: KubeObject
            do {
                written = try await client.patchStatus(.ensembles, name: key.name, namespace: key.namespace,
                                                       patch: ["status": Self.mergePatch(from: record.status?.value, to: status.value)])
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
        requestProbeIfNeeded(key, input)
        return .awaitChange
    }

    /// A JSON merge patch turning `old` into `new` at the top level: keys that went away are
    /// set to null (arrays are replaced whole by merge patches anyway).
    static func mergePatch(from old: Value?, to new: Value) -> Value {
        var patch = new
        for key in old?.objectValue?.keys ?? [] where new[key] == nil { patch[key] = .null }
        return patch
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
