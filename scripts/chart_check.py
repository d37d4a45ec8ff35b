#!/usr/bin/env python3
"""Renders and lints charts/ensemble-operator with Helm's own Go SDK (helm-python-sdk, Helm 4,
no helm binary) for several value sets, validates every rendered object (and the CRD) against
the real Kubernetes schemas with kubernetes-validate, and prints one JSON report on stdout for
the Swift test (ChartTests) to judge. Exit 0 when the report was produced, whatever it says."""
import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml

CHART = sys.argv[1] if len(sys.argv) > 1 else "charts/ensemble-operator"
VERSIONS = ["1.32.0", "1.36.0"]

VALUE_SETS = {
    "defaults": {},
    "ha": {"replicas": 3},
    "namespaced": {"watchNamespace": "team-a", "leaderElection": {"enabled": True}},
    "bare": {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "existing"},
             "metrics": {"service": {"enabled": False}}, "probeImage": "registry.local/probe:1", "logFormat": "text"},
}
INVALID_SETS = {
    "zero-replicas": {"replicas": 0},
    "bad-log-format": {"logFormat": "xml"},
    "unknown-key": {"replica": 2},
    "bad-namespace": {"watchNamespace": "Team_A"},
}


def documents(manifests):
    out = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append(doc)
    return out


def validate(doc):
    errors = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{version} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{version} {doc.get('kind')}: no schema: {error}")
    return errors


def main():
    chart = helm.Chart.load(CHART)
    report = {"sets": {}, "invalid": {}, "crds": []}
    for name, values in VALUE_SETS.items():
        lint = helm.lint(CHART, values, strict=True)
        rendered = chart.render(values, name="ens", namespace="ops", is_install=True)
        docs = documents(rendered)
        validation = [e for doc in docs for e in validate(doc)]
        report["sets"][name] = {
            "lint": [m["error"] for m in lint.get("messages", [])],
            "validation": validation,
            "objects": docs,
            "notes": rendered.get("ensemble-operator/templates/NOTES.txt", ""),
        }
    for name, values in INVALID_SETS.items():
        lint = helm.lint(CHART, values, strict=True)
        report["invalid"][name] = [m["error"] for m in lint.get("messages", [])]
    for crd in chart.crds:
        doc = yaml.safe_load(crd["data"])
        report["crds"].append({"name": crd.get("name", ""), "validation": validate(doc) if doc else ["empty CRD file"]})
    json.dump(report, sys.stdout)


main()
