//! Export: taking a set of records out of the archive (for an auditor, a court, the national
//! archives) as an audited act with a purpose. The set is listed here under the read rules of
//! listings (reach, clearance, visible types, masking); its pages are read one by one with the
//! ordinary page reads, which apply and audit the same rules again.

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::domain::documents::presentation::mask_document;
use crate::domain::masking::present_customer;

use crate::domain::{
    AccountNumber, Actor, Archive, AuditEvent, Customer, Document, DocumentCursor, DocumentFilter,
    DocumentName, Error, OrgUnitCode, PageRequest, Permission, PersonalData, Resource,
};

/// The most documents an explicit list may name; larger sets are an account or an org unit.
pub const MAX_EXPORT_DOCUMENTS: usize = 1000;

/// Accounts and documents listed per database round trip while an export streams.
const EXPORT_BATCH: usize = 100;

/// Items the listing may run ahead of the caller: the set streams, it is never held whole.
const EXPORT_QUEUE: usize = 64;

/// Why a set is taken out, as the exporter states it; kept in the audit trail and the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPurpose(String);

impl ExportPurpose {
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("must say why the set is exported".into());
        }
        if trimmed.chars().count() > 500 {
            return Err("must be at most 500 characters".into());
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which records an export takes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportSet {
    /// One account's whole archive.
    Account(AccountNumber),
    /// The archives of an org unit and the units below it, narrowed by the filter.
    OrgUnit {
        unit: OrgUnitCode,
        filter: DocumentFilter,
    },
    /// Exactly these documents (at most [`MAX_EXPORT_DOCUMENTS`]).
    Documents(Vec<DocumentName>),
}

impl ExportSet {
    /// Checks an explicit list's size and drops repeated names (keeping the first).
    pub fn documents(names: Vec<DocumentName>) -> Result<Self, Error> {
        if names.is_empty() {
            return Err(Error::invalid("documents.names", "must name a document"));
        }
        if names.len() > MAX_EXPORT_DOCUMENTS {
            return Err(Error::invalid(
                "documents.names",
                format!(
                    "must name at most {MAX_EXPORT_DOCUMENTS} documents; export an account or an org unit instead"
                ),
            ));
        }
        let mut unique: Vec<DocumentName> = Vec::with_capacity(names.len());
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        Ok(Self::Documents(unique))
    }

    /// The set's definition in stable words, for the audit trail and the package.
    pub fn describe(&self) -> String {
        match self {
            Self::Account(account) => format!("customers/{account}"),
            Self::OrgUnit { unit, filter } => {
                let mut text = format!("orgUnits/{}", unit.as_str());
                let mut conditions = Vec::new();
                if let Some(t) = &filter.document_type {
                    conditions.push(format!("document_type={}", t.as_str()));
                }
                if let Some(p) = filter.business_process {
                    conditions.push(format!("business_process={}", p.code()));
                }
                if let Some(w) = &filter.work_order_number {
                    conditions.push(format!("work_order_number={}", w.as_str()));
                }
                if let Some(after) = filter.filed_after {
                    conditions.push(format!("filed_after={}", after.to_rfc3339()));
                }
                if let Some(before) = filter.filed_before {
                    conditions.push(format!("filed_before={}", before.to_rfc3339()));
                }
                if !conditions.is_empty() {
                    text.push('?');
                    text.push_str(&conditions.join("&"));
                }
                text
            }
            Self::Documents(names) => {
                let names: Vec<String> = names.iter().map(ToString::to_string).collect();
                format!("documents={}", names.join(","))
            }
        }
    }
}

/// One item of an export's listing: an account, then its documents.
#[derive(Debug, Clone)]
pub enum ExportItem {
    Customer(Box<Customer>),
    Document(Box<Document>),
}

/// An export under way: what was recorded, and the set as it streams.
pub struct Export {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub set: String,
    pub purpose: ExportPurpose,
    /// Whether the exporter may read pages; a role without `read-pages` exports metadata only.
    pub pages_readable: bool,
    /// Whether the exporter sees personal data masked, and so gets masked customer records.
    pub personal_data_masked: bool,
    pub items: BoxStream<'static, Result<ExportItem, Error>>,
}

impl Archive {
    /// Records an export of `set` for `purpose` and streams the set's accounts and documents
    /// as the exporter may see them. Needs `export-records` and `read-documents`.
    pub async fn export(
        &self,
        actor: &Actor,
        purpose: ExportPurpose,
        set: ExportSet,
    ) -> Result<Export, Error> {
        let id = Uuid::now_v7();
        let started_at = self.clock.now();
        let description = set.describe();
        let mut resource = Resource::named(format!("exports/{id}"));
        if let ExportSet::Account(account) = &set {
            resource = resource.account(account);
        }
        let details = serde_json::json!({
            "export": id.to_string(),
            "purpose": purpose.as_str(),
            "set": description,
        });
        let policy = self.policy();
        let mut checked = policy.grant(actor).and_then(|grant| {
            grant.require(Permission::ExportRecords)?;
            grant.require(Permission::ReadDocuments)?;
            Ok((
                grant.allows(Permission::ReadPages),
                grant.personal_data() == PersonalData::Masked,
            ))
        });
        // An explicit list is read whole before the export starts: a name the exporter cannot
        // see fails the call before anything is sent, so no half-written package is left.
        let mut listed = None;
        if let (Ok(_), ExportSet::Documents(names)) = (&checked, &set) {
            match self.resolve_list(&policy, actor, names).await {
                Ok(documents) => listed = Some(documents),
                Err(error) => checked = Err(error),
            }
        }
        let outcome = match &checked {
            Ok(_) => "ok",
            Err(error) => error.code_name(),
        };
        let event = AuditEvent::new(actor, "ExportDocuments", resource.clone(), outcome)
            .with_details(details.clone());
        self.audit.record(event).await;
        let (pages_readable, personal_data_masked) = checked?;

        let (sender, receiver) = tokio::sync::mpsc::channel(EXPORT_QUEUE);
        let archive = self.clone();
        let actor = actor.clone();
        tokio::spawn(async move {
            let streamed = match listed {
                Some(documents) => archive.send_list(&policy, &actor, documents, &sender).await,
                None => archive.list_export(&policy, &actor, set, &sender).await,
            };
            if let Err(error) = streamed {
                // The act began well and ended badly: the trail says so.
                let event = AuditEvent::new(&actor, "ExportDocuments", resource, error.code_name())
                    .with_details(serde_json::json!({
                        "export": details["export"],
                        "reason": error.to_string(),
                    }));
                archive.audit.record(event).await;
                let _ = sender.send(Err(error)).await;
            }
        });
        Ok(Export {
            id,
            started_at,
            set: description,
            purpose,
            pages_readable,
            personal_data_masked,
            items: Box::pin(ReceiverStream::new(receiver)),
        })
    }

    /// Sends the set's items in order; stops quietly when the caller has gone.
    async fn list_export(
        &self,
        policy: &crate::domain::Policy,
        actor: &Actor,
        set: ExportSet,
        sender: &tokio::sync::mpsc::Sender<Result<ExportItem, Error>>,
    ) -> Result<(), Error> {
        let grant = policy.grant(actor)?;
        match set {
            ExportSet::Account(account) => {
                let customer = self.reachable_customer(&grant, &account).await?;
                let customer = present_customer(customer, &grant);
                self.export_archive(&grant, customer, &DocumentFilter::default(), sender)
                    .await?;
            }
            ExportSet::OrgUnit { unit, filter } => {
                let mut after = None;
                loop {
                    let page = self
                        .customers_in_reach(
                            &grant,
                            Some(&unit),
                            PageRequest {
                                size: EXPORT_BATCH,
                                after,
                            },
                        )
                        .await?;
                    for customer in page.items {
                        if !self
                            .export_archive(&grant, customer, &filter, sender)
                            .await?
                        {
                            return Ok(());
                        }
                    }
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
            }
            ExportSet::Documents(names) => {
                let documents = self.resolve_list(policy, actor, &names).await?;
                return self.send_list(policy, actor, documents, sender).await;
            }
        }
        Ok(())
    }

    /// Reads every document of an explicit list as the exporter may see it, grouped by
    /// account (each account's record then comes once, before its documents). At most
    /// [`MAX_EXPORT_DOCUMENTS`] metadata records are held: the list's own bound.
    async fn resolve_list(
        &self,
        policy: &crate::domain::Policy,
        actor: &Actor,
        names: &[DocumentName],
    ) -> Result<Vec<Document>, Error> {
        let grant = policy.grant(actor)?;
        let mut names = names.to_vec();
        names.sort_by(|a, b| a.account.as_str().cmp(b.account.as_str()));
        let mut documents = Vec::with_capacity(names.len());
        for name in &names {
            documents.push(self.visible_document(&grant, name).await?);
        }
        Ok(documents)
    }

    /// Sends the resolved documents of a list, each account's record before its documents.
    async fn send_list(
        &self,
        policy: &crate::domain::Policy,
        actor: &Actor,
        documents: Vec<Document>,
        sender: &tokio::sync::mpsc::Sender<Result<ExportItem, Error>>,
    ) -> Result<(), Error> {
        let grant = policy.grant(actor)?;
        let mut current: Option<AccountNumber> = None;
        let mut mask = None;
        for document in documents {
            if current.as_ref() != Some(&document.account) {
                mask = self.free_text_mask(&grant, &document.account).await?;
                let customer = self.reachable_customer(&grant, &document.account).await?;
                let customer = present_customer(customer, &grant);
                if sender
                    .send(Ok(ExportItem::Customer(Box::new(customer))))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                current = Some(document.account.clone());
            }
            let document = mask_document(mask.as_ref(), document);
            if sender
                .send(Ok(ExportItem::Document(Box::new(document))))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends one account and its documents that match; false when the caller has gone.
    async fn export_archive(
        &self,
        grant: &crate::domain::Grant<'_>,
        customer: Customer,
        filter: &DocumentFilter,
        sender: &tokio::sync::mpsc::Sender<Result<ExportItem, Error>>,
    ) -> Result<bool, Error> {
        let account = customer.account_number.clone();
        let mut after: Option<DocumentCursor> = None;
        let mut announced = false;
        let mut customer = Some(customer);
        let mask = self.free_text_mask(grant, &account).await?;
        loop {
            let page = self
                .visible_documents(
                    grant,
                    &account,
                    filter,
                    crate::domain::DocumentView::Full,
                    PageRequest {
                        size: EXPORT_BATCH,
                        after,
                    },
                )
                .await?;
            // An org unit's filtered export leaves out the accounts nothing matched in.
            let whole_archive = filter == &DocumentFilter::default();
            if !announced
                && (whole_archive || !page.items.is_empty())
                && let Some(customer) = customer.take()
            {
                announced = true;
                if sender
                    .send(Ok(ExportItem::Customer(Box::new(customer))))
                    .await
                    .is_err()
                {
                    return Ok(false);
                }
            }
            for document in page.items {
                let document = mask_document(mask.as_ref(), document);
                if sender
                    .send(Ok(ExportItem::Document(Box::new(document))))
                    .await
                    .is_err()
                {
                    return Ok(false);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_purpose_is_rejected() {
        assert!(ExportPurpose::parse("  ").is_err());
    }

    #[test]
    fn a_purpose_is_kept_trimmed() {
        assert_eq!(
            ExportPurpose::parse(" 审计调阅 ").unwrap().as_str(),
            "审计调阅"
        );
    }

    #[test]
    fn an_explicit_list_drops_repeated_names() {
        let name = DocumentName {
            account: AccountNumber::parse("1200000001").unwrap(),
            document_id: Uuid::nil(),
        };
        let set = ExportSet::documents(vec![name.clone(), name.clone()]).unwrap();
        assert_eq!(set, ExportSet::Documents(vec![name]));
    }

    #[test]
    fn an_empty_explicit_list_is_rejected() {
        assert!(ExportSet::documents(Vec::new()).is_err());
    }

    #[test]
    fn an_org_unit_set_describes_its_filter() {
        let set = ExportSet::OrgUnit {
            unit: OrgUnitCode::parse("120101").unwrap(),
            filter: DocumentFilter {
                document_type: Some(crate::domain::DocumentTypeCode::parse("notice").unwrap()),
                ..Default::default()
            },
        };
        assert_eq!(set.describe(), "orgUnits/120101?document_type=notice");
    }
}
