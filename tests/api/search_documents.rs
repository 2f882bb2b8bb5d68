//! SearchDocuments: each filter alone and combined against a model of what was filed, paging
//! while filings arrive, the reference order, and that documents out of reach or of hidden
//! types never appear.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use custodian::proto::v1 as pb;
use custodian::proto::v1::search_service_client::SearchServiceClient;
use prost_types::Timestamp;
use secrecy::ExposeSecret;
use sqlx::Connection;

use crate::helpers::{
    Authorized, TestApp, Token, customer, filing, header, jpeg_page, spawn_app, update_customer,
};

pub(crate) const A: &str = "1201010001"; // 120101, residential, active
pub(crate) const B: &str = "1201020001"; // 120102, business, active
pub(crate) const C: &str = "1201010002"; // 120101, residential, closed after its filings
pub(crate) const Z: &str = "1301010001"; // 130101: outside province 12

/// One filed document and what the filters look at.
#[derive(Debug, Clone)]
pub(crate) struct Filed {
    pub(crate) name: String,
    pub(crate) account: &'static str,
    pub(crate) org_unit: &'static str,
    pub(crate) class: pb::CustomerClass,
    pub(crate) status: pb::CustomerStatus,
    pub(crate) document_type: String,
    pub(crate) process: pb::BusinessProcess,
    pub(crate) work_order: String,
    pub(crate) source: String,
    pub(crate) legacy_reference: Option<String>,
    pub(crate) filed_at: DateTime<Utc>,
    pub(crate) original_at: DateTime<Utc>,
}

pub(crate) fn to_time(t: &Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap()
}

pub(crate) fn ts(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

pub(crate) fn unit_of(account: &str) -> &'static str {
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
pub(crate) type ReachCase = (Token, Box<dyn Fn(&Filed) -> bool>);

/// The archive of the tests: three accounts in province 12 and one in 13, a day between
/// filings, a mix of types, processes, work orders, source systems and imports.
pub(crate) struct Archive {
    pub(crate) app: TestApp,
    pub(crate) filed: Vec<Filed>,
}

pub(crate) async fn archive() -> Archive {
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
pub(crate) async fn search_all(
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

pub(crate) fn names(documents: &[pb::Document]) -> Vec<String> {
    documents.iter().map(|d| d.name.clone()).collect()
}

/// The model's answer, newest first: the documents in province 12 matching `keep`.
pub(crate) fn expected(filed: &[Filed], keep: impl Fn(&Filed) -> bool) -> Vec<String> {
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
