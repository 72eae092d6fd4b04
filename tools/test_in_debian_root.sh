#!/bin/sh
# Runs the course's own `make test` once more, inside a minimal root of the other Debian release,
# so that CI proves the course on both RabbitMQ versions Debian ships: 3.10 (Debian 12, bookworm)
# and 4.0 (Debian 13, trixie), with that release's Python (3.11 / 3.13).
#
#     sudo sh tools/test_in_debian_root.sh            # called by .ci/run
#     sudo sh tools/test_in_debian_root.sh tests/test_amqp.py   # only these tests (pytest's arguments)
#
# Needs root (debootstrap, chroot, a network namespace) and Debian's archive. The root is made
# with debootstrap the first time (about a minute with its packages) and kept in
# /var/tmp/course-debian-<release>; the course is cloned into it from this checkout's HEAD. The
# tests run in a network namespace of their own (loopback only), so the root's broker takes the
# course's usual ports without touching a broker that runs on this machine.
set -eu
cd "$(dirname "$0")/.."
project=$(pwd)

if [ "$(id -u)" != 0 ]; then
  echo "error: run as root (debootstrap and chroot need it): sudo sh tools/test_in_debian_root.sh" >&2
  exit 1
fi
host=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
case "$host" in
  bookworm) other=trixie ;;
  trixie) other=bookworm ;;
  *) echo "error: this runs on Debian 12 or 13 (this is '${host:-unknown}')." >&2; exit 1 ;;
esac
root="/var/tmp/course-debian-$other"
# chromium: the browser tests' (the root has no network while the tests run, so nothing is
# installed then). The root is remade when this list changes.
packages="rabbitmq-server prometheus python3-venv make git ca-certificates chromium"
# The archive this machine's apt uses (a mirror or a proxy), or DEBIAN_MIRROR.
mirror="${DEBIAN_MIRROR:-$(python3 tools/debian_mirror.py "$host")}"

export DEBIAN_FRONTEND=noninteractive
for tool in debootstrap unshare ip; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "Installing debootstrap and iproute2..."
    apt-get update -q >/dev/null && apt-get install -y -q debootstrap iproute2 util-linux >/dev/null
    break
  fi
done

cleanup() {
  for mount in "$root/dev/pts" "$root/dev" "$root/proc"; do
    if mountpoint -q "$mount" 2>/dev/null; then umount -l "$mount" || true; fi
  done
}
trap cleanup EXIT INT TERM

ready="$root/.course-root-ready"
if [ -f "$ready" ] && [ "$(cat "$ready")" != "$packages" ]; then
  echo "The root's package list changed: making it anew."
  cleanup
  rm -f "$ready"
fi
if [ ! -f "$ready" ]; then
  echo "Making a Debian $other root in $root (debootstrap from $mirror)..."
  cleanup
  rm -rf "$root"
  debootstrap --variant=minbase "$other" "$root" "$mirror" >/dev/null
  # Packages installed in the root must not start their services (they would take this machine's ports).
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
fi
# The root trusts what this machine trusts (a proxy's certificate authority, for instance) and
# resolves names the same way.
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/proc" "$root/dev"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts"
if [ ! -f "$ready" ]; then
  echo "Installing $packages in the root..."
  chroot "$root" sh -c "apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $packages >/dev/null"
  echo "$packages" > "$ready"
fi
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
echo "Cloning the course into the root..."
rm -rf "$root/course"
git clone -q "$project" "$root/course"
echo "Setting up the course's Python environment inside the root (needs the package index)..."
chroot "$root" sh -c 'unset PIP_FIND_LINKS; cd /course && HOME=/root PIP_CERT=/etc/ssl/certs/ca-certificates.crt make -s setup'
version=$(chroot "$root" dpkg-query -W -f '${Version}' rabbitmq-server)
python=$(chroot "$root" python3 -V)
echo "Running make test inside the Debian $other root: RabbitMQ $version, $python."
# The broker the tests start is stopped afterwards, whatever the result, so the namespace ends with them.
unshare --net sh -c "ip link set lo up && chroot '$root' sh -c 'cd /course && HOME=/root make test PYTEST_ARGS=\"$*\"; status=\$?; make -s down >/dev/null 2>&1; epmd -kill >/dev/null 2>&1; exit \$status'"
