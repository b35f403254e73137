#!/usr/bin/env bash
# Times what issue #19 (point 8) asks about, from a clean clone of the current commit:
#   scripts/time-fresh-clone.sh run    # scripts/run.sh until /healthz answers on 127.0.0.1:8080
#   scripts/time-fresh-clone.sh test   # REQUIRE_POSTGRES=1 scripts/test.sh, to its end
#   scripts/time-fresh-clone.sh run 726594b   # the same for an earlier commit (a before/after pair)
# The clone goes to a temporary directory (removed at the end). Crates come from cargo's
# download cache; Debian packages already installed are not installed again. Nothing else
# should run on the machine meanwhile; the CPU time the host took (steal) is printed beside the
# wall time, since it changes these figures a lot on a shared machine.
set -euo pipefail
what="${1:-}"
rev="${2:-HEAD}"
[[ $what == run || $what == test ]] || { echo "usage: $0 run|test [COMMIT]" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
git clone -q "$repo" "$work/repo"
cd "$work/repo"
git checkout -q "$rev"
echo "time-fresh-clone: $(git log --oneline -1)" >&2
steal() { awk '/^cpu /{print $9}' /proc/stat; }
s0=$(steal)
start=$SECONDS
if [[ $what == test ]]; then
  REQUIRE_POSTGRES=1 bash scripts/test.sh > "$work/log" 2>&1 || { tail -40 "$work/log"; exit 1; }
  grep '^test.sh:' "$work/log" >&2
else
  if curl -sf http://127.0.0.1:8080/healthz >/dev/null; then
    echo "time-fresh-clone: something already answers on 127.0.0.1:8080" >&2; exit 1
  fi
  bash scripts/run.sh > "$work/log" 2>&1 &
  pid=$!
  until curl -sf http://127.0.0.1:8080/healthz >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -40 "$work/log"; echo "run.sh exited" >&2; exit 1; }
    sleep 1
  done
fi
took=$((SECONDS - start))
echo "time-fresh-clone: $what took $((took / 60)) min $((took % 60)) s; the host took $(( ($(steal) - s0) / 100 )) s of CPU time (steal)"
