"""HTTP(S) front end: authentication, routing, discovery, OpenAPI v3, Table output, watches
as chunked streams, fault injection and the /fake/ control endpoints."""
import hashlib
import http.server
import json
import socket
import ssl
import threading
import time
import urllib.parse

import patch as patching
import protobuf
import schema as schemas
import simulation
import store as stores

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with the test venv
    yaml = None

WRITE_VERBS = {"create", "update", "patch", "apply", "delete"}


class State:
    """Everything the handlers share."""

    def __init__(self, store, tokens, bookmark_interval, port=0):
        self.store = store
        self.tokens = set(tokens)
        self.bookmark_interval = bookmark_interval
        self.faults = []
        self.lock = threading.Lock()
        self.counts = {}
        self.connections = 0
        self.port = port
        self.controller = simulation.StatefulSetController(store)

    def take_fault(self, verb, resource, namespace, name, subresource):
        with self.lock:
            for rule in self.faults:
                if rule["verb"] not in ("*", verb) and not (rule["verb"] == "patch" and verb == "apply"):
                    continue
                if rule["resource"] not in ("*", resource):
                    continue
                if rule.get("name") not in (None, name) or rule.get("namespace") not in (None, namespace):
                    continue
                if rule.get("subresource") not in (None, subresource or None):
                    continue
                if rule.get("times") is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self.faults.remove(rule)
                return dict(rule)
        return None

    def count_connection(self):
        with self.lock:
            self.connections += 1

    def count(self, verb):
        with self.lock:
            self.counts[verb] = self.counts.get(verb, 0) + 1


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, context, state):
        super().__init__(address, Handler)
        self.context = context
        self.state = state

    def finish_request(self, request, client_address):
        # The TLS handshake runs on the connection's own thread, never the accepting one.
        request.settimeout(30)
        # Headers and body go out as separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK add 40 ms to every response.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.state.count_connection()
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        connection.settimeout(None)
        self.RequestHandlerClass(connection, client_address, self)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"

    def log_message(self, format, *args):  # quiet: tests read the server log only on failure
        pass

    # ---- plumbing -------------------------------------------------------------------------

    @property
    def state(self):
        return self.server.state

    def send_json(self, code, body, content_type="application/json", headers=()):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_error_status(self, error):
        self.send_json(error.code, error.status())

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        return self.rfile.read(length) if length else b""

    def parse_body(self, data, content_type):
        if not data:
            return None
        if "protobuf" in content_type:
            try:
                return protobuf.decode(data)
            except protobuf.Unsupported as error:
                raise stores.APIError(415, "UnsupportedMediaType", f"the fake API server reads protobuf only for metadata-only kinds: {error}")
        if "cbor" in content_type:
            raise stores.APIError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types "
                                                              f"include: application/json, application/yaml (not {content_type})")
        try:
            if "yaml" in content_type and yaml is not None:
                # JSON is YAML, and most apply bodies are JSON: parse them at C speed.
                if data.lstrip()[:1] in (b"{", b"["):
                    try:
                        return json.loads(data)
                    except ValueError:
                        pass
                return yaml.safe_load(data)
            return json.loads(data)
        except (ValueError, Exception) as error:
            raise stores.APIError(400, "BadRequest", f"the body of the request was in an unknown format: {error}")

    def authenticate(self):
        certificate = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if certificate:
            for field in certificate.get("subject", ()):
                for key, value in field:
                    if key == "commonName":
                        return value
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer "):].strip()
            with self.state.lock:
                if token in self.state.tokens:
                    return "token-user"
        return None

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        path = url.path
        try:
            body = self.read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
            if self.authenticate() is None:
                raise stores.APIError(401, "Unauthorized", "Unauthorized")
            if path.startswith("/fake/"):
                return self.control(method, path, body)
            if path in ("/healthz", "/readyz", "/livez"):
                data = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(data)
                return
            if path == "/version":
                return self.send_json(200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0-fake", "platform": "linux/amd64"})
            if path.startswith("/openapi/"):
                return self.openapi(path)
            if path in ("/api", "/apis") or self.is_group_path(path):
                return self.discovery(path)
            return self.resource_request(method, path, query, body)
        except stores.APIError as error:
            self.send_error_status(error)
        except patching.PatchError as error:
            self.send_error_status(stores.APIError(error.code, error.reason, error.message))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as error:  # a fake bug is a 500 with the reason, never a hang
            import traceback
            traceback.print_exc()
            self.send_error_status(stores.APIError(500, "InternalError", f"fake API server error: {error!r}"))

    # ---- discovery ------------------------------------------------------------------------

    def groups(self):
        groups = {}
        for resource in self.state.store.resources.values():
            groups.setdefault(resource.group, {}).setdefault(resource.version, []).append(resource)
        return groups

    def is_group_path(self, path):
        parts = path.strip("/").split("/")
        if parts == ["api", "v1"]:
            return True
        return len(parts) in (2, 3) and parts[0] == "apis"

    def discovery(self, path):
        groups = self.groups()
        parts = path.strip("/").split("/")
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.state.port}"}]})
        if path == "/apis":
            items = []
            for group in sorted(g for g in groups if g):
                versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in sorted(groups[group])]
                items.append({"name": group, "versions": versions, "preferredVersion": versions[0]})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": items})
        if parts[0] == "api":
            group, version = "", "v1"
        elif len(parts) == 2:
            group = parts[1]
            if group not in groups:
                raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
            versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in sorted(groups[group])]
            return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
                                        "preferredVersion": versions[0]})
        else:
            group, version = parts[1], parts[2]
        resources = groups.get(group, {}).get(version)
        if not resources:
            raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
        entries = []
        for resource in sorted(resources, key=lambda r: r.plural):
            entry = {"name": resource.plural, "singularName": resource.singular, "namespaced": resource.namespaced,
                     "kind": resource.kind, "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}
            if resource.short_names:
                entry["shortNames"] = resource.short_names
            if resource.categories:
                entry["categories"] = resource.categories
            entries.append(entry)
            if resource.has_status:
                entries.append({"name": f"{resource.plural}/status", "singularName": "", "namespaced": resource.namespaced,
                                "kind": resource.kind, "verbs": ["get", "patch", "update"]})
        group_version = f"{group}/{version}" if group else version
        self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries})

    def openapi(self, path):
        groups = self.groups()
        if path.rstrip("/") == "/openapi/v3":
            paths = {}
            for group, versions in groups.items():
                for version in versions:
                    key = f"apis/{group}/{version}" if group else f"api/{version}"
                    document = self.openapi_document(group, version)
                    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16].upper()
                    paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
            return self.send_json(200, {"paths": paths})
        if path.startswith("/openapi/v3/"):
            parts = path[len("/openapi/v3/"):].strip("/").split("/")
            if parts[0] == "api" and len(parts) == 2:
                group, version = "", parts[1]
            elif parts[0] == "apis" and len(parts) == 3:
                group, version = parts[1], parts[2]
            else:
                raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
            if version not in groups.get(group, {}):
                raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
            return self.send_json(200, self.openapi_document(group, version))
        raise stores.APIError(404, "NotFound", "the server could not find the requested resource")

    def openapi_document(self, group, version):
        """Enough OpenAPI v3 for kubectl: PATCH operations that take fieldValidation (so it
        validates on the server) and each kind's schema."""
        paths, schemas_out = {}, {}
        for resource in self.groups().get(group, {}).get(version, []):
            gvk = {"group": group, "version": version, "kind": resource.kind}
            prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
            item = f"{prefix}/namespaces/{{namespace}}/{resource.plural}/{{name}}" if resource.namespaced else f"{prefix}/{resource.plural}/{{name}}"
            parameters = [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                          for name in ("dryRun", "fieldManager", "fieldValidation", "force")]
            operation = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": parameters,
                         "responses": {"200": {"description": "OK"}}}
            paths[item] = {"patch": operation, "get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
                                                       "responses": {"200": {"description": "OK"}}}}
            reverse = ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"
            kind_schema = patching.clone(resource.schema) if resource.schema else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            kind_schema["x-kubernetes-group-version-kind"] = [gvk]
            schemas_out[f"{reverse}.{version}.{resource.kind}"] = kind_schema
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0"}, "paths": paths,
                "components": {"schemas": schemas_out}}

    # ---- resources ------------------------------------------------------------------------

    def parse_resource_path(self, path):
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        resource = self.state.store.find(group, version, plural)
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) >= 3 else None
        if len(rest) > 3 or (subresource and subresource not in ("status", "scale")):
            raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
        if subresource == "status" and not resource.has_status:
            raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None and not resource.namespaced:
            raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
        if name is not None and resource.namespaced and namespace is None:
            raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
        return resource, namespace, name, subresource

    def verb_for(self, method, name, query, content_type):
        if method == "GET":
            if name is None:
                return "watch" if query.get("watch") in ("true", "1") else "list"
            return "get"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "apply" if content_type.startswith("application/apply-patch") else "patch"
        return "delete"

    def resource_request(self, method, path, query, body):
        resource, namespace, name, subresource = self.parse_resource_path(path)
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        verb = self.verb_for(method, name, query, content_type)
        if verb == "create" and name is not None:
            raise stores.APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        self.state.count(verb)
        fault = self.state.take_fault(verb, resource.plural, namespace, name, subresource)
        if fault:
            if fault.get("delaySeconds"):
                time.sleep(fault["delaySeconds"])
            if fault.get("body") is not None:
                # A broken server or proxy: this status and these bytes, whatever they are.
                data = fault["body"].encode()
                if verb == "watch" and fault.get("code", 200) == 200:
                    self.start_stream()
                    self.write_chunk(data)
                    self.write_chunk(b"")
                    return
                self.send_response(fault.get("code") or 200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if fault.get("code"):
                code = fault["code"]
                if verb == "watch" and code == 410:
                    return self.stream_error(stores.APIError(410, "Expired", fault.get("message") or "too old resource version (injected)"))
                raise stores.APIError(code, fault.get("reason") or _reason(code), fault.get("message") or f"injected fault {code}")
        manager = query.get("fieldManager") or (self.headers.get("User-Agent") or "unknown").split("/")[0]
        dry_run = query.get("dryRun") == "All"
        strict = query.get("fieldValidation") == "Strict"
        store = self.state.store
        if subresource == "scale":
            return self.scale(method, resource, namespace, name, body, manager)
        if verb == "get":
            return self.respond_object(store.get(resource, namespace, name), resource)
        if resource.key == "/events":
            return self.core_events(verb, namespace, name, query)
        if verb in ("list", "watch"):
            try:
                labels = stores.parse_label_selector(query.get("labelSelector"))
                fields = stores.parse_field_selector(query.get("fieldSelector"))
            except ValueError as error:
                raise stores.APIError(400, "BadRequest", f"unable to parse requirement: {error}")
            if verb == "watch":
                return self.watch(resource, namespace, labels, fields, query)
            limit = int(query["limit"]) if query.get("limit", "").isdigit() else None
            items, rv, token, _ = store.list(resource, namespace, labels, fields, limit, query.get("continue") or None)
            return self.respond_list(resource, items, rv, token)
        payload = self.parse_body(body, content_type)
        if verb == "create":
            if not isinstance(payload, dict):
                raise stores.APIError(400, "BadRequest", "the body of the request must be an object")
            self.check_kind(resource, payload)
            payload = patching.clone(payload)
            if resource.has_status and resource.key != "/namespaces":
                payload.pop("status", None)
            if resource.key == "/namespaces":
                payload["status"] = {"phase": "Active"}
            obj = store.create(resource, namespace or "", payload, manager, dry_run, strict)
            return self.respond_object(obj, resource, 201)
        if verb == "update":
            if not isinstance(payload, dict):
                raise stores.APIError(400, "BadRequest", "the body of the request must be an object")
            self.check_kind(resource, payload)
            obj = store.update(resource, namespace, name, lambda current: patching.clone(payload), manager,
                               subresource or "", dry_run, strict)
            return self.respond_object(obj, resource)
        if verb == "patch":
            return self.patch(resource, namespace, name, subresource, payload, content_type, manager, dry_run, strict)
        if verb == "apply":
            return self.apply(resource, namespace, name, subresource, payload, query, dry_run, strict)
        if verb == "delete":
            options = payload if isinstance(payload, dict) else {}
            if query.get("propagationPolicy"):
                options["propagationPolicy"] = query["propagationPolicy"]
            obj, pending = store.delete(resource, namespace, name, options, dry_run)
            if pending:
                return self.respond_object(obj, resource)
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                        "details": {"name": name, "group": resource.group, "kind": resource.plural,
                                                    "uid": obj["metadata"]["uid"]}})
        raise stores.APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def core_events(self, verb, namespace, name, query):
        """core/v1 Events, read-only, as a view of the events.k8s.io/v1 store (one storage in a
        real cluster too): what kubectl describe lists."""
        store = self.state.store
        source = store.resources["events.k8s.io/events"]
        core = store.resources["/events"]
        if verb == "get":
            return self.respond_object(core_event(store.get(source, namespace, name)), core)
        if verb != "list":
            raise stores.APIError(405, "MethodNotAllowed", "the fake API server serves core/v1 events read-only (list, get); "
                                                           "write and watch events.k8s.io/v1")
        try:
            labels = stores.parse_label_selector(query.get("labelSelector"))
            fields = stores.parse_field_selector(query.get("fieldSelector"))
        except ValueError as error:
            raise stores.APIError(400, "BadRequest", f"unable to parse requirement: {error}")
        items, rv, _, _ = store.list(source, namespace, labels, [])
        converted = [event for event in map(core_event, items) if stores.matches_fields(event, fields)]
        return self.respond_list(core, converted, rv, None)

    def check_kind(self, resource, payload):
        if payload.get("kind") not in (None, resource.kind) or payload.get("apiVersion") not in (None, resource.api_version):
            raise stores.APIError(400, "BadRequest", f"the API version in the data ({payload.get('apiVersion')}) does not match "
                                                     f"the expected API version ({resource.api_version})")

    def patch(self, resource, namespace, name, subresource, payload, content_type, manager, dry_run, strict):
        if content_type == "application/merge-patch+json":
            function = patching.merge_patch
        elif content_type == "application/json-patch+json":
            function = patching.json_patch
        elif content_type == "application/strategic-merge-patch+json":
            if resource.crd is not None:
                raise stores.APIError(415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources")
            function = patching.strategic_merge_patch
        else:
            raise stores.APIError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: "
                                                              "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        expected = None
        if isinstance(payload, dict):
            expected = (payload.get("metadata") or {}).get("resourceVersion")

        def mutate(current):
            result = function(current, payload)
            if not isinstance(result, dict):
                raise stores.APIError(422, "Invalid", "the patch must produce an object")
            return result
        obj = self.state.store.update(resource, namespace, name, mutate, manager, subresource or "", dry_run, strict,
                                      expected_rv=expected, mutate_copies=True)
        return self.respond_object(obj, resource)

    def apply(self, resource, namespace, name, subresource, payload, query, dry_run, strict):
        manager = query.get("fieldManager")
        if not manager:
            raise stores.APIError(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                                                     "is required for apply patch")
        if not isinstance(payload, dict):
            raise stores.APIError(400, "BadRequest", "the apply configuration must be an object")
        if payload.get("apiVersion") != resource.api_version or payload.get("kind") != resource.kind:
            raise stores.APIError(400, "BadRequest", f"apply configuration has apiVersion {payload.get('apiVersion')!r} and kind "
                                                     f"{payload.get('kind')!r}, expected {resource.api_version} {resource.kind}")
        metadata = payload.get("metadata") or {}
        if metadata.get("name") not in (None, name):
            raise stores.APIError(400, "BadRequest", f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})")
        force = query.get("force") == "true"
        applied = patching.clone(payload)
        applied.setdefault("metadata", {})["name"] = name
        if resource.namespaced:
            applied["metadata"]["namespace"] = namespace
        if subresource == "status":
            applied = {"apiVersion": applied["apiVersion"], "kind": applied["kind"], "metadata": applied["metadata"],
                       **({"status": applied["status"]} if "status" in applied else {})}
            scope = lambda path: path[0] == "status"
        else:
            if resource.has_status:
                applied.pop("status", None)
            scope = (lambda path: path[0] != "status") if resource.has_status else (lambda path: True)
        if resource.crd is not None:
            pruned = []
            schemas.prune(patching.clone(applied), resource.schema, "", pruned)
            if pruned:
                raise stores.APIError(400, "BadRequest", "failed to create typed patch object: " +
                                      ", ".join(f".{p}: field not declared in schema" for p in pruned))
        store = self.state.store
        with store.lock:
            try:
                store.get(resource, namespace, name)
                exists = True
            except stores.APIError:
                exists = False
            if not exists:
                if subresource:
                    raise stores.not_found(resource, name)
                created = patching.apply(None, applied, manager, force, "", resource.api_version, scope)
                obj = store.create(resource, namespace or "", created, manager, dry_run, strict, managed=True)
                return self.respond_object(obj, resource, 201)
            obj = store.update(resource, namespace, name,
                               lambda current: patching.apply(current, applied, manager, force, subresource or "",
                                                              resource.api_version, scope),
                               manager, subresource or "", dry_run, strict, operation="apply", mutate_copies=True)
        return self.respond_object(obj, resource)

    def scale(self, method, resource, namespace, name, body, manager):
        if resource.scale is None and resource.key != "apps/statefulsets":
            raise stores.APIError(404, "NotFound", "the server could not find the requested resource")
        spec_path = (resource.scale or {}).get("specReplicasPath", ".spec.replicas").lstrip(".").split(".")
        store = self.state.store
        if method in ("PUT", "PATCH"):
            payload = self.parse_body(body, "application/json") or {}
            replicas = (payload.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int):
                raise stores.APIError(422, "Invalid", "spec.replicas: Required value")

            def mutate(obj):
                target = obj
                for key in spec_path[:-1]:
                    target = target.setdefault(key, {})
                target[spec_path[-1]] = replicas
                return obj
            store.update(resource, namespace, name, mutate, manager)
        obj = store.get(resource, namespace, name)
        current = obj
        for key in spec_path:
            current = (current or {}).get(key)
        return self.send_json(200, {"kind": "Scale", "apiVersion": "autoscaling/v1",
                                    "metadata": {"name": name, "namespace": namespace, "resourceVersion": obj["metadata"]["resourceVersion"]},
                                    "spec": {"replicas": current}, "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}})

    # ---- output ---------------------------------------------------------------------------

    def wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def respond_object(self, obj, resource, code=200):
        if self.wants_table():
            return self.send_json(code, self.table(resource, [obj], obj["metadata"]["resourceVersion"], None))
        self.send_json(code, obj)

    def respond_list(self, resource, items, rv, token):
        if self.wants_table():
            return self.send_json(200, self.table(resource, items, rv, token))
        metadata = {"resourceVersion": rv}
        if token:
            metadata["continue"] = token
        self.send_json(200, {"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                             "metadata": metadata, "items": items})

    def table(self, resource, items, rv, token):
        columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}]
        crd_columns = (resource.crd or {}).get("columns")
        if crd_columns:
            for column in crd_columns:
                columns.append({"name": column["name"], "type": column.get("type", "string"), "format": column.get("format", ""),
                                "description": column.get("description", ""), "priority": column.get("priority", 0)})
        elif resource.kind == "Pod":
            columns += [{"name": n, "type": t, "format": "", "description": "", "priority": 0}
                        for n, t in (("Ready", "string"), ("Status", "string"), ("Restarts", "string"))]
        if not crd_columns:
            columns.append({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0})
        rows = []
        now = time.time()
        for obj in items:
            cells = [obj["metadata"]["name"]]
            if crd_columns:
                for column in crd_columns:
                    value = schemas.json_path(obj, column["jsonPath"])
                    if column.get("type") == "date" and isinstance(value, str):
                        try:
                            value = schemas.human_duration(now - _parse_time(value))
                        except ValueError:
                            pass
                    cells.append(value)
            else:
                if resource.kind == "Pod":
                    statuses = (obj.get("status") or {}).get("containerStatuses") or []
                    cells += [f"{sum(1 for s in statuses if s.get('ready'))}/{len(statuses)}",
                              (obj.get("status") or {}).get("phase", ""), "0"]
                cells.append(schemas.human_duration(now - _parse_time(obj["metadata"]["creationTimestamp"])))
            rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                    "metadata": obj["metadata"]}})
        metadata = {"resourceVersion": rv}
        if token:
            metadata["continue"] = token
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": columns, "rows": rows}

    # ---- watches --------------------------------------------------------------------------

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream_error(self, error):
        self.start_stream()
        self.write_chunk(json.dumps({"type": "ERROR", "object": error.status()}).encode() + b"\n")
        self.write_chunk(b"")

    def watch(self, resource, namespace, labels, fields, query):
        bookmarks = query.get("allowWatchBookmarks") == "true"
        timeout = int(query["timeoutSeconds"]) if query.get("timeoutSeconds", "").isdigit() else 1800
        initial = query.get("sendInitialEvents") == "true"
        if initial and not bookmarks:
            raise stores.APIError(422, "Invalid", "sendInitialEvents requires allowWatchBookmarks=true")
        watcher = self.state.store.watch(resource, namespace, labels, fields, query.get("resourceVersion"), bookmarks, initial)
        try:
            self.start_stream()
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + self.state.bookmark_interval
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                try:
                    event_type, obj = watcher.queue.get(timeout=max(0.0, wait))
                except Exception:  # queue.Empty: time for a bookmark or the end
                    if bookmarks and time.monotonic() >= next_bookmark:
                        self.send_bookmark(resource)
                        next_bookmark = time.monotonic() + self.state.bookmark_interval
                    continue
                if event_type == "DROP":
                    # A dropped connection: no terminating chunk, the socket just closes.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if event_type == "BOOKMARK":
                    if bookmarks:
                        self.send_bookmark(resource)
                    continue
                if event_type == "INITIAL_END":
                    self.send_bookmark(resource, obj, {"k8s.io/initial-events-end": "true"})
                    continue
                self.write_chunk(json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n")
                if event_type == "ERROR":
                    break
            self.write_chunk(b"")
        finally:
            self.state.store.unwatch(watcher)

    def send_bookmark(self, resource, rv=None, annotations=None):
        metadata = {"resourceVersion": rv or str(self.state.store.rv)}
        if annotations:
            metadata["annotations"] = annotations
        bookmark = {"type": "BOOKMARK", "object": {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata}}
        self.write_chunk(json.dumps(bookmark).encode() + b"\n")

    # ---- control ------------------------------------------------------------------------

    def control(self, method, path, body):
        state = self.state
        payload = json.loads(body) if body else None
        parts = path.strip("/").split("/")[1:]
        if parts == ["faults"] and method == "POST":
            rule = {"verb": payload.get("verb", "*"), "resource": payload.get("resource", "*"), "name": payload.get("name"),
                    "namespace": payload.get("namespace"), "subresource": payload.get("subresource"),
                    "code": payload.get("code"), "reason": payload.get("reason"), "message": payload.get("message"),
                    "delaySeconds": float(payload.get("delaySeconds") or 0), "times": payload.get("times"),
                    "body": payload.get("body")}
            with state.lock:
                state.faults.append(rule)
            return self.send_json(201, rule)
        if parts == ["faults"] and method == "DELETE":
            with state.lock:
                state.faults.clear()
            return self.send_json(200, {})
        if parts == ["faults"] and method == "GET":
            with state.lock:
                return self.send_json(200, {"faults": list(state.faults)})
        if parts == ["watches", "drop"] and method == "POST":
            watchers = state.store.all_watchers()
            for watcher in watchers:
                watcher.queue.put(("DROP", None))
            return self.send_json(200, {"dropped": len(watchers)})
        if parts == ["bookmarks"] and method == "POST":
            watchers = state.store.all_watchers()
            for watcher in watchers:
                watcher.queue.put(("BOOKMARK", None))
            return self.send_json(200, {"watches": len(watchers)})
        if parts == ["compact"] and method == "POST":
            state.store.compact()
            return self.send_json(200, {"oldestResourceVersion": str(state.store.oldest_rv)})
        if parts == ["tokens"] and method == "PUT":
            with state.lock:
                state.tokens = set(payload.get("tokens") or [])
            return self.send_json(200, {})
        if parts == ["requests"] and method == "GET":
            with state.lock:
                counts, connections = dict(state.counts), state.connections
            return self.send_json(200, {"byVerb": counts, "total": sum(counts.values()),
                                        "writes": sum(v for k, v in counts.items() if k in WRITE_VERBS),
                                        "connections": connections})
        if parts == ["requests"] and method == "DELETE":
            with state.lock:
                state.counts.clear()
                state.connections = 0
            return self.send_json(200, {})
        if parts == ["pods", "graceful"] and method == "POST":
            state.store.graceful_pods = bool(payload.get("enabled", True))
            return self.send_json(200, {"enabled": state.store.graceful_pods})
        if len(parts) == 4 and parts[0] == "pods" and method == "POST":
            namespace, name, action = parts[1], parts[2], parts[3]
            if action == "ready":
                obj = simulation.set_ready(state.store, namespace, name, bool(payload.get("ready", True)))
                return self.send_json(200, obj)
            if action == "status":
                pods = state.store.resources["/pods"]
                obj = state.store.update(pods, namespace, name,
                                         lambda pod: dict(pod, status=patching.merge_patch(pod.get("status") or {}, payload)),
                                         "kubelet", subresource="status")
                return self.send_json(200, obj)
        raise stores.APIError(404, "NotFound", f"no control endpoint {method} {path}")


def core_event(event):
    """events.k8s.io/v1 -> v1, as the API server converts them."""
    converted = {"apiVersion": "v1", "kind": "Event", "metadata": event["metadata"],
                 "involvedObject": event.get("regarding") or {}, "reason": event.get("reason", ""),
                 "message": event.get("note", ""), "type": event.get("type", ""),
                 "eventTime": event.get("eventTime"), "action": event.get("action", ""),
                 "reportingComponent": event.get("reportingController", ""),
                 "reportingInstance": event.get("reportingInstance", ""),
                 "source": (event.get("deprecatedSource") or {"component": event.get("reportingController", "")}),
                 "count": event.get("deprecatedCount", 1)}
    for old, new in (("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp")):
        if event.get(old):
            converted[new] = event[old]
    if event.get("related"):
        converted["related"] = event["related"]
    if event.get("series"):
        converted["series"] = event["series"]
    return converted


def _reason(code):
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 410: "Gone",
            422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}.get(code, "Unknown")


def _parse_time(text):
    import calendar
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))


def make_context(directory):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(f"{directory}/server.crt", f"{directory}/server.key")
    context.load_verify_locations(f"{directory}/ca.crt")
    # Optional: bearer-token clients connect without a certificate; a certificate that is
    # presented must be signed by the CA.
    context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context
