"""A fake Kubernetes API server for tests: the real HTTP wire protocol over HTTPS.

Run: python3 scripts/fakeapi --dir DIR [--crd FILE ...] [--port N] [--parent-pid PID]
It writes into DIR a CA, server and admin client certificates (openssl), a bearer token
(`token`), kubeconfigs (`kubeconfig`: client certificate inline; `kubeconfig-files`: the same
as files; `kubeconfig-token`: tokenFile), then `port` once it serves on 127.0.0.1.
Swift tests start it through KubernetesTestSupport.FakeAPIServer; kubectl is a client of it.

What it models
- Authentication: client certificates signed by its CA (user = CN), bearer tokens (the
  token file's, or the set PUT to /fake/tokens); anything else is 401.
- Discovery (/api, /apis, group versions; legacy form, which kubectl falls back to),
  OpenAPI v3 (/openapi/v3 and per group version: PATCH operations taking fieldValidation,
  and each kind's schema), /version, /healthz.
- Resources: namespaces, pods, services, configmaps, secrets, persistentvolumeclaims,
  serviceaccounts, statefulsets, controllerrevisions, poddisruptionbudgets, leases,
  events.k8s.io events (and their read-only core/v1 view, listed by kubectl describe),
  customresourcedefinitions, and the custom resources of every CRD
  given with --crd or created through the API.
- One resourceVersion counter; 409 Conflict on a stale metadata.resourceVersion (PUT, patch,
  delete preconditions on uid and resourceVersion); 409 AlreadyExists; 404 NotFound with the
  API server's Status messages; a write that changes nothing changes no resourceVersion.
- metadata.generation bumped on changes outside metadata and status only (kinds that track
  it); the status subresource (the main resource ignores status, /status ignores the rest).
- CRD structural schema: pruning of unknown fields (fieldValidation=Strict: 400 instead),
  defaults, OpenAPI keyword validation and x-kubernetes-validations CEL rules (cel-python,
  transition rules with oldSelf on updates), 422 Invalid with causes.
- Lists: label selectors (=, ==, !=, in, notin, exists, !), field selectors on
  metadata.name/metadata.namespace (and a few others), limit/continue pagination with
  snapshot tokens (410 Expired after /fake/compact).
- Watches: chunked JSON lines, resourceVersion resume from the kept history (--history
  events), 410 Expired ERROR event for older versions, ADDED/DELETED when an object moves in
  or out of the selector, BOOKMARK events (allowWatchBookmarks) every --bookmark-interval
  seconds, timeoutSeconds, sendInitialEvents (streaming lists, as kubectl's client-go uses:
  ADDED for every object, then a BOOKMARK annotated k8s.io/initial-events-end).
- Patches: JSON merge patch, JSON patch (with test), a subset of strategic merge patch
  (lists of named items merge by name), server-side apply with managedFields: Apply managers
  own exactly what they applied (fields they stop applying are removed unless another
  manager owns them), Update managers take what they change; 409 Conflict on a field another
  manager owns with a different value, unless force=true.
- Deletion: finalizers hold an object (deletionTimestamp set; removed when the last
  finalizer goes; no new finalizers once deleting); propagation Background, Foreground
  (foregroundDeletion finalizer until dependents are gone) and Orphan (owner references
  removed); owner-reference garbage collection (a dependent goes when all its owners are
  gone); deleting a namespace deletes its contents; deleting a CRD deletes its resources.
- kubectl output: Table responses (Accept as=Table) with a CRD's additionalPrinterColumns
  (dates as ages), pods' Ready/Status/Restarts; the /scale subresource.
- StatefulSet simulation (simulation.py): pods <name>-<ordinal> per spec.replicas with
  controller-revision-hash = <name>-<hash of spec.template>, ControllerRevisions, PVCs from
  volumeClaimTemplates (persistentVolumeClaimRetentionPolicy whenDeleted/whenScaled),
  Parallel and OrderedReady creation, highest ordinal first scale-down, OnDelete (a deleted
  pod returns at the update revision), status counts and revisions. Pods start Running and
  not ready; tests set readiness. Pods are deleted at once, unless POST /fake/pods/graceful
  {enabled: true}: then a DELETE marks a pod (deletionTimestamp, deletionGracePeriodSeconds)
  and only a DELETE with gracePeriodSeconds=0 removes it, as a kubelet does once the
  containers stopped (KubernetesTestSupport.KubeletBridge plays that kubelet).

Control interface (authenticated like any request; KubernetesTestSupport.FakeAPIServer wraps it)
- POST /fake/faults {verb, resource, name?, namespace?, subresource?, code?, reason?, message?,
  body?, delaySeconds?, times?}: matching requests (verb get/list/watch/create/update/patch/
  apply/delete or "*"; "patch" also matches apply; resource = plural or "*") wait
  delaySeconds, then fail with code and a Status (a watch with 410 gets an ERROR event), or
  answer the raw body; `times` (default: until cleared) counts down. GET/DELETE /fake/faults.
- POST /fake/watches/drop: every open watch connection closes without its final chunk.
- POST /fake/compact: history forgotten; older watches and continue tokens get 410.
- POST /fake/bookmarks: a BOOKMARK now on every watch that allows them.
- PUT /fake/tokens {tokens: [...]}: the valid bearer tokens.
- POST /fake/pods/NS/NAME/ready {ready}: Ready/ContainersReady conditions, containerStatuses.
- POST /fake/pods/NS/NAME/status {...}: merge into the pod's status (podIP, phase, ...).
- POST /fake/pods/graceful {enabled}: graceful pod deletion on or off (see above).
- GET /fake/requests: {byVerb, total, writes, connections}; DELETE resets them.

What it does not model
- Admission webhooks, admission plugins (LimitRanger, ResourceQuota, PodSecurity), RBAC
  evaluation (every authenticated user may do everything), impersonation, audit.
- HTTP/2, CBOR, and protobuf request bodies beyond metadata-only kinds (`kubectl create
  namespace` works; other typed-client creates in protobuf get 415), aggregated discovery (kubectl uses the legacy form),
  OpenAPI v2, server-side Table printing of watches, `kubectl get -w`.
- Schemas and defaults of built-in kinds (a StatefulSet is stored as sent; no validation of
  pod templates), immutable built-in fields, strategic merge patch directives beyond
  `$patch: delete`, server-side apply of associative lists (every list is atomic: owned and
  replaced whole), managedFields for fields set by defaults.
- Graceful pod termination (pods go at once), kubelet, scheduling, nodes, real readiness,
  container restarts, RollingUpdate beyond "replace the highest outdated pod when all are
  ready", minReadySeconds, PVC binding (claims are Bound at once), Services' cluster IPs and
  endpoints, PDB status, lease expiry, event aggregation, deletecollection, namespaces'
  Terminating phase, resourceVersionMatch (a list is always the latest state).
"""
import argparse
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import certs  # noqa: E402
import server as servers  # noqa: E402
import store as stores  # noqa: E402

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None


def load_crds(paths, store):
    import json
    for path in paths:
        with open(path) as f:
            text = f.read()
        documents = list(yaml.safe_load_all(text)) if yaml else [json.loads(text)]
        for document in documents:
            if document and document.get("kind") == "CustomResourceDefinition":
                store.create(store.resources["apiextensions.k8s.io/customresourcedefinitions"], "", document, "fakeapi")


def watch_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description="Fake Kubernetes API server for tests (see the module docstring).")
    parser.add_argument("--dir", required=True, help="directory for certificates, kubeconfigs and the port file")
    parser.add_argument("--crd", action="append", default=[], help="CRD file (YAML or JSON) to install at start")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between BOOKMARK events")
    parser.add_argument("--history", type=int, default=10000, help="watch events kept for resuming")
    arguments = parser.parse_args()

    os.makedirs(arguments.dir, exist_ok=True)
    certs.make(arguments.dir)
    store = stores.Store(history_limit=arguments.history)
    store.hooks.append(store.gc_hook)
    load_crds(arguments.crd, store)
    state = servers.State(store, [certs.read_token(arguments.dir)], arguments.bookmark_interval)
    server = servers.Server(("127.0.0.1", arguments.port), servers.make_context(arguments.dir), state)
    port = server.server_address[1]
    state.port = port
    certs.write_kubeconfigs(arguments.dir, port)
    with open(os.path.join(arguments.dir, "port.tmp"), "w") as f:
        f.write(f"{port}\n")
    os.replace(os.path.join(arguments.dir, "port.tmp"), os.path.join(arguments.dir, "port"))
    if arguments.parent_pid:
        threading.Thread(target=watch_parent, args=(arguments.parent_pid,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"fake API server on https://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
