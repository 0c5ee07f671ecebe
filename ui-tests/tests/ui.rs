//! Each file in `ui/` must fail to compile with exactly the reviewed `.stderr`.

#[test]
fn compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
