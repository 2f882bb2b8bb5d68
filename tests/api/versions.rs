//! Versions: correcting a filed document makes a new version; earlier versions stay readable,
//! with who changed what, when and why.

use bytes::Bytes;
use chrono::TimeDelta;
use custodian::domain::Clock;
use custodian::proto::v1 as pb;
use custodian::proto::v1::correct_document_request::Part;
use futures::StreamExt;
use prost_types::FieldMask;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{
    Clients, TestApp, Token, correct, filing, header, ignoring_renditions, jpeg_page, part,
    png_page, retitle, sha256_hex, spawn_app,
};

const ACCOUNT: &str = "1201000001";

fn new_page(bytes: &[u8]) -> Vec<pb::CorrectDocumentRequest> {
    vec![
        part(Part::PageStart(pb::PageStart {
            sha256: sha256_hex(bytes),
        })),
        part(Part::Chunk(Bytes::copy_from_slice(bytes))),
    ]
}

fn keep(page_number: i32) -> pb::CorrectDocumentRequest {
    part(Part::KeepPage(pb::KeepPage { page_number }))
}

async fn get(app: &mut TestApp, name: &str, version: i32) -> Result<pb::Document, tonic::Status> {
    app.documents
        .get_document(pb::GetDocumentRequest {
            name: name.into(),
            version,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn read(app: &mut TestApp, name: &str, version: i32) -> Result<Vec<u8>, tonic::Status> {
    let mut stream = app
        .pages
        .read_page(pb::ReadPageRequest {
            name: name.into(),
            version,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(message) = stream.next().await {
        bytes.extend_from_slice(&message?.chunk);
    }
    Ok(bytes)
}

fn custodian(app: &TestApp) -> Clients {
    app.clients_as(&Token::custodian())
}

/// An app with one customer and one filed document of `pages`.
async fn filed(pages: &[Vec<u8>]) -> (TestApp, pb::Document) {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let document = app
        .file(filing(header(ACCOUNT, "first"), pages, 1000))
        .await
        .unwrap();
    (app, document)
}

#[tokio::test]
async fn correcting_the_title_makes_version_2_and_version_1_stays_readable() {
    let (mut app, filed) = filed(&[jpeg_page(500, 1)]).await;
    assert_eq!((filed.version, filed.current_version), (1, 1));
    assert_eq!(filed.customer_revision, 1);

    let mut c = custodian(&app);
    let corrected = correct(&mut c, retitle(&filed.name, 1, "更正后的申请书"), vec![])
        .await
        .unwrap();
    assert_eq!((corrected.version, corrected.current_version), (2, 2));
    assert_eq!(corrected.title, "更正后的申请书");
    assert_eq!(
        ignoring_renditions(corrected.clone()).pages,
        ignoring_renditions(filed.clone()).pages,
        "no page parts: pages unchanged"
    );
    assert_eq!(corrected.file_time, filed.file_time);
    assert_eq!(corrected.document_type, filed.document_type);

    let current = get(&mut app, &filed.name, 0).await.unwrap();
    assert_eq!(
        ignoring_renditions(current),
        ignoring_renditions(corrected),
        "the default read is the current version"
    );
    let first = get(&mut app, &filed.name, 1).await.unwrap();
    assert_eq!((first.version, first.current_version), (1, 2));
    assert_eq!(first.title, filed.title);
    assert_eq!(first.version_create_time, filed.version_create_time);

    let listed = app.list_all(pb::ListDocumentsRequest {
        parent: format!("customers/{ACCOUNT}"),
        ..Default::default()
    });
    assert_eq!(listed.await[0].title, "更正后的申请书");

    assert_eq!(
        get(&mut app, &filed.name, 3).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        get(&mut app, &filed.name, -1).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn replacing_one_page_keeps_the_others_and_the_old_page_stays_readable() {
    let pages = [jpeg_page(700, 1), jpeg_page(800, 2), jpeg_page(900, 3)];
    let (mut app, filed) = filed(&pages).await;
    let rescan = png_page(1200, 99);

    let mut c = custodian(&app);
    let mut parts = vec![keep(1)];
    parts.extend(new_page(&rescan));
    parts.push(keep(3));
    let header = pb::CorrectionHeader {
        update_mask: None,
        reason: "第2页扫描模糊，重新扫描".into(),
        ..retitle(&filed.name, 1, "")
    };
    let corrected = correct(&mut c, header, parts).await.unwrap();
    assert_eq!(corrected.version, 2);
    assert_eq!(corrected.title, filed.title);
    let digests: Vec<&str> = corrected.pages.iter().map(|p| p.sha256.as_str()).collect();
    assert_eq!(
        digests,
        [
            filed.pages[0].sha256.as_str(),
            &sha256_hex(&rescan),
            filed.pages[2].sha256.as_str()
        ]
    );
    assert_eq!(corrected.pages[1].media_type, "image/png");
    assert_eq!(corrected.size_bytes, 700 + 1200 + 900);

    let page = |n: i32| format!("{}/pages/{n}", filed.name);
    assert_eq!(read(&mut app, &page(2), 0).await.unwrap(), rescan);
    assert_eq!(read(&mut app, &page(2), 2).await.unwrap(), rescan);
    assert_eq!(read(&mut app, &page(2), 1).await.unwrap(), pages[1]);
    for version in [0, 1, 2] {
        assert_eq!(read(&mut app, &page(1), version).await.unwrap(), pages[0]);
        assert_eq!(read(&mut app, &page(3), version).await.unwrap(), pages[2]);
    }
    assert_eq!(
        read(&mut app, &page(1), 7).await.unwrap_err().code(),
        Code::NotFound
    );

    // Pages can also be dropped: version 3 keeps only the first page.
    let header = pb::CorrectionHeader {
        update_mask: None,
        reason: "第2、3页不属于本件".into(),
        ..retitle(&filed.name, 2, "")
    };
    let shorter = correct(&mut c, header, vec![keep(1)]).await.unwrap();
    assert_eq!(shorter.pages.len(), 1);
    assert_eq!(
        read(&mut app, &page(2), 0).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(read(&mut app, &page(3), 2).await.unwrap(), pages[2]);
}

#[tokio::test]
async fn the_history_lists_who_changed_what_when_and_why() {
    let (mut app, filed) = filed(&[jpeg_page(500, 1)]).await;
    app.clock.advance(TimeDelta::days(30));
    let corrected_at = app.clock.now();
    let mut clerk_of_county = app.clients_as(&Token {
        person: Some("c-042".into()),
        ..Token::new("archive-desk", "county-custodian", Some("120101"))
    });
    let header = pb::CorrectionHeader {
        document: Some(pb::Document {
            document_type: "supply-contract".into(),
            business_process: pb::BusinessProcess::CapacityIncrease.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["document_type".into(), "business_process".into()],
        }),
        reason: "误归为申请书，实为供用电合同".into(),
        ..retitle(&filed.name, 1, "")
    };
    correct(&mut clerk_of_county, header, vec![]).await.unwrap();

    let versions = app
        .documents
        .list_document_versions(pb::ListDocumentVersionsRequest {
            name: filed.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 2);
    let (first, second) = (&versions[0], &versions[1]);
    assert_eq!(first.version, 1);
    assert_eq!(
        (first.author_system.as_str(), first.author_person.as_str()),
        ("archive-desk", "tester")
    );
    assert_eq!(first.reason, "");
    assert_eq!(first.document_type, "application-form");
    assert_eq!(first.create_time, filed.version_create_time);
    assert_eq!(second.version, 2);
    assert_eq!(
        (second.author_system.as_str(), second.author_person.as_str()),
        ("archive-desk", "c-042")
    );
    assert_eq!(second.reason, "误归为申请书，实为供用电合同");
    assert_eq!(second.document_type, "supply-contract");
    assert_eq!(
        second.business_process,
        i32::from(pb::BusinessProcess::CapacityIncrease)
    );
    assert_eq!(second.title, filed.title);
    assert_eq!((second.page_count, second.size_bytes), (1, 500));
    assert_eq!(
        second.create_time.as_ref().map(|t| t.seconds),
        Some(corrected_at.timestamp()),
        "the correction's time comes from the server's clock"
    );
}

#[tokio::test]
async fn the_audit_event_of_a_correction_carries_the_old_and_new_values() {
    let (mut app, filed) = filed(&[jpeg_page(500, 1)]).await;
    let mut c = custodian(&app);
    correct(&mut c, retitle(&filed.name, 1, "新标题"), vec![])
        .await
        .unwrap();
    let events = app
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: ACCOUNT.into(),
            action: "CorrectDocument".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.outcome, "ok");
    assert_eq!(event.resource, filed.name);
    let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
    assert_eq!(details["reason"], "标题有误");
    assert_eq!(details["old"]["version"], 1);
    assert_eq!(details["old"]["title"], filed.title.as_str());
    assert_eq!(details["new"]["version"], 2);
    assert_eq!(details["new"]["title"], "新标题");
    assert_eq!(details["new"]["pages"][0], filed.pages[0].sha256.as_str());
}

#[tokio::test]
async fn a_correction_against_a_stale_version_is_aborted() {
    let (mut app, filed) = filed(&[jpeg_page(500, 1)]).await;
    let mut first = custodian(&app);
    let mut second = custodian(&app);
    correct(&mut first, retitle(&filed.name, 1, "甲的更正"), vec![])
        .await
        .unwrap();
    let status = correct(&mut second, retitle(&filed.name, 1, "乙的更正"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(
        status.message().contains("version 2"),
        "{}",
        status.message()
    );
    assert_eq!(
        get(&mut app, &filed.name, 0).await.unwrap().title,
        "甲的更正"
    );
}

#[tokio::test]
async fn concurrent_corrections_of_one_version_commit_exactly_one() {
    let (mut app, filed) = filed(&[jpeg_page(500, 1)]).await;
    let calls = (0..4).map(|n| {
        let mut c = custodian(&app);
        let header = retitle(&filed.name, 1, &format!("更正{n}"));
        async move { correct(&mut c, header, vec![]).await }
    });
    let results = futures::future::join_all(calls).await;
    let committed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(committed, 1, "{results:?}");
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(status.code(), Code::Aborted);
    }
    assert_eq!(get(&mut app, &filed.name, 0).await.unwrap().version, 2);
}

#[tokio::test]
async fn a_malformed_correction_is_refused_naming_the_field() {
    let (mut app, filed) = filed(&[jpeg_page(500, 1)]).await;
    let mut c = custodian(&app);
    let cases = [
        (
            pb::CorrectionHeader {
                reason: String::new(),
                ..retitle(&filed.name, 1, "x")
            },
            vec![],
            "header.reason",
        ),
        (
            pb::CorrectionHeader {
                expected_version: 0,
                ..retitle(&filed.name, 1, "x")
            },
            vec![],
            "header.expected_version",
        ),
        (
            pb::CorrectionHeader {
                update_mask: Some(FieldMask {
                    paths: vec!["source_system".into()],
                }),
                ..retitle(&filed.name, 1, "x")
            },
            vec![],
            "header.update_mask",
        ),
        (retitle(&filed.name, 1, ""), vec![], "header.document.title"),
        (
            retitle(&filed.name, 1, "x"),
            vec![keep(2)],
            "keep_page.page_number",
        ),
        (
            retitle(&filed.name, 1, "x"),
            vec![part(Part::Chunk(Bytes::from_static(b"\xFF\xD8\xFF\xE0")))],
            "chunk",
        ),
        (
            retitle(&filed.name, 1, "x"),
            new_page(b"plain text, not a scan"),
            "chunk",
        ),
        // The same title and the same pages: nothing to correct.
        (
            retitle(&filed.name, 1, &filed.title),
            vec![keep(1)],
            "header.update_mask",
        ),
    ];
    for (header, parts, field) in cases {
        let status = correct(&mut c, header, parts).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
    let unknown_type = pb::CorrectionHeader {
        document: Some(pb::Document {
            document_type: "no-such-type".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["document_type".into()],
        }),
        ..retitle(&filed.name, 1, "")
    };
    let status = correct(&mut c, unknown_type, vec![]).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(get(&mut app, &filed.name, 0).await.unwrap().version, 1);
}

#[tokio::test]
async fn correcting_needs_the_permission_and_the_document_in_reach() {
    let (app, filed) = filed(&[jpeg_page(500, 1)]).await;
    let mut clerk = app.clients_as(&Token::new("marketing", "counter-clerk", Some("1201")));
    let status = correct(&mut clerk, retitle(&filed.name, 1, "x"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let mut elsewhere = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("130101"),
    ));
    let status = correct(&mut elsewhere, retitle(&filed.name, 1, "x"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

#[tokio::test]
async fn a_closed_accounts_document_can_be_corrected_but_a_destroyed_one_cannot() {
    let (mut app, filed) = filed(&[jpeg_page(500, 1)]).await;
    app.customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: format!("customers/{ACCOUNT}"),
                status: pb::CustomerStatus::Closed.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["status".into()],
            }),
        })
        .await
        .unwrap();
    let mut c = custodian(&app);
    correct(&mut c, retitle(&filed.name, 1, "销户后更正"), vec![])
        .await
        .unwrap();

    // Disposal (another part of the archive) leaves a tombstone: the row with destroyed_at.
    let mut db =
        sqlx::PgConnection::connect(secrecy::ExposeSecret::expose_secret(&app.database_url))
            .await
            .unwrap();
    let list = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO destruction_lists (list_id, org_unit_code, reason, state, proposed_by,
             proposer_person, propose_time, decided_by, decide_time)
         VALUES ($1, '120101', 'expired', 'destroyed', 'a', 'a', now(), 'b', now())",
    )
    .bind(list)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("UPDATE documents SET destroyed_at = now(), destruction_list_id = $1")
        .bind(list)
        .execute(&mut db)
        .await
        .unwrap();
    let status = correct(&mut c, retitle(&filed.name, 2, "销毁后更正"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}

#[tokio::test]
async fn a_version_is_seen_only_by_those_who_see_its_type_and_the_document_now() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    // Filed as an identity proof (confidential), then reclassified as a notice (public).
    let filed = app
        .file(filing(
            pb::FilingHeader {
                document_type: "identity-proof".into(),
                ..header(ACCOUNT, "misfiled")
            },
            &[jpeg_page(500, 1)],
            500,
        ))
        .await
        .unwrap();
    let mut c = custodian(&app);
    let reclassify = |name: &str, version: i32, document_type: &str| pb::CorrectionHeader {
        document: Some(pb::Document {
            document_type: document_type.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["document_type".into()],
        }),
        ..retitle(name, version, "")
    };
    // Lowering its confidentiality needs a second person's approval (declassification.rs).
    app.clients_as(&Token {
        person: Some("second-custodian".into()),
        ..Token::custodian()
    })
    .documents
    .approve_declassification(pb::ApproveDeclassificationRequest {
        name: filed.name.clone(),
        expected_version: 1,
        document_type: "notice".into(),
        reason: "核对原件：实为通知".into(),
    })
    .await
    .unwrap();
    correct(&mut c, reclassify(&filed.name, 1, "notice"), vec![])
        .await
        .unwrap();

    let mut kiosk = app.clients_as(&Token {
        account: Some(ACCOUNT.into()),
        ..Token::new("payment-channel", "payment-channel", None)
    });
    let get_as = |version: i32| pb::GetDocumentRequest {
        name: filed.name.clone(),
        version,
        ..Default::default()
    };
    assert_eq!(
        kiosk
            .documents
            .get_document(get_as(0))
            .await
            .unwrap()
            .into_inner()
            .version,
        2
    );
    let status = kiosk.documents.get_document(get_as(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = kiosk
        .pages
        .read_page(pb::ReadPageRequest {
            name: format!("{}/pages/1", filed.name),
            version: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let versions = kiosk
        .documents
        .list_document_versions(pb::ListDocumentVersionsRequest {
            name: filed.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2],
        "the confidential version is left out"
    );

    // Back to identity proof: the whole document is out of the kiosk's sight again.
    correct(&mut c, reclassify(&filed.name, 2, "identity-proof"), vec![])
        .await
        .unwrap();
    for version in [0, 2] {
        let status = kiosk
            .documents
            .get_document(get_as(version))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "version {version}");
    }
}
