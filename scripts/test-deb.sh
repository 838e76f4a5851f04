#!/usr/bin/env bash
# Tests the Debian package end to end, as root on Debian or Ubuntu: builds
# it with scripts/package-deb.sh, installs it with dpkg -i, checks what it
# installed (binary, unit, conffiles, the rotary user, folders and modes),
# that `rotary check --config /etc/rotary/rotary.toml` passes as root and,
# on a loopback port, as the service user (before and after `rotary user
# add`), that a reinstall keeps an edited conffile, then dpkg -r (binary and
# unit gone, conffiles kept) and dpkg -P (conffiles and state gone). A trap
# purges the package and deletes the user, group and /srv/ftp if this script
# created them, so the machine is left as it was, also on failure.
# Prints SKIP and exits 0 when not root or without dpkg.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: test-deb.sh needs root (dpkg -i)"; exit 0
fi
if ! command -v dpkg >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "SKIP: test-deb.sh needs dpkg and dpkg-deb (Debian or Ubuntu)"; exit 0
fi

fail() { echo "FAIL: test-deb: $*" >&2; exit 1; }
# status prints dpkg's state of the package: installed, config-files, or
# nothing when dpkg does not know it.
status() { dpkg-query -W -f='${db:Status-Status}' rotary 2>/dev/null || true; }

if [ -n "$(status)" ] && [ "$(status)" != not-installed ]; then
  fail "a rotary package is already on this machine ($(status)); dpkg -P rotary first"
fi
had_user=$(getent passwd rotary >/dev/null && echo yes || echo no)
had_group=$(getent group rotary >/dev/null && echo yes || echo no)
had_srv=$([ -e /srv/ftp ] && echo yes || echo no)

cleanup() {
  local rc=$?
  if [ -n "$(status)" ] && [ "$(status)" != not-installed ]; then
    dpkg -P rotary >/dev/null 2>&1 || echo "test-deb: cleanup: dpkg -P rotary failed" >&2
  fi
  if [ "$had_user" = no ] && getent passwd rotary >/dev/null; then userdel rotary; fi
  if [ "$had_group" = no ] && getent group rotary >/dev/null; then groupdel rotary; fi
  if [ "$had_srv" = no ] && [ -d /srv/ftp ]; then rm -rf /srv/ftp; fi
  exit "$rc"
}
trap cleanup EXIT

echo "-- build"
deb=$(./scripts/package-deb.sh | tail -n 1) || fail "scripts/package-deb.sh could not build the package"
[ -f "$deb" ] || fail "scripts/package-deb.sh printed $deb, which is not a file"
echo "$deb"

echo "-- dpkg -i"
dpkg -i "$deb" || fail "dpkg -i $deb"
[ "$(status)" = installed ] || fail "after dpkg -i the package is '$(status)', not installed"
for f in /usr/bin/rotary /lib/systemd/system/rotary.service /etc/rotary/rotary.toml \
  /etc/rotary/users.toml.example /etc/rotary/users.toml /var/log/rotary/xferlog; do
  [ -f "$f" ] || fail "$f is missing after dpkg -i"
done
[ -x /usr/bin/rotary ] || fail "/usr/bin/rotary is not executable"
version=$(dpkg-deb -f "$deb" Version)
[ "$(/usr/bin/rotary version)" = "rotary $version" ] || fail "rotary version says '$(/usr/bin/rotary version)', want 'rotary $version'"
grep -qx 'ExecStart=/usr/bin/rotary serve --config /etc/rotary/rotary.toml' /lib/systemd/system/rotary.service ||
  fail "the installed unit does not run /usr/bin/rotary with /etc/rotary/rotary.toml"
if command -v systemd-analyze >/dev/null; then
  out=$(systemd-analyze verify /lib/systemd/system/rotary.service 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi
getent passwd rotary >/dev/null || fail "postinst did not create the user rotary"
[ "$(stat -c %a:%U:%G /etc/rotary)" = 2750:root:rotary ] || fail "/etc/rotary is $(stat -c %a:%U:%G /etc/rotary), want 2750:root:rotary"
[ "$(stat -c %a:%U:%G /etc/rotary/users.toml)" = 640:root:rotary ] ||
  fail "/etc/rotary/users.toml is $(stat -c %a:%U:%G /etc/rotary/users.toml), want 640:root:rotary"
for d in /var/lib/rotary /var/log/rotary /srv/ftp; do
  if [ "$d" = /srv/ftp ] && [ "$had_srv" = yes ]; then continue; fi
  [ "$(stat -c %U:%G "$d")" = rotary:rotary ] || fail "$d is $(stat -c %U:%G "$d"), want rotary:rotary"
done
if [ -d /run/systemd/system ] && systemctl is-active --quiet rotary.service; then
  fail "dpkg -i started rotary.service; the package must leave it stopped"
fi
# An example must not let anyone in: no table is live in it.
if grep -q '^\[' /etc/rotary/users.toml.example; then
  fail "/etc/rotary/users.toml.example has an uncommented table"
fi

echo "-- rotary check"
/usr/bin/rotary check --config /etc/rotary/rotary.toml ||
  fail "rotary check --config /etc/rotary/rotary.toml (as root; a problem with a port means another program holds it: ports 21, 30000-30099, 127.0.0.1:2181)"
# As the service runs it, on a loopback port (port 21 needs the unit's
# capability): it must read the config and users file and append to the
# xferlog. Then again after root edits the users file with rotary user.
as_rotary() {
  runuser -u rotary -- /usr/bin/rotary check --config /etc/rotary/rotary.toml \
    --listen 127.0.0.1:0 --admin-listen ""
}
as_rotary || fail "rotary check as the user rotary"
printf 'test-deb-password\n' | /usr/bin/rotary user add alice --file /etc/rotary/users.toml \
  --home /srv/ftp/alice --password-stdin || fail "rotary user add alice"
[ "$(stat -c %G /etc/rotary/users.toml)" = rotary ] || fail "rotary user add left users.toml in group $(stat -c %G /etc/rotary/users.toml)"
out=$(as_rotary) || fail "rotary check as the user rotary, after rotary user add: $out"
grep -q 'users file /etc/rotary/users.toml: 1 users' <<<"$out" || fail "rotary check as rotary does not see alice: $out"

echo "-- reinstall keeps an edited conffile"
echo '# edited by test-deb' >>/etc/rotary/rotary.toml
dpkg -i --force-confold "$deb" >/dev/null || fail "dpkg -i (reinstall)"
grep -q '^# edited by test-deb$' /etc/rotary/rotary.toml || fail "the reinstall replaced the edited /etc/rotary/rotary.toml"
[ "$(stat -c %a:%G /etc/rotary)" = 2750:rotary ] || fail "the reinstall reset /etc/rotary to $(stat -c %a:%G /etc/rotary)"
grep -q '^\[users.alice\]' /etc/rotary/users.toml || fail "the reinstall lost the users file"

echo "-- dpkg -r"
dpkg -r rotary || fail "dpkg -r rotary"
[ "$(status)" = config-files ] || fail "after dpkg -r the package is '$(status)', want config-files"
for f in /usr/bin/rotary /lib/systemd/system/rotary.service; do
  [ ! -e "$f" ] || fail "$f is still there after dpkg -r"
done
for f in /etc/rotary/rotary.toml /etc/rotary/users.toml.example /etc/rotary/users.toml; do
  [ -f "$f" ] || fail "$f is gone after dpkg -r; configuration stays until a purge"
done

echo "-- dpkg -P"
dpkg -P rotary || fail "dpkg -P rotary"
[ -z "$(status)" ] || [ "$(status)" = not-installed ] || fail "after dpkg -P the package is '$(status)'"
for f in /etc/rotary /var/lib/rotary /var/log/rotary; do
  [ ! -e "$f" ] || fail "$f is still there after dpkg -P"
done
echo "test-deb: ok ($deb)"
