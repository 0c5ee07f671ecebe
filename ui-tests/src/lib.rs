//! Compile-fail tests of `#[derive(VMState)]` live in `tests/ui`.
