#!/usr/bin/env bash
# Builds the Debian package of Rotary: a static binary (CGO_ENABLED=0,
# -trimpath, stripped) and packaging/rotary.service, packed by nfpm from
# packaging/nfpm.yaml into dist/rotary_<version>_<arch>.deb, whose path it
# prints last. nfpm runs with `go run ...@v2.45.2`: pinned, and kept out of
# go.mod (the first run downloads and builds it, about a minute).
#
#   ROTARY_VERSION  the package version (default 0.0.0+git<shortsha>)
#   GOARCH          the target architecture (default: go env GOARCH)
set -euo pipefail
cd "$(dirname "$0")/.."

nfpm_pkg=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

if [ -z "${ROTARY_VERSION:-}" ]; then
  sha=$(git rev-parse --short HEAD 2>/dev/null || true)
  ROTARY_VERSION="0.0.0${sha:++git$sha}"
fi
# A Debian version starts with a digit; a tag such as v1.2.0 loses its v.
ROTARY_VERSION=${ROTARY_VERSION#v}
if ! [[ $ROTARY_VERSION =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
  echo "package-deb: ROTARY_VERSION=$ROTARY_VERSION is not a Debian version" >&2
  exit 2
fi
goarch=${GOARCH:-$(go env GOARCH)}
# Debian names the architectures Go calls 386 and arm (GOARM=7) differently.
case $goarch in
  386) arch=i386 ;;
  arm) arch=armhf ;;
  *) arch=$goarch ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath \
  -ldflags "-s -w -X main.version=$ROTARY_VERSION" -o "$stage/rotary" ./cmd/rotary

# The unit as it is, but for the binary's path: a package installs to
# /usr/bin, a hand install (README "Run as a service") to /usr/local/bin.
sed 's|^ExecStart=/usr/local/bin/rotary |ExecStart=/usr/bin/rotary |' \
  packaging/rotary.service >"$stage/rotary.service"
if ! grep -q '^ExecStart=/usr/bin/rotary serve --config /etc/rotary/rotary.toml$' "$stage/rotary.service"; then
  echo "package-deb: packaging/rotary.service's ExecStart is not /usr/local/bin/rotary serve --config /etc/rotary/rotary.toml; update this script" >&2
  exit 1
fi

mkdir -p dist
deb="dist/rotary_${ROTARY_VERSION}_${arch}.deb"
rm -f "$deb"
# nfpm itself runs here, whatever GOOS and GOARCH the package is for.
env -u GOOS -u GOARCH ROTARY_VERSION="$ROTARY_VERSION" ROTARY_ARCH="$arch" ROTARY_STAGE="$stage" \
  go run "$nfpm_pkg" package --config packaging/nfpm.yaml --packager deb --target "$deb" >&2
echo "$deb"
