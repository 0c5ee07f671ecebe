#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, unit, integration, doc,
# compile-fail (trybuild) and snapshot (insta) tests, the QEMU fixture proofs, and
# the BER checks by asn1tools and asn1c, and live migrations through QEMU 7.2.
# Installs what the tests need when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is required (https://rustup.rs)" >&2
    exit 1
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done

# The QEMU 7.2 and 10.0 fixtures are in the repository (test-support/fixtures).
for release in 7.2 10.0; do
    if [ ! -f "test-support/fixtures/qemu-$release/manifest.json" ]; then
        echo "error: QEMU $release fixtures not found in test-support/fixtures" >&2
        exit 1
    fi
done
# Real peers: QEMU 7.2 (Debian's qemu-system-x86) for the live migration tests, and
# independent ASN.1 implementations that check the BER encoding: asn1tools (PyPI)
# and asn1c (Debian, with a C compiler for the decoder it generates).
if ! python3 -c "import asn1tools" >/dev/null 2>&1; then
    python3 -m pip install --quiet asn1tools
fi
need_apt=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_apt+=(qemu-system-x86)
command -v asn1c >/dev/null 2>&1 || need_apt+=(asn1c)
# The UEFI fixtures' guests run Debian's OVMF, which QEMU loads them with.
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need_apt+=(ovmf)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# QEMU 10.0 beside 7.2 (bookworm-backports, unpacked into a cache folder).
VMSTATE_QEMU_10_0="$(bash scripts/qemu-10.0.sh)"
export VMSTATE_QEMU_10_0
# The Linux guest of the device tests (Debian's kernel and busybox, cached).
VMSTATE_LINUX_GUEST="$(bash scripts/linux-guest.sh)"
export VMSTATE_LINUX_GUEST
export VMSTATE_REQUIRE_ASN1TOOLS=1 VMSTATE_REQUIRE_ASN1C=1 VMSTATE_REQUIRE_QEMU=1 VMSTATE_REQUIRE_KVM=1

# One build from scratch: incremental compilation's caches would only take disk
# (1.7 GiB of it, where CI machines were seen to run out). The build and the
# live tests' files take about 7 GiB: with less than 6 free, stop here with that
# said, not minutes later with a linker killed by a full disk.
export CARGO_INCREMENTAL=0
df -h . | tail -1 | awk '{print "disk: " $4 " free of " $2}'
free_kib=$(df -Pk . | awk 'NR == 2 {print $4}')
if (( free_kib < 6 * 1024 * 1024 )); then
    echo "error: $((free_kib / 1024 / 1024)) GiB free here; the build and tests need about 7 GiB" >&2
    exit 1
fi

# Snapshot tests compare; they never write new snapshots here.
export INSTA_UPDATE=no CI="${CI:-true}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace
# The fuzz targets, when nightly Rust and cargo-fuzz are here: each for 10 s from
# its committed seeds and past findings (the stable suite runs their bodies over
# those inputs anyway: vmstate-runtime/tests/fuzz_regressions.rs).
if cargo +nightly --version >/dev/null 2>&1 && cargo +nightly fuzz --version >/dev/null 2>&1; then
    (
        cd fuzz
        cargo +nightly fuzz build
        for target in $(cargo +nightly fuzz list); do
            work="$(mktemp -d)"
            inputs=("corpus/$target")
            [ -d "regressions/$target" ] && inputs+=("regressions/$target")
            cargo +nightly fuzz run "$target" "$work" "${inputs[@]}" -- \
                -max_total_time=10 -malloc_limit_mb=512 -rss_limit_mb=2048 -timeout=10
            rm -rf "$work"
        done
    )
else
    echo "note: nightly Rust or cargo-fuzz missing: the fuzz targets ran only as regression tests"
fi
# The published crates (macros, runtime, qemu, cli) package and build on their own.
# The dry run verifies them as registry crates, which cargo takes as immutable: it
# reuses an earlier unpacking and build of the same version. Both are dropped, so
# that the sources verified are today's (the dependencies' builds are kept).
check_dir=target/publish-check
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/vmstate-* \
    "$check_dir"/debug/.fingerprint/vmstate-*
CARGO_TARGET_DIR="$check_dir" cargo publish --workspace --dry-run --allow-dirty --quiet
