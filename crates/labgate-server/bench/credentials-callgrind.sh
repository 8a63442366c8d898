#!/usr/bin/env bash
# Instructions per request (valgrind's callgrind) of /healthz and getCredential on one build:
# counts that do not change with the machine's load, so two builds compare on a busy machine.
#
#   crates/labgate-server/bench/credentials-callgrind.sh [LABGATE_BIN] [GITLAB_SIM_BIN] [OUT_DIR] [CONNECTIONS]
#
# Creates CONNECTIONS (2000) access-token connections on a fresh SQLite data directory with the
# release build, restarts the same server under callgrind, reads every credential once (so the
# cache is warm), then loads /healthz and then getCredential for 20 s each from wrk and dumps the
# counts after each. It prints the instructions per request of the task serving the connections
# (routing, middleware, handler, hyper) and of the whole process. Valgrind runs SHA-256 without
# the CPU's SHA instructions, so the API key's hash costs more here than natively.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
workspace="$(cd "$here/../../.." && pwd)"
labgate="${1:-$workspace/target/release/labgate}"
sim="${2:-$workspace/target/release/labgate-gitlab-sim}"
out="${3:-$(mktemp -d)}"
count="${4:-2000}"
for tool in valgrind callgrind_control callgrind_annotate wrk curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install -y valgrind wrk curl jq)" >&2; exit 1; }
done
[ -x "$labgate" ] && [ -x "$sim" ] || { echo "build first: cargo build --release -p labgate --bin labgate -p gitlab-sim --bin labgate-gitlab-sim" >&2; exit 1; }
mkdir -p "$out"; tmp="$(mktemp -d)"
trap 'kill $lp $sp 2>/dev/null || true; rm -rf "$tmp"' EXIT
lp=""; sp=""
{
  printf '{"users": [{"username": "bench", "name": "Bench", "email": "bench@example.com"}], "tokens": ['
  seq 1 "$count" | awk '{ printf "%s{\"kind\": \"personal\", \"user\": \"bench\", \"name\": \"t%d\", \"scopes\": [\"api\"], \"token\": \"glpat-bench%014d\"}", (NR > 1 ? "," : ""), $1, $1 }'
  printf ']}\n'
} >"$tmp/seed.json"
"$sim" --seed "$tmp/seed.json" --listen 127.0.0.1:0 >"$tmp/sim.url" 2>"$tmp/sim.log" & sp=$!
until [ -s "$tmp/sim.url" ]; do sleep 0.1; done
sim_url="$(head -n1 "$tmp/sim.url")"
admin_key="lgk_bench$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start() {
  env LABGATE_DATA_DIR="$tmp/data" LABGATE_LISTEN=127.0.0.1:0 LABGATE_BOOTSTRAP_ADMIN_KEY="$admin_key" \
    LABGATE_ALLOW_INTERNAL_HOSTS=127.0.0.1 LABGATE_LOG_LEVEL=warn "$@" serve --no-worker >"$tmp/labgate.out" 2>"$tmp/labgate.log" &
  lp=$!
  until grep -q '^labgate listening on ' "$tmp/labgate.out" 2>/dev/null; do sleep 0.2; kill -0 $lp; done
  url="$(sed -n 's/^labgate listening on //p' "$tmp/labgate.out")"
}
: >"$tmp/labgate.out"; start "$labgate"
reader_key="$(curl -fsS -X POST -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' --data '{"name":"bench","role":"credential-reader"}' "$url/api/v1/api-keys" | jq -r .token)"
for i in $(seq 1 "$count"); do
  printf 'url = "%s/api/v1/app-connections/gitlab"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "$url" "$admin_key"
  printf 'data = "{\\"name\\": \\"bench-%05d\\", \\"method\\": \\"access-token\\", \\"credentials\\": {\\"accessToken\\": \\"glpat-bench%014d\\", \\"instanceUrl\\": \\"%s\\", \\"accessTokenType\\": \\"personal\\"}}"\noutput = "/dev/null"\n' "$i" "$i" "$sim_url"
  [ "$i" -lt "$count" ] && printf 'next\n'
done >"$tmp/create.curl"
curl -sS --no-progress-meter --parallel --parallel-max 8 -K "$tmp/create.curl"
curl -fsS -H "Authorization: Bearer $admin_key" "$url/api/v1/app-connections/gitlab" | jq -r '.appConnections[].id' >"$tmp/ids"
echo "ids: $(wc -l <"$tmp/ids")"
kill -TERM $lp; wait $lp || true
: >"$tmp/labgate.out"
start valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$labgate"
pid=$lp  # env execs valgrind, so this is the profiled process
cat >"$tmp/load.lua" <<'LUA'
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local path = os.getenv("BENCH_PATH")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
request = function() return wrk.format("GET", path .. "?connectionId=" .. ids[math.random(#ids)]) end
LUA
run() { BENCH_IDS="$tmp/ids" BENCH_KEY="$reader_key" BENCH_PATH="$1" wrk -t1 -c8 -d"$2" -s "$tmp/load.lua" "$url" | awk '/requests in/ {print $1}'; }
# warm: every connection's credential read once, then both endpoints
for id in $(cat "$tmp/ids"); do echo "url = \"$url/api/v1/credentials/gitlab?connectionId=$id\""; echo 'output = "/dev/null"'; done > "$tmp/warm.curl"
curl -sS -H "Authorization: Bearer $reader_key" -K "$tmp/warm.curl"
run /healthz 5s >/dev/null
callgrind_control -z "$pid" >/dev/null
n=$(run /healthz 20s); callgrind_control -d healthz "$pid" >/dev/null; echo "healthz requests $n" | tee "$out/healthz.n"
n=$(run /api/v1/credentials/gitlab 20s); callgrind_control -d credentials "$pid" >/dev/null; echo "credentials requests $n" | tee "$out/credentials.n"
kill -TERM $lp; wait $lp || true
# Per request: the connection-serving task (inclusive), and the whole process.
for name in healthz credentials; do
  file="$(grep -l "^desc: Trigger: dump $name\$" "$out"/cg.* | head -n1)"
  n="$(awk '{print $3}' "$out/$name.n")"
  callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null |
    awk -v n="$n" -v name="$name" '
      /PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
      /axum_server::server::Server<A>::serve::\{\{closure\}\}::\{\{closure\}\}::\{\{closure\}\}/ && !task { gsub(",", "", $1); task = $1 }
      END { printf "%-12s %7d requests  %7.0f instructions per request serving  %7.0f in all\n", name, n, task / n, total / n }'
done
