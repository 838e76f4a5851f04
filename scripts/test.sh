#!/usr/bin/env bash
# The project's test command (README "Run the tests"). CI runs it through .ci/run.
# On a fresh machine it needs only Go: install-test-deps.sh installs lftp,
# python3, curl and the kernel NAT tools (nftables, iptables, iproute2) with
# apt-get when they are missing. test/kernel (run by go test, as root) loads
# rotary rules output into network namespaces it creates.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies (lftp, python3, curl, nftables, iptables, iproute2, chromium)"
./scripts/install-test-deps.sh

# The S3 tests (internal/storage/s3, serveapp, the interop suite's S3 part)
# run a real MinIO, built once into $HOME/.cache/rotary (3 to 15 minutes the
# first time). When it cannot be built the tests that need it fail and say
# so; ROTARY_SKIP_S3=1 skips them instead.
if [ "${ROTARY_SKIP_S3:-}" != 1 ] && [ -z "${ROTARY_MINIO:-}" ]; then
  echo "== MinIO for the S3 tests (scripts/install-minio.sh)"
  if minio=$(./scripts/install-minio.sh); then
    export ROTARY_MINIO="$minio"
  else
    echo "== MinIO could not be built: the S3 tests will fail, saying so"
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== cross builds (windows, darwin) and go vet for windows (the service code)"
GOOS=windows GOARCH=amd64 go build ./...
GOOS=windows GOARCH=amd64 go vet ./...
GOOS=darwin GOARCH=arm64 go build ./...

# One binary for every test that runs the real thing (cmd/rotary, test/e2e,
# the interop suite), built once.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
echo "== go build (the binary the tests run)"
go build -o "$bindir/rotary" ./cmd/rotary
export ROTARY_BIN="$bindir/rotary"

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
# Stack sizes are only what production gets without the race detector.
echo "== go test (stack sizes, without -race)"
go test -count=1 -run 'TestIdleSessionStacks' ./internal/ftp/

# As root on Debian/Ubuntu (SKIP otherwise). The first run builds nfpm (about 50 s).
# rotary check binds ports 21, 30000-30099 and 127.0.0.1:2181: nothing else may hold them.
echo "== .deb package (nfpm build, dpkg -i, rotary check, dpkg -r, dpkg -P)"
./scripts/test-deb.sh

if [ -f test/interop/run.sh ]; then
  echo "== interop (lftp, Python ftplib)"
  bash test/interop/run.sh
fi
