#!/usr/bin/env bash
# Installs the real FTP clients the tests drive (lftp, python3 for ftplib)
# with apt-get when they are missing. curl and Go are expected already.
set -euo pipefail
need=()
command -v lftp >/dev/null 2>&1 || need+=(lftp)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${need[*]} and no apt-get; the tests that need them will skip" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "install-test-deps: installing ${need[*]} with apt-get"
timeout 300 $SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive timeout 300 $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
