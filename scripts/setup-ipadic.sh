#!/usr/bin/env bash
# Builds lindera's IPADIC from Debian's mecab-ipadic into .lindera-cache/ (idempotent).
#
# lindera's own `embed-ipadic` feature downloads the dictionary at build time, which cannot work
# offline. Instead: apt mecab-ipadic (EUC-JP MeCab sources) -> iconv to UTF-8 ->
# `madoguchi build-dictionary` -> .lindera-cache/<lindera-ipadic version>-fmt<N>/lindera-ipadic,
# with a stable symlink .lindera-cache/ipadic that the program loads at run time. The versioned
# directory is also the cache that `cargo build --features embed-ipadic` reads instead of
# downloading.
#
#   scripts/setup-ipadic.sh [MADOGUCHI_BINARY]
#
# The dictionary is built by the madoguchi binary given (run.sh and test.sh pass the one they
# have just built), else by the debug build (`cargo build`, the one the tests use). A tool of its
# own would compile lindera and its dependencies a second time: about a minute on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="$PWD/.lindera-cache"
SRC=/usr/share/mecab/dic/ipadic

if [ ! -f "$SRC/matrix.def" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  echo "setup-ipadic: installing Debian's mecab-ipadic" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mecab-ipadic >/dev/null
fi
for tool in iconv python3; do
  command -v "$tool" >/dev/null || { echo "setup-ipadic: $tool is required" >&2; exit 1; }
done

# The embed cache is only used when the built metadata.json equals the one lindera-ipadic ships,
# so take the version and the metadata from the exact crate that Cargo.lock resolves.
read -r VER MANIFEST < <(cargo metadata --format-version 1 --features embed-ipadic \
  | python3 -c 'import json,sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "lindera-ipadic": print(p["version"], p["manifest_path"])')
META="$(dirname "$MANIFEST")/metadata.json"

if compgen -G "$CACHE/$VER-fmt*/lindera-ipadic/metadata.json" >/dev/null; then
  ln -sfn "$(cd "$CACHE" && ls -d "$VER"-fmt*/lindera-ipadic | head -1)" "$CACHE/ipadic"
  echo "setup-ipadic: IPADIC for lindera-ipadic $VER already built in $CACHE" >&2
  exit 0
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/src"
for f in "$SRC"/*.csv "$SRC"/*.def; do
  iconv -f EUC-JP -t UTF-8 "$f" > "$TMP/src/$(basename "$f")"
done
echo "setup-ipadic: building the dictionary (lindera-ipadic $VER)" >&2
# Never with embed-ipadic: that feature's build script is what we are replacing.
BIN="${1:-}"
if [ -z "$BIN" ]; then
  cargo build --locked --quiet --bin madoguchi
  BIN=target/debug/madoguchi
fi
"$BIN" build-dictionary "$TMP/src" "$META" "$TMP/out"
FMT=$(sed -n 's/.*"format_version": *\([0-9]*\).*/\1/p' "$TMP/out/metadata.json")
mkdir -p "$CACHE/$VER-fmt$FMT"
# Build in a temp dir and move into place: rewriting a dictionary that a running process has
# mapped into memory could crash it.
mv "$TMP/out" "$CACHE/$VER-fmt$FMT/lindera-ipadic"
ln -sfn "$VER-fmt$FMT/lindera-ipadic" "$CACHE/ipadic"
echo "setup-ipadic: built $CACHE/ipadic" >&2
