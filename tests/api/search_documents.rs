//! SearchDocuments: each filter alone and combined against a model of what was filed, paging
//! while filings arrive, the reference order, and that documents out of reach or of hidden
//! types never appear.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use custodian::proto::v1 as pb;
use custodian::proto::v1::search_service_client::SearchServiceClient;
use prost_types::Timestamp;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{
    Authorized, TestApp, Token, customer, filing, header, jpeg_page, spawn_app, update_customer,
};

const A: &str = "1201010001"; // 120101, residential, active
const B: &str = "1201020001"; // 120102, business, active
const C: &str = "1201010002"; // 120101, residential, closed after its filings
const Z: &str = "1301010001"; // 130101: outside province 12

/// One filed document and what the filters look at.
#[derive(Debug, Clone)]
struct Filed {
    name: String,
    account: &'static str,
    org_unit: &'static str,
    class: pb::CustomerClass,
    status: pb::CustomerStatus,
    document_type: String,
    process: pb::BusinessProcess,
    work_order: String,
    source: String,
    legacy_reference: Option<String>,
    filed_at: DateTime<Utc>,
    original_at: DateTime<Utc>,
}

fn to_time(t: &Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap()
}

fn ts(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

fn unit_of(account: &str) -> &'static str {
    match account {
        A | C => "120101",
        B => "120102",
        _ => "130101",
    }
}

/// A filing of the test archive: account, type, process, work order, source, legacy reference.
type Spec = (
    &'static str,
    &'static str,
    pb::BusinessProcess,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// Who searches, and which filed documents it must find.
type ReachCase = (Token, Box<dyn Fn(&Filed) -> bool>);

/// The archive of the tests: three accounts in province 12 and one in 13, a day between
/// filings, a mix of types, processes, work orders, source systems and imports.
struct Archive {
    app: TestApp,
    filed: Vec<Filed>,
}

async fn archive() -> Archive {
    let mut app = spawn_app().await;
    for (account, class) in [
        (A, pb::CustomerClass::Residential),
        (B, pb::CustomerClass::NonResidential),
        (C, pb::CustomerClass::Residential),
    ] {
        app.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(pb::Customer {
                    customer_class: class.into(),
                    ..customer(account, unit_of(account))
                }),
            })
            .await
            .unwrap();
    }
    let mut province_13 = app.clients_as(&Token::new(
        "archive-desk",
        "province-custodian",
        Some("13"),
    ));
    province_13
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer(Z, "130101")),
        })
        .await
        .unwrap();
    let importer = app.clients_as(&Token::new("archive-desk", "archive-importer", Some("12")));
    // A filing names the calling system as its source.
    let marketing = app.clients_as(&Token::new("marketing", "county-custodian", Some("12")));
    use pb::BusinessProcess as P;
    let specs: Vec<Spec> = vec![
        (A, "application-form", P::NewConnection, "WO-1", "", None),
        (A, "identity-proof", P::NewConnection, "WO-1", "", None),
        (A, "notice", P::Inspection, "WO-7", "marketing", None),
        (
            B,
            "business-licence",
            P::NewConnection,
            "WO-2",
            "marketing",
            None,
        ),
        (B, "supply-contract", P::CapacityIncrease, "WO-3", "", None),
        (B, "inspection-work-order", P::Inspection, "WO-7", "", None),
        (C, "application-form", P::Closure, "WO-4", "", None),
        (
            C,
            "meter-installation-record",
            P::Closure,
            "WO-4",
            "marketing",
            None,
        ),
        (
            A,
            "tariff-change-record",
            P::TariffClassChange,
            "",
            "",
            Some("2009-YX-0001"),
        ),
        (C, "notice", P::Closure, "", "", Some("2009-YX-0002")),
        (Z, "application-form", P::NewConnection, "WO-1", "", None),
        (Z, "notice", P::Inspection, "WO-7", "", None),
    ];
    let mut filed = Vec::new();
    for (i, (account, document_type, process, work_order, source, legacy)) in
        specs.into_iter().enumerate()
    {
        app.clock.advance(TimeDelta::days(1));
        let mut h = pb::FilingHeader {
            document_type: document_type.into(),
            business_process: process.into(),
            work_order_number: work_order.into(),
            ..header(account, &format!("search-{i}"))
        };
        let mut client = match (account, legacy) {
            (Z, _) => province_13.documents.clone(),
            (_, Some(reference)) => {
                h.legacy_origin = Some(pb::LegacyOrigin {
                    original_time: Some(ts(DateTime::parse_from_rfc3339("2009-05-11T08:00:00Z")
                        .unwrap()
                        .with_timezone(&Utc)
                        + TimeDelta::days(i as i64))),
                    reference_number: reference.into(),
                    legacy_system: "cs-archive".into(),
                });
                importer.documents.clone()
            }
            _ if source == "marketing" => marketing.documents.clone(),
            _ => app.documents.clone(),
        };
        let document = client
            .file_document(futures::stream::iter(filing(
                h,
                &[jpeg_page(300, i as u64)],
                300,
            )))
            .await
            .unwrap()
            .into_inner();
        filed.push(Filed {
            name: document.name.clone(),
            account,
            org_unit: unit_of(account),
            class: if account == B {
                pb::CustomerClass::NonResidential
            } else {
                pb::CustomerClass::Residential
            },
            status: pb::CustomerStatus::Active,
            document_type: document.document_type.clone(),
            process,
            work_order: document.work_order_number.clone(),
            source: document.source_system.clone(),
            legacy_reference: legacy.map(str::to_owned),
            filed_at: to_time(document.file_time.as_ref().unwrap()),
            original_at: to_time(document.original_time.as_ref().unwrap()),
        });
    }
    // C closes after its filings: the index follows the customer.
    update_customer(
        &mut app,
        C,
        pb::Customer {
            status: pb::CustomerStatus::Closed.into(),
            ..Default::default()
        },
        &["status"],
    )
    .await;
    for document in filed.iter_mut().filter(|d| d.account == C) {
        document.status = pb::CustomerStatus::Closed;
    }
    Archive { app, filed }
}

/// Every document a search finds, following page tokens three at a time.
async fn search_all(
    client: &mut SearchServiceClient<Authorized>,
    request: pb::SearchDocumentsRequest,
) -> Result<Vec<pb::Document>, tonic::Status> {
    let mut request = pb::SearchDocumentsRequest {
        page_size: 3,
        ..request
    };
    let mut documents = Vec::new();
    loop {
        let page = client.search_documents(request.clone()).await?.into_inner();
        documents.extend(page.documents);
        if page.next_page_token.is_empty() {
            return Ok(documents);
        }
        request.page_token = page.next_page_token;
    }
}

fn names(documents: &[pb::Document]) -> Vec<String> {
    documents.iter().map(|d| d.name.clone()).collect()
}

/// The model's answer, newest first: the documents in province 12 matching `keep`.
fn expected(filed: &[Filed], keep: impl Fn(&Filed) -> bool) -> Vec<String> {
    let mut matching: Vec<&Filed> = filed
        .iter()
        .filter(|d| d.org_unit.starts_with("12") && keep(d))
        .collect();
    matching.sort_by_key(|d| std::cmp::Reverse(d.filed_at));
    matching.iter().map(|d| d.name.clone()).collect()
}

#[tokio::test]
async fn each_filter_alone_and_combined_finds_exactly_the_matching_documents() {
    let Archive { mut app, filed } = archive().await;
    // Leaked for the test's length, so the cases' closures can copy them.
    let days: &'static [DateTime<Utc>] =
        filed.iter().map(|d| d.filed_at).collect::<Vec<_>>().leak();
    let origins: &'static [DateTime<Utc>] = filed
        .iter()
        .map(|d| d.original_at)
        .collect::<Vec<_>>()
        .leak();
    let day = move |n: usize| days[n];
    let origin = move |n: usize| origins[n];
    type Case = (
        &'static str,
        pb::SearchDocumentsRequest,
        Box<dyn Fn(&Filed) -> bool>,
    );
    let base = pb::SearchDocumentsRequest::default;
    let cases: Vec<Case> = vec![
        ("everything", base(), Box::new(|_| true)),
        (
            "org unit",
            pb::SearchDocumentsRequest {
                org_unit: "120101".into(),
                ..base()
            },
            Box::new(|d| d.org_unit == "120101"),
        ),
        (
            "types",
            pb::SearchDocumentsRequest {
                document_types: vec!["notice".into(), "supply-contract".into()],
                ..base()
            },
            Box::new(|d| d.document_type == "notice" || d.document_type == "supply-contract"),
        ),
        (
            "processes",
            pb::SearchDocumentsRequest {
                business_processes: vec![pb::BusinessProcess::Inspection.into()],
                ..base()
            },
            Box::new(|d| d.process == pb::BusinessProcess::Inspection),
        ),
        (
            "work order",
            pb::SearchDocumentsRequest {
                work_order_number: "WO-7".into(),
                ..base()
            },
            Box::new(|d| d.work_order == "WO-7"),
        ),
        (
            "filing window",
            pb::SearchDocumentsRequest {
                filed_after: Some(ts(day(2))),
                filed_before: Some(ts(day(6))),
                ..base()
            },
            Box::new(move |d| d.filed_at >= day(2) && d.filed_at < day(6)),
        ),
        (
            "original window",
            pb::SearchDocumentsRequest {
                original_after: Some(ts(origin(8))),
                original_before: Some(ts(origin(9) + TimeDelta::seconds(1))),
                ..base()
            },
            Box::new(move |d| d.original_at >= origin(8) && d.original_at <= origin(9)),
        ),
        (
            "customer class",
            pb::SearchDocumentsRequest {
                customer_class: pb::CustomerClass::NonResidential.into(),
                ..base()
            },
            Box::new(|d| d.class == pb::CustomerClass::NonResidential),
        ),
        (
            "customer status",
            pb::SearchDocumentsRequest {
                customer_status: pb::CustomerStatus::Closed.into(),
                ..base()
            },
            Box::new(|d| d.status == pb::CustomerStatus::Closed),
        ),
        (
            "source system",
            pb::SearchDocumentsRequest {
                source_system: "marketing".into(),
                ..base()
            },
            Box::new(|d| d.source == "marketing"),
        ),
        (
            "legacy reference",
            pb::SearchDocumentsRequest {
                legacy_reference: "2009-YX-0002".into(),
                ..base()
            },
            Box::new(|d| d.legacy_reference.as_deref() == Some("2009-YX-0002")),
        ),
        (
            "unit, type and filing window",
            pb::SearchDocumentsRequest {
                org_unit: "120101".into(),
                document_types: vec!["application-form".into()],
                filed_after: Some(ts(day(0))),
                filed_before: Some(ts(day(7))),
                ..base()
            },
            Box::new(move |d| {
                d.org_unit == "120101"
                    && d.document_type == "application-form"
                    && d.filed_at >= day(0)
                    && d.filed_at < day(7)
            }),
        ),
        (
            "class, process, status and source",
            pb::SearchDocumentsRequest {
                customer_class: pb::CustomerClass::Residential.into(),
                customer_status: pb::CustomerStatus::Closed.into(),
                business_processes: vec![pb::BusinessProcess::Closure.into()],
                source_system: "marketing".into(),
                ..base()
            },
            Box::new(|d| {
                d.class == pb::CustomerClass::Residential
                    && d.status == pb::CustomerStatus::Closed
                    && d.process == pb::BusinessProcess::Closure
                    && d.source == "marketing"
            }),
        ),
    ];
    for (what, request, keep) in cases {
        let found = search_all(&mut app.search, request).await.unwrap();
        let want = expected(&filed, keep);
        assert!(!want.is_empty(), "{what}: the model expects something");
        assert_eq!(names(&found), want, "{what}");
    }
    // Province 13's documents match the work order too, but lie outside the reach.
    let zs: BTreeSet<&str> = filed
        .iter()
        .filter(|d| d.account == Z)
        .map(|d| d.name.as_str())
        .collect();
    let everything = search_all(&mut app.search, base()).await.unwrap();
    assert!(everything.iter().all(|d| !zs.contains(d.name.as_str())));
}

#[tokio::test]
async fn documents_out_of_reach_or_of_hidden_types_never_appear() {
    let Archive { app, filed } = archive().await;
    let by_name: HashMap<&str, &Filed> = filed.iter().map(|d| (d.name.as_str(), d)).collect();
    let cases: Vec<ReachCase> = vec![
        // Types limited to the metering papers, internal clearance.
        (
            Token::new("metering-platform", "metering-operator", Some("1201")),
            Box::new(|d| {
                d.org_unit.starts_with("1201")
                    && [
                        "meter-installation-record",
                        "inspection-work-order",
                        "supply-contract",
                    ]
                    .contains(&d.document_type.as_str())
            }),
        ),
        // Internal clearance: no identity proofs.
        (
            Token::new("marketing", "inspector", Some("120101")),
            Box::new(|d| d.org_unit == "120101" && d.document_type != "identity-proof"),
        ),
        // The other province sees only its own account.
        (
            Token::new("archive-desk", "province-custodian", Some("13")),
            Box::new(|d| d.account == Z),
        ),
        // A payment channel serves one account, public types only.
        (
            Token {
                org_unit: None,
                account: Some(A.into()),
                ..Token::new("payment-channel", "payment-channel", None)
            },
            Box::new(|d| {
                d.account == A
                    && ["notice", "tariff-change-record"].contains(&d.document_type.as_str())
            }),
        ),
    ];
    for (token, keep) in cases {
        let mut client = app.clients_as(&token).search;
        let found = search_all(&mut client, pb::SearchDocumentsRequest::default())
            .await
            .unwrap();
        let found: BTreeSet<String> = names(&found).into_iter().collect();
        let want: BTreeSet<String> = filed
            .iter()
            .filter(|d| keep(d))
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(found, want, "{token:?}");
        assert!(found.iter().all(|name| by_name.contains_key(name.as_str())));
        // Naming a hidden type finds nothing more.
        let typed = search_all(
            &mut client,
            pb::SearchDocumentsRequest {
                document_types: vec!["identity-proof".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(typed.iter().all(|d| found.contains(&d.name)), "{token:?}");
    }
    // A unit beside the reach is refused, not answered empty or partly.
    let mut county = app
        .clients_as(&Token::new(
            "archive-desk",
            "county-custodian",
            Some("120101"),
        ))
        .search;
    let status = county
        .search_documents(pb::SearchDocumentsRequest {
            org_unit: "120102".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A unit above the reach is narrowed to it.
    let found = search_all(
        &mut county,
        pb::SearchDocumentsRequest {
            org_unit: "12".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        found
            .iter()
            .all(|d| by_name[d.name.as_str()].org_unit == "120101")
    );
    assert!(!found.is_empty());
}

#[tokio::test]
async fn paging_while_filings_arrive_has_no_gaps_and_no_duplicates() {
    let mut app = spawn_app().await;
    app.create_customer(A).await;
    let mut before = BTreeSet::new();
    for i in 0..40 {
        // Several filings share each instant: the id breaks the ties.
        if i % 3 == 0 {
            app.clock.advance(TimeDelta::seconds(1));
        }
        let document = app
            .file(filing(
                header(A, &format!("old-{i}")),
                &[jpeg_page(200, i)],
                200,
            ))
            .await
            .unwrap();
        before.insert(document.name);
    }
    let mut seen = Vec::new();
    let mut request = pb::SearchDocumentsRequest {
        org_unit: "1201".into(),
        page_size: 6,
        ..Default::default()
    };
    let mut arrivals = 0;
    loop {
        let page = app
            .search
            .search_documents(request.clone())
            .await
            .unwrap()
            .into_inner();
        seen.extend(names(&page.documents));
        // Filings arrive between the pages.
        for _ in 0..2 {
            app.clock.advance(TimeDelta::milliseconds(10));
            app.file(filing(
                header(A, &format!("new-{arrivals}")),
                &[jpeg_page(200, 99)],
                200,
            ))
            .await
            .unwrap();
            arrivals += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a document appeared twice");
    assert_eq!(
        unique, before,
        "exactly the documents there when paging began"
    );
    // A token is bound to its query.
    let first = app
        .search
        .search_documents(pb::SearchDocumentsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = app
        .search
        .search_documents(pb::SearchDocumentsRequest {
            page_size: 2,
            page_token: first.next_page_token,
            document_types: vec!["notice".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_reference_order_follows_account_then_filing_time() {
    let Archive { mut app, filed } = archive().await;
    let found = search_all(
        &mut app.search,
        pb::SearchDocumentsRequest {
            order_by: pb::DocumentOrder::Reference.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut want: Vec<&Filed> = filed
        .iter()
        .filter(|d| d.org_unit.starts_with("12"))
        .collect();
    want.sort_by(|a, b| (a.account, a.filed_at).cmp(&(b.account, b.filed_at)));
    assert_eq!(
        names(&found),
        want.iter().map(|d| d.name.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_search_is_audited_with_its_filters() {
    let Archive { mut app, .. } = archive().await;
    app.search
        .search_documents(pb::SearchDocumentsRequest {
            org_unit: "120101".into(),
            document_types: vec!["notice".into()],
            work_order_number: "WO-7".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    let mut details = None;
    for _ in 0..100 {
        details = sqlx::query_scalar::<_, Option<String>>(
            "SELECT details FROM audit_events WHERE action = 'SearchDocuments' ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&mut db)
        .await
        .unwrap()
        .flatten();
        if details.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let details: serde_json::Value = serde_json::from_str(&details.expect("an event")).unwrap();
    assert_eq!(details["org_unit"], "120101");
    assert_eq!(details["document_types"], serde_json::json!(["notice"]));
    assert_eq!(details["work_order_number"], "WO-7");
}

#[tokio::test]
async fn a_correction_retyping_a_document_and_a_destruction_move_the_index() {
    // The index row follows the current version: a document retyped is found under its new
    // type only (one as confidential, so that no second person must approve). (Destruction is covered by the statistics recount test.)
    let mut app = spawn_app().await;
    app.create_customer(A).await;
    let document = app
        .file(filing(header(A, "retype"), &[jpeg_page(200, 1)], 200))
        .await
        .unwrap();
    let mut clients = app.clients_as(&Token::custodian());
    crate::helpers::correct(
        &mut clients,
        pb::CorrectionHeader {
            name: document.name.clone(),
            expected_version: 1,
            reason: "类别有误".into(),
            document: Some(pb::Document {
                document_type: "supply-contract".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["document_type".into()],
            }),
        },
        vec![],
    )
    .await
    .unwrap();
    let typed = |t: &str| pb::SearchDocumentsRequest {
        document_types: vec![t.into()],
        ..Default::default()
    };
    assert!(
        search_all(&mut app.search, typed("application-form"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(
            &search_all(&mut app.search, typed("supply-contract"))
                .await
                .unwrap()
        ),
        vec![document.name]
    );
}
