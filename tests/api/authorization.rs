//! The authorisation matrix: every RPC × every role of the policy × an account inside and one
//! outside the caller's org scope × each confidentiality level, against the real server.
//!
//! The expected answer of each cell is derived from `config/policy.toml` and the proto's method
//! list: an RPC added without a row here fails `every_rpc_of_the_api_is_in_the_matrix`.

use std::collections::BTreeSet;

use bytes::Bytes;
use custodian::domain::{Confidentiality, Permission, Policy, Scope};
use custodian::proto::v1 as pb;
use custodian::proto::v1::file_document_request::Part;
use prost::Message;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{
    Clients, TestApp, Token, filing, header, jpeg_page, message, repository_file, spawn_app,
};

pub(crate) const INSIDE: &str = "1201000001"; // org 120101, within every org-scoped test role's unit 1201
pub(crate) const OUTSIDE: &str = "1301000001"; // org 130101, outside it

/// The RPCs the matrix covers, as `Service/Method`.
const COVERED: &[&str] = &[
    "CustomerService/CreateCustomer",
    "CustomerService/GetCustomer",
    "CustomerService/UpdateCustomer",
    "CustomerService/ListCustomers",
    "DocumentService/FileDocument",
    "DocumentService/GetDocument",
    "DocumentService/ListDocuments",
    // Versions and customer history: tests/api/authorization_versions.rs
    "DocumentService/CorrectDocument",
    "DocumentService/ListDocumentVersions",
    "CustomerService/ListCustomerRevisions",
    "CustomerService/GetCustomerRevision",
    "PageService/ReadPage",
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

/// The cells a matrix test ran and those that differ from the policy.
#[derive(Default)]
pub(crate) struct Matrix {
    cells: usize,
    mismatches: Vec<String>,
}

impl Matrix {
    /// Records one cell: `rpc` called by `caller` on a resource inside or outside its scope
    /// (at a confidentiality level where a document is named).
    pub(crate) fn cell(
        &mut self,
        rpc: &str,
        caller: &Caller,
        inside: bool,
        level: Option<Confidentiality>,
        expected: Expect,
        actual: Expect,
    ) {
        self.cells += 1;
        if expected != actual {
            self.mismatches.push(format!(
                "{rpc} as {} ({} scope, {level:?}): expected {expected:?}, got {actual:?}",
                caller.role,
                if inside { "inside" } else { "outside" }
            ));
        }
    }

    /// Fails naming every cell that differs, or when fewer cells ran than the matrix has.
    pub(crate) fn assert_matches_policy(self, at_least: usize) {
        let cells = self.cells;
        assert!(cells >= at_least, "the matrix ran {cells} cells");
        assert!(
            self.mismatches.is_empty(),
            "{} of {cells} cells differ from the policy:\n{}",
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
    }
}

/// What a cell of the matrix must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The call succeeds (and a listing contains the item).
    Allowed,
    /// The call succeeds but a listing leaves the item out.
    Hidden,
    Refused(Code),
}

/// A role of the policy, and a token that asserts it.
pub(crate) struct Caller {
    pub(crate) role: String,
    pub(crate) scope: Scope,
    pub(crate) permissions: BTreeSet<String>,
    pub(crate) clearance: Confidentiality,
    pub(crate) types: Option<BTreeSet<String>>,
    pub(crate) clients: Clients,
}

impl Caller {
    pub(crate) fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&format!("{permission:?}"))
    }

    pub(crate) fn reaches(&self, inside: bool) -> bool {
        match self.scope {
            Scope::All => true,
            Scope::OrgUnit | Scope::OwnAccount => inside,
        }
    }

    pub(crate) fn sees(&self, level: Confidentiality) -> bool {
        level <= self.clearance
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.contains(type_of(level)))
    }

    /// The common rule: permission first, then scope (hidden as NOT_FOUND), then visibility.
    pub(crate) fn expect(
        &self,
        permission: Permission,
        inside: bool,
        level: Option<Confidentiality>,
    ) -> Expect {
        if !self.can(permission) {
            Expect::Refused(Code::PermissionDenied)
        } else if !self.reaches(inside) || level.is_some_and(|level| !self.sees(level)) {
            Expect::Refused(Code::NotFound)
        } else {
            Expect::Allowed
        }
    }
}

/// The document type filed at each confidentiality level.
pub(crate) fn type_of(level: Confidentiality) -> &'static str {
    match level {
        Confidentiality::Public => "notice",
        Confidentiality::Internal => "supply-contract",
        Confidentiality::Confidential => "identity-proof",
    }
}

pub(crate) fn account(inside: bool) -> &'static str {
    if inside { INSIDE } else { OUTSIDE }
}

pub(crate) fn outcome<T>(result: Result<T, tonic::Status>) -> Result<T, Code> {
    result.map_err(|status| status.code())
}

pub(crate) fn listed(result: Result<bool, Code>) -> Expect {
    match result {
        Ok(true) => Expect::Allowed,
        Ok(false) => Expect::Hidden,
        Err(code) => Expect::Refused(code),
    }
}

pub(crate) fn called<T>(result: Result<T, Code>) -> Expect {
    match result {
        Ok(_) => Expect::Allowed,
        Err(code) => Expect::Refused(code),
    }
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    /// `documents[inside][level]`: the name of a filed document with one page.
    pub(crate) documents: Vec<Vec<String>>,
    pub(crate) callers: Vec<Caller>,
}

pub(crate) async fn world() -> World {
    let app = spawn_app().await;
    let policy =
        Policy::parse(&std::fs::read_to_string(repository_file("config/policy.toml")).unwrap())
            .unwrap();
    // Custodians of province 12 and of province 13 open one account each.
    let mut documents = vec![Vec::new(), Vec::new()];
    for inside in [false, true] {
        let (province, org) = if inside {
            ("12", "120101")
        } else {
            ("13", "130101")
        };
        let mut custodian = app.clients_as(&Token::new(
            "archive-desk",
            "province-custodian",
            Some(province),
        ));
        custodian
            .customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(crate::helpers::customer(account(inside), org)),
            })
            .await
            .unwrap();
        for level in Confidentiality::ALL {
            let header = pb::FilingHeader {
                document_type: type_of(level).into(),
                ..header(account(inside), &format!("seed-{inside}-{level:?}"))
            };
            let document = custodian
                .documents
                .file_document(futures::stream::iter(filing(
                    header,
                    &[jpeg_page(500, 1)],
                    500,
                )))
                .await
                .unwrap()
                .into_inner();
            documents[inside as usize].push(document.name);
        }
    }
    let mut callers = Vec::new();
    for (role, role_policy) in &policy.roles {
        let system = policy
            .systems
            .iter()
            .filter(|(_, system)| system.roles.contains(role))
            .map(|(name, _)| name.clone())
            .min()
            .expect("every role is assertable by some system");
        let mut token = Token::new(&system, role, Some("1201"));
        if role_policy.scope == Scope::OwnAccount {
            token.org_unit = None;
            token.account = Some(INSIDE.into());
        }
        callers.push(Caller {
            role: role.clone(),
            scope: role_policy.scope,
            permissions: role_policy
                .permissions
                .iter()
                .map(|p| format!("{p:?}"))
                .collect(),
            clearance: role_policy.clearance,
            types: role_policy
                .document_types
                .as_ref()
                .map(|t| t.iter().cloned().collect()),
            clients: app.clients_as(&token),
        });
    }
    callers.sort_by(|a, b| a.role.cmp(&b.role));
    World {
        app,
        documents,
        callers,
    }
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants() {
    let world = world().await;
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
                        customer: Some(crate::helpers::customer(&new_account, org)),
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
    matrix.assert_matches_policy(301);
    drop(world.app);
}
