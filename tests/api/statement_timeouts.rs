//! A call the database cannot answer in time stops its statement too: PostgreSQL cancels it
//! at `database.statement_timeout_secs`, the caller gets DEADLINE_EXCEEDED, and no query of
//! the server's is left waiting.

use std::time::{Duration, Instant};

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{TestConfig, eventually, spawn_app_with};

#[tokio::test]
async fn a_statement_past_its_time_limit_is_cancelled_and_the_call_says_so() {
    let mut app = spawn_app_with(TestConfig {
        statement_timeout_secs: 1,
        unary_timeout_secs: 20,
        ..TestConfig::default()
    })
    .await;
    app.create_customer("1200000001").await;

    // Another session holds the customers table, as a long migration or a stuck job might.
    let mut locker = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .expect("the test database answers");
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();

    let started = Instant::now();
    let status = app
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: "customers/1200000001".into(),
        })
        .await
        .expect_err("the read cannot finish while the table is locked");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("statement_timeout_secs"),
        "{}",
        status.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelled at the statement limit, not the call's: {:?}",
        started.elapsed()
    );

    // Nothing of the server's still waits for the lock.
    let url = app.database_url.expose_secret().to_owned();
    eventually(
        Duration::from_secs(5),
        "no statement waiting on the lock",
        || {
            let url = url.clone();
            async move {
                let mut observer = sqlx::PgConnection::connect(&url).await.unwrap();
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&mut observer)
                .await
                .unwrap();
                waiting == 0
            }
        },
    )
    .await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
}
