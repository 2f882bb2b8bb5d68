//! `database.max_connections` is what a pod opens in all: under load that uses every pool (the
//! batched document reads' and the main one), PostgreSQL sees no more connections than that.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret as _;
use sqlx::Connection as _;

use crate::helpers::{filing, header, jpeg_page, spawn_app};

const ACCOUNT: &str = "1201000001";
/// The test servers' `database.max_connections` (tests/api/helpers.rs).
const MAX_CONNECTIONS: i64 = 5;

#[tokio::test]
async fn a_loaded_server_opens_no_more_connections_than_max_connections() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let document = app
        .file(filing(header(ACCOUNT, "one"), &[jpeg_page(600, 1)], 4096))
        .await
        .unwrap();
    let mut watcher = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();

    // Document lookups (the readers' pool) and listings (the main pool), many at once.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..200 {
        let mut documents = app.documents.clone();
        let name = document.name.clone();
        calls.spawn(async move {
            if i % 2 == 0 {
                documents
                    .get_document(pb::GetDocumentRequest {
                        name,
                        ..Default::default()
                    })
                    .await
                    .map(drop)
            } else {
                documents
                    .list_documents(pb::ListDocumentsRequest {
                        parent: format!("customers/{ACCOUNT}"),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
            }
        });
    }
    let mut most = 0;
    while !calls.is_empty() {
        let open: i64 = sqlx::query_scalar(
            // Client backends only: an autovacuum worker of this database is not the server's.
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_type = 'client backend'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        most = most.max(open);
        while let Some(done) = calls.try_join_next() {
            done.unwrap().expect("the call succeeds");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(most > 1, "the load opened connections ({most})");
    assert!(
        most <= MAX_CONNECTIONS,
        "{most} connections open, more than database.max_connections = {MAX_CONNECTIONS}"
    );
}
