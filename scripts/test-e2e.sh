#!/usr/bin/env bash
# End-to-end tests of the resident chat widget (web/widget.js, web/index.html; tests/e2e/run.mjs)
# and of the staff console (web/staff/; tests/e2e/staff.mjs) in Debian's chromium against a real
# `madoguchi serve`. Idempotent: installs what is missing, then runs.
#
#   scripts/test-e2e.sh                      # setup + all scenarios
#   E2E_ONLY="3 " scripts/test-e2e.sh        # only the widget scenarios whose name contains "3 "
#   E2E_SCREENSHOTS=1 scripts/test-e2e.sh    # also rewrite docs/widget-desktop.png, docs/widget-phone.png
#   E2E_SKIP_BUILD=1 scripts/test-e2e.sh     # use the existing target/release/madoguchi
#   MADOGUCHI_BIN=target/debug/madoguchi scripts/test-e2e.sh   # use that binary (scripts/test.sh
#                                            # passes the one its tests built: no release build)
#
# Needs: node >= 20 with npm (packages come from the npm registry only: playwright-core and
# axe-core, pinned in tests/e2e/package-lock.json; no browser downloads), apt for chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ntest-e2e: FAILED: %s\n' "$*" >&2; exit 1; }
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi
apt_install() {
  "${SUDO[@]}" apt-get update -qq || fail "apt-get update (needs root or passwordless sudo)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    || fail "apt-get install $*"
}

step "browser: Debian chromium"
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium with apt-get"
  apt_install chromium
fi
# Japanese and emoji glyphs for the screenshots (the tests themselves do not depend on fonts).
fonts=()
[ -d /usr/share/fonts/opentype/noto ] && fc-list :lang=ja 2>/dev/null | grep -q . || fonts+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || fonts+=(fonts-noto-color-emoji)
if [ "${#fonts[@]}" -gt 0 ]; then
  echo "installing ${fonts[*]} with apt-get"
  apt_install "${fonts[@]}"
fi
/usr/bin/chromium --version 2>/dev/null | head -n 1 || true

step "node packages (tests/e2e)"
command -v node >/dev/null || fail "node is not installed (need node >= 20)"
command -v npm >/dev/null || fail "npm is not installed"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
  || fail "node $(node --version) is too old (need >= 20)"
stamp=tests/e2e/node_modules/.madoguchi-lock
if [ -f "$stamp" ] && cmp -s "$stamp" tests/e2e/package-lock.json; then
  echo "up to date ($(node --version))"
else
  (cd tests/e2e && npm ci --no-audit --no-fund --registry=https://registry.npmjs.org/) || fail "npm ci"
  cp tests/e2e/package-lock.json "$stamp"
fi

step "madoguchi binary"
if [ -n "${MADOGUCHI_BIN:-}" ]; then
  [ -x "$MADOGUCHI_BIN" ] || fail "MADOGUCHI_BIN=$MADOGUCHI_BIN is not an executable"
  echo "using $MADOGUCHI_BIN"
elif [ "${E2E_SKIP_BUILD:-0}" = 1 ]; then
  [ -x target/release/madoguchi ] || fail "E2E_SKIP_BUILD=1 but target/release/madoguchi is missing"
  echo "using the existing target/release/madoguchi"
else
  cargo build --release --locked || fail "cargo build --release --locked"
fi

step "widget size"
raw=$(wc -c < web/widget.js)
gz=$(gzip -9c web/widget.js | wc -c)
echo "web/widget.js: ${raw} bytes, ${gz} bytes gzipped"
# Issue #20: the widget stays under 20 KB gzipped (its other languages are separate files).
[ "$gz" -lt 20480 ] || fail "web/widget.js is ${gz} bytes gzipped, over 20 KB"
for f in web/widget-lang/*.json; do
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$f" || fail "$f is not JSON"
done

start=$(date +%s)
status=()
failed=0
step "widget scenarios (node tests/e2e/run.mjs)"
if node tests/e2e/run.mjs; then status+=("widget (tests/e2e/run.mjs): passed"); else status+=("widget (tests/e2e/run.mjs): FAILED"); failed=1; fi
# The staff console's suite shares node_modules and the browser; E2E_ONLY narrows the run to the widget.
if [ -f tests/e2e/staff.mjs ] && [ -z "${E2E_ONLY:-}" ]; then
  step "staff console scenarios (node tests/e2e/staff.mjs)"
  if node tests/e2e/staff.mjs; then status+=("staff console (tests/e2e/staff.mjs): passed"); else status+=("staff console (tests/e2e/staff.mjs): FAILED"); failed=1; fi
fi

step "summary"
printf '  %s\n' "${status[@]}"
printf '  web/widget.js: %s bytes, %s bytes gzipped\n' "$raw" "$gz"
if [ "$failed" = 0 ]; then
  printf '\ntest-e2e: OK in %ss\n' "$(( $(date +%s) - start ))"
else
  fail "see the ✘ lines above; screenshots of widget failures are in tests/e2e/test-results/"
fi
