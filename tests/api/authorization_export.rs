//! The authorisation matrix of ExportService: every role of the policy × a document inside
//! and outside its scope at each confidentiality level, exported as an explicit list.

use custodian::domain::{Confidentiality, Permission};
use custodian::proto::v1 as pb;
use custodian::proto::v1::export_documents_response::Item;
use tonic::Code;

use crate::helpers::{Caller, Expect, Matrix, world};

/// Export needs export-records and read-documents; then the document's reach and visibility
/// decide, as for GetDocument.
fn export_expectation(caller: &Caller, inside: bool, level: Confidentiality) -> Expect {
    if !caller.can(Permission::ExportRecords) {
        Expect::Refused(Code::PermissionDenied)
    } else {
        caller.expect(Permission::ReadDocuments, inside, Some(level))
    }
}

#[tokio::test]
async fn every_role_exports_exactly_what_the_policy_grants() {
    let world = world().await;
    let mut matrix = Matrix::default();
    for caller in &world.callers {
        let mut c = caller.clients.clone();
        for (inside, documents) in [(true, &world.documents[1]), (false, &world.documents[0])] {
            for (level, name) in Confidentiality::ALL.into_iter().zip(documents) {
                let actual = match c
                    .export
                    .export_documents(pb::ExportDocumentsRequest {
                        purpose: "matrix".into(),
                        set: Some(pb::export_documents_request::Set::Documents(
                            pb::DocumentList {
                                names: vec![name.clone()],
                            },
                        )),
                    })
                    .await
                {
                    Ok(stream) => {
                        let mut stream = stream.into_inner();
                        let mut result = Expect::Refused(Code::Unknown);
                        while let Some(message) = stream.message().await.transpose() {
                            match message {
                                Ok(pb::ExportDocumentsResponse {
                                    item: Some(Item::Document(document)),
                                }) if &document.name == name => result = Expect::Allowed,
                                Ok(_) => {}
                                Err(status) => {
                                    result = Expect::Refused(status.code());
                                    break;
                                }
                            }
                        }
                        result
                    }
                    Err(status) => Expect::Refused(status.code()),
                };
                let expected = export_expectation(caller, inside, level);
                matrix.cell(
                    "ExportDocuments",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    actual,
                );
            }
        }
    }
    matrix.assert_matches_policy(9 * 6);
}
