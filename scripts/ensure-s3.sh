#!/usr/bin/env bash
# A real S3 server for the object-storage tests (crates/hangar-testkit's
# S3Server): s3s-fs, built from crates.io with `cargo install` when missing
# (about 5 minutes, once; the binary lands in ${CARGO_HOME:-~/.cargo}/bin,
# where the tests look for it, after $HANGAR_S3S_FS and PATH). 0.14.1:
# newer versions need a newer rustc. Nothing else is downloaded.
set -euo pipefail
VERSION=0.14.1
if [ -n "${HANGAR_S3S_FS:-}" ]; then
    [ -x "$HANGAR_S3S_FS" ] && exit 0
    echo "HANGAR_S3S_FS=$HANGAR_S3S_FS is not an executable" >&2
    exit 1
fi
for bin in "$(command -v s3s-fs || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"; do
    if [ -n "$bin" ] && [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "s3s-fs $VERSION"; then
        exit 0
    fi
done
echo "installing s3s-fs $VERSION (cargo install) for the object-storage tests" >&2
cargo install s3s-fs --version "$VERSION" --features binary --locked
