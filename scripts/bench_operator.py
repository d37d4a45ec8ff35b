#!/usr/bin/env python3
"""The operator against the fake API server with N Ensembles (3 members each): time until
every Ensemble has its children and an Available status, peak RSS, API requests per Ensemble
for the first reconcile and per minute at rest, reconcile duration p50/p99; with the floor
(the fake server's own write rate) and the anchor's figures beside them. Run through
scripts/bench-operator.sh, which builds the release binary and prints the machine's load."""
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
        time.sleep(0.05)
        self.port = int(open(os.path.join(self.dir, "port")).read().strip())
        self.context = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self.context.load_cert_chain(os.path.join(self.dir, "admin.crt"), os.path.join(self.dir, "admin.key"))
        self.local = threading.local()

    @property
    def kubeconfig(self):
        return os.path.join(self.dir, "kubeconfig")

    def connection(self):
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=60)
        return self.local.conn

    def request(self, method, path, body=None, content_type="application/json"):
        for attempt in range(3):
            conn = self.connection()
            try:
                headers = {"Content-Type": content_type} if body is not None else {}
                conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, (json.loads(data) if data else None)
            except (http.client.HTTPException, OSError):
                self.local.conn = None
                if attempt == 2:
                    raise
        return 0, None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def parallel(items, fn, threads=8):
    work = queue.Queue()
    for item in items:
        work.put(item)
    errors = []

    def run():
        while True:
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


class PodReadiness(threading.Thread):
    """Plays kubelet: marks every member pod ready once it exists (the fake has no kubelet)."""

    def __init__(self, fake):
        super().__init__(daemon=True)
        self.fake = fake
        self.seen = set()
        self.stopped = False

    def run(self):
        while not self.stopped:
            status, body = self.fake.request("GET", f"/api/v1/namespaces/{NS}/pods")
            pending = []
            for pod in (body or {}).get("items", []):
                name = pod["metadata"]["name"]
                if name in self.seen:
                    continue
                conditions = pod.get("status", {}).get("conditions", [])
                if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                    pending.append(name)
            if pending:
                parallel(pending, lambda name: self.fake.request("POST", f"/fake/pods/{NS}/{name}/ready", {"ready": True}), threads=4)
                self.seen.update(pending)
            time.sleep(0.5)


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


WRITE_VERBS = ("create", "update", "patch", "apply", "delete")
# The image's malloc settings (Dockerfile ENV); the environment can override them.
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def quantile(series, q):
    buckets = []
    for name, value in series.items():
        m = re.match(r'ensemble_operator_reconcile_duration_seconds_bucket\{controller="ensemble",le="([^"]+)"\}', name)
        if m:
            buckets.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), value))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= q * total:
            return bound
    return float("nan")


def memory_mib(pid, field):
    """VmHWM (peak RSS), VmRSS, RssAnon or RssFile (shared libraries' pages) of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def floor_seconds(n, zkctl, members):
    """The fake's own speed on the same work: a plain client (8 connections, no caches, no
    decisions) creates N Ensembles, server-side-applies the children the operator would,
    writes one status and two events each, and marks the pods ready; the seconds it takes."""
    fake = Fake()
    try:
        resource = json.dumps({"apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble", "metadata": {"name": "e0000", "namespace": NS},
                               "spec": {"engine": "ZooKeeper", "replicas": members}})
        rendered = subprocess.run([zkctl, "render", "-f", "-", "-o", "json"], input=resource, capture_output=True, text=True, check=True).stdout
        template = json.loads(rendered)["items"]
        paths = {"ConfigMap": "/api/v1/namespaces/{ns}/configmaps/{name}", "Service": "/api/v1/namespaces/{ns}/services/{name}",
                 "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}",
                 "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets/{name}"}
        started = time.monotonic()

        def one(i):
            name = f"e{i:04d}"
            fake.request("POST", f"/apis/ensemble.dev/v1alpha1/namespaces/{NS}/ensembles", json.loads(resource.replace("e0000", name)))
            for obj in template:
                body = json.loads(json.dumps(obj).replace("e0000", name))
                path = paths[body["kind"]].format(ns=NS, name=body["metadata"]["name"]) + "?fieldManager=bench&force=true"
                fake.request("PATCH", path, body, content_type="application/apply-patch+yaml")
            fake.request("PATCH", f"/apis/ensemble.dev/v1alpha1/namespaces/{NS}/ensembles/{name}/status",
                         {"status": {"phase": "Running", "observedGeneration": 1}}, content_type="application/merge-patch+json")
            for reason in ("Created", "Available"):
                fake.request("POST", f"/apis/events.k8s.io/v1/namespaces/{NS}/events", {
                    "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": f"{name}.{reason.lower()}", "namespace": NS},
                    "eventTime": "2025-01-01T00:00:00.000000Z", "reportingController": "bench", "reportingInstance": "bench",
                    "action": "Reconcile", "reason": reason, "type": "Normal", "note": reason,
                    "regarding": {"apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble", "name": name, "namespace": NS}})
            for ordinal in range(members):
                fake.request("POST", f"/fake/pods/{NS}/{name}-{ordinal}/ready", {"ready": True})
        parallel(range(n), one)
        return time.monotonic() - started
    finally:
        fake.stop()


def run_size(n, binary, steady_seconds, members, extra):
    fake = Fake()
    operator = None
    marker = None
    try:
        # The fake's own write rate: the floor under every figure below.
        started = time.monotonic()
        parallel(range(n), lambda i: fake.request("POST", f"/apis/ensemble.dev/v1alpha1/namespaces/{NS}/ensembles", {
            "apiVersion": "ensemble.dev/v1alpha1", "kind": "Ensemble", "metadata": {"name": f"e{i:04d}"},
            "spec": {"engine": "ZooKeeper", "replicas": members}}))
        create_rate = n / (time.monotonic() - started)

        marker = PodReadiness(fake)
        marker.start()
        health = 18000 + (os.getpid() % 1000)
        log = open(os.path.join(fake.dir, "operator.log"), "w")
        started = time.monotonic()
        operator = subprocess.Popen([binary, "--kubeconfig", fake.kubeconfig, "--namespace", NS, "--metrics-bind-address", "0",
                                     "--health-probe-bind-address", f"127.0.0.1:{health}", "--log-level", "warning",
                                     "--member-address-template", "127.0.0.1:9", "--member-probe-timeout", "1"] + extra,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    # As the image sets it (Dockerfile).
                                    env=dict(MALLOC_ENV, **os.environ))
        converged = None
        deadline = started + 600
        while time.monotonic() < deadline:
            status, body = fake.request("GET", f"/apis/ensemble.dev/v1alpha1/namespaces/{NS}/ensembles")
            ready = 0
            for item in (body or {}).get("items", []):
                conditions = (item.get("status") or {}).get("conditions", [])
                if any(c["type"] == "Available" and c["status"] == "True" for c in conditions):
                    ready += 1
            if ready == n:
                converged = time.monotonic() - started
                break
            if operator.poll() is not None:
                raise SystemExit(f"operator exited; log {fake.dir}/operator.log")
            time.sleep(0.2)
        # Let the tail of convergence (the last events after the last status) finish: the
        # window at rest starts once the operator's request counters stand still for 2 s.
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
        time.sleep(steady_seconds)
        second = metrics(health)
        fake_counts = fake.request("GET", "/fake/requests")[1] or {}
        after = requests_by_verb(second)
        rest = {verb: after.get(verb, 0) - verbs.get(verb, 0) for verb in after}
        rest_writes = sum(v for k, v in rest.items() if k in WRITE_VERBS)
        rest_all = sum(rest.values())
        writes_first = sum(v for k, v in verbs.items() if k in WRITE_VERBS)
        return {
            "n": n, "converged": converged, "rss": memory_mib(operator.pid, "VmHWM"),
            "rss_rest": memory_mib(operator.pid, "VmRSS"), "anon_rest": memory_mib(operator.pid, "RssAnon"),
            "file_rest": memory_mib(operator.pid, "RssFile"),
            "first_writes_per": writes_first / n, "first_all_per": sum(verbs.values()) / n,
            "first_verbs": {k: round(v / n, 2) for k, v in sorted(verbs.items())},
            "rest_writes_per_min_per": rest_writes / n * 60 / steady_seconds, "rest_all_per_min": rest_all * 60 / steady_seconds,
            "rest_writes": rest_writes, "fake_rest_writes": fake_counts.get("writes", -1),
            "p50": quantile(second, 0.5), "p99": quantile(second, 0.99), "reconciles": second.get('ensemble_operator_reconcile_total{controller="ensemble",result="success"}', 0),
            "create_rate": create_rate,
            "floor": float("nan"),
        }
    finally:
        if marker:
            marker.stopped = True
        if operator and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()
        fake.stop()


def ms(value):
    return "n/a" if value != value else ("> 10 s" if value == float("inf") else f"<= {value * 1000:g} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--zkctl", required=True, help="zkctl, to render the children the floor client sends")
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--skip-floor", action="store_true", help="do not measure the floor client (it takes as long as the operator)")
    parser.add_argument("--operator-args", default="", help="extra operator flags, e.g. '--workers 8'")
    args = parser.parse_args()
    baseline = {1: ("43 MiB", "-"), 100: ("60 MiB", "9.4 s"), 300: ("90 MiB", "32 s")}
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        print(f"== {n} Ensembles of {args.members} members ...", flush=True)
        r = run_size(n, args.binary, args.steady_seconds, args.members, args.operator_args.split())
        r["floor"] = float("nan") if args.skip_floor else floor_seconds(n, args.zkctl, args.members)
        results.append(r)
        conv = "did not converge in 600 s" if r["converged"] is None else f"{r['converged']:.1f} s"
        print(f"   converged (children + Available): {conv}")
        print(f"   peak RSS: {r['rss']:.1f} MiB; at rest {r['rss_rest']:.1f} MiB = {r['anon_rest']:.1f} MiB own memory + {r['file_rest']:.1f} MiB of mapped libraries (Swift runtime, Foundation, libcurl)")
        print(f"   first reconcile, API requests per Ensemble: {r['first_all_per']:.1f} (writes {r['first_writes_per']:.1f}) {r['first_verbs']}")
        print(f"   at rest ({args.steady_seconds:g} s): writes {r['rest_writes']:.0f} (the fake counted {r['fake_rest_writes']}), "
              f"{r['rest_writes_per_min_per']:.2f} writes/Ensemble/min, {r['rest_all_per_min']:.1f} requests/min in all")
        print(f"   reconcile duration p50 {ms(r['p50'])}, p99 {ms(r['p99'])} over {r['reconciles']:.0f} reconciles")
        print(f"   floor: a plain client sending the same writes (and marking the pods ready) needs {r['floor']:.1f} s "
              f"against the same fake (8 connections, no caches, no decisions)", flush=True)
    print()
    print("| Ensembles | converged | floor (same writes, plain client) | peak RSS | writes/Ensemble first | writes/Ensemble/min at rest | reconcile p50 / p99 | pravega (RSS, all children) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        conv = "no" if r["converged"] is None else f"{r['converged']:.1f} s"
        base = baseline.get(r["n"], ("-", "-"))
        print(f"| {r['n']} | {conv} | {r['floor']:.1f} s | {r['rss']:.1f} MiB | {r['first_writes_per']:.1f} | {r['rest_writes_per_min_per']:.2f} | "
              f"{ms(r['p50'])} / {ms(r['p99'])} | {base[0]}, {base[1]} |")
    print("pravega zookeeper-operator at rest: 3-14 PUTs per cluster per minute; targets here: 1000 converged < 30 s, < 50 MiB, 0 writes at rest.")


main()
