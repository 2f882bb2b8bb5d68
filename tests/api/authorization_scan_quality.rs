//! The authorisation matrix of ScanQualityService: every role of the policy × an org unit
//! inside and outside its scope, against the real server. The world's pages record no
//! resolution, so every world document has a scan warning: an allowed report must list exactly
//! the world's documents in the unit whose types the role sees.

use std::collections::BTreeSet;

use custodian::domain::{Confidentiality, Permission, Scope};
use custodian::proto::v1 as pb;
use pb::stream_scan_quality_report_response::Item;
use tonic::Code;

use crate::helpers::{Caller, Expect, Matrix, world};

/// The report over an org unit, as the completeness report: read-documents and run-reports,
/// org-scoped roles reach units within theirs, `all` every unit, self-service callers none.
fn report_expectation(caller: &Caller, inside: bool) -> Expect {
    if !caller.can(Permission::ReadDocuments)
        || !caller.can(Permission::RunReports)
        || caller.scope == Scope::OwnAccount
    {
        Expect::Refused(Code::PermissionDenied)
    } else if caller.reaches(inside) {
        Expect::Allowed
    } else {
        Expect::Refused(Code::PermissionDenied)
    }
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants_of_the_scan_quality_report() {
    let world = world().await;
    let mut matrix = Matrix::default();
    for caller in &world.callers {
        let mut client = caller.clients.scan_quality.clone();
        for inside in [true, false] {
            let unit = if inside { "120101" } else { "130101" };
            // The documents of the unit whose types the caller sees.
            let visible: BTreeSet<String> = Confidentiality::ALL
                .iter()
                .enumerate()
                .filter(|(_, level)| caller.sees(**level))
                .map(|(index, _)| world.documents[inside as usize][index].clone())
                .collect();
            let answer = client
                .stream_scan_quality_report(pb::StreamScanQualityReportRequest {
                    org_unit_code: unit.into(),
                    ..Default::default()
                })
                .await;
            let actual = match answer {
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    let mut listed = BTreeSet::new();
                    let mut failed = None;
                    loop {
                        match stream.message().await {
                            Ok(Some(message)) => {
                                if let Some(Item::Document(document)) = message.item {
                                    listed.insert(document.document);
                                }
                            }
                            Ok(None) => break,
                            Err(status) => {
                                failed = Some(status.code());
                                break;
                            }
                        }
                    }
                    match failed {
                        Some(code) => Expect::Refused(code),
                        None if listed == visible => Expect::Allowed,
                        // The report showed a document the role may not see, or hid one.
                        None => Expect::Hidden,
                    }
                }
                Err(status) => Expect::Refused(status.code()),
            };
            let expected = report_expectation(caller, inside);
            matrix.cell(
                "StreamScanQualityReport",
                caller,
                inside,
                None,
                expected,
                actual,
            );
        }
    }
    matrix.assert_matches_policy(9 * 2);
}
