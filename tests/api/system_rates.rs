//! Rates per system: a channel that calls for the public is held to the policy's
//! `max_calls_per_second` (200 for the payment channel in `config/policy.toml`), all its
//! persons together; the counter's systems are not slowed by it, and the refusals are recorded.
//! Searches are held to `max_searches_per_second` besides.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{Token, eventually, spawn_app};

const ACCOUNT: &str = "1201000001";

#[tokio::test]
async fn a_payment_channel_over_its_rate_is_refused_while_the_counter_is_served() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    // Eight payers at once, each calling as fast as it can: well over 200 calls a second.
    let payers: Vec<_> = (0..8)
        .map(|n| {
            let mut token = Token::new("payment-channel", "payment-channel", None);
            token.org_unit = None;
            token.account = Some(ACCOUNT.into());
            token.person = Some(format!("kiosk-{n}"));
            let mut types = app.clients_as(&token).document_types;
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for _ in 0..100 {
                    let outcome = types
                        .list_document_types(pb::ListDocumentTypesRequest {})
                        .await;
                    outcomes.push(outcome.map(|_| ()));
                }
                outcomes
            })
        })
        .collect();
    let mut served = 0;
    let mut refused = Vec::new();
    for payer in payers {
        for outcome in payer.await.expect("the payer finishes") {
            match outcome {
                Ok(()) => served += 1,
                Err(status) => refused.push(status),
            }
        }
    }
    assert!(served >= 200, "the channel gets its rate: {served} served");
    assert!(
        !refused.is_empty(),
        "800 calls as fast as possible exceed 200/s"
    );
    for status in &refused {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("\"payment-channel\"")
                && status.message().contains("200 calls per second"),
            "{status:?}"
        );
    }

    // The counter's system has no rate of its own and is served at once.
    let mut clerk = app
        .clients_as(&Token::new("marketing", "counter-clerk", Some("1201")))
        .document_types;
    clerk
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .expect("another system is not held to the channel's rate");

    // The refusals are in the trail, coalesced, with the system named.
    eventually(
        Duration::from_secs(10),
        "the refusals to be recorded",
        || async {
            let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
                .await
                .unwrap();
            let recorded: i64 = sqlx::query_scalar(
                "SELECT coalesce(sum((details::jsonb ->> 'count')::bigint), 0)::bigint
             FROM audit_events
             WHERE system = 'payment-channel' AND outcome = 'resource_exhausted'
               AND action = 'ListDocumentTypes'",
            )
            .fetch_one(&mut db)
            .await
            .unwrap();
            recorded == refused.len() as i64
        },
    )
    .await;
}

#[tokio::test]
async fn a_channels_searches_are_held_to_their_own_lower_rate() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let mut token = Token::new("payment-channel", "payment-channel", None);
    token.org_unit = None;
    token.account = Some(ACCOUNT.into());
    let clients = app.clients_as(&token);
    // 100 searches as fast as one caller can: over the channel's 20 a second.
    let mut search = clients.search.clone();
    let mut served = 0;
    let mut refused = Vec::new();
    for _ in 0..100 {
        match search
            .search_documents(pb::SearchDocumentsRequest::default())
            .await
        {
            Ok(_) => served += 1,
            Err(status) => refused.push(status),
        }
    }
    assert!(served >= 20, "the channel gets its search rate: {served}");
    assert!(!refused.is_empty(), "100 searches at once exceed 20/s");
    for status in &refused {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("20 searches per second"),
            "{status:?}"
        );
    }
    // Its lookups still have the rest of the call rate.
    let mut types = clients.document_types;
    types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .expect("a lookup is not a search");
    // The counter's searches are not held.
    let mut clerk = app
        .clients_as(&Token::new("marketing", "counter-clerk", Some("1201")))
        .search;
    for _ in 0..50 {
        clerk
            .search_documents(pb::SearchDocumentsRequest::default())
            .await
            .expect("the counter's system has no search rate");
    }
}
