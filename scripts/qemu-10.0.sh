#!/usr/bin/env bash
# Unpacks QEMU 10.0 (Debian bookworm-backports' qemu-system-x86) beside the installed
# QEMU 7.2, without installing it: `apt-get download` of its packages from an extra
# sources list used for that one call, then `dpkg -x` into a cache folder.
# Firmware (SeaBIOS, option ROMs) comes from the installed 7.2 packages through -L.
# Its loadable modules come too (run with QEMU_MODULE_DIR pointing at them): a
# module QEMU 10.0 does not find there it looks up among the installed 7.2's, and
# aborts on loading one of another build (`-dump-vmstate` loads them all).
# Prints the folder; does nothing when it is already there.
set -euo pipefail
version="1:10.0.2+ds-2+deb13u1~bpo12+1"
root="${VMSTATE_QEMU_10_0:-${XDG_CACHE_HOME:-$HOME/.cache}/vmstate/qemu-10.0.2}"
if [ -x "$root/usr/bin/qemu-system-x86_64" ]; then
    echo "$root"
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb http://deb.debian.org/debian bookworm-backports main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=/dev/null"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq >&2
(cd "$work/debs" && apt-get "${apt_opts[@]}" download -qq \
    "qemu-system-x86=$version" "qemu-system-common=$version" "qemu-system-data=$version" \
    "qemu-system-gui=$version" "qemu-system-modules-opengl=$version" \
    "qemu-system-modules-spice=$version" "qemu-block-extra=$version" >&2)
mkdir -p "$root.tmp"
for deb in "$work"/debs/*.deb; do
    dpkg -x "$deb" "$root.tmp"
done
QEMU_MODULE_DIR="$root.tmp/usr/lib/x86_64-linux-gnu/qemu" \
    "$root.tmp/usr/bin/qemu-system-x86_64" --version >&2
rm -rf "$root"
mv "$root.tmp" "$root"
echo "$root"
