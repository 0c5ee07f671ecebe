#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, unit, integration, doc,
# compile-fail (trybuild) and snapshot (insta) tests, and the QEMU fixture proofs.
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

# The QEMU 7.2 fixtures live in the shared folder beside the repository.
fixtures="${VMSTATE_FIXTURES:-$(pwd)/../shared/fixtures/qemu-7.2}"
if [ ! -f "$fixtures/pc-kvm-bios.mig" ]; then
    echo "error: QEMU fixtures not found at $fixtures (set VMSTATE_FIXTURES)" >&2
    exit 1
fi
export VMSTATE_FIXTURES="$fixtures"
# Snapshot tests compare; they never write new snapshots here.
export INSTA_UPDATE=no CI="${CI:-true}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
