#!/usr/bin/env bash
# Benchmark: the credential broker (GET /api/v1/credentials/gitlab) against /healthz on the same
# server, with 10,000 access-token connections stored.
#
#   crates/labgate-server/bench/credentials.sh
#   DURATION=20s ROUNDS=3 crates/labgate-server/bench/credentials.sh
#   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres crates/labgate-server/bench/credentials.sh
#
# Steps: build labgate and gitlab-sim in release; start gitlab-sim with a seed holding one user
# and CONNECTION_COUNT personal access tokens; start `labgate serve` on a fresh data directory
# (SQLite, or a fresh PostgreSQL database made next to BENCH_POSTGRES_URL and dropped at the end);
# create one connection per token through the API, as any client would (each is introspected at
# the simulator, sealed and stored); then from wrk, a separate process on loopback, load /healthz
# and getCredential for random connections among them, alternating, ROUNDS times each, and print
# requests per second, the ratio and the latency percentiles. Each round then repeats both at a
# paced load (every wrk connection pauses PACE_MS after each answer), where the latencies show
# what a request costs rather than how long it queued behind the others. Last, it stops labgate with SIGTERM
# and checks that the audit log counts every credential read the server answered (its /metrics
# counter), and how many connections have a last-use time. Needs wrk, curl, jq and sqlite3 (or
# psql for PostgreSQL).
#
# Environment: DURATION (default 15s per round and endpoint), ROUNDS (2), CONNECTIONS (wrk's
# connections, 16), PACE_MS (2), CONNECTION_COUNT (10000), BENCH_POSTGRES_URL (unset: SQLite), LABGATE_BIN and
# GITLAB_SIM_BIN (binaries to run instead of building them, e.g. to compare two builds), PERF_OUT
# (profile one more run of each endpoint with `perf record` into $PERF_OUT.healthz and
# $PERF_OUT.credentials) and PERF_RECORD_ARGS (its options; default `-F 1999`, e.g.
# `--call-graph dwarf` for call stacks).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
workspace="$(cd "$here/../../.." && pwd)"
duration="${DURATION:-15s}"
rounds="${ROUNDS:-2}"
wrk_connections="${CONNECTIONS:-16}"
count="${CONNECTION_COUNT:-10000}"
pace_ms="${PACE_MS:-2}"
postgres_url="${BENCH_POSTGRES_URL:-}"

for tool in wrk curl jq $([ -n "$postgres_url" ] && echo psql || echo sqlite3); do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install -y $tool)" >&2; exit 1; }
done

cd "$workspace"
if [ -n "${LABGATE_BIN:-}" ]; then
  labgate="$LABGATE_BIN"
  sim="${GITLAB_SIM_BIN:?GITLAB_SIM_BIN must name the simulator when LABGATE_BIN is set}"
else
  cargo build --release -p labgate --bin labgate -p gitlab-sim --bin labgate-gitlab-sim >&2
  target_dir="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
  labgate="$target_dir/release/labgate"
  sim="$target_dir/release/labgate-gitlab-sim"
fi

tmp="$(mktemp -d)"
database_name=""
labgate_pid=""
sim_pid=""
cleanup() {
  for pid in $labgate_pid $sim_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$database_name" ]; then
    psql -q "$postgres_url" -c "DROP DATABASE IF EXISTS $database_name WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Waits until the process writes its first line to $1 (its address); gives up after 30 s.
wait_for_line() {
  local file="$1" pid="$2" log="$3"
  for _ in $(seq 1 600); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  echo "timed out waiting for $file" >&2
  cat "$log" >&2
  exit 1
}

echo "== seeding gitlab-sim with $count personal access tokens" >&2
{
  printf '{"users": [{"username": "bench", "name": "Bench", "email": "bench@example.com"}], "tokens": ['
  seq 1 "$count" | awk '{ printf "%s{\"kind\": \"personal\", \"user\": \"bench\", \"name\": \"t%d\", \"scopes\": [\"api\"], \"token\": \"glpat-bench%014d\"}", (NR > 1 ? "," : ""), $1, $1 }'
  printf ']}\n'
} >"$tmp/seed.json"
"$sim" --seed "$tmp/seed.json" --listen 127.0.0.1:0 >"$tmp/sim.url" 2>"$tmp/sim.log" &
sim_pid=$!
wait_for_line "$tmp/sim.url" "$sim_pid" "$tmp/sim.log"
sim_url="$(head -n1 "$tmp/sim.url")"

backend="SQLite"
database_env=()
if [ -n "$postgres_url" ]; then
  database_name="labgate_bench_$$"
  psql -q "$postgres_url" -c "CREATE DATABASE $database_name" >/dev/null
  database_env=(LABGATE_DATABASE_URL="${postgres_url%/*}/$database_name")
  backend="PostgreSQL"
fi

admin_key="lgk_bench$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
env "${database_env[@]}" \
  LABGATE_DATA_DIR="$tmp/data" \
  LABGATE_LISTEN=127.0.0.1:0 \
  LABGATE_BOOTSTRAP_ADMIN_KEY="$admin_key" \
  LABGATE_ALLOW_INTERNAL_HOSTS=127.0.0.1 \
  LABGATE_LOG_LEVEL=warn \
  "$labgate" serve --no-worker >"$tmp/labgate.out" 2>"$tmp/labgate.log" &
labgate_pid=$!
for _ in $(seq 1 600); do
  grep -q '^labgate listening on ' "$tmp/labgate.out" 2>/dev/null && break
  kill -0 "$labgate_pid" 2>/dev/null || { cat "$tmp/labgate.log" >&2; exit 1; }
  sleep 0.05
done
url="$(sed -n 's/^labgate listening on //p' "$tmp/labgate.out")"
[ -n "$url" ] || { echo "labgate did not start" >&2; cat "$tmp/labgate.log" >&2; exit 1; }

api() {
  local method="$1" path="$2" body="${3:-}"
  curl -fsS -X "$method" -H "Authorization: Bearer $admin_key" -H "Content-Type: application/json" \
    ${body:+--data "$body"} "$url$path"
}

reader_key="$(api POST /api/v1/api-keys '{"name": "bench", "role": "credential-reader"}' | jq -r .token)"

echo "== creating $count connections through the API" >&2
started=$(date +%s.%N)
{
  for i in $(seq 1 "$count"); do
    printf 'url = "%s/api/v1/app-connections/gitlab"\n' "$url"
    printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "$admin_key"
    printf 'data = "{\\"name\\": \\"bench-%05d\\", \\"method\\": \\"access-token\\", \\"credentials\\": {\\"accessToken\\": \\"glpat-bench%014d\\", \\"instanceUrl\\": \\"%s\\", \\"accessTokenType\\": \\"personal\\"}}"\n' "$i" "$i" "$sim_url"
    printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
    [ "$i" -lt "$count" ] && printf 'next\n'
  done
} >"$tmp/create.curl"
curl -sS --no-progress-meter --parallel --parallel-max 8 -K "$tmp/create.curl" >"$tmp/create.status"
created="$(grep -c '^200$' "$tmp/create.status" || true)"
loaded=$(date +%s.%N)
[ "$created" -eq "$count" ] || {
  echo "only $created of $count connections were created; statuses:" >&2
  sort "$tmp/create.status" | uniq -c >&2
  exit 1
}
api GET "/api/v1/app-connections/gitlab" | jq -r '.appConnections[].id' >"$tmp/ids"
stored="$(wc -l <"$tmp/ids")"
[ "$stored" -eq "$count" ] || { echo "$stored connections listed, expected $count" >&2; exit 1; }
printf '%s connections created in %.1fs\n' "$count" "$(echo "$loaded - $started" | bc)"

first="$(head -n1 "$tmp/ids")"
curl -fsS -H "Authorization: Bearer $reader_key" "$url/api/v1/credentials/gitlab?connectionId=$first" |
  jq -e '.credential | startswith("glpat-bench")' >/dev/null ||
  { echo "getCredential does not answer a token" >&2; exit 1; }

# Both endpoints are driven through the same script, so wrk does the same work per request and
# sends requests of the same shape (key header, a random connection id in the query, which
# /healthz ignores): on a machine wrk shares with the server, only the server's work differs.
cat >"$tmp/load.lua" <<'LUA'
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  ids[#ids + 1] = line
end
local path = os.getenv("BENCH_PATH")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
math.randomseed(os.time())

request = function()
  return wrk.format("GET", path .. "?connectionId=" .. ids[math.random(#ids)])
end

-- Paced runs: each connection waits this long after every answer, so the offered load stays
-- below what the server can take and the latencies are the server's, not a queue's.
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  delay = function()
    return pause
  end
end
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$labgate_pid/stat"; }
hz=$(getconf CLK_TCK)

# Runs wrk for one endpoint (getCredential when the name says credentials, else /healthz);
# appends "rps p50_ms p99_ms cpu_us_per_request non2xx" to $tmp/<name>.
measure() {
  local name="$1" seconds="$2" pause="${3:-}"
  local before after out
  before=$(cpu_ticks)
  local path="/healthz"
  case "$name" in *credentials*) path="/api/v1/credentials/gitlab" ;; esac
  out="$(BENCH_IDS="$tmp/ids" BENCH_KEY="$reader_key" BENCH_PATH="$path" BENCH_DELAY_MS="$pause" \
    wrk -t1 -c"$wrk_connections" -d"$seconds" --latency -s "$tmp/load.lua" "$url")"
  after=$(cpu_ticks)
  echo "$out" >>"$tmp/$name.wrk"
  local rps total p50 p99 errors cpu
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  total="$(echo "$out" | awk '/requests in/ {print $1}')"
  p50="$(echo "$out" | awk '$1 == "50%" {print $2}')"
  p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
  errors="$(echo "$out" | awk '/Non-2xx/ {print $5}')"
  cpu=$(echo "scale=1; ($after - $before) * 1000000 / $hz / $total" | bc)
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $cpu ${errors:-0}" >>"$tmp/$name"
}

# wrk prints latencies as 812.00us, 1.23ms or 1.02s.
to_ms() {
  case "$1" in
    *us) echo "scale=3; ${1%us} / 1000" | bc ;;
    *ms) echo "${1%ms}" ;;
    *s) echo "scale=3; ${1%s} * 1000" | bc ;;
    *) echo "$1" ;;
  esac
}

echo "== warming up" >&2
measure warmup-healthz 3s
measure warmup-credentials 3s

for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds: /healthz, then getCredential, $duration each" >&2
  measure healthz "$duration"
  measure credentials "$duration"
  echo "== round $round of $rounds, paced ($pace_ms ms between a connection's requests)" >&2
  measure paced-healthz "$duration" "$pace_ms"
  measure paced-credentials "$duration" "$pace_ms"
done

# With PERF_OUT set, one more run of each endpoint is profiled (not counted in the figures), into
# $PERF_OUT.healthz and $PERF_OUT.credentials: what getCredential adds is their difference.
profile() {
  local name="$1"
  echo "== profiling $name into $PERF_OUT.$name" >&2
  # shellcheck disable=SC2086 # PERF_RECORD_ARGS is a list of options
  perf record ${PERF_RECORD_ARGS:--F 1999} -p "$labgate_pid" -o "$PERF_OUT.$name" -- sleep 10 >/dev/null 2>&1 &
  local perf_pid=$!
  measure "profiled-$name" 10s
  wait "$perf_pid" || true
}
if [ -n "${PERF_OUT:-}" ]; then
  profile healthz
  profile credentials
fi

mean() { awk -v col="$2" '{ sum += $col } END { printf "%.0f", sum / NR }' "$1"; }
worst() { awk -v col="$2" 'NR == 1 || $col > max { max = $col } END { printf "%.2f", max }' "$1"; }

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "backend: $backend; $count connections; wrk -t1 -c$wrk_connections -d$duration, $rounds rounds each"
echo
printf '%-14s %6s %12s %9s %9s %16s %8s\n' "" round "requests/s" "p50 ms" "p99 ms" "CPU/request us" "non-2xx"
for name in healthz credentials paced-healthz paced-credentials; do
  n=0
  while read -r rps p50 p99 cpu errors; do
    n=$((n + 1))
    printf '%-14s %6s %12s %9s %9s %16s %8s\n' "$name" "$n" "$rps" "$p50" "$p99" "$cpu" "$errors"
  done <"$tmp/$name"
done
healthz_rps=$(mean "$tmp/healthz" 1)
credentials_rps=$(mean "$tmp/credentials" 1)
ratio=$(echo "scale=2; $credentials_rps / $healthz_rps" | bc)
echo
echo "/healthz:       $healthz_rps req/s (mean of rounds), worst p50 $(worst "$tmp/healthz" 2) ms, worst p99 $(worst "$tmp/healthz" 3) ms"
echo "getCredential:  $credentials_rps req/s (mean of rounds), worst p50 $(worst "$tmp/credentials" 2) ms, worst p99 $(worst "$tmp/credentials" 3) ms"
echo "ratio:          $ratio x /healthz (target >= 0.8)"
echo "paced load ($wrk_connections connections, $pace_ms ms pause after each answer):"
echo "  /healthz:      $(mean "$tmp/paced-healthz" 1) req/s, worst p50 $(worst "$tmp/paced-healthz" 2) ms, worst p99 $(worst "$tmp/paced-healthz" 3) ms"
echo "  getCredential: $(mean "$tmp/paced-credentials" 1) req/s, worst p50 $(worst "$tmp/paced-credentials" 2) ms, worst p99 $(worst "$tmp/paced-credentials" 3) ms (target p99 < 2 ms)"
errors=$(awk '{ sum += $5 } END { print sum + 0 }' "$tmp/credentials")
[ "$errors" -eq 0 ] || echo "WARNING: $errors getCredential answers were not 2xx" >&2

# Every answered read must be in the audit log once labgate has stopped cleanly. wrk abandons
# the requests in flight when a run ends; give them a moment to finish first. A read the server
# counted but whose answer was dropped with its connection is audited but not in the counter,
# so the log may hold up to wrk's connection count more per credential run.
sleep 1
curl -fsS "$url/metrics" >"$tmp/metrics"
served="$(awk '/^labgate_http_requests_total\{/ && /route="\/api\/v1\/credentials\/gitlab"/ && /status="200"/ { sum += $2 } END { print sum + 0 }' "$tmp/metrics")"
cache_reads() { awk -v result="$1" '/^labgate_credential_cache_reads_total\{/ && $0 ~ "result=\"" result "\"" { print $2 }' "$tmp/metrics"; }
echo "credential cache: $(cache_reads hit) hits, $(cache_reads miss) misses"
kill -TERM "$labgate_pid"
wait "$labgate_pid" || true
labgate_pid=""
audit_sql="SELECT COALESCE(SUM(occurrences), 0) FROM audit_log WHERE action = 'app-connection.credential-read'"
used_sql="SELECT COUNT(*) FROM app_connections WHERE last_used_at IS NOT NULL"
if [ -n "$database_name" ]; then
  query() { psql -qtA "${postgres_url%/*}/$database_name" -c "$1"; }
else
  query() { sqlite3 "$tmp/data/labgate.db" "$1"; }
fi
audited="$(query "$audit_sql")"
echo "reads answered 200 (server counter): $served; audited after SIGTERM: $audited; connections with a last use: $(query "$used_sql") of $count"
runs=$((rounds * 2 + 1))
if [ -n "${PERF_OUT:-}" ]; then runs=$((runs + 1)); fi
if [ "$audited" -lt "$served" ] || [ "$((audited - served))" -gt "$((wrk_connections * runs))" ]; then
  echo "WARNING: the audit log does not count every answered read" >&2
fi
