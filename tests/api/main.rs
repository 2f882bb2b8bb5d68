//! Integration tests: the real server against real PostgreSQL and S3, called as a caller would.

mod catalog;
mod customers;
mod filing;
mod filing_errors;
mod health;
mod listing;
mod pages;

mod helpers;
