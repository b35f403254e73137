#!/usr/bin/env bash
# Open-loop load benchmark of `madoguchi serve` on loopback (tools/loadgen): requests at fixed
# rates, latency measured from each request's scheduled send time, so queueing in a saturated
# server shows as latency instead of being hidden. For each route, rates double until the
# server saturates (achieved < 90 % of the target, or p99 over 2 s); each rate gets RUNS runs
# after a warm-up, with the load average recorded before each run. The server is pinned to the
# first half of the cores and the generator to the other half (PIN=0: both share every core).
# Routes: `search`, `chat` (questions whose embeddings are in the query cache) and `chat-new`
# (every question one the server has never seen, so each request embeds: tools/loadgen
# `distinct`). Writes the "HTTP load" section of docs/benchmarks.md (between its load markers)
# and target/bench-load/runs.jsonl.
#
#   scripts/bench-load.sh                       # 10 s runs, 3 runs a rate
#   SECONDS_PER_RUN=20 RUNS=5 scripts/bench-load.sh
#   ROUTES=chat-new PIN=0 scripts/bench-load.sh # new questions only, server on every core
#   SEARCH_CONFIG='semantic_weight = 0' ROUTES=chat-new DOC=/tmp/x.md scripts/bench-load.sh
#                                               # lines added to the server's [search] section
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
RUNS="${RUNS:-3}"
PORT="${PORT:-18181}"
SEARCH_RATES="${SEARCH_RATES:-100 200 400 800 1600 3200}"
CHAT_RATES="${CHAT_RATES:-10 20 40 80 160 320}"
CHAT_NEW_RATES="${CHAT_NEW_RATES:-5 10 20 40 80}"
ROUTES="${ROUTES:-search chat chat-new}"
PIN="${PIN:-1}"
OUT="$ROOT/target/bench-load"
DOC="${DOC:-$ROOT/docs/benchmarks.md}"
QUESTIONS="$ROOT/tests/eval/queries.tsv"
WARMUP="$ROOT/tests/eval/queries-multilingual.tsv"
rm -rf "$OUT"; mkdir -p "$OUT"

scripts/setup-e5.sh >/dev/null 2>&1 || true
cargo build --release --locked --quiet -p madoguchi -p loadgen
BIN="$ROOT/target/release/madoguchi"
scripts/setup-ipadic.sh "$BIN" >/dev/null
GEN="$ROOT/target/release/loadgen"

CORES="$(nproc)"
HALF=$(( CORES / 2 > 0 ? CORES / 2 : 1 ))
SERVER_PIN=(); GEN_PIN=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $CORES -ge 2 ]]; then
  SERVER_PIN=(taskset -c "0-$((HALF - 1))")
  GEN_PIN=(taskset -c "$HALF-$((CORES - 1))")
fi
export OMP_WAIT_POLICY=passive
# As the systemd unit in docs/operations.md runs the service (set another value to compare).
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
# One generator address stands for many residents: no per-address connection limit.
printf '[server]\nmax_connections_per_address = 0\n\n[search]\n%b\n' "${SEARCH_CONFIG:-}" \
  > "$OUT/madoguchi.toml"
WORKERS=$HALF
[[ ${#SERVER_PIN[@]} -eq 0 ]] && WORKERS=$CORES
TOKIO_WORKER_THREADS="$WORKERS" RUST_LOG=warn "${SERVER_PIN[@]}" "$BIN" serve \
  --config "$OUT/madoguchi.toml" \
  --listen "127.0.0.1:$PORT" --data-dir "$OUT/data" --index "$OUT/index" --rate-limit 0 \
  --watch-interval 0 > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" > "$OUT/readyz.json"

load() { # load ROUTE RATE SECONDS FILE
  local route=$1 extra=()
  [[ $route == chat-new ]] && { route=chat; extra=(distinct); }
  "${GEN_PIN[@]}" "$GEN" "http://127.0.0.1:$PORT" "$route" "$2" "$3" "$4" "${extra[@]}"
}
# Warm-up at a modest rate: other questions, then the measured ones once each, so that every
# measured run finds their embeddings in the query cache (the cost of a new question's
# embedding is measured by `madoguchi eval` and the criterion `embed` bench instead).
load search 20 5 "$WARMUP" > /dev/null
load search 10 26 "$QUESTIONS" > /dev/null
load chat 5 5 "$WARMUP" > /dev/null

for route in $ROUTES; do
  case $route in
    search) rates=$SEARCH_RATES ;;
    chat) rates=$CHAT_RATES ;;
    chat-new) rates=$CHAT_NEW_RATES ;;
    *) echo "bench-load: unknown route '$route' (search, chat, chat-new)" >&2; exit 2 ;;
  esac
  for rate in $rates; do
    saturated=0
    for run in $(seq 1 "$RUNS"); do
      loadavg="$(cut -d' ' -f1-3 /proc/loadavg)"
      line="$(load "$route" "$rate" "$SECONDS_PER_RUN" "$QUESTIONS")"
      echo "{\"run\": $run, \"loadavg\": \"$loadavg\", \"result\": $line}" >> "$OUT/runs.jsonl"
      echo "$route $rate run $run (load $loadavg): $line" >&2
      if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r['achieved_rps'] < 0.9*r['target_rps'] or not r['p99_ms'] < 2000 else 1)" "$line"; then
        saturated=$((saturated + 1))
      fi
      sleep 2
    done
    # Saturated when most runs at this rate were.
    [[ $((saturated * 2)) -gt $RUNS ]] && break
  done
done
RSS_KB="$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)"
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT

python3 - "$OUT" "$DOC" "$SECONDS_PER_RUN" "$RUNS" "$RSS_KB" "$CORES" "${#SERVER_PIN[@]}" "$HALF" "$MALLOC_ARENA_MAX" "${SEARCH_CONFIG:-}" <<'PY'
import json, os, re, statistics, sys
out, doc, seconds, runs, rss_kb, cores, pinned, half, arenas, search_config = sys.argv[1:]
rows = {}
for line in open(f"{out}/runs.jsonl"):
    r = json.loads(line)
    rows.setdefault((r["result"]["route"], r["result"]["target_rps"]), []).append(r)
semantic = json.load(open(f"{out}/readyz.json")).get("semantic", {}).get("state", "?")
table = []
for (route, rate), rs in rows.items():
    res = [r["result"] for r in rs]
    med = lambda k: statistics.median(x[k] for x in res)
    loads = ", ".join(r["loadavg"].split()[0] for r in rs)
    path = {"search": "`GET /api/search`", "chat": "`POST /api/chat`",
            "chat-new": "`POST /api/chat`, new questions"}[route]
    sat = "" if med("achieved_rps") >= 0.9 * rate and med("p99_ms") < 2000 else " (saturated)"
    table.append(
        f"| {path} | {rate:g}{sat} | {med('achieved_rps'):,.0f} | {med('p50_ms'):.1f} | "
        f"{med('p90_ms'):.1f} | {med('p99_ms'):.1f} | {sum(x['errors'] for x in res)} | {loads} |"
    )
section = "\n".join([
    "<!-- load:begin -->",
    "## HTTP load (`scripts/bench-load.sh`)",
    "",
    f"Open loop (`tools/loadgen`): requests sent at a fixed rate and latency measured from each "
    f"request's scheduled time, {runs} runs of {seconds} s a rate after a warm-up, medians shown; "
    f"rates double until the server saturates (achieved < 90 % of the target or p99 > 2 s). "
    + (f"Server on {half} of {cores} cores ({half} tokio worker threads), generator on the others; "
       if pinned != "0" else
       f"Server ({cores} tokio worker threads) and generator sharing all {cores} cores; ")
    + f"rate limiting off; SQLite storage (every chat turn written); `MALLOC_ARENA_MAX={arenas}` (2 in the systemd unit); semantic leg {semantic}"
    + (f" (`[search]` with `{search_config}`)" if search_config else "") + ". The "
    f"questions are the bundled dev questions in turn, each used once in the warm-up, so "
    f"their embeddings come from the query cache; in the rows marked new questions every request "
    f"carries a tag unique to the run and the request (「…（kbdmaopf）」, `tools/loadgen` `distinct`), "
    f"so every one is embedded (about 30 ms of the model's time on two cores: `madoguchi eval`, "
    f"`cargo bench --bench search -- embed`). Peak server RSS: {int(rss_kb) / 1024:.0f} MiB. "
    f"Load average (1 min) before each run in the last column.",
    "",
    "| route | target req/s | achieved req/s | p50 ms | p90 ms | p99 ms | errors | load avg |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
    *table,
    "<!-- load:end -->",
])
text = open(doc).read() if os.path.exists(doc) else ""
if "<!-- load:begin -->" in text:
    text = re.sub(r"<!-- load:begin -->.*<!-- load:end -->", lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(doc, "w").write(text)
print(section)
PY
