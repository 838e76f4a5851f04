#!/usr/bin/env bash
# Builds the MinIO server the S3 tests run (internal/storage/s3/s3test) into
# ${ROTARY_CACHE:-$HOME/.cache/rotary}/bin/minio, once: nothing happens when
# it is there already. Prints the binary's path. Needs Go and the module
# proxy (or a filled module cache); the build takes 3 to 15 minutes.
#
# The tests look for $ROTARY_MINIO first, then that path. Without either
# they fail and say how to get it; ROTARY_SKIP_S3=1 makes them skip.
set -euo pipefail
# One pinned version, so that every machine tests against the same server.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
bin_dir="${ROTARY_CACHE:-$HOME/.cache/rotary}/bin"
minio="$bin_dir/minio"
if [ -x "$minio" ]; then
  echo "$minio"
  exit 0
fi
mkdir -p "$bin_dir"
echo "install-minio: building github.com/minio/minio@$MINIO_VERSION into $bin_dir (3 to 15 minutes)" >&2
# GOFLAGS from the caller (-mod=vendor, say) would break a build outside
# this module; the build gets a clean one. No GOTOOLCHAIN: the Go installed
# builds it.
if ! GOFLAGS= GOBIN="$bin_dir" go install "github.com/minio/minio@$MINIO_VERSION"; then
  echo "install-minio: FAILED to build MinIO $MINIO_VERSION (see above); the S3 tests cannot run without it" >&2
  exit 1
fi
if [ ! -x "$minio" ]; then
  echo "install-minio: FAILED: the build succeeded but $minio is not there" >&2
  exit 1
fi
"$minio" --version >/dev/null 2>&1 || { echo "install-minio: FAILED: $minio does not run" >&2; exit 1; }
echo "$minio"
