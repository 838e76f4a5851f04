#!/usr/bin/env bash
# Installs what the tests drive with apt-get when it is missing: the real FTP
# clients (lftp, python3 for ftplib, curl) and the kernel NAT tools of
# test/kernel (nft from nftables, iptables-restore from iptables, ip from
# iproute2), and Debian's chromium for the status page's browser test. Go is
# expected already. Idempotent: nothing happens when all
# are there.
set -euo pipefail
need=()
command -v lftp >/dev/null 2>&1 || need+=(lftp)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The kernel tools live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v iptables-restore >/dev/null 2>&1 || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# Headless Chromium for the status page's browser test.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${need[*]} and no apt-get; the tests that need them will fail or skip" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "install-test-deps: installing ${need[*]} with apt-get"
timeout 300 $SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive timeout 300 $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
