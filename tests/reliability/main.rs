//! Reliability under crashes and outages (issue 13, "the figures that prove it"): the real
//! `custodian serve` as its own OS process, against its own database and key prefix in the
//! shared PostgreSQL and SeaweedFS, killed with SIGKILL under load (`kill`) or cut off from
//! its backends by proxies the test owns (`outage`). Each test prints its figures as a table.
//!
//! The default figures keep `make test` short; `make reliability` runs bigger ones:
//! `CUSTODIAN_RELIABILITY_FILINGS` (filings of the kill test, over its kill points; 1,020),
//! `CUSTODIAN_RELIABILITY_FILERS` (16), `CUSTODIAN_RELIABILITY_OUTAGE_SECS` (3) and
//! `CUSTODIAN_RELIABILITY_REPEATS` (how often each test runs its scenario, for medians; 1).

mod checks;
mod kill;
mod load;
mod outage;
mod proxy;
mod report;
mod server;

// The integration tests' helpers: databases, tokens, clients and the repository's files.
#[path = "../api/helpers/mod.rs"]
#[allow(dead_code, unused_imports)]
mod helpers;

/// A figure from the environment, or its default for `make test`.
pub fn knob(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a whole number")),
        Err(_) => default,
    }
}
