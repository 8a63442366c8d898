#!/usr/bin/env bash
# Benchmark: GET /api/v4/users?per_page=20 on a generated 20,000-user instance.
#
# Builds the release binary, starts it with a generated seed (20,000 users, 2,000 groups,
# 50,000 projects, 500,000 memberships), runs wrk with one thread and 16 connections and prints
# the requests per second. Needs `wrk` (apt-get install -y wrk).
#
# Environment: DURATION (default 15s), CONNECTIONS (16), VIEW=admin|user|anonymous (admin).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
workspace="$(cd "$here/../../.." && pwd)"
duration="${DURATION:-15s}"
connections="${CONNECTIONS:-16}"
view="${VIEW:-admin}"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

cd "$workspace"
cargo build --release -p gitlab-sim --bin labgate-gitlab-sim >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/labgate-gitlab-sim"

tmp="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
cat >"$tmp/seed.json" <<'JSON'
{
  "users": [
    {"username": "bench-admin", "name": "Bench Admin", "email": "bench-admin@example.com", "admin": true},
    {"username": "bench-user", "name": "Bench User", "email": "bench-user@example.com"}
  ],
  "tokens": [
    {"kind": "personal", "user": "bench-admin", "name": "bench", "scopes": ["api"], "token": "glpat-benchADMINbench12345"},
    {"kind": "personal", "user": "bench-user", "name": "bench", "scopes": ["read_api"], "token": "glpat-benchUSERbench123456"}
  ],
  "generate": {"users": 20000, "groups": 2000, "projects": 50000, "memberships": 500000, "seed": 1}
}
JSON

start=$(date +%s.%N)
"$bin" --seed "$tmp/seed.json" --listen 127.0.0.1:0 >"$tmp/url" 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 600); do
  [ -s "$tmp/url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; exit 1; }
  sleep 0.05
done
url="$(head -n1 "$tmp/url")"
ready=$(date +%s.%N)
printf 'instance ready in %.2fs at %s\n' "$(echo "$ready - $start" | bc)" "$url"

case "$view" in
  admin) header=(-H "PRIVATE-TOKEN: glpat-benchADMINbench12345") ;;
  user) header=(-H "PRIVATE-TOKEN: glpat-benchUSERbench123456") ;;
  anonymous) header=() ;;
  *) echo "VIEW must be admin, user or anonymous" >&2; exit 2 ;;
esac

curl -fsS "${header[@]}" "$url/api/v4/users?per_page=20" -o /dev/null -D "$tmp/headers"
grep -i '^x-per-page' "$tmp/headers" >/dev/null || { echo "unexpected response" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(cpu_ticks)
out="$(wrk -t1 -c"$connections" -d"$duration" "${header[@]}" "$url/api/v4/users?per_page=20")"
after=$(cpu_ticks)
echo "$out"
rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
total="$(echo "$out" | awk '/requests in/ {print $1}')"
hz=$(getconf CLK_TCK)
cpu_us=$(echo "scale=1; ($after - $before) * 1000000 / $hz / $total" | bc)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "server CPU per request: ${cpu_us} us"
echo "GET /api/v4/users?per_page=20 (${view} view, wrk -t1 -c${connections} -d${duration}): ${rps} req/s"
