//! The rollups under concurrent changes that cross each other's keys: corrections swapping
//! two types back and forth, and two accounts trading units. Each change moves one rollup row
//! down and another up; taken in different orders by two transactions that would deadlock,
//! and one of the calls would fail.

use custodian::proto::v1 as pb;
use prost_types::FieldMask;

use crate::helpers::{TestApp, Token, correct, customer};
use crate::statistics::{discrepancies, file};

const FORM: &str = "application-form";
const CONTRACT: &str = "supply-contract";

async fn retype(app: &TestApp, name: String, version: i32, to: &str) -> Result<(), tonic::Status> {
    let mut clients = app.clients_as(&Token::custodian());
    correct(
        &mut clients,
        pb::CorrectionHeader {
            name,
            expected_version: version,
            reason: "类别有误".into(),
            document: Some(pb::Document {
                document_type: to.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["document_type".into()],
            }),
        },
        vec![],
    )
    .await
    .map(drop)
}

async fn move_to(app: &TestApp, account: &str, unit: &str) -> Result<(), tonic::Status> {
    app.clients_as(&Token::custodian())
        .customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: format!("customers/{account}"),
                org_unit_code: unit.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["org_unit_code".into()],
            }),
        })
        .await
        .map(drop)
}

#[tokio::test]
async fn crossing_corrections_and_moves_all_succeed_and_the_rollups_agree() {
    let mut app = crate::helpers::spawn_app().await;
    let (east, west) = ("1201010011", "1201020011");
    for (account, unit) in [(east, "120101"), (west, "120102")] {
        app.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer(account, unit)),
            })
            .await
            .unwrap();
    }
    // Four documents east and eight west, half of each forms and half contracts.
    let mut documents = Vec::new();
    for n in 0..12u64 {
        let account = if n < 4 { east } else { west };
        let kind = if n % 4 < 2 { FORM } else { CONTRACT };
        documents.push((file(&mut app, account, kind, 1, 100 + n).await, kind));
    }

    const ROUNDS: i32 = 7;
    for round in 0..ROUNDS {
        // Every form becomes a contract and every contract a form, all at once, while the two
        // accounts trade units (and trade back the next round).
        let corrections = documents.iter().map(|(document, kind)| {
            let to = if (*kind == FORM) == (round % 2 == 0) {
                CONTRACT
            } else {
                FORM
            };
            retype(&app, document.name.clone(), 1 + round, to)
        });
        let (to_east, to_west) = if round % 2 == 0 {
            ("120102", "120101")
        } else {
            ("120101", "120102")
        };
        let moves = [move_to(&app, east, to_east), move_to(&app, west, to_west)];
        let (corrected, moved) = tokio::join!(
            futures::future::join_all(corrections),
            futures::future::join_all(moves)
        );
        for result in corrected.into_iter().chain(moved) {
            result.unwrap_or_else(|status| panic!("round {round}: {status:?}"));
        }
    }

    assert_eq!(discrepancies(&app).await, Vec::<String>::new());
    // After an odd number of rounds the accounts sit in each other's units.
    let statistics = app
        .clients_as(&Token::custodian())
        .statistics
        .get_statistics(pb::GetStatisticsRequest {
            org_unit: "1201".into(),
            by_document_type: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let count = |unit: &str, kind: &str| {
        statistics
            .documents
            .iter()
            .find(|d| d.org_unit == unit && d.document_type == kind)
            .map_or(0, |d| d.documents)
    };
    assert_eq!((count("120101", FORM), count("120101", CONTRACT)), (4, 4));
    assert_eq!((count("120102", FORM), count("120102", CONTRACT)), (2, 2));
    assert_eq!((count("1201", FORM), count("1201", CONTRACT)), (6, 6));
    let archives: Vec<(&str, i64)> = statistics
        .archives
        .iter()
        .map(|a| (a.org_unit.as_str(), a.archives))
        .collect();
    assert_eq!(archives, vec![("1201", 2), ("120101", 1), ("120102", 1)]);
}
