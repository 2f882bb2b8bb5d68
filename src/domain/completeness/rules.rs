//! Completeness rules (the seeds' first problem: incomplete archives): for each business process
//! and customer class, which document types a case requires, how many, and under which
//! condition. Rules are data, listed and changed over the API.

use crate::domain::Resource;
use crate::domain::{Actor, Permission};
use crate::domain::{
    Archive, BusinessProcess, CustomerClass, CustomerStatus, DocumentTypeCode, Error,
};

/// The most documents of one type a rule may require: more is a typing mistake, not a rule.
pub const MAX_MIN_COUNT: u32 = 100;

/// Which customers a rule is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleClass {
    /// Every class, unless a rule for the customer's own class names the same type.
    Any,
    Only(CustomerClass),
}

impl RuleClass {
    pub const ALL: [RuleClass; 3] = [
        Self::Any,
        Self::Only(CustomerClass::Residential),
        Self::Only(CustomerClass::NonResidential),
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Only(CustomerClass::Residential) => "residential",
            Self::Only(CustomerClass::NonResidential) => "non_residential",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.code() == code)
    }

    fn covers(self, class: CustomerClass) -> bool {
        self == Self::Any || self == Self::Only(class)
    }
}

/// When a requirement applies and which documents count towards it. A closed set: each value
/// is evaluated in `completeness::evaluation`, and the proto documents the same meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Required in every case of the process; only the case's own documents count.
    Always,
    /// Required in every case; a document of the type anywhere in the archive counts (e.g. the
    /// identity proof filed when the account was opened also serves a later capacity increase).
    OnFile,
    /// Required only once the account is closed; then only the case's own documents count.
    AccountClosed,
}

impl Condition {
    pub const ALL: [Condition; 3] = [Self::Always, Self::OnFile, Self::AccountClosed];

    pub fn code(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::OnFile => "on_file",
            Self::AccountClosed => "account_closed",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|condition| condition.code() == code)
    }

    /// Whether the requirement applies to an account in `status`.
    pub fn applies(self, status: CustomerStatus) -> bool {
        match self {
            Self::Always | Self::OnFile => true,
            Self::AccountClosed => status == CustomerStatus::Closed,
        }
    }
}

/// What identifies a rule: `completenessRules/{business_process}/{customer_class}/{document_type}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleKey {
    pub business_process: BusinessProcess,
    pub customer_class: RuleClass,
    pub document_type: DocumentTypeCode,
}

impl RuleKey {
    /// Parses a rule's resource name, saying which segment is wrong.
    pub fn parse_name(field: &'static str, name: &str) -> Result<Self, Error> {
        let expected = "`completenessRules/{business_process}/{customer_class}/{document_type}`, e.g. `completenessRules/new_connection/residential/identity-proof`";
        let segments: Vec<&str> = name.split('/').collect();
        let [collection, process, class, document_type] = segments.as_slice() else {
            return Err(Error::invalid(
                field,
                format!("expected {expected}, got {name:?}"),
            ));
        };
        if *collection != "completenessRules" {
            return Err(Error::invalid(
                field,
                format!("expected {expected}, got {name:?}"),
            ));
        }
        let business_process = BusinessProcess::from_code(process).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "unknown business process {process:?}; one of {}",
                    codes(BusinessProcess::ALL.map(BusinessProcess::code))
                ),
            )
        })?;
        let customer_class = RuleClass::from_code(class).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "unknown customer class {class:?}; one of {}",
                    codes(RuleClass::ALL.map(RuleClass::code))
                ),
            )
        })?;
        let document_type = DocumentTypeCode::parse(document_type)
            .map_err(|reason| Error::invalid(field, reason))?;
        Ok(Self {
            business_process,
            customer_class,
            document_type,
        })
    }

    pub fn name(&self) -> String {
        format!(
            "completenessRules/{}/{}/{}",
            self.business_process.code(),
            self.customer_class.code(),
            self.document_type
        )
    }
}

fn codes<const N: usize>(codes: [&str; N]) -> String {
    codes.join(", ")
}

/// One requirement: a case of `key.business_process` for a customer of `key.customer_class`
/// needs at least `min_count` documents of `key.document_type`, under `condition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub key: RuleKey,
    pub min_count: u32,
    pub condition: Condition,
}

impl Rule {
    /// Checks the count; the document type is checked against the catalog by the use case.
    pub fn new(key: RuleKey, min_count: i64, condition: Condition) -> Result<Self, Error> {
        let min_count = u32::try_from(min_count)
            .ok()
            .filter(|n| (1..=MAX_MIN_COUNT).contains(n))
            .ok_or_else(|| {
                Error::invalid(
                    "rule.min_count",
                    format!("must be 1 to {MAX_MIN_COUNT}, got {min_count}"),
                )
            })?;
        Ok(Self {
            key,
            min_count,
            condition,
        })
    }
}

/// The rules in force, read once per use case so that one answer applies one rule set.
#[derive(Debug, Clone, Default)]
pub struct RuleSet(Vec<Rule>);

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self(rules)
    }

    /// The rules a case of `process` must meet for a customer of `class` in `status`: a rule
    /// for the class itself replaces the `Any` rule of the same document type, and rules whose
    /// condition does not apply to the account are left out. In document-type order.
    pub fn applicable(
        &self,
        process: BusinessProcess,
        class: CustomerClass,
        status: CustomerStatus,
    ) -> Vec<&Rule> {
        let mut rules: Vec<&Rule> = self
            .0
            .iter()
            .filter(|rule| {
                rule.key.business_process == process && rule.key.customer_class.covers(class)
            })
            .filter(|rule| {
                rule.key.customer_class != RuleClass::Any
                    || !self.0.iter().any(|other| {
                        other.key.business_process == process
                            && other.key.customer_class == RuleClass::Only(class)
                            && other.key.document_type == rule.key.document_type
                    })
            })
            .filter(|rule| rule.condition.applies(status))
            .collect();
        rules.sort_by(|a, b| {
            a.key
                .document_type
                .as_str()
                .cmp(b.key.document_type.as_str())
        });
        rules
    }
}

impl Archive {
    /// Lists the rules, optionally of one business process, in key order.
    pub async fn completeness_rules(
        &self,
        actor: &Actor,
        process: Option<BusinessProcess>,
    ) -> Result<Vec<Rule>, Error> {
        let resource = Resource::named(format!(
            "completenessRules?business_process={}",
            process.map_or("", BusinessProcess::code)
        ));
        self.audited(actor, "ListCompletenessRules", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadCatalog)?;
            let rules = self.db.completeness_rules().await?;
            Ok(rules
                .into_iter()
                .filter(|rule| process.is_none_or(|p| rule.key.business_process == p))
                .collect())
        })
        .await
    }

    /// Creates the rule, or replaces the one with the same key; the audit event records both.
    pub async fn set_completeness_rule(&self, actor: &Actor, rule: Rule) -> Result<Rule, Error> {
        let resource = Resource::named(rule.key.name());
        self.audited_change(actor, "SetCompletenessRule", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ManageRules)?;
            if self.db.document_type(&rule.key.document_type).await?.is_none() {
                return Err(Error::invalid(
                    "rule.document_type",
                    format!(
                        "document type {} is not in the catalog; ListDocumentTypes shows the valid codes",
                        rule.key.document_type
                    ),
                ));
            }
            let old = self.db.completeness_rule(&rule.key).await?;
            let event = event.with_details(serde_json::json!({
                "old": old.as_ref().map(rule_details),
                "new": rule_details(&rule),
            }));
            self.db.upsert_completeness_rule(&rule, &event).await?;
            Ok(rule)
        })
        .await
    }

    /// Deletes a rule; `NotFound` when there is none with that key.
    pub async fn delete_completeness_rule(
        &self,
        actor: &Actor,
        key: &RuleKey,
    ) -> Result<(), Error> {
        let resource = Resource::named(key.name());
        self.audited_change(
            actor,
            "DeleteCompletenessRule",
            resource,
            |event| async move {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::ManageRules)?;
                let old = self
                    .db
                    .completeness_rule(key)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("rule {} not found", key.name())))?;
                let event = event.with_details(serde_json::json!({ "old": rule_details(&old) }));
                if self.db.delete_completeness_rule(key, &event).await? {
                    Ok(())
                } else {
                    // Deleted by someone else in between.
                    Err(Error::NotFound(format!("rule {} not found", key.name())))
                }
            },
        )
        .await
    }
}

/// A rule as the audit trail records it.
pub(crate) fn rule_details(rule: &Rule) -> serde_json::Value {
    serde_json::json!({
        "business_process": rule.key.business_process.code(),
        "customer_class": rule.key.customer_class.code(),
        "document_type": rule.key.document_type.as_str(),
        "min_count": rule.min_count,
        "condition": rule.condition.code(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(process: BusinessProcess, class: RuleClass, document_type: &str) -> RuleKey {
        RuleKey {
            business_process: process,
            customer_class: class,
            document_type: DocumentTypeCode::parse(document_type).unwrap(),
        }
    }

    fn rule(process: BusinessProcess, class: RuleClass, document_type: &str, n: i64) -> Rule {
        Rule::new(key(process, class, document_type), n, Condition::Always).unwrap()
    }

    #[test]
    fn a_rule_name_round_trips() {
        let key = key(
            BusinessProcess::TariffClassChange,
            RuleClass::Only(CustomerClass::NonResidential),
            "tariff-change-record",
        );
        assert_eq!(
            key.name(),
            "completenessRules/tariff_class_change/non_residential/tariff-change-record"
        );
        assert_eq!(RuleKey::parse_name("name", &key.name()).unwrap(), key);
    }

    #[test]
    fn a_rule_name_with_an_unknown_process_says_so() {
        let error =
            RuleKey::parse_name("name", "completenessRules/rewiring/any/notice").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unknown business process \"rewiring\"")
        );
        assert!(error.to_string().starts_with("name: "));
    }

    #[test]
    fn a_malformed_rule_name_is_rejected() {
        for bad in [
            "",
            "completenessRules/new_connection/any",
            "rules/new_connection/any/notice",
            "completenessRules/new_connection/business/notice",
            "completenessRules/new_connection/any/Notice",
        ] {
            assert!(RuleKey::parse_name("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_minimum_count_must_be_between_one_and_a_hundred() {
        let k = || key(BusinessProcess::Inspection, RuleClass::Any, "notice");
        assert!(Rule::new(k(), 0, Condition::Always).is_err());
        assert!(Rule::new(k(), -1, Condition::Always).is_err());
        assert!(Rule::new(k(), 101, Condition::Always).is_err());
        assert_eq!(Rule::new(k(), 3, Condition::Always).unwrap().min_count, 3);
    }

    #[test]
    fn a_class_rule_replaces_the_any_rule_of_the_same_type() {
        let rules = RuleSet::new(vec![
            rule(
                BusinessProcess::Transfer,
                RuleClass::Any,
                "identity-proof",
                2,
            ),
            rule(
                BusinessProcess::Transfer,
                RuleClass::Only(CustomerClass::NonResidential),
                "identity-proof",
                1,
            ),
            rule(
                BusinessProcess::Transfer,
                RuleClass::Any,
                "application-form",
                1,
            ),
        ]);
        let business = rules.applicable(
            BusinessProcess::Transfer,
            CustomerClass::NonResidential,
            CustomerStatus::Active,
        );
        let counts: Vec<(&str, u32)> = business
            .iter()
            .map(|r| (r.key.document_type.as_str(), r.min_count))
            .collect();
        assert_eq!(counts, [("application-form", 1), ("identity-proof", 1)]);
        let household = rules.applicable(
            BusinessProcess::Transfer,
            CustomerClass::Residential,
            CustomerStatus::Active,
        );
        assert_eq!(household[1].min_count, 2);
    }

    #[test]
    fn rules_of_other_processes_and_classes_do_not_apply() {
        let rules = RuleSet::new(vec![
            rule(BusinessProcess::Closure, RuleClass::Any, "notice", 1),
            rule(
                BusinessProcess::NewConnection,
                RuleClass::Only(CustomerClass::NonResidential),
                "business-licence",
                1,
            ),
        ]);
        assert!(
            rules
                .applicable(
                    BusinessProcess::NewConnection,
                    CustomerClass::Residential,
                    CustomerStatus::Active
                )
                .is_empty()
        );
    }

    #[test]
    fn an_account_closed_rule_applies_only_to_closed_accounts() {
        let closing = Rule::new(
            key(BusinessProcess::Closure, RuleClass::Any, "notice"),
            1,
            Condition::AccountClosed,
        )
        .unwrap();
        let rules = RuleSet::new(vec![closing]);
        let applicable = |status| {
            rules
                .applicable(BusinessProcess::Closure, CustomerClass::Residential, status)
                .len()
        };
        assert_eq!(applicable(CustomerStatus::Active), 0);
        assert_eq!(applicable(CustomerStatus::Closed), 1);
    }

    #[test]
    fn codes_round_trip() {
        for process in BusinessProcess::ALL {
            assert_eq!(BusinessProcess::from_code(process.code()), Some(process));
        }
        for class in RuleClass::ALL {
            assert_eq!(RuleClass::from_code(class.code()), Some(class));
        }
        for condition in Condition::ALL {
            assert_eq!(Condition::from_code(condition.code()), Some(condition));
        }
    }
}
