"""The object store: resource types, objects, one global resourceVersion counter, the event
history watches resume from, watchers, and the write semantics (conflicts, generation,
status subresource, finalizers, owner-reference garbage collection)."""
import collections
import json
import queue
import random
import string
import threading
import time
import uuid

import patch as patching
import schema as schemas


class APIError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            status["details"] = self.details
        return status


class Resource:
    def __init__(self, group, version, plural, kind, namespaced=True, short_names=(), status=True,
                 generation=False, categories=(), crd=None, scale=None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.has_status = status
        self.tracks_generation = generation
        self.categories = list(categories)
        self.crd = crd  # the CRD version's schema and printer columns, for custom resources
        self.scale = scale
        self.singular = kind.lower()

    @property
    def key(self):
        return f"{self.group}/{self.plural}"

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def schema(self):
        return (self.crd or {}).get("schema")


BUILTIN = [
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, short_names=["ns"]),
    Resource("", "v1", "pods", "Pod", short_names=["po"], categories=["all"]),
    Resource("", "v1", "services", "Service", short_names=["svc"], categories=["all"]),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=["cm"], status=False),
    Resource("", "v1", "secrets", "Secret", status=False),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=["pvc"]),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", short_names=["sa"], status=False),
    Resource("apps", "v1", "statefulsets", "StatefulSet", short_names=["sts"], generation=True, categories=["all"]),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision", status=False),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=["pdb"], generation=True),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", status=False),
    Resource("events.k8s.io", "v1", "events", "Event", short_names=["ev"], status=False),
    # The core v1 view of the same events (what kubectl describe reads); see server.core_event.
    Resource("", "v1", "events", "Event", short_names=["ev"], status=False),
    Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
             namespaced=False, short_names=["crd", "crds"], generation=True),
]


def timestamp(seconds=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds if seconds is not None else time.time()))


def matches_labels(labels, selector):
    """selector: parsed requirements [(key, op, values)]."""
    labels = labels or {}
    for key, op, values in selector:
        if op == "=" and labels.get(key) != values[0]:
            return False
        if op == "!=" and labels.get(key) == values[0]:
            return False
        if op == "in" and labels.get(key) not in values:
            return False
        if op == "notin" and key in labels and labels[key] in values:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
    return True


def parse_label_selector(text):
    """"a=b,c!=d,e in (x,y),f notin (z),g,!h" -> requirements; ValueError on bad syntax."""
    requirements = []
    text = (text or "").strip()
    parts, depth, current = [], 0, ""
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += c
    if current.strip():
        parts.append(current)
    for part in parts:
        part = part.strip()
        if not part:
            raise ValueError("empty requirement")
        if " notin " in part or " in " in part:
            op = "notin" if " notin " in part else "in"
            key, rest = part.split(f" {op} ", 1)
            rest = rest.strip()
            if not (rest.startswith("(") and rest.endswith(")")):
                raise ValueError(f"{part!r}: values must be in parentheses")
            requirements.append((key.strip(), op, [v.strip() for v in rest[1:-1].split(",") if v.strip()]))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append((key.strip(), "!=", [value.strip()]))
        elif "==" in part or "=" in part:
            key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            requirements.append((key.strip(), "=", [value.strip()]))
        elif part.startswith("!"):
            requirements.append((part[1:].strip(), "!", []))
        else:
            if not all(c.isalnum() or c in "-_./" for c in part):
                raise ValueError(f"invalid label key {part!r}")
            requirements.append((part, "exists", []))
    return requirements


def parse_field_selector(text):
    requirements = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append((key.strip(), "!=", value.strip()))
        elif "=" in part:
            key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            requirements.append((key.strip(), "=", value.strip()))
        else:
            raise ValueError(f"invalid field selector {part!r}")
    for key, _, _ in requirements:
        if key not in ("metadata.name", "metadata.namespace", "status.phase", "spec.nodeName", "reason", "type",
                       "reportingController", "reportingComponent", "source") \
                and not key.startswith(("involvedObject.", "regarding.")):
            raise ValueError(f'field label not supported: {key}')
    return requirements


def field_value(obj, key):
    current = obj
    for part in key.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    return current if current is not None else ""


def matches_fields(obj, selector):
    for key, op, value in selector:
        actual = field_value(obj, key)
        if (op == "=") != (actual == value):
            return False
    return True


class Watcher:
    """One watch connection's queue."""

    def __init__(self, resource, namespace, labels, fields, bookmarks):
        self.resource, self.namespace = resource, namespace
        self.labels, self.fields = labels, fields
        self.bookmarks = bookmarks
        self.queue = queue.SimpleQueue()

    def matches(self, obj):
        if obj is None:
            return False
        metadata = obj.get("metadata", {})
        if self.namespace and metadata.get("namespace") != self.namespace:
            return False
        return matches_labels(metadata.get("labels"), self.labels) and matches_fields(obj, self.fields)

    def offer(self, event_type, old, new):
        """Translates a change into what this watcher sees (selector moves become ADDED/DELETED)."""
        was, now = self.matches(old), self.matches(new)
        if event_type == "DELETED":
            if was or now:
                self.queue.put(("DELETED", new))
        elif was and now:
            self.queue.put(("MODIFIED", new))
        elif now:
            self.queue.put(("ADDED", new))
        elif was:
            self.queue.put(("DELETED", new))


class Store:
    def __init__(self, history_limit=10000):
        self.lock = threading.RLock()
        self.rv = 1
        self.resources = {}  # key -> Resource
        self.objects = {}  # key -> {(namespace, name): obj}
        self.dependents = collections.defaultdict(set)  # owner uid -> {(key, ns, name)}
        self.by_uid = {}  # uid -> (key, ns, name)
        self.history = collections.deque()  # (rv, key, type, old, new)
        self.history_limit = history_limit
        self.oldest_rv = 1  # a watch from an rv below this gets 410
        self.watchers = collections.defaultdict(set)
        self.hooks = []  # called (resource, type, old, new) after every change, lock held
        self.gc_queue = queue.SimpleQueue()
        self.continue_epoch = 0
        # Off: a deleted pod goes at once. On (POST /fake/pods/graceful): as on a node, a
        # DELETE only marks the pod (deletionTimestamp) and a kubelet stand-in removes it with
        # gracePeriodSeconds=0 once its containers stopped.
        self.graceful_pods = False
        for resource in BUILTIN:
            self.register(resource)
        for name in ("default", "kube-system", "kube-public"):
            self._insert(self.resources["/namespaces"], {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]},
                                                        "status": {"phase": "Active"}})
        threading.Thread(target=self._collect_garbage, name="gc", daemon=True).start()

    # ---- resource types -------------------------------------------------------------------

    def register(self, resource):
        with self.lock:
            self.resources[resource.key] = resource
            self.objects.setdefault(resource.key, {})

    def register_crd(self, crd):
        spec = crd["spec"]
        names = spec["names"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            subresources = version.get("subresources") or {}
            resource = Resource(spec["group"], version["name"], names["plural"], names["kind"],
                                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                                short_names=names.get("shortNames", []), status="status" in subresources,
                                generation=True, categories=names.get("categories", []),
                                crd={"schema": (version.get("schema") or {}).get("openAPIV3Schema") or {},
                                     "columns": version.get("additionalPrinterColumns"),
                                     "name": crd["metadata"]["name"]},
                                scale=subresources.get("scale"))
            resource.singular = names.get("singular") or names["kind"].lower()
            # One storage per group/plural: the first served version is the one kept.
            if resource.key not in self.resources or self.resources[resource.key].crd:
                self.register(resource)

    def find(self, group, version, plural):
        resource = self.resources.get(f"{group}/{plural}")
        if resource is None or resource.version != version:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        return resource

    # ---- reads ----------------------------------------------------------------------------

    def get(self, resource, namespace, name):
        with self.lock:
            obj = self.objects[resource.key].get((namespace or "", name))
            if obj is None:
                raise not_found(resource, name)
            return obj

    def list(self, resource, namespace, labels, fields, limit=None, continue_token=None):
        """A consistent page: items in (namespace, name) order after the continue position."""
        with self.lock:
            start_after, snapshot_rv = None, self.rv
            if continue_token:
                try:
                    decoded = json.loads(bytes.fromhex(continue_token))
                    epoch, start_after, snapshot_rv = decoded["e"], tuple(decoded["k"]), decoded["rv"]
                except (ValueError, KeyError, TypeError):
                    raise APIError(400, "BadRequest", "continue key is not valid")
                if epoch != self.continue_epoch or snapshot_rv < self.oldest_rv:
                    raise APIError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                                   "list result. You can start a new list without the continue parameter.")
            keys = sorted(self.objects[resource.key])
            items, next_key = [], None
            for key in keys:
                if start_after is not None and key <= start_after:
                    continue
                obj = self.objects[resource.key][key]
                if namespace and key[0] != namespace:
                    continue
                if not matches_labels(obj["metadata"].get("labels"), labels) or not matches_fields(obj, fields):
                    continue
                if limit and len(items) >= limit:
                    next_key = items[-1]["metadata"]
                    break
                items.append(obj)
            token, remaining = None, None
            if next_key is not None:
                last = (next_key.get("namespace", ""), next_key["name"])
                token = json.dumps({"e": self.continue_epoch, "k": list(last), "rv": snapshot_rv}).encode().hex()
            return items, str(snapshot_rv), token, remaining

    # ---- watches --------------------------------------------------------------------------

    def watch(self, resource, namespace, labels, fields, rv, bookmarks, initial_events=False):
        """Registers a watcher and queues what it must see first: the current objects as ADDED
        (no rv, rv "0", or sendInitialEvents, which ends them with a BOOKMARK annotated
        k8s.io/initial-events-end), or the history after rv (an ERROR 410 when it is too old)."""
        watcher = Watcher(resource, namespace, labels, fields, bookmarks)
        with self.lock:
            if rv in (None, "", "0") or initial_events:
                for obj in sorted(self.objects[resource.key].values(), key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])):
                    if watcher.matches(obj):
                        watcher.queue.put(("ADDED", obj))
                if initial_events:
                    watcher.queue.put(("INITIAL_END", str(self.rv)))
            else:
                try:
                    since = int(rv)
                except ValueError:
                    raise APIError(400, "BadRequest", f"resourceVersion {rv!r} is not valid")
                if since < self.oldest_rv - 1:
                    watcher.queue.put(("ERROR", APIError(410, "Expired", f"too old resource version: {since} ({self.oldest_rv - 1})").status()))
                    return watcher
                for event_rv, key, event_type, old, new in self.history:
                    if event_rv > since and key == resource.key:
                        watcher.offer(event_type, old, new)
            self.watchers[resource.key].add(watcher)
        return watcher

    def unwatch(self, watcher):
        with self.lock:
            self.watchers[watcher.resource.key].discard(watcher)

    def all_watchers(self):
        with self.lock:
            return [w for ws in self.watchers.values() for w in ws]

    def compact(self):
        with self.lock:
            self.history.clear()
            self.rv += 1
            self.oldest_rv = self.rv
            self.continue_epoch += 1

    # ---- writes ---------------------------------------------------------------------------

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _record(self, resource, event_type, old, new):
        rv = int(new["metadata"]["resourceVersion"])
        self.history.append((rv, resource.key, event_type, old, new))
        while len(self.history) > self.history_limit:
            dropped = self.history.popleft()
            self.oldest_rv = dropped[0] + 1
        for watcher in list(self.watchers[resource.key]):
            watcher.offer(event_type, old, new)
        for hook in self.hooks:
            hook(resource, event_type, old, new)

    def _index_owners(self, resource, old, new):
        if old is not None:
            self.by_uid.pop(old["metadata"]["uid"], None)
        if new is not None:
            self.by_uid[new["metadata"]["uid"]] = (resource.key, new["metadata"].get("namespace", ""), new["metadata"]["name"])
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            metadata = obj["metadata"]
            entry = (resource.key, metadata.get("namespace", ""), metadata["name"])
            for reference in metadata.get("ownerReferences") or []:
                uid = reference.get("uid")
                if add:
                    self.dependents[uid].add(entry)
                else:
                    self.dependents[uid].discard(entry)

    def _insert(self, resource, obj):
        metadata = obj.setdefault("metadata", {})
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = timestamp()
        metadata["resourceVersion"] = str(self._next_rv())
        if resource.tracks_generation:
            metadata["generation"] = 1
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        self.objects[resource.key][(metadata.get("namespace", ""), metadata["name"])] = obj
        self._index_owners(resource, None, obj)
        self._record(resource, "ADDED", None, obj)
        return obj

    def create(self, resource, namespace, obj, manager, dry_run=False, strict=False, managed=False):
        """managed: obj already carries managedFields (server-side apply made it)."""
        with self.lock:
            metadata = obj.setdefault("metadata", {})
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            name = metadata.get("name")
            if not name:
                raise APIError(422, "Invalid", f"{resource.kind}.{resource.group} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                               {"kind": resource.plural, "group": resource.group,
                                "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]})
            if resource.namespaced:
                if metadata.get("namespace") not in (None, "", namespace):
                    raise APIError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
                metadata["namespace"] = namespace
                if ("", namespace) not in self.objects["/namespaces"]:
                    raise APIError(404, "NotFound", f'namespaces "{namespace}" not found',
                                   {"name": namespace, "kind": "namespaces"})
                namespace_obj = self.objects["/namespaces"][("", namespace)]
                if namespace_obj["metadata"].get("deletionTimestamp"):
                    raise APIError(403, "Forbidden", f'{resource.plural} "{name}" is forbidden: unable to create new content in namespace {namespace} because it is being terminated')
            else:
                metadata.pop("namespace", None)
            key = (metadata.get("namespace", ""), name)
            if key in self.objects[resource.key]:
                raise APIError(409, "AlreadyExists", f'{resource.plural}{"." + resource.group if resource.group else ""} "{name}" already exists',
                               {"name": name, "group": resource.group, "kind": resource.plural})
            for field in ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"):
                metadata.pop(field, None)
            if not managed:
                metadata.pop("managedFields", None)
            if resource.has_status and resource.crd is not None:
                obj.pop("status", None)
            self._admit(resource, obj, None, strict)
            if not managed:
                patching.record_update(None, obj, manager, "", resource.api_version, _main_scope(resource))
            if dry_run:
                return obj
            if resource.key == "apiextensions.k8s.io/customresourcedefinitions":
                self.register_crd(obj)
                obj["status"] = {"conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                                 "lastTransitionTime": timestamp()},
                                                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                                 "lastTransitionTime": timestamp()}],
                                 "acceptedNames": obj["spec"]["names"], "storedVersions": [v["name"] for v in obj["spec"]["versions"] if v.get("storage")]}
            return self._insert(resource, obj)

    def _admit(self, resource, obj, old, strict):
        """Schema pruning, defaulting and validation for custom resources."""
        if resource.crd is None:
            return
        schema = resource.schema
        pruned = []
        schemas.prune(obj, schema, "", pruned)
        if pruned and strict:
            raise APIError(400, "BadRequest", "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in pruned))
        schemas.default(obj, schema)
        causes = []
        schemas.validate(obj, schema, "", causes, old, old is not None)
        if causes:
            name = obj.get("metadata", {}).get("name", "")
            raise APIError(422, "Invalid", f'{resource.kind}.{resource.group} "{name}" is invalid: ' + ", ".join(f"{f}: {m}" for f, m in causes),
                           {"name": name, "group": resource.group, "kind": resource.kind,
                            "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]})

    def update(self, resource, namespace, name, mutate, manager, subresource="", dry_run=False, strict=False,
               expected_rv=None, operation="update", mutate_copies=False):
        """Read-modify-write under the lock. mutate(current copy) -> desired object. Applies the
        subresource rules, rv precondition, generation, and removal once the last finalizer goes.

        Stored objects are never changed in place (every write stores a new one), so a new
        version may share parts with the old one. A status write of a built-in kind shares
        everything but metadata and status: mutate then gets a copy whose other top-level
        values are the stored ones, to be replaced, never changed in place (what it does to
        them is dropped anyway). Custom resources are always copied whole: admission
        (schema defaults, pruning) rewrites the object in place. mutate_copies: mutate leaves
        its argument alone and returns a new object (patches, apply), so it gets the stored
        object itself."""
        with self.lock:
            current = self.get(resource, namespace, name)
            share = resource.crd is None
            if mutate_copies:
                desired = mutate(current)
            elif subresource == "status" and share:
                desired = mutate({key: _clone_metadata(value) if key == "metadata" else patching.clone(value) if key == "status" else value
                                  for key, value in current.items()})
            else:
                desired = mutate(patching.clone(current))
            metadata = desired.setdefault("metadata", {})
            sent_rv = metadata.get("resourceVersion")
            if expected_rv is None and sent_rv not in (None, ""):
                expected_rv = sent_rv
            if expected_rv is not None and expected_rv != current["metadata"]["resourceVersion"]:
                raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {resource.plural}{"." + resource.group if resource.group else ""} "{name}": '
                                                "the object has been modified; please apply your changes to the latest version and try again",
                               {"name": name, "group": resource.group, "kind": resource.plural})
            if metadata.get("name") not in (None, name):
                raise APIError(400, "BadRequest", f'the name of the object ({metadata.get("name")}) does not match the name on the URL ({name})')
            if subresource == "status":
                # Only status changes through /status.
                if share:
                    result = dict(current)
                    result["metadata"] = _clone_metadata(current["metadata"])
                else:
                    result = patching.clone(current)
                if "status" in desired:
                    result["status"] = desired["status"]
                else:
                    result.pop("status", None)
                desired = result
            else:
                if resource.has_status:
                    if "status" in current:
                        desired["status"] = current["status"] if share else patching.clone(current["status"])
                    else:
                        desired.pop("status", None)
                # Fields the server owns.
                for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                    if field in current["metadata"]:
                        metadata[field] = current["metadata"][field]
                    else:
                        metadata.pop(field, None)
                metadata["namespace"] = current["metadata"].get("namespace")
                if metadata["namespace"] is None:
                    metadata.pop("namespace")
                metadata["name"] = name
                if current["metadata"].get("deletionTimestamp"):
                    added = set(metadata.get("finalizers") or []) - set(current["metadata"].get("finalizers") or [])
                    if added:
                        raise APIError(422, "Invalid", f'{resource.kind} "{name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted')
            desired["apiVersion"], desired["kind"] = resource.api_version, resource.kind
            self._admit(resource, desired, current, strict)
            if operation == "update":
                scope = _status_scope if subresource == "status" else _main_scope(resource)
                # record_update writes a new list (entries are only read).
                desired["metadata"]["managedFields"] = current["metadata"].get("managedFields")
                patching.record_update(current, desired, manager, subresource, resource.api_version, scope)
            desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if _same(current, desired):
                return current  # a no-op write changes nothing, not even the resourceVersion
            if resource.tracks_generation and _spec_changed(current, desired):
                desired["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            if dry_run:
                return desired
            desired["metadata"]["resourceVersion"] = str(self._next_rv())
            key = (current["metadata"].get("namespace", ""), name)
            if desired["metadata"].get("deletionTimestamp") and not desired["metadata"].get("finalizers"):
                del self.objects[resource.key][key]
                self._index_owners(resource, current, None)
                self._record(resource, "DELETED", current, desired)
                self.gc_queue.put(desired["metadata"]["uid"])
                return desired
            self.objects[resource.key][key] = desired
            self._index_owners(resource, current, desired)
            self._record(resource, "MODIFIED", current, desired)
            return desired

    def delete(self, resource, namespace, name, options, dry_run=False):
        with self.lock:
            current = self.get(resource, namespace, name)
            preconditions = (options or {}).get("preconditions") or {}
            if preconditions.get("uid") and preconditions["uid"] != current["metadata"]["uid"]:
                raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {resource.plural} "{name}": Precondition failed: '
                                                f'UID in precondition: {preconditions["uid"]}, UID in object meta: {current["metadata"]["uid"]}',
                               {"name": name, "group": resource.group, "kind": resource.plural})
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {resource.plural} "{name}": Precondition failed: '
                                                f'ResourceVersion in precondition: {preconditions["resourceVersion"]}, '
                                                f'ResourceVersion in object meta: {current["metadata"]["resourceVersion"]}',
                               {"name": name, "group": resource.group, "kind": resource.plural})
            policy = (options or {}).get("propagationPolicy")
            if policy is None and (options or {}).get("orphanDependents") is True:
                policy = "Orphan"
            if policy not in (None, "Background", "Foreground", "Orphan"):
                raise APIError(422, "Invalid", f"propagationPolicy: Unsupported value: {policy!r}")
            if dry_run:
                return current, False
            if resource.key == "/pods" and self.graceful_pods and (options or {}).get("gracePeriodSeconds") != 0:
                if current["metadata"].get("deletionTimestamp"):
                    return current, True
                desired = patching.clone(current)
                grace = (options or {}).get("gracePeriodSeconds")
                if grace is None:
                    grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                desired["metadata"]["deletionTimestamp"] = timestamp()
                desired["metadata"]["deletionGracePeriodSeconds"] = grace
                desired["metadata"]["resourceVersion"] = str(self._next_rv())
                self.objects[resource.key][(namespace or "", name)] = desired
                self._record(resource, "MODIFIED", current, desired)
                return desired, True
            finalizers = list(current["metadata"].get("finalizers") or [])
            if policy == "Foreground" and "foregroundDeletion" not in finalizers and self.dependents.get(current["metadata"]["uid"]):
                finalizers.append("foregroundDeletion")
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            if resource.key == "/namespaces":
                finalizers = [f for f in finalizers if f != "kubernetes"]
                self._delete_namespace_contents(name)
            if finalizers:
                if current["metadata"].get("deletionTimestamp") and finalizers == current["metadata"].get("finalizers"):
                    return current, True
                desired = patching.clone(current)
                desired["metadata"]["finalizers"] = finalizers
                desired["metadata"].setdefault("deletionTimestamp", timestamp())
                desired["metadata"].setdefault("deletionGracePeriodSeconds", 0)
                desired["metadata"]["resourceVersion"] = str(self._next_rv())
                self.objects[resource.key][(namespace or "", name)] = desired
                self._record(resource, "MODIFIED", current, desired)
                if "foregroundDeletion" in finalizers or "orphan" in finalizers:
                    self.gc_queue.put(desired["metadata"]["uid"])
                return desired, True
            desired = patching.clone(current)
            desired["metadata"]["resourceVersion"] = str(self._next_rv())
            del self.objects[resource.key][(namespace or "", name)]
            self._index_owners(resource, current, None)
            self._record(resource, "DELETED", current, desired)
            if resource.key == "apiextensions.k8s.io/customresourcedefinitions":
                spec = current["spec"]
                key = f'{spec["group"]}/{spec["names"]["plural"]}'
                for obj in list(self.objects.get(key, {}).values()):
                    self.delete(self.resources[key], obj["metadata"].get("namespace"), obj["metadata"]["name"], {})
                self.resources.pop(key, None)
            self.gc_queue.put(current["metadata"]["uid"])
            return desired, False

    def _delete_namespace_contents(self, namespace):
        for key, objects in self.objects.items():
            resource = self.resources.get(key)
            if resource is None or not resource.namespaced:
                continue
            for (ns, name), obj in list(objects.items()):
                if ns == namespace:
                    stripped = patching.clone(obj)
                    if stripped["metadata"].get("finalizers"):
                        stripped["metadata"]["finalizers"] = []
                        stripped["metadata"]["resourceVersion"] = str(self._next_rv())
                        objects[(ns, name)] = stripped
                    self.delete(resource, ns, name, {})

    # ---- garbage collection ---------------------------------------------------------------

    def _collect_garbage(self):
        while True:
            uid = self.gc_queue.get()
            try:
                with self.lock:
                    self._collect(uid)
            except Exception as error:  # keep collecting; a bug here must not stop the fake
                print(f"gc: {error!r}", flush=True)

    def _owner(self, uid):
        entry = self.by_uid.get(uid)
        if entry is None:
            return None, None
        key, ns, name = entry
        obj = self.objects.get(key, {}).get((ns, name))
        return (self.resources.get(key), obj) if obj is not None else (None, None)

    def _collect(self, uid):
        owner_resource, owner = self._owner(uid)
        dependents = sorted(self.dependents.get(uid, ()))
        if owner is not None and owner["metadata"].get("deletionTimestamp"):
            finalizers = owner["metadata"].get("finalizers") or []
            if "orphan" in finalizers:
                for key, ns, name in dependents:
                    self.update(self.resources[key], ns, name, lambda o: _drop_owner(o, uid), "garbage-collector")
                self._remove_finalizer(owner_resource, owner, "orphan")
                return
            if "foregroundDeletion" in finalizers:
                for key, ns, name in dependents:
                    resource = self.resources[key]
                    if (ns, name) in self.objects[key]:
                        self.delete(resource, ns, name, {"propagationPolicy": "Foreground"})
                if not self.dependents.get(uid):
                    self._remove_finalizer(owner_resource, owner, "foregroundDeletion")
                return
            return
        if owner is not None:
            return
        for key, ns, name in dependents:
            resource = self.resources.get(key)
            obj = self.objects.get(key, {}).get((ns, name))
            if resource is None or obj is None:
                continue
            references = obj["metadata"].get("ownerReferences") or []
            alive = [r for r in references if r.get("uid") != uid and self._owner(r.get("uid"))[1] is not None]
            if alive:
                self.update(resource, ns, name, lambda o: _drop_owner(o, uid), "garbage-collector")
            elif not obj["metadata"].get("deletionTimestamp"):
                self.delete(resource, ns, name, {"propagationPolicy": "Background"})
        # A dependent deleted in the foreground lets its waiting owner finish.
        for reference_owner in list(self.dependents):
            if not self.dependents[reference_owner]:
                del self.dependents[reference_owner]

    def _remove_finalizer(self, resource, owner, finalizer):
        self.update(resource, owner["metadata"].get("namespace"), owner["metadata"]["name"],
                    lambda o: _without_finalizer(o, finalizer), "garbage-collector")

    def gc_hook(self, resource, event_type, old, new):
        """A dependent's deletion may let a foreground owner finish."""
        if event_type == "DELETED":
            for reference in (old or new)["metadata"].get("ownerReferences") or []:
                self.gc_queue.put(reference.get("uid"))


def _drop_owner(obj, uid):
    obj["metadata"]["ownerReferences"] = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if not obj["metadata"]["ownerReferences"]:
        del obj["metadata"]["ownerReferences"]
    return obj


def _without_finalizer(obj, finalizer):
    obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
    return obj


def _main_scope(resource):
    if resource.has_status:
        return lambda path: path[0] != "status"
    return lambda path: True


def _status_scope(path):
    return path[0] == "status"


def _clone_metadata(metadata):
    """A copy of metadata sharing managedFields: every write replaces that list whole (see
    patch.write_managers) and never changes its entries, and it is the largest part."""
    copied = patching.clone({key: value for key, value in metadata.items() if key != "managedFields"})
    if "managedFields" in metadata:
        copied["managedFields"] = metadata["managedFields"]
    return copied


def _differ(old, new, keys):
    """Whether the top-level values under keys differ (as JSON: 1 and 1.0, or true and 1, do);
    a value shared by both versions is the same without looking."""
    for key in keys:
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if a is not b and (a is _ABSENT or b is _ABSENT or patching.canonical(a) != patching.canonical(b)):
            return True
    return False


_ABSENT = object()


def _spec_changed(old, new):
    return _differ(old, new, (old.keys() | new.keys()) - {"metadata", "status"})


def _same(old, new):
    def metadata(o):
        m = dict(o.get("metadata") or {})
        m.pop("managedFields", None)
        return {"metadata": m}
    return not _differ(metadata(old), metadata(new), ("metadata",)) and \
        not _differ(old, new, (old.keys() | new.keys()) - {"metadata"})


def not_found(resource, name):
    plural = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return APIError(404, "NotFound", f'{plural} "{name}" not found', {"name": name, "group": resource.group, "kind": resource.plural})
