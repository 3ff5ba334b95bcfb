#!/usr/bin/env bash
# Fetch the ONNX Runtime shared library from the `onnxruntime` wheel on PyPI
# into vendor/onnxruntime/ (Hangar's documented default location).
# Idempotent: does nothing when the library is already there.
set -euo pipefail
ORT_VERSION="${ORT_VERSION:-1.32.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/vendor/onnxruntime"
lib="$dest/libonnxruntime.so"
if [ -f "$lib" ]; then
  exit 0
fi
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching onnxruntime==$ORT_VERSION wheel (shared library only) ..." >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.11 --platform manylinux_2_28_x86_64 \
  "onnxruntime==$ORT_VERSION" -d "$tmp" >&2
wheel="$(ls "$tmp"/onnxruntime-*.whl | head -n1)"
python3 - "$wheel" "$lib" <<'PY'
import sys, zipfile, shutil
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime.so")]
    if not names:
        sys.exit("no libonnxruntime.so in " + wheel)
    with z.open(sorted(names)[0]) as src, open(out + ".tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
import os
os.replace(out + ".tmp", out)
PY
echo "ONNX Runtime $ORT_VERSION -> $lib" >&2
