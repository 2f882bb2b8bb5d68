//! The custodians' lists over many papers: the sign-out register (papers out now, overdue, or
//! all of a period) and the stocktake of one shelf or box. Both keep to the caller's reach.

use chrono::{DateTime, Utc};

use super::custody::{SignOut, StocktakePlace, StocktakeReport};
use crate::domain::names::DocumentName;
use crate::domain::{Actor, Archive, Error, Permission, Resource};

/// The most found names one stocktake takes.
pub const MAX_STOCKTAKE_ITEMS: usize = 10_000;

/// Which sign-outs to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOutQuery {
    /// Only those past their due time and not back.
    pub overdue_only: bool,
    /// Also those already back: the whole register.
    pub include_returned: bool,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub limit: usize,
}

impl Archive {
    /// Sign-outs within the caller's reach: the papers out now (the most overdue first), only
    /// the overdue ones, or the whole register of a period.
    pub async fn sign_outs(
        &self,
        actor: &Actor,
        query: &SignOutQuery,
    ) -> Result<Vec<SignOut>, Error> {
        self.audited(actor, "ListSignOuts", Resource::named("signOuts"), async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ManagePaperCustody)?;
            // Rows out of reach are dropped here; ask for more so a page is rarely short.
            let rows = self.db.sign_outs(query, self.clock.now()).await?;
            Ok(rows
                .into_iter()
                .filter(|(sign_out, unit)| grant.reaches_account(&sign_out.document.account, unit))
                .map(|(sign_out, _)| sign_out.presented(grant.personal_data()))
                .collect())
        })
        .await
    }

    /// Compares the papers found at one shelf or box with the records: changes nothing.
    pub async fn stocktake(
        &self,
        actor: &Actor,
        place: &StocktakePlace,
        found: &[DocumentName],
    ) -> Result<StocktakeReport, Error> {
        let resource = Resource::named(format!(
            "stocktakes/{}/{}/{}",
            place.room,
            place.shelf,
            place.box_number.as_ref().map_or("", |b| b.as_str())
        ));
        self.audited(actor, "Stocktake", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ManagePaperCustody)?;
            if found.len() > MAX_STOCKTAKE_ITEMS {
                return Err(Error::invalid(
                    "found",
                    format!("at most {MAX_STOCKTAKE_ITEMS} per stocktake; count one box at a time"),
                ));
            }
            let recorded = self
                .db
                .papers_at(place)
                .await?
                .into_iter()
                .filter(|(paper, unit)| {
                    grant.reaches_account(&paper.location.document.account, unit)
                })
                .map(|(paper, _)| paper)
                .collect();
            let ids: Vec<uuid::Uuid> = found.iter().map(|name| name.document_id).collect();
            let mut papers: std::collections::HashMap<uuid::Uuid, _> = self
                .db
                .papers_of(&ids)
                .await?
                .into_iter()
                .map(|(paper, unit)| (paper.location.document.document_id, (paper, unit)))
                .collect();
            let mut found_records = Vec::new();
            let mut unknown = Vec::new();
            for name in found {
                match papers.remove(&name.document_id) {
                    Some((paper, unit))
                        if paper.location.document == *name
                            && grant.reaches_account(&name.account, &unit) =>
                    {
                        found_records.push((name.clone(), Some(paper)));
                    }
                    Some(_) => unknown.push(name.clone()),
                    // No paper recorded: a document within reach found with no location, or
                    // a name that is no such document.
                    None => match self.visible_document(&grant, name).await {
                        Ok(_) => found_records.push((name.clone(), None)),
                        Err(Error::NotFound(_)) => unknown.push(name.clone()),
                        Err(other) => return Err(other),
                    },
                }
            }
            Ok(StocktakeReport::compare(
                place,
                found,
                recorded,
                found_records,
                unknown,
            ))
        })
        .await
    }
}
