#!/usr/bin/env python3
"""Compares scanner reports with the planted set.

usage: evaluate.py PLANTED_JSON LABGATE_JSON GITLEAKS_JSON
Prints one JSON object with, per scanner: findings, unique secrets, planted found (exact
value), planted found only truncated, GitLab planted found, decoys reported, and false
positives (unique reported values that are neither planted nor part of a planted value).
"""
import json
import sys


def load_labgate(path):
    with open(path) as f:
        report = json.load(f)
    return [(x["rule_id"], x["secret"]) for x in report["findings"]]


def load_gitleaks(path):
    with open(path) as f:
        report = json.load(f)
    return [(x["RuleID"], x["Secret"]) for x in report or []]


def score(planted, decoys, findings):
    values = {s for _, s in findings}
    planted_values = [p["secret"] for p in planted]
    exact = [p for p in planted if p["secret"] in values]
    truncated = [
        p for p in planted
        if p["secret"] not in values and any(v and v in p["secret"] for v in values)
    ]
    gitlab = [p for p in planted if p["kind"] not in ("aws", "github", "slack", "stripe", "database-url")]
    decoy_hits = [d for d in decoys if d["secret"] in values or any(d["secret"] in v for v in values)]
    fps = {
        v for v in values
        if v not in planted_values and not any(v in p for p in planted_values)
    }
    return {
        "findings": len(findings),
        "unique_secrets": len(values),
        "planted": len(planted),
        "planted_found_exact": len(exact),
        "planted_found_truncated_only": len(truncated),
        "gitlab_planted": len(gitlab),
        "gitlab_planted_found_exact": sum(1 for p in gitlab if p in exact),
        "missed": sorted(p["kind"] for p in planted if p not in exact),
        "decoys_reported": len(decoy_hits),
        "false_positive_values": len(fps),
    }


def main():
    planted_json, labgate_json, gitleaks_json = sys.argv[1:4]
    with open(planted_json) as f:
        data = json.load(f)
    out = {
        "labgate": score(data["planted"], data["decoys"], load_labgate(labgate_json)),
        "gitleaks": score(data["planted"], data["decoys"], load_gitleaks(gitleaks_json)),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
