#!/usr/bin/env bash
# Compile time of #[derive(VMState)] against serde's derive(Serialize, Deserialize)
# on the same crate: 100 structs of 10 fields, a debug build on one job. The crates
# are generated into a temporary folder; their dependencies are built first, so the
# time is the crate's own (its derives expanded and compiled), best of 3.
# Also prints the expanded code's lines per struct (nightly's -Zunpretty=expanded).
#
#   bash scripts/derive-compile-time.sh [path of the vmstate workspace]
set -euo pipefail
root="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fields() {
    cat <<'F'
    pub a: u8,
    pub b: u16,
    pub c: u32,
    pub d: u64,
    pub e: i32,
    pub f: bool,
    pub g: [u8; 16],
    pub h: [u32; 4],
    pub i: i64,
    pub j: u16,
F
}

gen() { # name, dependency line, derive line, per-struct attribute line
    mkdir -p "$work/$1/src"
    cat >"$work/$1/Cargo.toml" <<T
[package]
name = "$1"
version = "0.0.0"
edition = "2021"
[dependencies]
$2
[workspace]
T
    {
        echo "#![allow(dead_code)]"
        for i in $(seq 1 100); do
            echo "$3"
            [ -n "$4" ] && echo "${4//N/$i}"
            echo "pub struct S$i {"
            fields
            echo "}"
        done
    } >"$work/$1/src/lib.rs"
}

gen derive_vmstate "vmstate-runtime = { path = \"$root/vmstate-runtime\" }" \
    "#[derive(vmstate_runtime::VMState, Clone, Default)]" '#[vmstate(name = "sN", version = 1)]'
gen derive_serde 'serde = { version = "1", features = ["derive"] }' \
    "#[derive(serde::Serialize, serde::Deserialize, Clone, Default)]" ""

time_crate() { # name -> best of 3 seconds of the crate's own build
    (cd "$work/$1" && CARGO_TARGET_DIR="$work/target-$1" cargo build -j1 -q)
    best=""
    for _ in 1 2 3; do
        touch "$work/$1/src/lib.rs"
        start=$(date +%s.%N)
        (cd "$work/$1" && CARGO_TARGET_DIR="$work/target-$1" cargo build -j1 -q)
        t=$(echo "$(date +%s.%N) - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

lines_per_struct() { # name -> lines of the expanded crate per struct (nightly)
    if cargo +nightly --version >/dev/null 2>&1; then
        (cd "$work/$1" && CARGO_TARGET_DIR="$work/target-$1-nightly" \
            cargo +nightly rustc -q --lib -- -Zunpretty=expanded 2>/dev/null) |
            rustfmt --edition 2021 2>/dev/null | wc -l | awk '{printf "%.0f", $1 / 100}'
    else
        echo "n/a"
    fi
}

v=$(time_crate derive_vmstate)
s=$(time_crate derive_serde)
echo "| derive (100 structs of 10 fields, debug, -j1) | crate build, best of 3 | expanded lines per struct |"
echo "|---|---:|---:|"
printf '| vmstate `VMState` | %.2f s | %s |\n' "$v" "$(lines_per_struct derive_vmstate)"
printf '| serde `Serialize, Deserialize` | %.2f s | %s |\n' "$s" "$(lines_per_struct derive_serde)"
echo "ratio vmstate / serde: $(echo "scale=2; $v / $s" | bc)"
