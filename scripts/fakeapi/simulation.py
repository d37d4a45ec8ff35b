"""A small StatefulSet controller and kubelet: pods per replicas, PVCs from
volumeClaimTemplates, controller-revision-hash labels, OnDelete and (simplified) RollingUpdate,
status counts. Readiness is never decided here: tests set it (POST /fake/pods/.../ready)."""
import hashlib
import json
import queue
import threading

import patch as patching
import store as stores

MANAGER = "statefulset-controller"


def template_hash(template):
    digest = hashlib.sha256(json.dumps(template, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return digest[:10]


def is_ready(pod):
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def ordinal(pod_name, sts_name):
    suffix = pod_name[len(sts_name) + 1:]
    return int(suffix) if pod_name.startswith(sts_name + "-") and suffix.isdigit() else None


class StatefulSetController:
    def __init__(self, store):
        self.store = store
        self.queue = queue.SimpleQueue()
        self.sts = store.resources["apps/statefulsets"]
        self.pods = store.resources["/pods"]
        self.pvcs = store.resources["/persistentvolumeclaims"]
        self.revisions = store.resources["apps/controllerrevisions"]
        # (namespace, name) -> (template, its hash): a status write keeps the stored template
        # object (the store shares unchanged parts), so most passes need no new hash.
        self.hashes = {}
        store.hooks.append(self.hook)
        threading.Thread(target=self.run, name="statefulset-controller", daemon=True).start()

    def hook(self, resource, event_type, old, new):
        obj = new or old
        if resource is self.sts:
            self.queue.put((obj["metadata"]["namespace"], obj["metadata"]["name"]))
        elif resource is self.pods:
            for reference in obj["metadata"].get("ownerReferences") or []:
                if reference.get("kind") == "StatefulSet" and reference.get("controller"):
                    self.queue.put((obj["metadata"]["namespace"], reference["name"]))

    def run(self):
        while True:
            key = self.queue.get()
            pending = {key}
            # Coalesce a burst of changes into one pass per StatefulSet.
            while True:
                try:
                    pending.add(self.queue.get_nowait())
                except queue.Empty:
                    break
            for namespace, name in sorted(pending):
                try:
                    with self.store.lock:
                        self.reconcile(namespace, name)
                except stores.APIError as error:
                    if error.code not in (404, 409):
                        print(f"statefulset {namespace}/{name}: {error.message}", flush=True)
                except Exception as error:  # a bug in the simulation must not stop it
                    print(f"statefulset {namespace}/{name}: {error!r}", flush=True)

    def reconcile(self, namespace, name):
        try:
            sts = self.store.get(self.sts, namespace, name)
        except stores.APIError:
            self.hashes.pop((namespace, name), None)
            return
        if sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        replicas = spec.get("replicas", 1)
        template = spec.get("template") or {}
        known = self.hashes.get((namespace, name))
        if known is None or known[0] is not template:
            known = self.hashes[(namespace, name)] = (template, template_hash(template))
        revision = f"{name}-{known[1]}"
        self.ensure_revision(sts, revision, template)
        pods = {}
        # The owner-reference index, not a scan of every pod.
        for key, ns, pod_name in list(self.store.dependents.get(sts["metadata"]["uid"], ())):
            n = ordinal(pod_name, name)
            pod = self.store.objects[self.pods.key].get((ns, pod_name)) if key == self.pods.key else None
            if n is not None and pod is not None:
                pods[n] = pod
        parallel = spec.get("podManagementPolicy") == "Parallel"
        # Scale down: highest ordinal first (all at once for Parallel).
        for n in sorted((n for n in pods if n >= replicas), reverse=True):
            self.store.delete(self.pods, namespace, pods[n]["metadata"]["name"], {})
            self.condemn_claims(sts, n)
            del pods[n]
            if not parallel:
                break
        # Scale up / recreate missing pods at the update revision.
        for n in range(replicas):
            if n in pods:
                continue
            if not parallel and any(not is_ready(pods[m]) for m in range(n) if m in pods):
                break
            if not parallel and any(m not in pods for m in range(n)):
                break
            self.ensure_claims(sts, n)
            pods[n] = self.store.create(self.pods, namespace, self.pod_for(sts, n, revision, template), MANAGER)
        # RollingUpdate (simplified): replace the highest outdated pod once every pod is ready.
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate":
            partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
            outdated = [n for n in pods if n >= partition and pods[n]["metadata"].get("labels", {}).get("controller-revision-hash") != revision]
            if outdated and all(is_ready(p) for p in pods.values()):
                self.store.delete(self.pods, namespace, pods[max(outdated)]["metadata"]["name"], {})
        self.write_status(sts, pods, revision)

    def pod_for(self, sts, n, revision, template):
        name = f'{sts["metadata"]["name"]}-{n}'
        metadata = patching.clone(template.get("metadata") or {})
        labels = metadata.get("labels") or {}
        labels.update({"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": name,
                       "apps.kubernetes.io/pod-index": str(n)})
        pod_spec = patching.clone(template.get("spec") or {})
        pod_spec["hostname"] = name
        if sts["spec"].get("serviceName"):
            pod_spec["subdomain"] = sts["spec"]["serviceName"]
        volumes = pod_spec.setdefault("volumes", [])
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            claim_name = claim["metadata"]["name"]
            volumes[:] = [v for v in volumes if v.get("name") != claim_name]
            volumes.append({"name": claim_name, "persistentVolumeClaim": {"claimName": f'{claim_name}-{sts["metadata"]["name"]}-{n}'}})
        if not volumes:
            del pod_spec["volumes"]
        containers = pod_spec.get("containers") or []
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels, "annotations": metadata.get("annotations") or {},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts["metadata"]["name"],
                                              "uid": sts["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": pod_spec,
            "status": {"phase": "Running",
                       "conditions": [{"type": "PodScheduled", "status": "True"},
                                      {"type": "Initialized", "status": "True"},
                                      {"type": "ContainersReady", "status": "False"},
                                      {"type": "Ready", "status": "False"}],
                       "containerStatuses": [{"name": c.get("name"), "image": c.get("image"), "ready": False, "started": True,
                                              "restartCount": 0, "state": {"running": {"startedAt": stores.timestamp()}}}
                                             for c in containers]},
        }

    def ensure_claims(self, sts, n):
        namespace = sts["metadata"]["namespace"]
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            claim_name = f'{claim["metadata"]["name"]}-{sts["metadata"]["name"]}-{n}'
            if (namespace, claim_name) in self.store.objects[self.pvcs.key]:
                continue
            labels = dict((claim.get("metadata") or {}).get("labels") or {})
            labels.update(((sts["spec"].get("selector") or {}).get("matchLabels")) or {})
            metadata = {"name": claim_name, "labels": labels}
            if policy.get("whenDeleted") == "Delete":
                metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts["metadata"]["name"],
                                                "uid": sts["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
            self.store.create(self.pvcs, namespace, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
                                                     "spec": patching.clone(claim.get("spec") or {}),
                                                     "status": {"phase": "Bound"}}, MANAGER)

    def condemn_claims(self, sts, n):
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            claim_name = f'{claim["metadata"]["name"]}-{sts["metadata"]["name"]}-{n}'
            if (sts["metadata"]["namespace"], claim_name) in self.store.objects[self.pvcs.key]:
                self.store.delete(self.pvcs, sts["metadata"]["namespace"], claim_name, {})

    def ensure_revision(self, sts, revision, template):
        namespace = sts["metadata"]["namespace"]
        if (namespace, revision) in self.store.objects[self.revisions.key]:
            return
        number = 1 + sum(1 for key, _, _ in self.store.dependents.get(sts["metadata"]["uid"], ()) if key == self.revisions.key)
        self.store.create(self.revisions, namespace, {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": revision, "labels": dict(((sts["spec"].get("selector") or {}).get("matchLabels")) or {},
                                                          **{"controller.kubernetes.io/hash": revision.rsplit("-", 1)[1]}),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts["metadata"]["name"],
                                              "uid": sts["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "data": {"spec": {"template": patching.clone(template)}}, "revision": number}, MANAGER)

    def write_status(self, sts, pods, revision):
        previous = sts.get("status") or {}
        updated = sum(1 for p in pods.values() if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision)
        current_revision = previous.get("currentRevision") or revision
        if updated == len(pods) and len(pods) == (sts["spec"].get("replicas", 1)):
            current_revision = revision
        current = sum(1 for p in pods.values() if p["metadata"].get("labels", {}).get("controller-revision-hash") == current_revision)
        ready = sum(1 for p in pods.values() if is_ready(p))
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                  "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": current,
                  "updatedReplicas": updated, "currentRevision": current_revision, "updateRevision": revision,
                  "collisionCount": 0}
        if status == previous:
            return

        def mutate(obj):
            obj["status"] = status
            return obj
        self.store.update(self.sts, sts["metadata"]["namespace"], sts["metadata"]["name"], mutate, MANAGER, subresource="status")


def set_ready(store, namespace, name, ready):
    pods = store.resources["/pods"]

    def mutate(pod):
        status = pod.setdefault("status", {})
        value = "True" if ready else "False"
        conditions = [c for c in status.get("conditions") or [] if c.get("type") not in ("Ready", "ContainersReady")]
        conditions += [{"type": "ContainersReady", "status": value, "lastTransitionTime": stores.timestamp()},
                       {"type": "Ready", "status": value, "lastTransitionTime": stores.timestamp()}]
        status["conditions"] = conditions
        status["phase"] = "Running"
        for container in status.get("containerStatuses") or []:
            container["ready"] = ready
        return pod
    return store.update(pods, namespace, name, mutate, "kubelet", subresource="status")
