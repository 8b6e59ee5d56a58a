//! Compile-fail cases for every error of the derives, and compile-pass cases covering every
//! attribute. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p annals-examples --test ui`, then read each `.stderr`
//! as a user would.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/event/*.rs");
    t.compile_fail("tests/ui/aggregate/*.rs");
    t.compile_fail("tests/ui/command/*.rs");
    t.compile_fail("tests/ui/projection/*.rs");
    t.compile_fail("tests/ui/publisher/*.rs");
    t.compile_fail("tests/ui/saga/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
