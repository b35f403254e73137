#!/usr/bin/env bash
# Installs the Debian packages the build links against, when missing (idempotent):
#   libsqlite3-dev  the system SQLite, instead of compiling SQLite's C source in every profile
#   libssl-dev      the system OpenSSL for HTTPS to an LLM or embeddings endpoint (it also
#                   trusts the machine's own CA certificates, as an office's internal CA needs)
#   pkg-config      how the build finds them
# Issue #19, point 8: both C libraries used to be compiled from source by their crates, about
# 3 minutes of CPU in a release build on the project's machine (see README, "How long").
set -euo pipefail
log() { echo "setup-build: $*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }

missing=()
for pkg in libsqlite3-dev libssl-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
command -v apt-get >/dev/null || { log "install ${missing[*]} (not a Debian/Ubuntu machine)"; exit 1; }
log "installing Debian packages ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
