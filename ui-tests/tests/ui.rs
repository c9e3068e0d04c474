//! Every compile-time diagnostic of the macros (`fail/`, each with the `.stderr` it must
//! produce) and every accepted form (`examples/`, built with warnings denied and run; as
//! cargo examples they are also linted, pedantic included, in CI).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/fail/*.rs");
    cases.pass("examples/*.rs");
}
