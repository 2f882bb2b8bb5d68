//! The authorisation matrix: every RPC × every role of the policy × an account inside and one
//! outside the caller's org scope × each confidentiality level, against the real server.
//!
//! The expected answer of each cell is derived from `config/policy.toml` and the proto's method
//! list: an RPC added without a row here fails `every_rpc_of_the_api_is_in_the_matrix`. The
//! callers, documents and cells, shared with `authorization_*.rs`, are in `helpers/matrix.rs`.

use std::collections::BTreeSet;

use bytes::Bytes;
use custodian::domain::{Confidentiality, Permission, Scope};
use custodian::proto::v1 as pb;
use custodian::proto::v1::file_document_request::Part;
use prost::Message;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{
    Caller, Expect, Matrix, account, called, customer, header, jpeg_page, listed, message, outcome,
    type_of, world,
};

/// The RPCs the matrix covers, as `Service/Method`.
const COVERED: &[&str] = &[
    "CustomerService/CreateCustomer",
    "CustomerService/GetCustomer",
    "CustomerService/UpdateCustomer",
    "CustomerService/ListCustomers",
    "DocumentService/FileDocument",
    "DocumentService/GetDocument",
    "DocumentService/BatchGetDocuments",
    "DocumentService/ListDocuments",
    // Versions and customer history: tests/api/authorization_versions.rs
    "DocumentService/CorrectDocument",
    "DocumentService/ApproveDeclassification",
    "DocumentService/ListDocumentVersions",
    "CustomerService/ListCustomerRevisions",
    "CustomerService/GetCustomerRevision",
    "PageService/ReadPage",
    "PageService/SignPageUrls",
    "DocumentTypeService/ListDocumentTypes",
    "AuditService/ListAuditEvents",
    "AuditService/VerifyAuditChain",
    // Retention, holds and disposal: tests/api/authorization_records.rs
    "RetentionService/GetRetention",
    "RetentionService/PlaceLegalHold",
    "RetentionService/ReleaseLegalHold",
    "RetentionService/ListLegalHolds",
    "RetentionService/ListExpiredDocuments",
    "DisposalService/ProposeDestructionList",
    "DisposalService/ApproveDestructionList",
    "DisposalService/RejectDestructionList",
    "DisposalService/GetDestructionList",
    // Their cells: tests/api/authorization_completeness.rs
    "CompletenessService/ListCompletenessRules",
    "CompletenessService/SetCompletenessRule",
    "CompletenessService/DeleteCompletenessRule",
    "CompletenessService/GetCompleteness",
    "CompletenessService/StreamCompletenessReport",
    "ExportService/ExportDocuments",
    // Lending: tests/api/authorization_lending.rs
    "LendingService/RequestLoan",
    "LendingService/ApproveLoan",
    "LendingService/RejectLoan",
    "LendingService/ReturnLoan",
    "LendingService/RevokeLoan",
    "LendingService/GetLoan",
    "LendingService/ListLoans",
    "LendingService/ListLoanDocuments",
    "LendingService/ListLoanReads",
    // Paper custody: tests/api/authorization_paper.rs
    "PaperService/SetPaperLocation",
    "PaperService/GetPaper",
    "PaperService/SignOutPaper",
    "PaperService/SignInPaper",
    "PaperService/ReportPaperLost",
    "PaperService/ListPaperHistory",
    "PaperService/ListSignOuts",
    "PaperService/Stocktake",
    // Finding aids: tests/api/authorization_search.rs
    "SearchService/SearchDocuments",
    "SearchService/SearchCustomers",
    "StatisticsService/GetStatistics",
    // Its cells: tests/api/authorization_scan_quality.rs
    "ScanQualityService/StreamScanQualityReport",
];

#[test]
fn every_rpc_of_the_api_is_in_the_matrix() {
    let descriptors =
        prost_types::FileDescriptorSet::decode(custodian::proto::FILE_DESCRIPTOR_SET).unwrap();
    let api: BTreeSet<String> = descriptors
        .file
        .iter()
        .filter(|file| file.package() == "custodian.v1")
        .flat_map(|file| &file.service)
        .flat_map(|service| {
            service
                .method
                .iter()
                .map(move |method| format!("{}/{}", service.name(), method.name()))
        })
        .collect();
    let covered: BTreeSet<String> = COVERED.iter().map(|m| m.to_string()).collect();
    assert_eq!(api, covered, "add the new RPC to the authorisation matrix");
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants() {
    let world = world().await;
    // Every document shows the same page: its renditions are made once, for all cells.
    let custodian = world
        .app
        .clients(Some(&crate::helpers::Token::custodian().mint()));
    let first = world.documents[1][0].clone();
    crate::helpers::eventually(
        std::time::Duration::from_secs(30),
        "the world's page renditions",
        || {
            let mut documents = custodian.documents.clone();
            let first = first.clone();
            async move {
                let document = documents
                    .get_document(pb::GetDocumentRequest {
                        name: first,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                document.pages[0].rendition_state() == pb::RenditionState::Ready
            }
        },
    )
    .await;
    let mut matrix = Matrix::default();
    let mut check =
        |rpc: &str,
         caller: &Caller,
         inside: bool,
         level: Option<Confidentiality>,
         expected: Expect,
         actual: Expect| { matrix.cell(rpc, caller, inside, level, expected, actual) };

    for (n, caller) in world.callers.iter().enumerate() {
        let mut c = caller.clients.clone();
        for inside in [true, false] {
            let name = format!("customers/{}", account(inside));

            // CreateCustomer: refusing an org unit outside scope reveals nothing, so it is a
            // plain PERMISSION_DENIED.
            let new_account = format!("{}{:02}{}", if inside { "12" } else { "13" }, n, "000099");
            let org = if inside { "120101" } else { "130101" };
            let actual = called(outcome(
                c.customers
                    .create_customer(pb::CreateCustomerRequest {
                        customer: Some(customer(&new_account, org)),
                    })
                    .await,
            ));
            let expected = match caller.expect(Permission::CreateCustomers, inside, None) {
                Expect::Refused(Code::NotFound) => Expect::Refused(Code::PermissionDenied),
                other => other,
            };
            check("CreateCustomer", caller, inside, None, expected, actual);

            let actual = called(outcome(
                c.customers
                    .get_customer(pb::GetCustomerRequest { name: name.clone() })
                    .await,
            ));
            check(
                "GetCustomer",
                caller,
                inside,
                None,
                caller.expect(Permission::ReadCustomers, inside, None),
                actual,
            );

            let actual = called(outcome(
                c.customers
                    .update_customer(pb::UpdateCustomerRequest {
                        customer: Some(pb::Customer {
                            name: name.clone(),
                            phone: "13800000000".into(),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["phone".into()],
                        }),
                    })
                    .await,
            ));
            check(
                "UpdateCustomer",
                caller,
                inside,
                None,
                caller.expect(Permission::UpdateCustomers, inside, None),
                actual,
            );

            // ListCustomers asks for the account's own org unit.
            let actual = listed(outcome(
                c.customers
                    .list_customers(pb::ListCustomersRequest {
                        org_unit_code: org.into(),
                        ..Default::default()
                    })
                    .await
                    .map(|r| {
                        r.into_inner()
                            .customers
                            .iter()
                            .any(|x| x.account_number == account(inside))
                    }),
            ));
            let expected = match caller.expect(Permission::ReadCustomers, inside, None) {
                // Org-scoped roles are told the unit is outside their scope; a customer's own
                // listing simply does not contain other accounts.
                Expect::Refused(Code::NotFound) if caller.scope == Scope::OwnAccount => {
                    Expect::Hidden
                }
                Expect::Refused(Code::NotFound) => Expect::Refused(Code::PermissionDenied),
                other => other,
            };
            check("ListCustomers", caller, inside, None, expected, actual);

            let actual = called(outcome(
                c.audit
                    .list_audit_events(pb::ListAuditEventsRequest {
                        account_number: account(inside).into(),
                        ..Default::default()
                    })
                    .await,
            ));
            check(
                "ListAuditEvents",
                caller,
                inside,
                None,
                caller.expect(Permission::ReadAudit, inside, None),
                actual,
            );

            for level in Confidentiality::ALL {
                let document = &world.documents[inside as usize][level as usize];

                let actual = called(outcome(
                    c.documents
                        .get_document(pb::GetDocumentRequest {
                            name: document.clone(),
                            ..Default::default()
                        })
                        .await,
                ));
                check(
                    "GetDocument",
                    caller,
                    inside,
                    Some(level),
                    caller.expect(Permission::ReadDocuments, inside, Some(level)),
                    actual,
                );

                let actual = called(outcome(
                    c.documents
                        .batch_get_documents(pb::BatchGetDocumentsRequest {
                            names: vec![document.clone()],
                            view: pb::DocumentView::Basic.into(),
                        })
                        .await,
                ));
                check(
                    "BatchGetDocuments",
                    caller,
                    inside,
                    Some(level),
                    caller.expect(Permission::ReadDocuments, inside, Some(level)),
                    actual,
                );

                let mut stream_result = c
                    .pages
                    .read_page(pb::ReadPageRequest {
                        name: format!("{document}/pages/1"),
                        ..Default::default()
                    })
                    .await;
                let actual = match &mut stream_result {
                    Ok(stream) => called(outcome(stream.get_mut().message().await)),
                    Err(status) => Expect::Refused(status.code()),
                };
                check(
                    "ReadPage",
                    caller,
                    inside,
                    Some(level),
                    caller.expect(Permission::ReadPages, inside, Some(level)),
                    actual,
                );

                // A page URL is a read of the page: exactly ReadPage's expectations.
                let actual = called(outcome(
                    c.pages
                        .sign_page_urls(pb::SignPageUrlsRequest {
                            name: document.clone(),
                            ..Default::default()
                        })
                        .await,
                ));
                check(
                    "SignPageUrls",
                    caller,
                    inside,
                    Some(level),
                    caller.expect(Permission::ReadPages, inside, Some(level)),
                    actual,
                );

                // A rendition is read under exactly the page's rules.
                let mut stream_result = c
                    .pages
                    .read_page(pb::ReadPageRequest {
                        name: format!("{document}/pages/1"),
                        rendition: pb::Rendition::Thumbnail.into(),
                        ..Default::default()
                    })
                    .await;
                let actual = match &mut stream_result {
                    Ok(stream) => called(outcome(stream.get_mut().message().await)),
                    Err(status) => Expect::Refused(status.code()),
                };
                check(
                    "ReadPage(thumbnail)",
                    caller,
                    inside,
                    Some(level),
                    caller.expect(Permission::ReadPages, inside, Some(level)),
                    actual,
                );

                let actual = listed(outcome(
                    c.documents
                        .list_documents(pb::ListDocumentsRequest {
                            parent: name.clone(),
                            ..Default::default()
                        })
                        .await
                        .map(|r| r.into_inner().documents.iter().any(|d| &d.name == document)),
                ));
                let expected = match caller.expect(Permission::ReadDocuments, inside, Some(level)) {
                    // Within reach, a document the role may not see is left out of the list.
                    Expect::Refused(Code::NotFound) if caller.reaches(inside) => Expect::Hidden,
                    other => other,
                };
                check(
                    "ListDocuments",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    actual,
                );

                let filing_header = pb::FilingHeader {
                    document_type: type_of(level).into(),
                    ..header(account(inside), &format!("matrix-{n}-{inside}-{level:?}"))
                };
                let messages = vec![
                    message(Part::Header(filing_header)),
                    message(Part::PageStart(pb::PageStart::default())),
                    message(Part::Chunk(Bytes::from(jpeg_page(300, 2)))),
                ];
                let actual = called(outcome(
                    c.documents
                        .file_document(futures::stream::iter(messages))
                        .await,
                ));
                let expected = match caller.expect(Permission::FileDocuments, inside, Some(level)) {
                    // Filing a type the role may not see is refused outright.
                    Expect::Refused(Code::NotFound) if caller.reaches(inside) => {
                        Expect::Refused(Code::PermissionDenied)
                    }
                    other => other,
                };
                check(
                    "FileDocument",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    actual,
                );
            }
        }

        for level in Confidentiality::ALL {
            let actual = listed(outcome(
                c.document_types
                    .list_document_types(pb::ListDocumentTypesRequest {})
                    .await
                    .map(|r| {
                        r.into_inner()
                            .document_types
                            .iter()
                            .any(|t| t.code == type_of(level))
                    }),
            ));
            let expected = match caller.expect(Permission::ReadCatalog, true, Some(level)) {
                Expect::Refused(Code::NotFound) => Expect::Hidden,
                other => other,
            };
            check(
                "ListDocumentTypes",
                caller,
                true,
                Some(level),
                expected,
                actual,
            );
        }

        let actual = called(outcome(
            c.audit
                .verify_audit_chain(pb::VerifyAuditChainRequest {})
                .await,
        ));
        check(
            "VerifyAuditChain",
            caller,
            true,
            None,
            caller.expect(Permission::ReadAudit, true, None),
            actual,
        );
    }
    matrix.assert_matches_policy(361);
    drop(world.app);
}
