#!/usr/bin/env bash
# Builds the Linux guest of the device tests from Debian's archive: the generic
# kernel of bookworm (`linux-image-amd64`: its drivers for e1000e, AHCI, USB, HD
# audio, virtio, the bochs display, which the cloud flavour lacks) booted as an
# uncompressed ELF (QEMU's PVH entry), and a busybox initramfs whose /init loads
# the drivers, brings every device up and keeps them busy (`guest/init`), or,
# with `vmstate.workload` on the kernel command line, runs the benchmarks'
# memory workload (page cache, and `guest/dirty.c`, built here static).
# Prints the folder holding `vmlinux` and `initrd.gz`; builds it once per kernel
# version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vmstate"
kernel_pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')"
if [ -z "$kernel_pkg" ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    kernel_pkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')"
fi
out="$cache/linux-guest/$kernel_pkg"
if [ -f "$out/vmlinux" ] && [ -f "$out/initrd.gz" ] && [ "$out/initrd.gz" -nt "$here/guest/init" ] && [ "$out/initrd.gz" -nt "$here/guest/build.py" ] && [ "$out/initrd.gz" -nt "$here/guest/dirty.c" ]; then
    echo "$out"
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$kernel_pkg" busybox-static >&2)
dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"
mkdir -p "$out"
cc -static -O2 -o "$work/dirty" "$here/guest/dirty.c" >&2
python3 "$here/guest/build.py" "$work/k" "$work/bb/bin/busybox" "$here/guest/init" "$out" "$work/dirty" >&2
echo "$out"
