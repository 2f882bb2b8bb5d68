//! The authorisation matrix of versions and customer history: every role × an account inside
//! and one outside its scope × each confidentiality level, as `authorization.rs` does for the
//! core RPCs.

use custodian::domain::{Confidentiality, Permission};
use custodian::proto::v1 as pb;

use crate::helpers::{
    Caller, Expect, Matrix, Token, account, called, correct, outcome, retitle, type_of, world,
};

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants_on_versions_and_history() {
    let world = world().await;
    // Custodians of both provinces read the current version before each correction.
    let mut keepers = [false, true].map(|inside| {
        let province = if inside { "12" } else { "13" };
        world.app.clients_as(&Token::new(
            "archive-desk",
            "province-custodian",
            Some(province),
        ))
    });
    let mut matrix = Matrix::default();
    let mut check =
        |rpc: &str,
         caller: &Caller,
         inside: bool,
         level: Option<Confidentiality>,
         expected: Expect,
         actual: Expect| { matrix.cell(rpc, caller, inside, level, expected, actual) };

    for caller in &world.callers {
        let mut c = caller.clients.clone();
        for inside in [true, false] {
            let customer = format!("customers/{}", account(inside));
            let actual = called(outcome(
                c.customers
                    .list_customer_revisions(pb::ListCustomerRevisionsRequest {
                        parent: customer.clone(),
                        ..Default::default()
                    })
                    .await,
            ));
            let expected = caller.expect(Permission::ReadCustomers, inside, None);
            check(
                "ListCustomerRevisions",
                caller,
                inside,
                None,
                expected,
                actual,
            );

            let actual = called(outcome(
                c.customers
                    .get_customer_revision(pb::GetCustomerRevisionRequest {
                        name: format!("{customer}/revisions/1"),
                    })
                    .await,
            ));
            check(
                "GetCustomerRevision",
                caller,
                inside,
                None,
                expected,
                actual,
            );

            for level in Confidentiality::ALL {
                let document = &world.documents[inside as usize][level as usize];
                let actual = called(outcome(
                    c.documents
                        .list_document_versions(pb::ListDocumentVersionsRequest {
                            name: document.clone(),
                        })
                        .await,
                ));
                let expected = caller.expect(Permission::ReadDocuments, inside, Some(level));
                check(
                    "ListDocumentVersions",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    actual,
                );

                let actual = called(outcome(
                    c.documents
                        .get_document(pb::GetDocumentRequest {
                            name: document.clone(),
                            version: 1,
                            ..Default::default()
                        })
                        .await,
                ));
                check(
                    "GetDocument(version 1)",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    actual,
                );

                let mut stream = c
                    .pages
                    .read_page(pb::ReadPageRequest {
                        name: format!("{document}/pages/1"),
                        version: 1,
                        ..Default::default()
                    })
                    .await;
                let actual = match &mut stream {
                    Ok(stream) => called(outcome(stream.get_mut().message().await)),
                    Err(status) => Expect::Refused(status.code()),
                };
                let expected = caller.expect(Permission::ReadPages, inside, Some(level));
                check(
                    "ReadPage(version 1)",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    actual,
                );

                let current = keepers[inside as usize]
                    .documents
                    .get_document(pb::GetDocumentRequest {
                        name: document.clone(),
                        version: 0,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .version;
                let header = retitle(document, current, &format!("更正 by {}", caller.role));
                let actual = called(outcome(correct(&mut c, header, vec![]).await));
                let expected = caller.expect(Permission::CorrectDocuments, inside, Some(level));
                let correctable = expected == Expect::Allowed;
                check(
                    "CorrectDocument",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    actual,
                );

                // An approval only: nothing is retyped, so the cells after it see the same world.
                if level != Confidentiality::Public {
                    let actual = called(outcome(
                        c.documents
                            .approve_declassification(pb::ApproveDeclassificationRequest {
                                name: document.clone(),
                                expected_version: current + 1,
                                document_type: type_of(Confidentiality::Public).into(),
                                reason: format!("公开 by {}", caller.role),
                            })
                            .await,
                    ));
                    let expected = match caller.expect(
                        Permission::ApproveDeclassification,
                        inside,
                        Some(level),
                    ) {
                        // The correction above made a new version only where it was allowed.
                        Expect::Allowed if !correctable => Expect::Refused(tonic::Code::Aborted),
                        expected => expected,
                    };
                    check(
                        "ApproveDeclassification",
                        caller,
                        inside,
                        Some(level),
                        expected,
                        actual,
                    );
                }
            }
        }
    }
    matrix.assert_matches_policy(190);
    drop(world.app);
}
