//! The scan quality report against the real server: exactly the flagged documents of the
//! subtree and period, the caller's reach, the heavy-work limit and the audit event.

use std::time::Duration;

use chrono::Utc;
use custodian::proto::v1 as pb;
use pb::scan_quality_service_client::ScanQualityServiceClient;
use pb::stream_scan_quality_report_response::Item;
use tonic::Code;

use crate::helpers::{
    Authorized, TestConfig, Token, customer, eventually, filing, header, spawn_app, spawn_app_with,
};
use crate::scan_quality::{checked, file, scan};

/// Runs the report; returns the documents' names with their flagged pages, and the summary.
async fn report(
    client: &mut ScanQualityServiceClient<Authorized>,
    request: pb::StreamScanQualityReportRequest,
) -> Result<(Vec<(String, Vec<i32>)>, pb::ScanQualitySummary), tonic::Status> {
    let mut stream = client
        .stream_scan_quality_report(request)
        .await?
        .into_inner();
    let (mut documents, mut summary) = (Vec::new(), None);
    while let Some(message) = stream.message().await? {
        assert!(summary.is_none(), "the summary comes last");
        match message.item.expect("every message carries an item") {
            Item::Document(document) => {
                assert!(document.pages.iter().all(|p| !p.reasons.is_empty()));
                let pages = document.pages.iter().map(|p| p.page_number).collect();
                documents.push((document.document, pages));
            }
            Item::Summary(last) => summary = Some(last),
        }
    }
    documents.sort();
    Ok((
        documents,
        summary.expect("the report ends with its summary"),
    ))
}

fn in_unit(unit: &str) -> pb::StreamScanQualityReportRequest {
    pb::StreamScanQualityReportRequest {
        org_unit_code: unit.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_report_lists_exactly_the_flagged_documents_in_reach_and_period() {
    let mut app = spawn_app().await;
    for (account, unit) in [("1201019701", "120101"), ("1201029702", "120102")] {
        app.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer(account, unit)),
            })
            .await
            .unwrap();
    }
    let low = scan(96, true, false);
    let good = scan(300, true, false);
    let flagged = file(
        &mut app,
        "1201019701",
        "notice",
        &[good.clone(), low.clone()],
    )
    .await
    .unwrap();
    let clean = file(
        &mut app,
        "1201019701",
        "notice",
        std::slice::from_ref(&good),
    )
    .await
    .unwrap();
    let blank = file(&mut app, "1201019701", "notice", &[scan(300, true, true)])
        .await
        .unwrap();
    let other_county = file(&mut app, "1201029702", "notice", std::slice::from_ref(&low))
        .await
        .unwrap();
    // Another province's flagged document, filed by its own custodian.
    let mut province_13 = app.clients_as(&Token::new(
        "archive-desk",
        "province-custodian",
        Some("13"),
    ));
    province_13
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer("1301019703", "130101")),
        })
        .await
        .unwrap();
    let header_13 = pb::FilingHeader {
        document_type: "notice".into(),
        ..header("1301019703", "scan-13")
    };
    province_13
        .documents
        .file_document(futures::stream::iter(filing(
            header_13,
            std::slice::from_ref(&low),
            64 * 1024,
        )))
        .await
        .unwrap();
    checked(&app, &blank.name).await;

    let mut custodian = app.clients_as(&Token::custodian());
    let (documents, summary) = report(&mut custodian.scan_quality, in_unit("1201"))
        .await
        .unwrap();
    let mut expected = vec![
        (flagged.name.clone(), vec![2]),
        (blank.name.clone(), vec![1]),
        (other_county.name.clone(), vec![1]),
    ];
    expected.sort();
    assert_eq!(documents, expected);
    assert!(!documents.iter().any(|(name, _)| *name == clean.name));
    assert_eq!(
        (
            summary.documents,
            summary.pages,
            summary.org_unit_code.as_str()
        ),
        (3, 3, "1201")
    );

    // A county custodian asking for its province gets its own county.
    let mut county = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("120101"),
    ));
    let (documents, summary) = report(&mut county.scan_quality, in_unit("12"))
        .await
        .unwrap();
    assert_eq!(documents.len(), 2);
    assert!(
        documents
            .iter()
            .all(|(name, _)| name.starts_with("customers/1201019701/"))
    );
    assert_eq!(summary.org_unit_code, "120101");
    let refused = report(&mut county.scan_quality, in_unit("120102"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The period: only what was filed after the mark (the test server's clock stands still
    // until moved).
    let mark = Utc::now() + chrono::Duration::hours(1);
    app.clock.set(mark + chrono::Duration::minutes(1));
    let late = file(&mut app, "1201019701", "notice", std::slice::from_ref(&low))
        .await
        .unwrap();
    let (documents, _) = report(
        &mut custodian.scan_quality,
        pb::StreamScanQualityReportRequest {
            org_unit_code: "1201".into(),
            filed_after: Some(prost_types::Timestamp {
                seconds: mark.timestamp(),
                nanos: 0,
            }),
            filed_before: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(documents, vec![(late.name.clone(), vec![1])]);

    // A backwards period and a malformed unit are the caller's mistakes.
    let backwards = report(
        &mut custodian.scan_quality,
        pb::StreamScanQualityReportRequest {
            org_unit_code: "1201".into(),
            filed_after: Some(prost_types::Timestamp {
                seconds: 2_000_000_000,
                nanos: 0,
            }),
            filed_before: Some(prost_types::Timestamp {
                seconds: 1_000_000_000,
                nanos: 0,
            }),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(backwards.code(), Code::InvalidArgument);
    let malformed = report(&mut custodian.scan_quality, in_unit("12-01"))
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_report_is_a_heavy_call_and_every_call_of_it_is_audited() {
    let app = spawn_app_with(TestConfig {
        max_heavy_requests: 0,
        ..TestConfig::default()
    })
    .await;
    let mut custodian = app.clients_as(&Token::custodian());
    let refused = report(&mut custodian.scan_quality, in_unit("1201"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    // The auditor reads the whole trail; a custodian only its accounts'.
    let auditor = app.clients_as(&Token::new("archive-desk", "auditor", None));
    eventually(Duration::from_secs(10), "the report's audit event", || {
        let mut audit = auditor.audit.clone();
        async move {
            let events = audit
                .list_audit_events(pb::ListAuditEventsRequest {
                    action: "StreamScanQualityReport".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .events;
            events.iter().any(|event| {
                event
                    .resource
                    .starts_with("customers/-/documents/-/scanQuality?org_unit=1201")
            })
        }
    })
    .await;
}
