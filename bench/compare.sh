#!/usr/bin/env bash
# Rotary against vsftpd, Pure-FTPd, ProFTPD and pyftpdlib on this machine.
#
# Installs the peers from Debian's packages, configures each on its own
# loopback address with one user, runs every workload of `rotary bench`
# against all of them, interleaved, and writes BENCHMARKS.md. Not part of
# ./scripts/test.sh: it needs root, apt and about 45 minutes of an otherwise
# quiet machine.
#
#   sudo bench/compare.sh                       # 5 rounds, 5 s per workload
#   sudo bench/compare.sh --rounds 1 --duration 1s --sessions 500 --size 256MiB --out /tmp/smoke.md
#
# Flags after the script name go to bench/compare (go run ./bench/compare --help).
# BENCH_SCRATCH (default /var/tmp/rotary-bench) holds the unpacked peers, the
# served folder and the logs; ROTARY_BIN uses a prebuilt rotary binary.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=${BENCH_SCRATCH:-/var/tmp/rotary-bench}
if [ "$(id -u)" != 0 ]; then
  echo "compare.sh: run as root (it installs packages, creates the user benchftp and starts servers as root)" >&2
  exit 1
fi
mkdir -p "$scratch"/{debs,pkg,root,logs,run,vsftpd-empty}
chmod 755 "$scratch"
chmod 555 "$scratch/vsftpd-empty"   # vsftpd's secure_chroot_dir: empty, not writable

# The three C servers conflict as packages (each Provides ftp-server), so
# they are downloaded and unpacked side by side instead of installed; only
# their shared libraries are installed. pyftpdlib installs normally.
if [ ! -f "$scratch/.apt-updated" ]; then
  apt-get update -qq
  touch "$scratch/.apt-updated"
fi
peers="vsftpd pure-ftpd proftpd-core proftpd-mod-crypto"
libs=""
for p in $peers; do
  deb=$(ls "$scratch"/debs/"${p}"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    (cd "$scratch/debs" && apt-get download -qq "$p" 2>&1 | grep -v "unsandboxed" || true)
    deb=$(ls "$scratch"/debs/"${p}"_*.deb | head -n1)
  fi
  dest="$scratch/pkg/${p%-core}"
  [ "$p" = proftpd-mod-crypto ] && dest="$scratch/pkg/proftpd"
  mkdir -p "$dest"
  dpkg -x "$deb" "$dest"
  # Library dependencies: "libfoo1 (>= 1.2), libbar | libbaz" -> libfoo1 libbar.
  libs="$libs $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep '^lib' || true)"
done
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  $libs python3-pyftpdlib python3-openssl openssl >/dev/null
for b in "$scratch/pkg/vsftpd/usr/sbin/vsftpd" "$scratch/pkg/pure-ftpd/usr/sbin/pure-ftpd" "$scratch/pkg/proftpd/usr/sbin/proftpd"; do
  if ldd "$b" | grep -q "not found"; then
    echo "compare.sh: $b misses libraries:" >&2; ldd "$b" | grep "not found" >&2; exit 1
  fi
done

# One system user for the servers that log in through the system (vsftpd
# via PAM, Pure-FTPd and ProFTPD via /etc/shadow); all five servers serve its
# home, so the test files are made once and read from the same page cache.
# Pure-FTPd wants a shell listed in /etc/shells, so the account could log in
# elsewhere too: its password is random, kept in run/password (mode 600).
if [ ! -s "$scratch/run/password" ]; then
  (umask 077; openssl rand -hex 16 > "$scratch/run/password")
fi
password=$(cat "$scratch/run/password")
if ! id benchftp >/dev/null 2>&1; then
  useradd --home-dir "$scratch/root" --no-create-home --shell /bin/sh benchftp
fi
usermod --shell /bin/sh --home "$scratch/root" benchftp
echo "benchftp:$password" | chpasswd
chown benchftp: "$scratch/root"
# vsftpd's PAM service: the password and nothing else (no shell or ftpusers checks).
cat > /etc/pam.d/rotary-bench-vsftpd <<'PAM'
auth    required pam_unix.so
account required pam_unix.so
PAM

# A throwaway self-signed certificate for the FTPS variants.
if [ ! -f "$scratch/run/cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=127.0.0.1 \
    -keyout "$scratch/run/key.pem" -out "$scratch/run/cert.pem" 2>/dev/null
  cat "$scratch/run/key.pem" "$scratch/run/cert.pem" > "$scratch/run/combined.pem"
  chmod 600 "$scratch"/run/*.pem
fi

rotary=${ROTARY_BIN:-}
if [ -z "$rotary" ]; then
  rotary="$scratch/rotary"
  go build -o "$rotary" ./cmd/rotary
fi
go build -o "$scratch/compare" ./bench/compare

# Linux caches TCP metrics (RTT, reordering, cwnd) per destination address,
# and each server here has its own address: without this, what one server's
# earlier workloads left in the cache (an RTT of 2.6 ms for one address
# against 16 µs for another was seen) seeds its later connections. The
# setting is restored when the comparison ends.
saved_metrics=$(sysctl -n net.ipv4.tcp_no_metrics_save 2>/dev/null || echo "")
if [ -n "$saved_metrics" ]; then
  ip tcp_metrics flush all 2>/dev/null || true
  sysctl -q -w net.ipv4.tcp_no_metrics_save=1
  trap 'sysctl -q -w net.ipv4.tcp_no_metrics_save="$saved_metrics"' EXIT
fi
"$scratch/compare" --scratch "$scratch" --rotary "$rotary" --password "$password" \
  --peers-dir "$PWD/bench/peers" --command "bench/compare.sh $*" "$@"
