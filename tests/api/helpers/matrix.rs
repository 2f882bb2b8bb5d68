//! The machinery of the authorisation matrix tests (`authorization*.rs`): one caller per role
//! of `config/policy.toml`, a document per confidentiality level on an account inside and one
//! outside their org scope, and the cells that compare what each call answered with what the
//! policy grants.

use std::collections::BTreeSet;

use custodian::domain::{Confidentiality, Permission, Policy, Scope};
use custodian::proto::v1 as pb;
use tonic::Code;

use super::actions::{customer, filing, header};
use super::app::{Clients, TestApp, spawn_app};
use super::pages::repository_file;
use super::tokens::Token;

const INSIDE: &str = "1201000001"; // org 120101, within every org-scoped test role's unit 1201
const OUTSIDE: &str = "1301000001"; // org 130101, outside it

/// The cells a matrix test ran and those that differ from the policy.
#[derive(Default)]
pub struct Matrix {
    cells: usize,
    mismatches: Vec<String>,
}

impl Matrix {
    /// Records one cell: `rpc` called by `caller` on a resource inside or outside its scope
    /// (at a confidentiality level where a document is named).
    pub fn cell(
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
    pub fn assert_matches_policy(self, at_least: usize) {
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
pub enum Expect {
    /// The call succeeds (and a listing contains the item).
    Allowed,
    /// The call succeeds but a listing leaves the item out.
    Hidden,
    Refused(Code),
}

/// A role of the policy, and a token that asserts it.
pub struct Caller {
    pub role: String,
    pub scope: Scope,
    pub permissions: BTreeSet<String>,
    pub clearance: Confidentiality,
    pub types: Option<BTreeSet<String>>,
    pub clients: Clients,
}

impl Caller {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&format!("{permission:?}"))
    }

    pub fn reaches(&self, inside: bool) -> bool {
        match self.scope {
            Scope::All => true,
            Scope::OrgUnit | Scope::OwnAccount => inside,
        }
    }

    pub fn sees(&self, level: Confidentiality) -> bool {
        level <= self.clearance
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.contains(type_of(level)))
    }

    /// The common rule: permission first, then scope (hidden as NOT_FOUND), then visibility.
    pub fn expect(
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
pub fn type_of(level: Confidentiality) -> &'static str {
    match level {
        Confidentiality::Public => "notice",
        Confidentiality::Internal => "supply-contract",
        Confidentiality::Confidential => "identity-proof",
    }
}

pub fn account(inside: bool) -> &'static str {
    if inside { INSIDE } else { OUTSIDE }
}

pub fn outcome<T>(result: Result<T, tonic::Status>) -> Result<T, Code> {
    result.map_err(|status| status.code())
}

pub fn listed(result: Result<bool, Code>) -> Expect {
    match result {
        Ok(true) => Expect::Allowed,
        Ok(false) => Expect::Hidden,
        Err(code) => Expect::Refused(code),
    }
}

pub fn called<T>(result: Result<T, Code>) -> Expect {
    match result {
        Ok(_) => Expect::Allowed,
        Err(code) => Expect::Refused(code),
    }
}

pub struct World {
    pub app: TestApp,
    /// `documents[inside][level]`: the name of a filed document with one page.
    pub documents: Vec<Vec<String>>,
    pub callers: Vec<Caller>,
}

pub async fn world() -> World {
    let app = spawn_app().await;
    let policy =
        Policy::parse(&std::fs::read_to_string(repository_file("config/policy.toml")).unwrap())
            .unwrap();
    // A real scan, so that its renditions are made and the matrix can read them too.
    let page = std::fs::read(repository_file("tests/fixtures/pages/identity-card.png")).unwrap();
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
                customer: Some(customer(account(inside), org)),
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
                    std::slice::from_ref(&page),
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
