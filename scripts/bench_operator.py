#!/usr/bin/env python3
"""The operator against the fake API server with N Ensembles (3 members each): time until
every Ensemble has its children and an Available status, peak RSS, API requests per Ensemble
for the first reconcile and per minute at rest, reconcile duration p50/p99; beside them the
floor (the same writes from a plain client at the same concurrency, against the same fake)
and pravega's zookeeper-operator (shared/design/anchors.md). Run through
scripts/bench-operator.sh, which builds the release binary.

Both runs see the same world: the Ensembles exist before the clock starts, a stand-in for
kubelet marks each member pod ready as soon as its watch shows it, and convergence is read
from a watch on the Ensembles (polling lists of 1000 objects would cost the fake, which is
single-threaded Python, more than the operator's own requests)."""
import argparse
import http.client
import json
import os
import queue
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRD = os.path.join(ROOT, "charts/ensemble-operator/crds/ensembles.ensemble.dev.yaml")
NS = "default"
ENSEMBLES = f"/apis/ensemble.dev/v1alpha1/namespaces/{NS}/ensembles"
PODS = f"/api/v1/namespaces/{NS}/pods"
# pravega's zookeeper-operator against a real API server (shared/design/anchors.md): peak RSS
# and the time until all children of N clusters exist; it was not measured beyond 300.
PRAVEGA = {1: ("43 MiB", "-"), 100: ("60 MiB", "9.4 s"), 300: ("90 MiB", "32 s")}
WRITE_VERBS = ("create", "update", "patch", "apply", "delete")
API_LATENCY = "ensemble_operator_api_request_duration_seconds"


def image_malloc():
    """The image's malloc settings, as the Dockerfile's ENV lines set them."""
    settings = {}
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        for line in f:
            if line.startswith("ENV "):
                settings.update(dict(m.groups() for m in re.finditer(r"(MALLOC_\w+)=(\S+)", line)))
    return settings


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Fake:
    """The fake API server in a fresh directory, with a small keep-alive HTTPS client."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bench-fakeapi-")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts/fakeapi"), "--dir", self.dir, "--crd", CRD,
                                      "--parent-pid", str(os.getpid()), "--history", "200000"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(self.dir, "port")):
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"fake API server did not start; log in {self.dir}/server.log")
            time.sleep(0.05)
        self.port = int(open(os.path.join(self.dir, "port")).read().strip())
        self.context = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self.context.load_cert_chain(os.path.join(self.dir, "admin.crt"), os.path.join(self.dir, "admin.key"))
        self.local = threading.local()
        self.keep = False  # the directory and its logs stay after stop (a failed run)

    @property
    def kubeconfig(self):
        return os.path.join(self.dir, "kubeconfig")

    def connect(self, timeout=60):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json", expect=(200, 201)):
        """One request on this thread's connection; an unexpected status is an error."""
        for attempt in range(3):
            if getattr(self.local, "conn", None) is None:
                self.local.conn = self.connect()
            try:
                headers = {"Content-Type": content_type} if body is not None else {}
                self.local.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                response = self.local.conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError):
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            if expect and response.status not in expect:
                raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
            return response.status, (json.loads(data) if data else None)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class Watch(threading.Thread):
    """Lists `path` once, hands every object to on_event("ADDED", obj), then watches from the
    list's resourceVersion, reopening from the last one seen when the stream ends."""

    def __init__(self, fake, path, on_event):
        super().__init__(daemon=True)
        self.fake, self.path, self.on_event = fake, path, on_event
        self.stopped = False
        self.failure = None

    def run(self):
        try:
            _, body = self.fake.request("GET", self.path)
            rv = body["metadata"]["resourceVersion"]
            for item in body.get("items", []):
                self.on_event("ADDED", item)
            while not self.stopped:
                conn = self.fake.connect(timeout=None)
                conn.request("GET", f"{self.path}?watch=true&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=600")
                response = conn.getresponse()
                for line in response:
                    if self.stopped:
                        break
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        raise RuntimeError(f"watch {self.path}: {event['object'].get('message')}")
                    rv = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self.on_event(event["type"], event["object"])
                conn.close()
        except Exception as error:  # reported by the run, which stops waiting
            self.failure = error


def condition(obj, kind):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c.get("status") == "True"
    return False


class Kubelet:
    """Stands in for kubelet: marks every member pod ready once its watch shows it."""

    def __init__(self, fake, threads=4):
        self.fake = fake
        self.pending = queue.SimpleQueue()
        self.marked = set()
        self.watch = Watch(fake, PODS, self.seen)
        self.threads = [threading.Thread(target=self.mark, daemon=True) for _ in range(threads)]
        self.stopped = False
        self.failure = None

    def start(self):
        for thread in self.threads:
            thread.start()
        self.watch.start()

    def seen(self, event_type, pod):
        name = pod["metadata"]["name"]
        if event_type != "DELETED" and name not in self.marked and not condition(pod, "Ready"):
            self.marked.add(name)
            self.pending.put(name)

    def mark(self):
        while not self.stopped:
            try:
                name = self.pending.get(timeout=0.2)
                self.fake.request("POST", f"/fake/pods/{NS}/{name}/ready", {"ready": True})
            except queue.Empty:
                continue
            except Exception as error:  # reported by the run, which stops waiting
                if not self.stopped:
                    self.failure = error
                return

    def stop(self):
        self.stopped = True
        self.watch.stopped = True
        for thread in self.threads:
            thread.join(5)


class Availability:
    """Counts the Ensembles whose status says Available=True, from a watch."""

    def __init__(self, fake):
        self.available = set()
        self.changed = threading.Condition()
        self.watch = Watch(fake, ENSEMBLES, self.seen)
        self.watch.start()
        self.started = time.monotonic()

    def seen(self, event_type, obj):
        name = obj["metadata"]["name"]
        with self.changed:
            if event_type != "DELETED" and condition(obj, "Available"):
                self.available.add(name)
            else:
                self.available.discard(name)
            self.changed.notify_all()

    def wait(self, n, deadline, failure=lambda: None):
        """Once n are available: None. Otherwise why not: the deadline passed, the watch
        failed, or failure() (the party measured or a helper) says what went wrong."""
        with self.changed:
            while len(self.available) < n:
                why = failure() or self.watch.failure
                if why:
                    return why
                if time.monotonic() > deadline:
                    return f"{len(self.available)} of {n} available after {deadline - self.started:.0f} s"
                self.changed.wait(0.5)
            return None

    def stop(self):
        self.watch.stopped = True


def parallel(items, fn, threads):
    work = queue.SimpleQueue()
    for item in items:
        work.put(item)
    errors = []

    def run():
        while not errors:
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            try:
                fn(item)
            except Exception as error:  # report, don't hang
                errors.append(error)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def create_ensembles(fake, n, members):
    parallel(range(n), lambda i: fake.request("POST", ENSEMBLES, {
        "apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble", "metadata": {"name": f"e{i:04d}"},
        "spec": {"engine": "ZooKeeper", "replicas": members}}), 8)


def metrics(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            series[name] = float(value)
    return series


def requests_by_verb(series):
    out = {}
    for name, value in series.items():
        m = re.match(r'ensemble_operator_api_requests_total\{verb="([^"]+)",code="([^"]+)"\}', name)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + value
    return out


def quantile(series, q, metric="ensemble_operator_reconcile_duration_seconds", verbs=None):
    """A histogram's bucket bound at quantile q: the reconcile durations, or with `verbs` the
    API request latencies of those verbs (summed over them)."""
    buckets = {}
    for name, value in series.items():
        m = re.match(metric + r'_bucket\{(.*)le="([^"]+)"\}', name)
        if not m or (verbs is not None and not any(f'verb="{v}"' in m.group(1) for v in verbs)):
            continue
        bound = float("inf") if m.group(2) == "+Inf" else float(m.group(2))
        buckets[bound] = buckets.get(bound, 0) + value
    total = buckets.get(float("inf"), 0)
    for bound in sorted(buckets):
        if total and buckets[bound] >= q * total:
            return bound
    return float("nan")


def memory_mib(pid, field):
    """VmHWM (peak RSS), VmRSS, RssAnon or RssFile (mapped files' pages) of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_of(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def run_operator(n, args, malloc_env):
    fake = Fake()
    operator = kubelet = availability = None
    try:
        create_ensembles(fake, n, args.members)
        availability = Availability(fake)
        kubelet = Kubelet(fake)
        kubelet.start()
        health = 18000 + (os.getpid() % 1000)
        log = open(os.path.join(fake.dir, "operator.log"), "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        env.update(malloc_env)
        fake_cpu_before = cpu_seconds(fake.proc.pid)
        started = time.monotonic()
        operator = subprocess.Popen([args.binary, "--kubeconfig", fake.kubeconfig, "--namespace", NS, "--metrics-bind-address", "0",
                                     "--health-probe-bind-address", f"127.0.0.1:{health}", "--log-level", "warning",
                                     "--member-address-template", "127.0.0.1:9", "--member-probe-timeout", "1"]
                                    + args.operator_args.split(), stdout=log, stderr=subprocess.STDOUT, env=env)
        why = availability.wait(n, started + 600, lambda: kubelet.failure or (
            f"operator exited ({operator.returncode})" if operator.poll() is not None else None))
        converged = time.monotonic() - started
        operator_cpu, fake_cpu = cpu_seconds(operator.pid), cpu_seconds(fake.proc.pid) - fake_cpu_before
        if why:
            fake.keep = True
            raise SystemExit(f"the operator did not converge: {why}; logs in {fake.dir}")
        # The window at rest starts once the operator's write counters stand still for 2 s
        # (the last events follow the last status).
        previous, still = None, 0
        while still < 4:
            first = metrics(health)
            verbs = requests_by_verb(first)
            current = sum(v for k, v in verbs.items() if k in WRITE_VERBS)
            still = still + 1 if current == previous else 0
            previous = current
            time.sleep(0.5)
        # At rest: nothing changes; member checks go on; count what the operator sends.
        fake.request("DELETE", "/fake/requests")
        time.sleep(args.steady_seconds)
        second = metrics(health)
        fake_counts = fake.request("GET", "/fake/requests")[1] or {}
        after = requests_by_verb(second)
        rest = {verb: after.get(verb, 0) - verbs.get(verb, 0) for verb in after}
        return {
            "converged": converged, "operator_cpu": operator_cpu, "fake_cpu": fake_cpu, "rss": memory_mib(operator.pid, "VmHWM"),
            "rss_rest": memory_mib(operator.pid, "VmRSS"), "anon_rest": memory_mib(operator.pid, "RssAnon"),
            "file_rest": memory_mib(operator.pid, "RssFile"), "threads": threads_of(operator.pid),
            "first_writes_per": sum(v for k, v in verbs.items() if k in WRITE_VERBS) / n,
            "first_all_per": sum(verbs.values()) / n, "first_verbs": {k: round(v / n, 2) for k, v in sorted(verbs.items())},
            "rest_writes": sum(v for k, v in rest.items() if k in WRITE_VERBS), "fake_rest_writes": fake_counts.get("writes", -1),
            "rest_all_per_min": sum(rest.values()) * 60 / args.steady_seconds,
            "p50": quantile(second, 0.5), "p99": quantile(second, 0.99),
            "write_p50": quantile(second, 0.5, API_LATENCY, WRITE_VERBS), "write_p99": quantile(second, 0.99, API_LATENCY, WRITE_VERBS),
            "reconciles": second.get('ensemble_operator_reconcile_total{controller="ensemble",result="success"}', 0),
        }
    finally:
        for part in (kubelet, availability):
            if part:
                part.stop()
        if operator and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()
        fake.stop()


def run_floor(n, args, concurrency):
    """The same writes from a plain client with `concurrency` connections and no caches or
    decisions: per Ensemble server-side apply of the children the operator renders, a status,
    the Created event; then, once its pods are ready, the Available status and event. The same
    stand-in kubelet; convergence read the same way."""
    fake = Fake()
    kubelet = availability = pods = None
    try:
        create_ensembles(fake, n, args.members)
        resource = json.dumps({"apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble", "metadata": {"name": "e0000", "namespace": NS},
                               "spec": {"engine": "ZooKeeper", "replicas": args.members}})
        rendered = subprocess.run([args.zkctl, "render", "-f", "-", "-o", "json"], input=resource, capture_output=True, text=True, check=True).stdout
        template = json.dumps(json.loads(rendered)["items"])
        paths = {"ConfigMap": "/api/v1/namespaces/{ns}/configmaps/{name}", "Service": "/api/v1/namespaces/{ns}/services/{name}",
                 "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}",
                 "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets/{name}"}
        work = queue.SimpleQueue()
        ready, first_done = {}, set()
        lock = threading.Lock()

        def pod_seen(event_type, pod):
            owner = pod["metadata"]["name"].rsplit("-", 1)[0]
            if event_type != "DELETED" and condition(pod, "Ready"):
                with lock:
                    members = ready.setdefault(owner, set())
                    if pod["metadata"]["name"] not in members:
                        members.add(pod["metadata"]["name"])
                        if len(members) == args.members and owner in first_done:
                            work.put(("available", owner))

        def first_finished(name):
            # The Available status goes after the first one, never before it.
            with lock:
                first_done.add(name)
                if len(ready.get(name, ())) == args.members:
                    work.put(("available", name))

        def status(name, available):
            members = [{"name": f"{name}-{i}", "ordinal": i, "ready": available, "role": "follower" if available else "",
                        "message": "" if available else "not ready"} for i in range(args.members)]
            conditions = [{"type": "Available", "status": "True" if available else "False", "reason": "Quorum" if available else "Starting",
                           "message": f"{args.members if available else 0} of {args.members} members serving", "observedGeneration": 1,
                           "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
            return {"status": {"phase": "Running" if available else "Creating", "observedGeneration": 1, "replicas": args.members,
                               "readyReplicas": args.members if available else 0, "members": members, "conditions": conditions}}

        def event(name, reason):
            fake.request("POST", f"/apis/events.k8s.io/v1/namespaces/{NS}/events", {
                "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"generateName": f"{name}.", "namespace": NS},
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()), "reportingController": "bench",
                "reportingInstance": "bench", "action": "Reconcile", "reason": reason, "type": "Normal", "note": reason,
                "regarding": {"apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble", "name": name, "namespace": NS}})

        failures = []

        def worker():
            while not finished.is_set():
                try:
                    step, name = work.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    send(step, name)
                except Exception as error:  # reported by the run, which stops waiting
                    failures.append(error)
                    return

        def send(step, name):
            if step == "first":
                for body in json.loads(template.replace("e0000", name)):
                    path = paths[body["kind"]].format(ns=NS, name=body["metadata"]["name"]) + "?fieldManager=bench&force=true"
                    fake.request("PATCH", path, body, content_type="application/apply-patch+yaml")
                fake.request("PATCH", f"{ENSEMBLES}/{name}/status", status(name, False), content_type="application/merge-patch+json")
                event(name, "Created")
                first_finished(name)
            else:
                fake.request("PATCH", f"{ENSEMBLES}/{name}/status", status(name, True), content_type="application/merge-patch+json")
                event(name, "Available")

        availability = Availability(fake)
        kubelet = Kubelet(fake)
        kubelet.start()
        pods = Watch(fake, PODS, pod_seen)
        pods.start()
        finished = threading.Event()
        workers = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        fake_cpu_before = cpu_seconds(fake.proc.pid)
        started = time.monotonic()
        for i in range(n):
            work.put(("first", f"e{i:04d}"))
        for w in workers:
            w.start()
        why = availability.wait(n, started + 600, lambda: kubelet.failure or (failures[0] if failures else None))
        elapsed = time.monotonic() - started
        fake_cpu = cpu_seconds(fake.proc.pid) - fake_cpu_before
        finished.set()
        if why:
            fake.keep = True
            raise SystemExit(f"the floor client did not converge: {why}; the fake's log in {fake.dir}")
        return elapsed, fake_cpu
    finally:
        for part in (kubelet, availability):
            if part:
                part.stop()
        if pods:
            pods.stopped = True
        fake.stop()


def ms(value):
    return "n/a" if value != value else ("beyond the largest bucket" if value == float("inf") else f"<= {value * 1000:g} ms")


def seconds(value):
    return "no (600 s)" if value is None else ("-" if value != value else f"{value:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the ensemble-operator binary")
    parser.add_argument("--zkctl", required=True, help="zkctl, to render the children the floor client sends")
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--steady-seconds", type=float, default=60, help="the window at rest")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--skip-floor", action="store_true", help="do not measure the floor client")
    parser.add_argument("--malloc", choices=("default", "image", "both"), default="both",
                        help="glibc malloc settings: the library's defaults, the image's (Dockerfile ENV), or a run with each")
    parser.add_argument("--operator-args", default="", help="extra operator flags, e.g. '--workers 8'")
    parser.add_argument("--floor-concurrency", type=int, help="connections of the floor client (default: the operator's --workers)")
    args = parser.parse_args()
    flags = args.operator_args.split()
    workers = int(flags[flags.index("--workers") + 1]) if "--workers" in flags else None
    if workers is None:
        help_text = subprocess.run([args.binary, "--help"], capture_output=True, text=True).stdout
        m = re.search(r"--workers <workers>.*?\(default: (\d+)\)", help_text, re.S)
        workers = int(m.group(1)) if m else 8
    concurrency = args.floor_concurrency or workers
    image = image_malloc()
    if args.malloc != "default" and not image:
        print("   (the Dockerfile sets no MALLOC_ variables: the image runs with glibc's defaults)")
    mallocs = {"default": [("glibc defaults", {})], "image": [("image", image)],
               "both": [("glibc defaults", {})] + ([("image", image)] if image else [])}[args.malloc]
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        row = {"n": n, "load_before": load()}
        print(f"== {n} Ensembles of {args.members} members (load {row['load_before']})", flush=True)
        for label, env in mallocs:
            r = run_operator(n, args, env)
            row.setdefault("runs", []).append((label, env, r))
            print(f"   operator, malloc {label}{''.join(f' {k}={v}' for k, v in env.items())}:", flush=True)
            print(f"     converged (children + Available): {seconds(r['converged'])}; CPU used meanwhile: operator {r['operator_cpu']:.1f} s, "
                  f"fake API server {r['fake_cpu']:.1f} s")
            print(f"     peak RSS {r['rss']:.1f} MiB; at rest {r['rss_rest']:.1f} MiB = {r['anon_rest']:.1f} MiB own memory + "
                  f"{r['file_rest']:.1f} MiB of mapped files (the binary, libcurl, OpenSSL); {r['threads']} threads")
            print(f"     first reconcile, API requests per Ensemble: {r['first_all_per']:.1f} (writes {r['first_writes_per']:.1f}) {r['first_verbs']}")
            print(f"     at rest ({args.steady_seconds:g} s): {r['rest_writes']:.0f} writes (the fake counted {r['fake_rest_writes']}), "
                  f"{r['rest_all_per_min']:.1f} requests/min in all")
            print(f"     reconcile duration p50 {ms(r['p50'])}, p99 {ms(r['p99'])} over {r['reconciles']:.0f} reconciles; "
                  f"a write to the fake as the operator sees it: p50 {ms(r['write_p50'])}, p99 {ms(r['write_p99'])}", flush=True)
        row["floor"], floor_cpu = (float("nan"), float("nan")) if args.skip_floor else run_floor(n, args, concurrency)
        row["load_after"] = load()
        print(f"   floor, a plain client with {concurrency} connections sending the same writes: {seconds(row['floor'])} "
              f"(fake API server CPU {floor_cpu:.1f} s); load after {row['load_after']}", flush=True)
        rows.append(row)
    print()
    labels = [label for label, _ in mallocs]
    header = ["Ensembles", f"converged ({' / '.join(labels)})", f"floor ({concurrency} connections)"] + [f"peak RSS ({label})" for label in labels] + \
             ["writes/Ensemble first", "writes at rest", "reconcile p50 / p99", "pravega (RSS, all children)", "load before / after"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        r = row["runs"][-1][2]
        converged = " / ".join(seconds(run[2]["converged"]) for run in row["runs"])
        base = PRAVEGA.get(row["n"], ("-", "-"))
        cells = [str(row["n"]), converged, seconds(row["floor"])] + [f"{run[2]['rss']:.1f} MiB" for run in row["runs"]] + \
                [f"{r['first_writes_per']:.1f}", f"{sum(run[2]['rest_writes'] for run in row['runs']):.0f} in {args.steady_seconds:g} s",
                 f"{ms(r['p50'])} / {ms(r['p99'])}", f"{base[0]}, {base[1]}", f"{row['load_before']} / {row['load_after']}"]
        print("| " + " | ".join(cells) + " |")
    print("pravega: against a real API server, 100 clusters "
          "9.4 s and 300 clusters 32 s until all children exist, 43/60/90 MiB for 1/100/300 (not measured beyond 300); "
          "3-14 PUTs per cluster per minute at rest. Targets: 1000 converged < 30 s, < 50 MiB, 0 writes at rest.")


if __name__ == "__main__":
    main()
