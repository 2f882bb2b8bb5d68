//! Test support shared by the layers' property tests.

use proptest::test_runner::Config;

/// The proptest configuration of one property: `CUSTODIAN_PROPTEST_CASES` cases when set (the
/// long run of RELIABILITY.md sets 1000000), else `default`, kept small so `make test` stays
/// quick. A failure prints its seed and is saved under `proptest-regressions/`, which is
/// replayed first on the next run.
pub(crate) fn proptest_config(default: u32) -> Config {
    let cases = std::env::var("CUSTODIAN_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default);
    Config::with_cases(cases)
}
