//! Every compile-time diagnostic of the macros (`fail/`, each with the `.stderr` it must
//! produce) and every accepted form (`pass/`, built with warnings denied and run).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/fail/*.rs");
    cases.pass("tests/pass/*.rs");
}
