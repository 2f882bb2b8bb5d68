//! Who may do what: the acting caller, the policy (roles, permissions, org scope, clearance,
//! personal-data visibility) and the grant a policy gives an actor for one request.
//!
//! The policy is data: a TOML file reviewed like code, loaded at start and on reload.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::domain::{AccountNumber, Customer, DocumentTypeCode, Error, OrgUnitCode};

/// The authenticated caller of one request: a system acting for a named person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The calling system, e.g. `marketing` or `payment-channel`.
    pub system: String,
    /// The person the system acts for, e.g. an employee number or a customer login.
    pub person: String,
    /// The role the token asserts; the policy decides whether the system may assert it.
    pub role: String,
    /// The org unit whose subtree the person works in, for org-scoped roles.
    pub org_unit: Option<OrgUnitCode>,
    /// The person's own account, for the customer self-service role.
    pub account: Option<AccountNumber>,
    /// The caller's request id (`x-request-id`) or one the server made up.
    pub request_id: String,
}

/// One operation a role may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    ReadCustomers,
    CreateCustomers,
    UpdateCustomers,
    ReadDocuments,
    ReadPages,
    FileDocuments,
    ReadCatalog,
    ReadAudit,
    /// Change the completeness rules (which documents each business process requires).
    ManageRules,
    /// Correct a filed document: a new version, the old ones kept.
    CorrectDocuments,
    /// Place and release legal holds, which block disposal.
    HoldRecords,
    /// See an account's legal holds: list them, and find them named in a document's retention.
    /// Holds are the keepers' business (a dispute, an investigation); the customer and the
    /// payment channels are not told of them.
    ReadHolds,
    /// Run the reports that scan many archives at once (the org-unit completeness report):
    /// heavy work, so it is a permission of its own, and runs few at a time.
    RunReports,
    /// List records whose retention has expired and propose destruction lists.
    AppraiseRecords,
    /// Approve a destruction list someone else proposed; approval destroys its documents.
    ApproveDisposal,
    /// Approve a correction someone else will make that lowers a document's confidentiality
    /// (see `documents::declassification`).
    ApproveDeclassification,
    /// Bring in legacy records: file with an original date and origin, into closed accounts
    /// too, and open accounts with the dates of their source (issue 14).
    ImportRecords,
    /// Take a set of records out as a package (an export): an act of its own, with a purpose,
    /// beside the reads it is made of.
    ExportRecords,
    /// Ask for a loan (借阅) of documents or archives, and return it.
    RequestLoans,
    /// Approve, narrow, reject and revoke other people's loans within one's scope, and keep
    /// the loan register.
    ApproveLoans,
    /// Keep paper originals: record where they are, sign them out and in, report losses,
    /// list the papers out and take stock of a shelf.
    ManagePaperCustody,
    /// Search customers by personal data: ID number, phone, address, and households by name
    /// (issue 17). Only roles that see personal data in full may have it.
    SearchPersonalData,
}

impl Permission {
    /// The permission's name in the policy file, e.g. `read-audit`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReadCustomers => "read-customers",
            Self::CreateCustomers => "create-customers",
            Self::UpdateCustomers => "update-customers",
            Self::ReadDocuments => "read-documents",
            Self::ReadPages => "read-pages",
            Self::FileDocuments => "file-documents",
            Self::ReadCatalog => "read-catalog",
            Self::ReadAudit => "read-audit",
            Self::ManageRules => "manage-rules",
            Self::CorrectDocuments => "correct-documents",
            Self::HoldRecords => "hold-records",
            Self::ReadHolds => "read-holds",
            Self::RunReports => "run-reports",
            Self::AppraiseRecords => "appraise-records",
            Self::ApproveDisposal => "approve-disposal",
            Self::ApproveDeclassification => "approve-declassification",
            Self::ImportRecords => "import-records",
            Self::ExportRecords => "export-records",
            Self::RequestLoans => "request-loans",
            Self::ApproveLoans => "approve-loans",
            Self::ManagePaperCustody => "manage-paper-custody",
            Self::SearchPersonalData => "search-personal-data",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How sensitive a document type is; a role sees types up to its clearance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidentiality {
    Public,
    Internal,
    Confidential,
}

impl Confidentiality {
    pub const ALL: [Confidentiality; 3] = [Self::Public, Self::Internal, Self::Confidential];

    pub fn level(self) -> i16 {
        self as i16
    }

    pub fn from_level(level: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.level() == level)
    }
}

/// Which accounts a role reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every account.
    All,
    /// Accounts of the actor's org unit and the units below it.
    OrgUnit,
    /// The actor's own account only.
    OwnAccount,
}

/// What a role sees of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PersonalData {
    Full,
    Masked,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePolicy {
    pub description: String,
    pub permissions: HashSet<Permission>,
    pub scope: Scope,
    pub clearance: Confidentiality,
    pub personal_data: PersonalData,
    /// When set, the only document types the role sees at all.
    #[serde(default)]
    pub document_types: Option<HashSet<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemPolicy {
    pub description: String,
    /// The roles tokens of this system may assert.
    pub roles: HashSet<String>,
    /// The most calls per second the whole system may make (all its persons together), for
    /// systems that serve the public; unset means no limit beyond the server's own.
    #[serde(default)]
    pub max_calls_per_second: Option<u32>,
    /// The most searches per second the whole system may make (SearchService calls, which
    /// cost more than a lookup), within `max_calls_per_second`; unset means no limit of its
    /// own.
    #[serde(default)]
    pub max_searches_per_second: Option<u32>,
}

/// The whole access policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub roles: HashMap<String, RolePolicy>,
    pub systems: HashMap<String, SystemPolicy>,
}

impl Policy {
    /// Parses and checks a policy file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let policy: Policy = toml::from_str(text).map_err(|error| error.to_string())?;
        for (system, system_policy) in &policy.systems {
            for role in &system_policy.roles {
                if !policy.roles.contains_key(role) {
                    return Err(format!("system {system:?} names an unknown role {role:?}"));
                }
            }
        }
        for (role, role_policy) in &policy.roles {
            if role_policy
                .permissions
                .contains(&Permission::SearchPersonalData)
                && role_policy.personal_data != PersonalData::Full
            {
                return Err(format!(
                    "role {role:?} has search-personal-data but sees personal data masked: \
                     it would find people by what it may not see"
                ));
            }
            for code in role_policy.document_types.iter().flatten() {
                DocumentTypeCode::parse(code)
                    .map_err(|reason| format!("role {role:?}: {reason}"))?;
            }
        }
        Ok(policy)
    }

    /// Whether `role` is one members of the public act in (its scope is their own account):
    /// the person of such a call is a customer, not a member of staff.
    pub fn is_public_role(&self, role: &str) -> bool {
        self.roles
            .get(role)
            .is_some_and(|role| role.scope == Scope::OwnAccount)
    }

    /// What the policy allows `actor`, or why it allows nothing.
    pub fn grant<'a>(&'a self, actor: &'a Actor) -> Result<Grant<'a>, Error> {
        let denied = |reason: String| Error::PermissionDenied(reason);
        let system = self.systems.get(&actor.system).ok_or_else(|| {
            denied(format!(
                "system {:?} is not known to the policy",
                actor.system
            ))
        })?;
        if !system.roles.contains(&actor.role) {
            return Err(denied(format!(
                "system {:?} may not act in role {:?}",
                actor.system, actor.role
            )));
        }
        let role = self
            .roles
            .get(&actor.role)
            .ok_or_else(|| denied(format!("role {:?} is not known to the policy", actor.role)))?;
        let reach = match role.scope {
            Scope::All => Reach::All,
            Scope::OrgUnit => Reach::OrgUnit(actor.org_unit.clone().ok_or_else(|| {
                denied(format!(
                    "role {:?} needs the token's org_unit claim",
                    actor.role
                ))
            })?),
            Scope::OwnAccount => Reach::Account(actor.account.clone().ok_or_else(|| {
                denied(format!(
                    "role {:?} needs the token's account_number claim",
                    actor.role
                ))
            })?),
        };
        Ok(Grant { actor, role, reach })
    }
}

/// The accounts a grant reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    All,
    OrgUnit(OrgUnitCode),
    Account(AccountNumber),
}

/// What one actor may do under the policy, for the length of one request.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub actor: &'a Actor,
    role: &'a RolePolicy,
    reach: Reach,
}

impl Grant<'_> {
    /// Fails with PERMISSION_DENIED unless the role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), Error> {
        if self.role.permissions.contains(&permission) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "role {:?} does not have the {permission} permission",
                self.actor.role
            )))
        }
    }

    /// Whether the role has `permission`, for a use case that adapts rather than refuses.
    pub fn allows(&self, permission: Permission) -> bool {
        self.role.permissions.contains(&permission)
    }

    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// Whether the customer's account lies within the grant's reach.
    pub fn reaches(&self, customer: &Customer) -> bool {
        self.reaches_account(&customer.account_number, &customer.org_unit_code)
    }

    /// Whether an account of this org unit lies within the grant's reach.
    pub fn reaches_account(&self, account: &AccountNumber, org_unit: &OrgUnitCode) -> bool {
        match &self.reach {
            Reach::All => true,
            Reach::OrgUnit(unit) => org_unit.is_within(unit),
            Reach::Account(own) => account == own,
        }
    }

    /// Whether documents of this type, at this confidentiality, are visible to the role.
    pub fn sees(&self, document_type: &DocumentTypeCode, confidentiality: Confidentiality) -> bool {
        confidentiality <= self.role.clearance
            && self
                .role
                .document_types
                .as_ref()
                .is_none_or(|types| types.contains(document_type.as_str()))
    }

    pub fn clearance(&self) -> Confidentiality {
        self.role.clearance
    }

    /// The only document types the role sees, if it is limited to some.
    pub fn visible_types(&self) -> Option<Vec<String>> {
        self.role
            .document_types
            .as_ref()
            .map(|types| types.iter().cloned().collect())
    }

    pub fn personal_data(&self) -> PersonalData {
        self.role.personal_data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = include_str!("../../../config/policy.toml");

    fn actor(system: &str, role: &str, org_unit: Option<&str>) -> Actor {
        Actor {
            system: system.into(),
            person: "p-1".into(),
            role: role.into(),
            org_unit: org_unit.map(|code| OrgUnitCode::parse(code).unwrap()),
            account: None,
            request_id: "r".into(),
        }
    }

    #[test]
    fn the_shipped_policy_parses() {
        let policy = Policy::parse(POLICY).unwrap();
        assert!(policy.roles.contains_key("county-custodian"));
    }

    #[test]
    fn a_policy_naming_an_unknown_role_is_rejected() {
        let text = r#"
            [roles]
            [systems.marketing]
            description = "x"
            roles = ["ghost"]
        "#;
        assert!(Policy::parse(text).unwrap_err().contains("ghost"));
    }

    #[test]
    fn a_system_may_not_assert_a_role_it_is_not_given() {
        let policy = Policy::parse(POLICY).unwrap();
        let forged = actor("payment-channel", "province-custodian", Some("12"));
        assert!(matches!(
            policy.grant(&forged),
            Err(Error::PermissionDenied(_))
        ));
    }

    #[test]
    fn an_org_scoped_role_without_an_org_unit_gets_nothing() {
        let policy = Policy::parse(POLICY).unwrap();
        let actor = actor("archive-desk", "county-custodian", None);
        assert!(policy.grant(&actor).is_err());
    }

    #[test]
    fn a_masked_role_may_not_search_by_personal_data() {
        let text = r#"
            [roles.clerk]
            description = "x"
            permissions = ["read-customers", "search-personal-data"]
            scope = "all"
            clearance = "public"
            personal_data = "masked"
            [systems]
        "#;
        assert!(
            Policy::parse(text)
                .unwrap_err()
                .contains("search-personal-data")
        );
    }

    #[test]
    fn clearance_is_ordered() {
        assert!(Confidentiality::Public < Confidentiality::Internal);
        assert!(Confidentiality::Internal < Confidentiality::Confidential);
        for c in Confidentiality::ALL {
            assert_eq!(Confidentiality::from_level(c.level()), Some(c));
        }
    }
}
