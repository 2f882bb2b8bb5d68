//! Two-person disposal: what may be destroyed, what destruction removes, and what remains.

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use object_store::ObjectStoreExt as _;
use secrecy::ExposeSecret as _;
use sqlx::Connection as _;
use tonic::Code;

use crate::helpers::{
    TestApp, TestConfig, Token, file_typed, filing, header, jpeg_page, retention, sha256_hex,
    spawn_app, spawn_app_with,
};

const ACCOUNT: &str = "1201000001";

fn custodian_named(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    }
}

/// Waits until the page object of these bytes is gone; false if it is still there after `secs`.
async fn gone_within_seconds(app: &TestApp, bytes: &[u8], secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while stored(app, bytes).await {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    true
}

/// Whether the page object of these bytes is in the test's part of the store.
async fn stored(app: &TestApp, bytes: &[u8]) -> bool {
    let hex = sha256_hex(bytes);
    let directory = format!("pages/sha256/{}", &hex[..2]);
    let key = format!("{directory}/{hex}");
    app.object_keys(&directory).await.contains(&key)
}

async fn propose(
    app: &TestApp,
    person: &str,
    documents: &[&str],
) -> Result<pb::DestructionList, tonic::Status> {
    app.clients_as(&custodian_named(person))
        .disposal
        .propose_destruction_list(pb::ProposeDestructionListRequest {
            org_unit_code: "1201".into(),
            reason: "appraisal meeting 2036-03".into(),
            documents: documents.iter().map(|d| d.to_string()).collect(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn approve(
    app: &TestApp,
    person: &str,
    list: &str,
) -> Result<pb::DestructionList, tonic::Status> {
    app.clients_as(&custodian_named(person))
        .disposal
        .approve_destruction_list(pb::ApproveDestructionListRequest {
            name: list.into(),
            note: "checked against the register".into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Files a notice (10 years) made of these pages and returns its name.
async fn file_notice(app: &mut TestApp, request_id: &str, pages: &[Vec<u8>]) -> String {
    let header = pb::FilingHeader {
        document_type: "notice".into(),
        ..header(ACCOUNT, request_id)
    };
    app.file(filing(header, pages, 4096)).await.unwrap().name
}

#[tokio::test]
async fn an_approved_list_destroys_pages_no_live_document_shares_and_leaves_tombstones() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let (own, shared, other) = (jpeg_page(900, 1), jpeg_page(900, 2), jpeg_page(900, 3));
    let (own_kept, shared_kept) = (stored(&app, &own).await, stored(&app, &shared).await);
    assert!(
        !own_kept && !shared_kept,
        "nothing stored before the filing"
    );
    let doomed = file_notice(&mut app, "doomed", &[own.clone(), shared.clone()]).await;
    let kept = file_typed(&mut app, ACCOUNT, "supply-contract", 9).await;
    let sharing = {
        let header = pb::FilingHeader {
            document_type: "application-form".into(),
            ..header(ACCOUNT, "sharing")
        };
        app.file(filing(header, &[shared.clone(), other.clone()], 4096))
            .await
            .unwrap()
            .name
    };
    app.clock.advance(TimeDelta::days(366 * 10));

    assert!(stored(&app, &own).await && stored(&app, &shared).await);
    let list = propose(&app, "alice", &[&doomed]).await.unwrap();
    assert_eq!(list.state(), pb::DestructionListState::Proposed);
    assert_eq!(list.proposed_by, "archive-desk/alice");
    assert_eq!(list.documents.len(), 1);
    assert_eq!(list.documents[0].page_count, 2);

    // The proposer cannot approve, nor can a role without the approve permission.
    let own_approval = approve(&app, "alice", &list.name).await.unwrap_err();
    assert_eq!(
        own_approval.code(),
        Code::PermissionDenied,
        "{own_approval:?}"
    );
    let clerk = app
        .clients_as(&Token::new("marketing", "counter-clerk", Some("1201")))
        .disposal
        .approve_destruction_list(pb::ApproveDestructionListRequest {
            name: list.name.clone(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(clerk.code(), Code::PermissionDenied);
    assert!(
        app.read_page(&format!("{doomed}/pages/1")).await.is_ok(),
        "nothing destroyed yet"
    );

    let destroyed = approve(&app, "bob", &list.name).await.unwrap();
    assert_eq!(destroyed.state(), pb::DestructionListState::Destroyed);
    assert_eq!(destroyed.decided_by, "archive-desk/bob");

    // Only the content no live document uses is gone from the store (deleted beside the reply).
    assert!(
        gone_within_seconds(&app, &own, 10).await,
        "the unshared page is deleted"
    );
    assert!(stored(&app, &shared).await);
    let (_, bytes) = app.read_page(&format!("{sharing}/pages/1")).await.unwrap();
    assert_eq!(
        bytes, shared,
        "the sharing document still reads the shared page"
    );

    // The tombstone: metadata, when, and the list that destroyed it; no pages.
    let tombstone = app
        .documents
        .get_document(pb::GetDocumentRequest {
            name: doomed.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tombstone.destruction_list, list.name);
    assert!(tombstone.destroy_time.is_some());
    assert!(tombstone.pages.is_empty());
    let page = app
        .read_page(&format!("{doomed}/pages/1"))
        .await
        .unwrap_err();
    assert_eq!(page.code(), Code::NotFound);
    assert_eq!(
        retention(&mut app, &doomed).await.destruction_list,
        list.name
    );
    let listed = app
        .list_all(pb::ListDocumentsRequest {
            parent: format!("customers/{ACCOUNT}"),
            ..Default::default()
        })
        .await;
    let names: Vec<&str> = listed.iter().map(|d| d.name.as_str()).collect();
    assert!(!names.contains(&doomed.as_str()) && names.contains(&kept.as_str()));

    // The list survives, readable from another server on the same database.
    let replica = spawn_app_with(TestConfig {
        shared_database: Some(app.database_url.clone()),
        ..TestConfig::default()
    })
    .await;
    let kept_list = replica
        .clients_as(&custodian_named("carol"))
        .disposal
        .get_destruction_list(pb::GetDestructionListRequest {
            name: list.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept_list.state(), pb::DestructionListState::Destroyed);
    assert_eq!(kept_list.documents[0].document, doomed);
    assert_eq!(kept_list.decision_note, "checked against the register");

    // The same bytes filed again are stored again and read back whole.
    let again = file_notice(&mut app, "again", std::slice::from_ref(&own)).await;
    let (_, bytes) = app.read_page(&format!("{again}/pages/1")).await.unwrap();
    assert_eq!(bytes, own);
    assert!(stored(&app, &own).await);
}

#[tokio::test]
async fn nothing_unexpired_or_held_is_destroyed_whoever_asks() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let notice = file_notice(&mut app, "notice", &[jpeg_page(500, 1)]).await;
    let contract = file_typed(&mut app, ACCOUNT, "supply-contract", 2).await;

    let early = propose(&app, "alice", &[&notice]).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(
        early.message().contains("kept until"),
        "{}",
        early.message()
    );

    app.clock.advance(TimeDelta::days(366 * 40));
    let permanent = propose(&app, "alice", &[&notice, &contract])
        .await
        .unwrap_err();
    assert_eq!(permanent.code(), Code::FailedPrecondition);
    assert!(
        permanent.message().contains(&contract),
        "{}",
        permanent.message()
    );

    // A hold placed after the proposal blocks the approval, even the province's.
    let list = propose(&app, "alice", &[&notice]).await.unwrap();
    let hold = app
        .clients_as(&Token::custodian())
        .retention
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: format!("customers/{ACCOUNT}"),
            reason: "litigation".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let province = Token {
        person: Some("director".into()),
        ..Token::custodian()
    };
    let held = app
        .clients_as(&province)
        .disposal
        .approve_destruction_list(pb::ApproveDestructionListRequest {
            name: list.name.clone(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(held.code(), Code::FailedPrecondition);
    assert!(held.message().contains("legal hold"), "{}", held.message());
    assert!(app.read_page(&format!("{notice}/pages/1")).await.is_ok());
    let on_hold = propose(&app, "alice", &[&notice]).await.unwrap_err();
    assert_eq!(on_hold.code(), Code::FailedPrecondition);

    // Released, the same list can be approved.
    app.clients_as(&Token::custodian())
        .retention
        .release_legal_hold(pb::ReleaseLegalHoldRequest {
            name: hold.name,
            reason: "settled".into(),
        })
        .await
        .unwrap();
    let destroyed = approve(&app, "bob", &list.name).await.unwrap();
    assert_eq!(destroyed.state(), pb::DestructionListState::Destroyed);
    let twice = approve(&app, "carol", &list.name).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_rejected_list_destroys_nothing_and_stays_on_record() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let notice = file_notice(&mut app, "notice", &[jpeg_page(500, 1)]).await;
    app.clock.advance(TimeDelta::days(366 * 10));
    let list = propose(&app, "alice", &[&notice]).await.unwrap();
    let on_two_lists = propose(&app, "dave", &[&notice]).await.unwrap_err();
    assert_eq!(on_two_lists.code(), Code::FailedPrecondition);
    assert!(on_two_lists.message().contains("another destruction list"));

    let mut bob = app.clients_as(&custodian_named("bob")).disposal;
    let unexplained = bob
        .reject_destruction_list(pb::RejectDestructionListRequest {
            name: list.name.clone(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unexplained.code(), Code::InvalidArgument);
    let rejected = bob
        .reject_destruction_list(pb::RejectDestructionListRequest {
            name: list.name.clone(),
            note: "contract dispute pending".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.state(), pb::DestructionListState::Rejected);
    let late = approve(&app, "carol", &list.name).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(app.read_page(&format!("{notice}/pages/1")).await.is_ok());
    // Off the rejected list, the document can be proposed again.
    assert!(propose(&app, "alice", &[&notice]).await.is_ok());
}

#[tokio::test]
async fn malformed_lists_and_documents_out_of_reach_are_refused() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let notice = file_notice(&mut app, "notice", &[jpeg_page(500, 1)]).await;
    app.clock.advance(TimeDelta::days(366 * 10));

    let empty = propose(&app, "alice", &[]).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().starts_with("documents:"));
    let twice = propose(&app, "alice", &[&notice, &notice])
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::InvalidArgument);
    let unknown = format!("customers/{ACCOUNT}/documents/{}", uuid::Uuid::now_v7());
    let missing = propose(&app, "alice", &[&unknown]).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let bad_name = approve(&app, "bob", "lists/1").await.unwrap_err();
    assert_eq!(bad_name.code(), Code::InvalidArgument);
    assert!(bad_name.message().starts_with("name:"));
    let no_list = approve(
        &app,
        "bob",
        &format!("destructionLists/{}", uuid::Uuid::now_v7()),
    )
    .await
    .unwrap_err();
    assert_eq!(no_list.code(), Code::NotFound);

    // A custodian of another province sees neither the document nor the list.
    let list = propose(&app, "alice", &[&notice]).await.unwrap();
    let stranger = Token {
        person: Some("eve".into()),
        ..Token::new("archive-desk", "county-custodian", Some("1301"))
    };
    let mut eve = app.clients_as(&stranger).disposal;
    let foreign = eve
        .approve_destruction_list(pb::ApproveDestructionListRequest {
            name: list.name.clone(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let foreign_unit = eve
        .propose_destruction_list(pb::ProposeDestructionListRequest {
            org_unit_code: "1201".into(),
            reason: "x".into(),
            documents: vec![notice.clone()],
        })
        .await
        .unwrap_err();
    assert_eq!(foreign_unit.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn deletions_a_crash_left_undone_are_finished_at_the_next_start() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let page = jpeg_page(700, 42);
    let doomed = file_notice(&mut app, "doomed", std::slice::from_ref(&page)).await;
    app.clock.advance(TimeDelta::days(366 * 10));
    let list = propose(&app, "alice", &[&doomed]).await.unwrap();

    let destroyed = approve(&app, "bob", &list.name).await.unwrap();
    assert_eq!(destroyed.state(), pb::DestructionListState::Destroyed);
    assert!(gone_within_seconds(&app, &page, 10).await);

    // Put back the state a crash right after the approval's commit leaves: the object still
    // in the store, its deletion still queued.
    let hex = sha256_hex(&page);
    let key = object_store::path::Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]));
    app.objects
        .put(&key, bytes::Bytes::from(page.clone()).into())
        .await
        .unwrap();
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    let owed = sqlx::query("UPDATE content_destructions SET delete_time = NULL WHERE sha256 = $1")
        .bind(hex::decode(&hex).unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(owed.rows_affected(), 1);
    assert!(stored(&app, &page).await, "the deletion is owed");

    // The next server to start on this database and store pays it.
    let restarted = spawn_app_with(TestConfig {
        shared_database: Some(app.database_url.clone()),
        shared_object_prefix: Some(app.object_prefix.clone()),
        ..TestConfig::default()
    })
    .await;
    assert!(
        gone_within_seconds(&app, &page, 10).await,
        "deleted at start"
    );
    drop(restarted);
}
