//! Retention (保管期限): how long each document is kept, legal holds that keep it regardless,
//! and the appraisal (鉴定) that finds the documents whose time is up.

use chrono::{DateTime, Months, Utc};
use uuid::Uuid;

use crate::domain::Resource;
use crate::domain::access::free_text::FreeTextMask;
use crate::domain::customers::customer::require_within_reach;
use crate::domain::documents::document::{Visibility, document_resource, text_field};
use crate::domain::names::{DestructionListName, LegalHoldName, customer_name};
use crate::domain::paging::{Cursor, Page, PageRequest};
use crate::domain::{
    AccountNumber, Archive, DocumentName, DocumentTypeCode, Error, OrgUnitCode, RetentionClass,
    RetentionTrigger, Title,
};
use crate::domain::{Actor, Permission, PersonalData};

text_field!(
    /// Why a hold was placed or released, or why records may be destroyed.
    Reason,
    max = 500,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

/// How a document type is kept: the period and what it is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRule {
    pub class: RetentionClass,
    pub trigger: RetentionTrigger,
}

impl RetentionRule {
    /// When the period starts; `None` while an account-closure period waits for the closure.
    pub fn start(
        &self,
        original_at: DateTime<Utc>,
        account_closed_at: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self.trigger {
            RetentionTrigger::Filing => Some(original_at),
            RetentionTrigger::AccountClosure => account_closed_at,
        }
    }

    /// When the period ends: calendar years from the start (29 February falls back to the
    /// 28th); `None` for permanent records and periods not started.
    pub fn expire_time(
        &self,
        original_at: DateTime<Utc>,
        account_closed_at: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let months = self.class.months()?;
        self.start(original_at, account_closed_at)?
            .checked_add_months(Months::new(months))
    }
}

/// What storage knows about a document that its retention follows from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionFacts {
    pub rule: RetentionRule,
    pub original_at: DateTime<Utc>,
    pub account_closed_at: Option<DateTime<Utc>>,
    pub destruction_list: Option<Uuid>,
    /// Legal holds in force on the document or its account.
    pub holds: Vec<Uuid>,
}

/// A document's retention as of a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub document: DocumentName,
    pub rule: RetentionRule,
    pub start_time: Option<DateTime<Utc>>,
    pub expire_time: Option<DateTime<Utc>>,
    pub expired: bool,
    pub holds: Vec<LegalHoldName>,
    pub destruction_list: Option<DestructionListName>,
}

impl Retention {
    pub fn at(document: DocumentName, facts: RetentionFacts, now: DateTime<Utc>) -> Self {
        let expire_time = facts
            .rule
            .expire_time(facts.original_at, facts.account_closed_at);
        Self {
            rule: facts.rule,
            start_time: facts.rule.start(facts.original_at, facts.account_closed_at),
            expire_time,
            expired: expire_time.is_some_and(|time| time <= now),
            holds: facts
                .holds
                .into_iter()
                .map(|hold_id| LegalHoldName {
                    account: document.account.clone(),
                    hold_id,
                })
                .collect(),
            destruction_list: facts.destruction_list.map(DestructionListName),
            document,
        }
    }
}

/// What a legal hold keeps: a whole archive or one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldTarget {
    Account(AccountNumber),
    Document(DocumentName),
}

impl HoldTarget {
    /// Parses `customers/{account_number}` or `customers/{account_number}/documents/{id}`.
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        if name.contains("/documents/") {
            DocumentName::parse(field, name).map(Self::Document)
        } else {
            crate::domain::parse_customer_name(field, name).map(Self::Account)
        }
    }

    pub fn account(&self) -> &AccountNumber {
        match self {
            Self::Account(account) => account,
            Self::Document(document) => &document.account,
        }
    }

    pub fn document_id(&self) -> Option<Uuid> {
        match self {
            Self::Account(_) => None,
            Self::Document(document) => Some(document.document_id),
        }
    }
}

impl std::fmt::Display for HoldTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Account(account) => f.write_str(&customer_name(account)),
            Self::Document(document) => document.fmt(f),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub name: LegalHoldName,
    pub target: HoldTarget,
    pub reason: Reason,
    /// `system/person`.
    pub placed_by: String,
    pub place_time: DateTime<Utc>,
    pub release: Option<HoldRelease>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRelease {
    pub released_by: String,
    pub reason: Reason,
    pub time: DateTime<Utc>,
}

/// A document whose retention has ended, as appraisal lists it and destruction lists keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredDocument {
    pub name: DocumentName,
    pub document_type: DocumentTypeCode,
    pub title: Title,
    pub rule: RetentionRule,
    pub original_at: DateTime<Utc>,
    pub expire_time: DateTime<Utc>,
    pub page_count: u32,
}

/// Where an appraisal listing continues: soonest expired first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryCursor {
    pub expire_time: DateTime<Utc>,
    pub document_id: Uuid,
}

impl Cursor for ExpiryCursor {
    fn encode(&self) -> String {
        format!(
            "{}/{}",
            self.expire_time.timestamp_micros(),
            self.document_id
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('/')?;
        Some(Self {
            expire_time: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            document_id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// `system/person`: how holds and destruction lists record who acted.
pub(crate) fn acted_by(actor: &Actor) -> String {
    format!("{}/{}", actor.system, actor.person)
}

impl Archive {
    /// A document's retention as of the clock's now.
    pub async fn retention(&self, actor: &Actor, name: &DocumentName) -> Result<Retention, Error> {
        self.audited(actor, "GetRetention", document_resource(name), async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            self.visible_document(&grant, name).await?;
            let mut facts = self
                .db
                .retention_facts(name)
                .await?
                .ok_or_else(|| crate::domain::documents::document::document_not_found(name))?;
            if grant.require(Permission::ReadHolds).is_err() {
                // Whether a document is held is not told to those who may not see holds.
                facts.holds.clear();
            }
            Ok(Retention::at(name.clone(), facts, self.clock.now()))
        })
        .await
    }

    /// Places a legal hold on an archive or one document.
    pub async fn place_legal_hold(
        &self,
        actor: &Actor,
        target: HoldTarget,
        reason: Reason,
    ) -> Result<LegalHold, Error> {
        let resource = hold_resource(&target);
        self.audited_change(actor, "PlaceLegalHold", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::HoldRecords)?;
            match &target {
                HoldTarget::Account(account) => {
                    self.reachable_customer(&grant, account).await?;
                }
                HoldTarget::Document(document) => {
                    self.visible_document(&grant, document).await?;
                }
            }
            let hold = LegalHold {
                name: LegalHoldName {
                    account: target.account().clone(),
                    hold_id: Uuid::now_v7(),
                },
                target,
                reason,
                placed_by: acted_by(actor),
                place_time: self.clock.now(),
                release: None,
            };
            let event = event.with_details(serde_json::json!({
                "hold": hold.name.to_string(),
                "reason": hold.reason.as_str(),
            }));
            self.db.insert_legal_hold(&hold, &event).await?;
            Ok(hold)
        })
        .await
    }

    /// Releases a hold; it stays on record.
    pub async fn release_legal_hold(
        &self,
        actor: &Actor,
        name: &LegalHoldName,
        reason: Reason,
    ) -> Result<LegalHold, Error> {
        let resource = Resource::named(name.to_string()).account(&name.account);
        self.audited_change(actor, "ReleaseLegalHold", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::HoldRecords)?;
            let not_found = || Error::NotFound(format!("legal hold {name} not found"));
            self.reachable_customer(&grant, &name.account)
                .await
                .map_err(|_| not_found())?;
            let release = HoldRelease {
                released_by: acted_by(actor),
                reason,
                time: self.clock.now(),
            };
            let event =
                event.with_details(serde_json::json!({ "reason": release.reason.as_str() }));
            match self.db.release_legal_hold(name, &release, &event).await? {
                Some(hold) => Ok(hold),
                None => match self.db.legal_hold(name).await? {
                    Some(_) => Err(Error::FailedPrecondition(format!(
                        "legal hold {name} has already been released"
                    ))),
                    None => Err(not_found()),
                },
            }
        })
        .await
    }

    /// An archive's legal holds, newest first: those on the account and those on documents the
    /// caller sees (a hold on a document out of its sight would name it).
    pub async fn legal_holds(
        &self,
        actor: &Actor,
        account: &AccountNumber,
        show_released: bool,
    ) -> Result<Vec<LegalHold>, Error> {
        let resource =
            Resource::named(format!("{}/legalHolds", customer_name(account))).account(account);
        self.audited(actor, "ListLegalHolds", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadHolds)?;
            self.reachable_customer(&grant, account).await?;
            let mut holds = Vec::new();
            for hold in self.db.legal_holds(account, show_released).await? {
                let seen = match &hold.target {
                    HoldTarget::Account(_) => true,
                    HoldTarget::Document(document) => {
                        match self.visible_document(&grant, document).await {
                            Ok(_) => true,
                            Err(Error::NotFound(_)) => false,
                            Err(error) => return Err(error),
                        }
                    }
                };
                if seen {
                    holds.push(hold);
                }
            }
            if let Some(mask) = self.free_text_mask(&grant, account).await? {
                for hold in &mut holds {
                    hold.reason = hold.reason.clone().map(|text| mask.apply(text));
                    if let Some(release) = &mut hold.release {
                        release.reason = release.reason.clone().map(|text| mask.apply(text));
                    }
                }
            }
            Ok(holds)
        })
        .await
    }

    /// Documents of an org unit whose retention has ended by now and that nothing keeps.
    pub async fn expired_documents(
        &self,
        actor: &Actor,
        unit: &OrgUnitCode,
        document_type: Option<&DocumentTypeCode>,
        page: PageRequest<ExpiryCursor>,
    ) -> Result<Page<ExpiredDocument, ExpiryCursor>, Error> {
        let resource = Resource::named(format!("documents?expired&org_unit={}", unit.as_str()));
        self.audited(actor, "ListExpiredDocuments", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::AppraiseRecords)?;
            require_within_reach(&grant, unit)?;
            let visibility = Visibility {
                clearance: grant.clearance(),
                types: grant.visible_types(),
            };
            let documents = self
                .db
                .expired_documents(
                    unit,
                    document_type,
                    &visibility,
                    self.clock.now(),
                    page.after.as_ref(),
                    page.size + 1,
                )
                .await?;
            // Across many archives, holder by holder would cost a query each: numbers only.
            let documents = match grant.personal_data() {
                PersonalData::Full => documents,
                PersonalData::Masked => {
                    let mask = FreeTextMask::without_holders();
                    documents
                        .into_iter()
                        .map(|mut d| {
                            d.title = d.title.map(|text| mask.apply(text));
                            d
                        })
                        .collect()
                }
            };
            Ok(Page::from_overfetch(documents, page.size, |d| {
                ExpiryCursor {
                    expire_time: d.expire_time,
                    document_id: d.name.document_id,
                }
            }))
        })
        .await
    }
}

fn hold_resource(target: &HoldTarget) -> Resource {
    match target {
        HoldTarget::Account(account) => Resource::named(customer_name(account)).account(account),
        HoldTarget::Document(document) => document_resource(document),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn rule(class: RetentionClass, trigger: RetentionTrigger) -> RetentionRule {
        RetentionRule { class, trigger }
    }

    #[test]
    fn each_class_counts_calendar_years_from_the_filing() {
        let filed = at("2026-03-15T08:30:00Z");
        let ten = rule(RetentionClass::TenYears, RetentionTrigger::Filing);
        let thirty = rule(RetentionClass::ThirtyYears, RetentionTrigger::Filing);
        let permanent = rule(RetentionClass::Permanent, RetentionTrigger::Filing);
        assert_eq!(
            ten.expire_time(filed, None),
            Some(at("2036-03-15T08:30:00Z"))
        );
        assert_eq!(
            thirty.expire_time(filed, None),
            Some(at("2056-03-15T08:30:00Z"))
        );
        assert_eq!(permanent.expire_time(filed, None), None);
    }

    #[test]
    fn a_period_from_closure_waits_for_the_closure() {
        let filed = at("2020-01-01T00:00:00Z");
        let kept = rule(
            RetentionClass::ThirtyYears,
            RetentionTrigger::AccountClosure,
        );
        assert_eq!(kept.start(filed, None), None);
        assert_eq!(kept.expire_time(filed, None), None);
        let closed = at("2031-06-30T12:00:00Z");
        assert_eq!(kept.start(filed, Some(closed)), Some(closed));
        assert_eq!(
            kept.expire_time(filed, Some(closed)),
            Some(at("2061-06-30T12:00:00Z"))
        );
    }

    #[test]
    fn the_twenty_ninth_of_february_expires_on_the_twenty_eighth() {
        let filed = at("2028-02-29T10:00:00Z");
        let ten = rule(RetentionClass::TenYears, RetentionTrigger::Filing);
        assert_eq!(
            ten.expire_time(filed, None),
            Some(at("2038-02-28T10:00:00Z"))
        );
    }

    #[test]
    fn a_document_expires_at_the_exact_moment_and_holds_are_named() {
        let filed = at("2026-01-01T00:00:00Z");
        let account = AccountNumber::parse("1201000001").unwrap();
        let document = DocumentName {
            account: account.clone(),
            document_id: Uuid::nil(),
        };
        let facts = RetentionFacts {
            rule: rule(RetentionClass::TenYears, RetentionTrigger::Filing),
            original_at: filed,
            account_closed_at: None,
            destruction_list: None,
            holds: vec![Uuid::nil()],
        };
        let expiry = at("2036-01-01T00:00:00Z");
        let before = Retention::at(
            document.clone(),
            facts.clone(),
            expiry - chrono::TimeDelta::microseconds(1),
        );
        assert!(!before.expired);
        let after = Retention::at(document, facts, expiry);
        assert!(after.expired);
        assert_eq!(
            after.holds[0].to_string(),
            format!("customers/{account}/legalHolds/{}", Uuid::nil())
        );
    }

    #[test]
    fn a_hold_target_is_an_account_or_a_document() {
        assert!(matches!(
            HoldTarget::parse("parent", "customers/1201000001"),
            Ok(HoldTarget::Account(_))
        ));
        let id = Uuid::now_v7();
        assert!(matches!(
            HoldTarget::parse("parent", &format!("customers/1201000001/documents/{id}")),
            Ok(HoldTarget::Document(_))
        ));
        assert!(HoldTarget::parse("parent", "accounts/1").is_err());
    }
}
