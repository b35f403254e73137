#!/usr/bin/env bash
# Load benchmark of `madoguchi serve` on loopback with wrk (Debian package), bounded in time:
# GET /api/search and POST /api/chat on the bundled FAQ, 2 server worker threads, rate limiting
# off. Writes the "HTTP load" section of docs/benchmarks.md (between its load markers).
#
#   scripts/bench-load.sh              # 15 s per route, 32 connections
#   DURATION=30s CONNECTIONS=64 scripts/bench-load.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18181}"
OUT="$ROOT/target/bench-load"
DOC="$ROOT/docs/benchmarks.md"
rm -rf "$OUT"; mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo -n"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
fi
scripts/setup-ipadic.sh >/dev/null
cargo build --release --locked --quiet
BIN="$ROOT/target/release/madoguchi"

# The server gets 2 worker threads (TOKIO_WORKER_THREADS) and 2 cores when taskset exists.
PIN=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 4 ]]; then PIN=(taskset -c 0,1); fi
TOKIO_WORKER_THREADS=2 RUST_LOG=warn "${PIN[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" \
  --data-dir "$OUT/data" --index "$OUT/index" --rate-limit 0 --watch-interval 0 \
  > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null

cat > "$OUT/chat.lua" <<'LUA'
local questions = {
  "マイナンバーカードの暗証番号を忘れました", "住民票をコンビニで取りたい",
  "児童手当はいつ振り込まれますか", "国民年金の保険料を免除してほしい",
  "引っ越したら何の手続きがいる？", "ふるさと納税のワンストップ特例",
  "明日の天気を教えて", "罹災証明書の申請に必要なもの",
}
local i = 0
request = function()
  i = i + 1
  local body = '{"message":"' .. questions[(i % #questions) + 1] .. '"}'
  return wrk.format("POST", "/api/chat", {["Content-Type"] = "application/json"}, body)
end
LUA
cat > "$OUT/search.lua" <<'LUA'
local qs = {
  "%E4%BD%8F%E6%B0%91%E7%A5%A8%20%E3%82%B3%E3%83%B3%E3%83%93%E3%83%8B",
  "%E3%83%9E%E3%82%A4%E3%83%8A%E3%83%B3%E3%83%90%E3%83%BC%E3%82%AB%E3%83%BC%E3%83%89%20%E6%9A%97%E8%A8%BC%E7%95%AA%E5%8F%B7",
  "%E5%85%90%E7%AB%A5%E6%89%8B%E5%BD%93",
  "%E5%9B%BD%E6%B0%91%E5%B9%B4%E9%87%91%20%E5%85%8D%E9%99%A4",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/search?k=5&q=" .. qs[(i % #qs) + 1])
end
LUA

run() { # run NAME SCRIPT
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency -s "$OUT/$2" \
    "http://127.0.0.1:$PORT" > "$OUT/$1.txt" 2>&1
}
run search search.lua
run chat chat.lua
RSS_KB="$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)"
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT

python3 - "$OUT" "$DOC" "$DURATION" "$CONNECTIONS" "$RSS_KB" <<'PY'
import re, sys, os
out, doc, duration, conns, rss_kb = sys.argv[1:]
def parse(name):
    t = open(f"{out}/{name}.txt").read()
    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    total = int(re.search(r"(\d+) requests in", t).group(1))
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    sock = re.search(r"Socket errors: (.*)", t)
    return rps, lat(50), lat(99), total, int(errs.group(1)) if errs else 0, sock.group(1) if sock else "none"
rows = []
for name, route in [("search", "GET /api/search"), ("chat", "POST /api/chat")]:
    rps, p50, p99, total, errs, sock = parse(name)
    rows.append(f"| `{route}` | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {total:,} | {errs} | {sock} |")
section = "\n".join([
    "<!-- load:begin -->",
    "## HTTP load (`scripts/bench-load.sh`)",
    "",
    f"wrk on loopback, {conns} connections, {duration} per route, server with 2 tokio worker threads, "
    f"rate limiting off, SQLite storage (every chat turn is written). {os.cpu_count()} CPUs shared by "
    "server and load generator. Peak server RSS over both runs: "
    f"{int(rss_kb) / 1024:.0f} MiB.",
    "",
    "| route | requests/s | p50 ms | p99 ms | requests | non-2xx | socket errors |",
    "|---|---:|---:|---:|---:|---:|---|",
    *rows,
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
