//! Integration tests: the real server against real PostgreSQL and S3, called as a caller would.

mod audit;
mod audit_hardening;
mod auth;
mod authorization;
mod authorization_completeness;
mod authorization_records;
mod authorization_versions;
mod catalog;
mod completeness;
mod completeness_report;
mod completeness_rules;
mod completeness_versions;
mod concurrent_reads;
mod connections;
mod customer_history;
mod customers;
mod disposal;
mod durability;
mod filing;
mod filing_errors;
mod fixity;
mod health;
mod heavy_work;
mod limits;
mod listing;
mod masking;
mod orphans;
mod pages;
mod peer_limits;
mod reach_hardening;
mod retention;
mod slow_reads;
mod stalls;
mod versions;

mod helpers;
